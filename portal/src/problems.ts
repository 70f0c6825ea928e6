/** Turns a failed request into a sentence the reader can act on, in the chosen language. */
import { ApiProblem } from './api.ts';
import type { Translate } from './i18n.tsx';

/** The reasons an organisation sign-in is refused that the portal explains in the reader's language. */
const ENTRA_REASONS = ['bad_signature', 'wrong_audience', 'wrong_issuer', 'expired', 'not_yet_valid', 'malformed', 'nonce_mismatch', 'replayed'] as const;

export function problemText(error: unknown, t: Translate, context: { maxMessages?: number } = {}): string {
  if (!(error instanceof ApiProblem)) return t('problemUnexpected', { status: '—' });
  const { problem } = error;
  switch (problem.type) {
    case 'urn:sealpost:problem:rate-limited':
      return problem.retryAfterSeconds
        ? t('rateLimited', { minutes: Math.max(1, Math.ceil(problem.retryAfterSeconds / 60)) })
        : t('rateLimitedSoon');
    case 'urn:sealpost:problem:thread-full':
      return t('threadFull', { max: context.maxMessages ?? 30 });
    case 'urn:sealpost:problem:replies-disabled':
      return t('repliesDisabled');
    case 'urn:sealpost:problem:too-large':
      return t('tooLarge');
    case 'urn:sealpost:problem:forbidden':
      return t('problemForbidden');
    case 'urn:sealpost:problem:not-found':
      return t('problemNotFound');
    case 'urn:sealpost:problem:expired':
      return t('problemExpired');
    case 'urn:sealpost:problem:link-unusable':
      return t('unusableTitle');
    case 'urn:sealpost:problem:integrity-failed':
      return t('integrityFailedTitle');
    case 'urn:sealpost:problem:session-ip-changed':
      return t('ipChangedTitle');
    case 'urn:sealpost:problem:session-required':
      return t('startBody');
    case 'urn:sealpost:problem:invalid-request':
      return t('problemInvalid', { detail: problem.detail ?? problem.title });
    case 'urn:sealpost:problem:unreachable':
      return t('problemUnreachable');
    case 'urn:sealpost:problem:busy':
      return t('problemBusy');
    case 'urn:sealpost:problem:second-factor-invalid':
      return t('factorInvalid');
    case 'urn:sealpost:problem:second-factor-required':
      return t('factorTitle');
    case 'urn:sealpost:problem:organisation-sign-in-unavailable':
      return t('entraSignInUnavailable');
    case 'urn:sealpost:problem:organisation-sign-in-failed': {
      const reason = ENTRA_REASONS.find((known) => known === problem.reason);
      return t('entraSignInFailed', { detail: reason ? t(`entraReason_${reason}`) : (problem.detail ?? problem.title) });
    }
    case 'urn:sealpost:problem:organisation-not-allowed':
      return t('entraNotAllowedTenant');
    case 'urn:sealpost:problem:not-a-member':
      return t('entraNotAMember');
    case 'urn:sealpost:problem:organisation-sign-in-required':
      return t('entraSignInRequired');
    default:
      return t('problemUnexpected', { status: problem.status || '—' });
  }
}

/**
 * The server's own explanation when it gave one (a refused release says why, a refused policy names every
 * wrong field, one per line), else the same sentence as problemText.
 */
export function problemDetail(error: unknown, t: Translate): string {
  if (error instanceof ApiProblem && error.problem.detail && error.problem.status >= 400 && error.problem.status < 500 && ![401, 429].includes(error.problem.status)) return error.problem.detail;
  return problemText(error, t);
}
