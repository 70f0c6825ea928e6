/** Audit actions in words: the backend names them (sent, pdf_password_issued), the translation table says them. */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import { translations, type MessageKey, type Translate } from '../i18n.tsx';

/** The action as a person reads it, in the page's language; an action this portal has no words for yet shows as it is. */
export function actionLabel(action: string, t: Translate): string {
  const key = `auditAction${action
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('')}`;
  return Object.hasOwn(translations.en, key) ? t(key as MessageKey) : action;
}
