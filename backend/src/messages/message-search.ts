/**
 * The message trace as admins search it: a tenant's messages by sender, recipient (an address, or a whole
 * domain), Message-ID, time range, direction, state and verdict, newest first, a page at a time; and the
 * timeline of one message (every stage, finding and delivery attempt, with the deliveries' state).
 *
 * Addresses are matched on their reversed lower-case form (message_search.sender_key, written once when a
 * message is stored, and message_recipients.address_key), which one index serves for both an address
 * (equality) and a domain (a prefix of the reversed address: `@acme.test` reversed), so a search among a
 * million messages reads index entries, not rows (drizzle/0017_message_search.sql; npm run bench:admin).
 */
import { sql, type SQL } from 'drizzle-orm';
import { queryRows, type Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import type { MessageHit, MessageSearchPage, MessageTimeline } from '../../../common/src/portal-api.ts';
import { readTrace } from './message-trace.ts';

export type { MessageHit, MessageSearchPage, MessageTimeline };

export interface MessageSearch {
  /** An address (exact) or a domain (`acme.test` or `@acme.test`: every address at it). */
  sender?: string;
  recipient?: string;
  /** The Message-ID header, with or without its angle brackets. */
  messageId?: string;
  from?: Date;
  to?: Date;
  direction?: string;
  state?: string;
  /** The inbound checks' action: deliver, flag, quarantine or reject. */
  verdict?: string;
  /** The cursor of the page before (MessageSearchPage.next). */
  after?: string;
  limit: number;
}

export class SearchInputError extends Error {}

/**
 * How one address filter is matched on a reversed lower-case key column: equal to the reversed address, or
 * (a domain) between the reversed `@domain` and the next string after all that start with it. Only
 * leakproof operators (=, ~>=~, ~<~) compare the column, so the index serves under row-level security.
 */
function addressMatch(keyColumn: SQL, value: string): SQL {
  const wanted = value.trim().toLowerCase();
  const reversed = (text: string) => [...text].reverse().join('');
  if (wanted.includes('@') && !wanted.startsWith('@')) return sql`${keyColumn} = ${reversed(wanted)}`;
  const domain = wanted.startsWith('@') ? wanted.slice(1) : wanted;
  if (!/^[a-z0-9.-]{1,253}$/.test(domain)) throw new SearchInputError(`"${value}" is neither an address nor a domain`);
  const prefix = reversed(`@${domain}`);
  // The prefix ends in "@"; the first string after all that start with it ends in the next character.
  const upper = `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`;
  return sql`${keyColumn} ~>=~ ${prefix} and ${keyColumn} ~<~ ${upper}`;
}

function encodeCursor(receivedAt: string, id: string): string {
  return Buffer.from(`${receivedAt}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: string; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!at || !id || Number.isNaN(Date.parse(at)) || !/^[0-9a-f-]{36}$/.test(id)) throw new SearchInputError('the page cursor is not one this search gave');
  return { at, id };
}

export async function searchMessages(db: Queryable, tenantId: string, search: MessageSearch): Promise<MessageSearchPage> {
  if (search.from && search.to && search.from > search.to) throw new SearchInputError('the time range ends before it starts');
  const conditions: SQL[] = [sql`m.tenant_id = ${tenantId}`];
  if (search.sender) {
    conditions.push(sql`exists (select 1 from message_search s where s.message_id = m.id and s.tenant_id = ${tenantId} and ${addressMatch(sql`s.sender_key`, search.sender)})`);
  }
  if (search.recipient) {
    conditions.push(sql`exists (select 1 from message_recipients r where r.message_id = m.id and r.tenant_id = ${tenantId} and ${addressMatch(sql`r.address_key`, search.recipient)})`);
  }
  if (search.messageId) {
    const id = search.messageId.trim();
    const bracketed = id.startsWith('<') ? id : `<${id}>`;
    conditions.push(
      sql`exists (select 1 from message_search s where s.message_id = m.id and s.tenant_id = ${tenantId} and s.message_id_header in (${bracketed}, ${bracketed.slice(1, -1)}))`,
    );
  }
  if (search.from) conditions.push(sql`m.received_at >= ${search.from.toISOString()}::timestamptz`);
  if (search.to) conditions.push(sql`m.received_at < ${search.to.toISOString()}::timestamptz`);
  if (search.direction) conditions.push(sql`m.direction = ${search.direction}`);
  if (search.state) conditions.push(sql`m.state = ${search.state}`);
  if (search.verdict) conditions.push(sql`(m.stage_results -> 'guard' ->> 'action') = ${search.verdict}`);
  if (search.after) {
    const cursor = decodeCursor(search.after);
    conditions.push(sql`(m.received_at, m.id) < (${cursor.at}::timestamptz, ${cursor.id}::uuid)`);
  }
  return withTenants(db, tenantId, async (tx) => {
    const rows = await queryRows<{
      id: string;
      direction: string;
      mail_from: string;
      state: string;
      verdict: string | null;
      score: string | null;
      size_bytes: number;
      message_id_header: string | null;
      received_at: Date | string;
      cursor_at: string;
    }>(
      tx,
      // cursor_at keeps the microseconds a Date would lose: a page boundary inside one millisecond loses no message.
      sql`select m.id, m.direction, m.mail_from, m.state, m.size_bytes, m.message_id_header, m.received_at,
                 to_char(m.received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at,
                 m.stage_results -> 'guard' ->> 'action' as verdict, m.stage_results -> 'guard' ->> 'score' as score
          from messages m
          where ${sql.join(conditions, sql` and `)}
          order by m.received_at desc, m.id desc
          limit ${search.limit + 1}`,
    );
    const page = rows.slice(0, search.limit);
    const addresses = page.length
      ? await queryRows<{ message_id: string; address: string }>(
          tx,
          sql`select message_id, address from message_recipients
              where tenant_id = ${tenantId} and message_id in (${sql.join(page.map((r) => sql`${r.id}::uuid`), sql`, `)})
              order by message_id, position`,
        )
      : [];
    const recipientsOf = new Map<string, string[]>();
    for (const row of addresses) recipientsOf.set(row.message_id, [...(recipientsOf.get(row.message_id) ?? []), row.address]);
    const messages = page.map((row) => {
      const receivedAt = new Date(row.received_at).toISOString();
      return {
        id: row.id,
        direction: row.direction,
        mailFrom: row.mail_from,
        recipients: recipientsOf.get(row.id) ?? [],
        state: row.state,
        ...(row.verdict ? { verdict: row.verdict } : {}),
        ...(row.score !== null && row.score !== undefined && !Number.isNaN(Number(row.score)) ? { score: Number(row.score) } : {}),
        sizeBytes: Number(row.size_bytes),
        messageIdHeader: row.message_id_header,
        receivedAt,
      };
    });
    const lastRow = page[page.length - 1];
    return { messages, ...(rows.length > search.limit && lastRow ? { next: encodeCursor(lastRow.cursor_at, lastRow.id) } : {}) };
  });
}

/** One message of the tenant with its trace and deliveries; undefined for an id that is not the tenant's. */
export async function messageTimeline(db: Queryable, tenantId: string, messageId: string): Promise<MessageTimeline | undefined> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(messageId)) return undefined;
  return withTenants(db, tenantId, async (tx) => {
    const [row] = await queryRows<{
      id: string;
      direction: string;
      mail_from: string;
      state: string;
      verdict: string | null;
      score: string | null;
      size_bytes: number;
      message_id_header: string | null;
      received_at: Date | string;
    }>(
      tx,
      sql`select id, direction, mail_from, state, size_bytes, message_id_header, received_at,
                 stage_results -> 'guard' ->> 'action' as verdict, stage_results -> 'guard' ->> 'score' as score
          from messages where id = ${messageId}::uuid and tenant_id = ${tenantId}`,
    );
    if (!row) return undefined;
    const recipients = await queryRows<{ address: string }>(tx, sql`select address from message_recipients where message_id = ${messageId}::uuid order by position`);
    // The trace first: a delivery's status and its trace step commit together, so deliveries read after the
    // trace are at least as new as it (read the other way round, a step could show before its status).
    const trace = await readTrace(tx, messageId);
    const deliveryRows = await queryRows<{
      recipient: string;
      route: string;
      protection: string;
      status: string;
      attempts: number;
      last_reply: string | null;
      last_remote: string | null;
      next_attempt_at: Date | string;
      finished_at: Date | string | null;
    }>(tx, sql`select recipient, route, protection, status, attempts, last_reply, last_remote, next_attempt_at, finished_at from deliveries where message_id = ${messageId}::uuid order by recipient`);
    return {
      message: {
        id: row.id,
        direction: row.direction,
        mailFrom: row.mail_from,
        recipients: recipients.map((r) => r.address),
        state: row.state,
        ...(row.verdict ? { verdict: row.verdict } : {}),
        ...(row.score !== null && !Number.isNaN(Number(row.score)) ? { score: Number(row.score) } : {}),
        sizeBytes: Number(row.size_bytes),
        messageIdHeader: row.message_id_header,
        receivedAt: new Date(row.received_at).toISOString(),
      },
      deliveries: deliveryRows.map((d) => ({
        recipient: d.recipient,
        route: d.route,
        protection: d.protection,
        status: d.status,
        attempts: Number(d.attempts),
        lastReply: d.last_reply,
        lastRemote: d.last_remote,
        nextAttemptAt: new Date(d.next_attempt_at).toISOString(),
        finishedAt: d.finished_at ? new Date(d.finished_at).toISOString() : null,
      })),
      trace: trace.map((t) => ({ at: new Date(t.at).toISOString(), step: t.step, detail: t.detail as Record<string, unknown> })),
    };
  });
}
