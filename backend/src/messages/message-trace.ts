/** One message, one trace: every step is recorded against the message id and readable by admins. */
import { asc, eq } from 'drizzle-orm';
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
  | 'link_clicked';

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
  await q.insert(messageTrace).values(list.map((entry) => ({ ...entry, detail: storableJson(entry.detail) })));
}

export async function readTrace(q: Queryable, messageId: string) {
  return q
    .select({ at: messageTrace.at, step: messageTrace.step, detail: messageTrace.detail, tenantId: messageTrace.tenantId })
    .from(messageTrace)
    .where(eq(messageTrace.messageId, messageId))
    .orderBy(asc(messageTrace.id));
}
