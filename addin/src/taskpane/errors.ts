import { ApiError } from '../shared/api.ts';
import { SignInError } from '../shared/auth.ts';
import type { Translate } from '../shared/i18n.ts';
import { OfficeCallError } from '../shared/office.ts';

/** A failure in words for the sender: a title and what happened. */
export function describeError(t: Translate, error: unknown): { title: string; message: string } {
  if (error instanceof SignInError) {
    const title = t('signInFailed');
    switch (error.kind) {
      case 'no-address':
        return { title, message: t('signInNoAddress') };
      case 'no-tenant':
        return { title, message: t('signInNoTenant', { address: error.details.address ?? '' }) };
      case 'unreachable':
        return { title, message: t('signInUnreachable') };
      case 'naa':
        return { title, message: t('signInNaaFailed', { message: error.message }) };
      case 'sso':
        return { title, message: t('signInSsoFailed', { code: error.details.code ?? '?', message: error.message }) };
      case 'no-office-auth':
        return { title, message: t('signInNoOfficeAuth') };
    }
  }
  if (error instanceof ApiError) {
    const known: Record<string, Parameters<Translate>[0]> = {
      'urn:sealpost:problem:tenant-not-allowed': 'problemTenantNotAllowed',
      'urn:sealpost:problem:sign-in-required': 'problemSignInRequired',
      'urn:sealpost:problem:forbidden': 'problemForbidden',
    };
    const key = error.problemType ? known[error.problemType] : undefined;
    const title = key ? t(key) : error.status === 0 || error.status >= 500 ? t('problemUnavailable') : error.title;
    return { title, message: error.detail ? t('problemDetail', { detail: error.detail }) : error.title };
  }
  if (error instanceof OfficeCallError) return { title: error.operation, message: error.officeMessage };
  return { title: 'Error', message: error instanceof Error ? error.message : String(error) };
}

/** One line for inline failures. */
export function errorLine(t: Translate, error: unknown): string {
  const { title, message } = describeError(t, error);
  return message.startsWith(title) ? message : `${title}. ${message}`;
}
