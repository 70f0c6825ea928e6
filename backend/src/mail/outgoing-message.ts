/**
 * The message as it leaves the gateway for one route. Towards recipients outside the tenant every
 * X-Sealpost-* header is removed; towards the tenant's own mail server the loop-prevention header of each
 * recipient domain is added, so the tenant's "route via Sealpost" rule does not send it back to us.
 * The subject trigger is removed on every route.
 */
import { isSealpostHeader, loopHeaderName, matchSubjectTrigger } from '../../../common/src/headers.ts';
import { formatField, headerValue, rewriteHeaders, splitMessage } from './header-block.ts';
import { describeHeaderRefusal } from './header-section.ts';

export type OutgoingRoute = 'tenant-mail-server' | 'external';

/**
 * The message ready to leave, or why it cannot: a header section that cannot be read whole cannot have
 * its control headers removed, so it is never sent as it is.
 */
export type OutgoingMessage = { outcome: 'ready'; raw: Buffer } | { outcome: 'refused'; reason: string };

export function prepareOutgoingMessage(
  raw: Buffer,
  route: OutgoingRoute,
  recipients: string[],
  subjectTriggers: readonly string[],
  /** Fields the gateway adds to this copy (for example the inbound checks' verdict). */
  extraFields: readonly Buffer[] = [],
): OutgoingMessage {
  const message = splitMessage(raw);
  if (message.outcome !== 'split') return { outcome: 'refused', reason: describeHeaderRefusal(message) };
  const subject = headerValue(message.fields, 'subject');
  const trigger = subject === undefined ? undefined : matchSubjectTrigger(subject, subjectTriggers);
  const replace = trigger?.triggered ? { subject: trigger.subject } : undefined;

  if (route === 'external') {
    return { outcome: 'ready', raw: rewriteHeaders(message, { remove: isSealpostHeader, replace, append: [...extraFields] }) };
  }
  const loopHeaders = [...new Set(recipients.map((r) => r.slice(r.lastIndexOf('@') + 1).toLowerCase()))].map(loopHeaderName);
  const loopNames = new Set(loopHeaders.map((h) => h.toLowerCase()));
  return {
    outcome: 'ready',
    raw: rewriteHeaders(message, {
      remove: (name) => loopNames.has(name.toLowerCase()),
      replace,
      append: [...loopHeaders.map((name) => formatField(name, 'true')), ...extraFields],
    }),
  };
}
