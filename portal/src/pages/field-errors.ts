/** The console's field errors (common/src/portal-api.ts) in the reader's language, by field. */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import type { PortalFieldError } from '../../../common/src/portal-api.ts';
import { ApiProblem } from '../api.ts';
import { translations, type MessageKey, type Translate } from '../i18n.tsx';

/** One error's text: the rule in the reader's language, or the server's words for a rule the portal does not know. */
export function fieldErrorText(error: PortalFieldError, t: Translate): string {
  const key = `settingsRule_${error.rule}`;
  return key in translations.en ? t(key as MessageKey, { limit: error.limit === undefined ? '' : String(error.limit) }) : error.message;
}

/** The refused request's errors by field, or undefined when the problem names no field. */
export function fieldErrorsOf(error: unknown, t: Translate): Record<string, string> | undefined {
  const errors = error instanceof ApiProblem ? error.problem.errors : undefined;
  if (!errors?.length) return undefined;
  return Object.fromEntries(errors.map((e) => [e.field, fieldErrorText(e, t)]));
}
