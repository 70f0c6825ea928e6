/**
 * How a checked inbound message is marked when it is delivered: its score and symbols
 * (X-Sealpost-Score, X-Sealpost-Symbols), the sender authentication's Authentication-Results (RFC 8601,
 * on top, like other trace fields), and for a flagged message `X-Sealpost-Flag: YES` (the tenant's
 * Exchange rule makes it junk, SCL 7) with SpamAssassin's X-Spam-Flag/X-Spam-Status for mail programs,
 * and the policy's subject prefix. An Authentication-Results field that arrived claiming this gateway's
 * name is dropped (RFC 8601 section 5): only the gateway speaks for itself.
 */
import { HEADER_FLAG } from '../../../common/src/headers.ts';
import { fieldValue, formatField, type HeaderField } from '../mail/header-block.ts';
import type { OutgoingMarking } from '../mail/outgoing-message.ts';
import type { StoredGuardResult } from '../stages/message-context.ts';

/** Symbols listed in X-Sealpost-Symbols at most; the trace has them all. */
const MAX_LISTED_SYMBOLS = 50;

export function deliveryMarking(guard: StoredGuardResult | undefined, authservId: string): { fields: Buffer[]; marking: OutgoingMarking } {
  if (!guard?.checked) return { fields: [], marking: {} };
  const fields: Buffer[] = [
    formatField('X-Sealpost-Score', String(guard.score)),
    formatField('X-Sealpost-Symbols', symbolList(guard)),
  ];
  const flagged = guard.action === 'flag';
  // Verdicts stored before policies had marking settings were always marked by header.
  const byHeader = flagged && (guard.marking?.header ?? true);
  if (byHeader) {
    const tests = guard.findings.map((f) => f.symbol).join(',') || 'none';
    fields.push(formatField(HEADER_FLAG, 'YES'), formatField('X-Spam-Flag', 'YES'), formatField('X-Spam-Status', `Yes, score=${guard.score} tests=${tests}`));
  }
  const ours = authservId.toLowerCase();
  return {
    fields,
    marking: {
      prepend: (guard.headers ?? []).map((h) => formatField(h.name, h.value)),
      ...(flagged && guard.marking?.subjectPrefix ? { subjectPrefix: guard.marking.subjectPrefix } : {}),
      drop: (name: string, field: HeaderField) => name.toLowerCase() === 'authentication-results' && authservIdOf(field) === ours,
    },
  };
}

function symbolList(guard: StoredGuardResult): string {
  if (guard.findings.length === 0) return 'none';
  const listed = guard.findings.slice(0, MAX_LISTED_SYMBOLS).map((f) => `${f.symbol}(${f.score})`);
  const more = guard.findings.length - listed.length;
  return more > 0 ? `${listed.join(', ')}, +${more} more` : listed.join(', ');
}

/** The authserv-id of an Authentication-Results field: its first token, before any ';' or comment. */
function authservIdOf(field: HeaderField): string {
  const value = fieldValue(field).slice(0, 300).trim();
  const end = value.search(/[\s;(]/);
  return (end < 0 ? value : value.slice(0, end)).toLowerCase();
}
