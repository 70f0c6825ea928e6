/**
 * The message as it leaves the gateway for one route. Towards recipients outside the tenant every
 * X-Sealpost-* header is removed; towards the tenant's own mail server the loop-prevention header of each
 * recipient domain and of each of the tenant's domains is added, so the tenant's "route via Sealpost" rule,
 * which excepts the header of one of its domains, does not send it back to us.
 * The subject trigger is removed on every route.
 */
import { isSealpostHeader, loopHeaderName, matchSubjectTrigger } from '../../../common/src/headers.ts';
import { formatField, headerValue, rewriteHeaders, splitMessage, type HeaderField } from './header-block.ts';
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
  /** The inbound checks' marks: fields placed on top (Authentication-Results), a subject prefix, fields to drop. */
  marking: OutgoingMarking = {},
  /** The tenant's own domains: mail handed back carries the loop header of each of them. */
  tenantDomains: readonly string[] = [],
): OutgoingMessage {
  const message = splitMessage(raw);
  if (message.outcome !== 'split') return { outcome: 'refused', reason: describeHeaderRefusal(message) };
  const subject = headerValue(message.fields, 'subject');
  const trigger = subject === undefined ? undefined : matchSubjectTrigger(subject, subjectTriggers);
  const cleanSubject = trigger?.triggered ? trigger.subject : subject;
  const prefix = marking.subjectPrefix;
  const prefixed = prefix && !(cleanSubject ?? '').startsWith(prefix) ? `${prefix} ${cleanSubject ?? ''}`.trimEnd() : undefined;
  const replace = prefixed !== undefined || trigger?.triggered ? { subject: prefixed ?? cleanSubject ?? '' } : undefined;
  // A message without a Subject gets the prefix as its subject.
  const addedSubject = prefixed !== undefined && subject === undefined ? [formatField('Subject', prefixed)] : [];
  const drop = marking.drop;

  if (route === 'external') {
    return {
      outcome: 'ready',
      raw: rewriteHeaders(message, {
        remove: (name, field) => isSealpostHeader(name) || (drop?.(name, field) ?? false),
        replace,
        prepend: [...(marking.prepend ?? [])],
        append: [...addedSubject, ...extraFields],
      }),
    };
  }
  const loopDomains = [...recipients.map((r) => r.slice(r.lastIndexOf('@') + 1)), ...tenantDomains].map((d) => d.toLowerCase());
  const loopHeaders = [...new Set(loopDomains)].map(loopHeaderName);
  const loopNames = new Set(loopHeaders.map((h) => h.toLowerCase()));
  return {
    outcome: 'ready',
    raw: rewriteHeaders(message, {
      remove: (name, field) => loopNames.has(name.toLowerCase()) || (drop?.(name, field) ?? false),
      replace,
      prepend: [...(marking.prepend ?? [])],
      append: [...addedSubject, ...loopHeaders.map((name) => formatField(name, 'true')), ...extraFields],
    }),
  };
}

export interface OutgoingMarking {
  prepend?: readonly Buffer[];
  subjectPrefix?: string;
  drop?: (name: string, field: HeaderField) => boolean;
}
