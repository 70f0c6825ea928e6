/** One message, one trace: every step is recorded against the message id and readable by admins. */
import { asc, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { messageTrace } from '../db/schema.ts';
import { storableJson } from '../db/storable-text.ts';

export type TraceStep =
  | 'received'
  | 'parsed'
  | 'classified'
  | 'request'
  | 'scored'
  | 'quarantined'
  | 'rejected'
  | 'routed'
  | 'protected'
  | 'held'
  | 'released'
  | 'pipeline_error'
  | 'delivery_attempt'
  | 'delivered'
  | 'deferred'
  | 'failed'
  | 'expired'
  | 'bounce_sent'
  /** A quarantined message was deleted (by an administrator, or at the end of its retention). */
  | 'deleted'
  /** A link of the delivered message, rewritten for the click check, was clicked: where it went, or the warning shown. */
  | 'link_clicked'
  /** A signed message's certificate was taken into the store, or why it was not. */
  | 'certificate'
  /** Inbound S/MIME: decrypted (with which key and algorithm) or why not, and the signature's judgement. */
  | 'smime'
  /** Inbound OpenPGP: decrypted (with which key pair) or why not, and the signature's judgement. */
  | 'pgp'
  /** A sender's OpenPGP key was taken into the store (Autocrypt header or signed message), or why it was not. */
  | 'pgp-key'
  /** Relay mode: a colleague the portal message also went to got a copy in its conversation, or why not. */
  | 'portal_copy';

export interface TraceEntry {
  messageId: string;
  tenantId: string;
  step: TraceStep;
  detail: Record<string, unknown>;
}

export async function recordTrace(q: Queryable, entries: TraceEntry | TraceEntry[]): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries];
  if (list.length === 0) return;
  // Details quote headers, addresses and remote replies: jsonb refuses \u0000 and lone surrogates.
  const rows = list.map((entry) => ({ message_id: entry.messageId, tenant_id: entry.tenantId, step: entry.step, detail: storableJson(entry.detail) }));
  // One JSON parameter for the whole batch: every message's stages write trace steps, and the query
  // builder's cost grows with rows times columns (measured: a third of the database layer's CPU on the
  // portal path), while this statement's text stays the same. The steps keep their order (ordinality).
  await q.execute(sql`insert into message_trace (message_id, tenant_id, step, detail)
    select t.message_id, t.tenant_id, t.step, t.detail
      from rows from (jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as (message_id uuid, tenant_id uuid, step text, detail jsonb))
           with ordinality as t(message_id, tenant_id, step, detail, n)
     order by t.n`);
}

export async function readTrace(q: Queryable, messageId: string) {
  return q
    .select({ at: messageTrace.at, step: messageTrace.step, detail: messageTrace.detail, tenantId: messageTrace.tenantId })
    .from(messageTrace)
    .where(eq(messageTrace.messageId, messageId))
    .orderBy(asc(messageTrace.id));
}
