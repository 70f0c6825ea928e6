/**
 * The admin console's overview: how much mail went through an organisation over time, per hour (the last
 * 48 hours), per day (the last 30 days) or per week (the last 26 weeks), in the reader's time zone.
 * Messages are counted by when they arrived, in the state they are in now: received in and out, delivered,
 * bounced, deferred (a delivery waiting for another attempt), flagged, quarantined, rejected and held; the
 * portal's messages by when they were sent and when their recipients first opened them.
 *
 * One grouped query per source, each bounded by the tenant's time index; an answer is kept for 30 seconds,
 * as the console's readers reload it and the counts move slowly.
 */
import { sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { FLOW_SERIES, type FlowRange, type FlowSeries, type MailFlow } from '../../../common/src/portal-api.ts';

export { FLOW_SERIES };
export type { FlowRange, FlowSeries, MailFlow };

const RANGES: Record<FlowRange, { unit: 'hour' | 'day' | 'week'; count: number; ms: number }> = {
  hours: { unit: 'hour', count: 48, ms: 3_600_000 },
  days: { unit: 'day', count: 30, ms: 86_400_000 },
  weeks: { unit: 'week', count: 26, ms: 7 * 86_400_000 },
};

const KEEP_MS = 30_000;
const cache = new Map<string, { at: number; flow: MailFlow }>();

export class FlowInputError extends Error {}

/** A time zone the runtime knows (IANA name); anything else is refused rather than passed to the database. */
function checkedTimeZone(timeZone: string): string {
  if (timeZone === 'UTC') return timeZone;
  const known = (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  if (!known.includes(timeZone)) throw new FlowInputError(`"${timeZone}" is not a time zone`);
  return timeZone;
}

export async function mailFlow(db: Queryable, tenantId: string, range: FlowRange, timeZone = 'UTC'): Promise<MailFlow> {
  const zone = checkedTimeZone(timeZone);
  const key = `${tenantId}|${range}|${zone}`;
  const kept = cache.get(key);
  if (kept && Date.now() - kept.at < KEEP_MS) return kept.flow;

  const { unit, count, ms } = RANGES[range];
  const since = new Date(Date.now() - count * ms);
  const bucket = (column: string) => sql.raw(`date_trunc('${unit}', ${column}, `);
  const flow = await withTenants(db, tenantId, async (tx) => {
    const messageRows = await queryRows<Record<string, string | number> & { bucket: Date | string }>(
      tx,
      sql`select ${bucket('received_at')}${zone}) as bucket,
                 count(*) filter (where direction = 'inbound') as inbound,
                 count(*) filter (where direction = 'outbound') as outbound,
                 count(*) filter (where state = 'delivered') as delivered,
                 count(*) filter (where state in ('bounced', 'partly_delivered')) as bounced,
                 count(*) filter (where (stage_results -> 'guard' ->> 'action') = 'flag') as flagged,
                 count(*) filter (where state = 'quarantined') as quarantined,
                 count(*) filter (where state = 'rejected') as rejected,
                 count(*) filter (where state = 'held') as held
            from messages
           where tenant_id = ${tenantId} and received_at >= ${since.toISOString()}::timestamptz and direction <> 'notification'
           group by 1`,
    );
    const deferredRows = await queryRows<{ bucket: Date | string; deferred: string | number }>(
      tx,
      sql`select ${bucket('created_at')}${zone}) as bucket, count(*) as deferred
            from deliveries
           where tenant_id = ${tenantId} and status = 'queued' and attempts > 0 and created_at >= ${since.toISOString()}::timestamptz
           group by 1`,
    );
    const sentRows = await queryRows<{ bucket: Date | string; portal_sent: string | number }>(
      tx,
      sql`select ${bucket('sent_at')}${zone}) as bucket, count(*) as portal_sent
            from portal_messages
           where tenant_id = ${tenantId} and direction = 'from-member' and sent_at >= ${since.toISOString()}::timestamptz
           group by 1`,
    );
    const openedRows = await queryRows<{ bucket: Date | string; portal_opened: string | number }>(
      tx,
      sql`select ${bucket('first_read_at')}${zone}) as bucket, count(*) as portal_opened
            from portal_messages
           where tenant_id = ${tenantId} and direction = 'from-member' and first_read_at >= ${since.toISOString()}::timestamptz
           group by 1`,
    );
    return { messageRows, deferredRows, sentRows, openedRows };
  });

  const zero = () => Object.fromEntries(FLOW_SERIES.map((s) => [s, 0])) as Record<FlowSeries, number>;
  const byStart = new Map<number, Record<FlowSeries, number>>();
  const at = (value: Date | string) => {
    const time = new Date(value).getTime();
    let counts = byStart.get(time);
    if (!counts) byStart.set(time, (counts = zero()));
    return counts;
  };
  for (const row of flow.messageRows) {
    const counts = at(row.bucket);
    for (const series of ['inbound', 'outbound', 'delivered', 'bounced', 'flagged', 'quarantined', 'rejected', 'held'] as const) counts[series] += Number(row[series] ?? 0);
  }
  for (const row of flow.deferredRows) at(row.bucket).deferred += Number(row.deferred);
  for (const row of flow.sentRows) at(row.bucket).portalSent += Number(row.portal_sent);
  for (const row of flow.openedRows) at(row.bucket).portalOpened += Number(row.portal_opened);

  // Every bucket of the range, empty ones too, so a quiet hour shows as zero rather than as a gap.
  const starts = [...byStart.keys()];
  const latest = Math.max(Date.now(), ...starts);
  const buckets: MailFlow['buckets'] = [];
  const known = new Set(starts);
  const stepsBack = (time: number) => {
    // Buckets are whole units in the reader's zone; stepping by the unit's length keeps to them except
    // across a daylight-saving change, where the database's own bucket start is taken when it has one.
    const near = starts.find((s) => Math.abs(s - time) < ms / 2);
    return near ?? time;
  };
  const newest = starts.length > 0 ? Math.max(...starts) : undefined;
  let cursor = newest !== undefined && latest - newest < ms ? newest : latest - (latest % ms);
  for (let i = 0; i < count; i += 1) {
    const start = stepsBack(cursor);
    buckets.unshift({ start: new Date(start).toISOString(), ...(known.has(start) ? byStart.get(start)! : zero()) });
    cursor = start - ms;
  }
  const totals = zero();
  for (const b of buckets) for (const series of FLOW_SERIES) totals[series] += b[series];
  const result: MailFlow = { range, timeZone: zone, buckets, totals };
  cache.set(key, { at: Date.now(), flow: result });
  if (cache.size > 500) cache.delete(cache.keys().next().value!);
  return result;
}
