/**
 * `npm run bench:admin`: the message trace's search on PostgreSQL with a million messages, against the goal
 * of an answer in under 500 ms at p95.
 *
 * A gateway runs in this process on a fresh PostgreSQL database (DATABASE_URL names the server), with two
 * tenants. One tenant gets --messages messages (default 1,000,000) written straight into its tables, spread
 * over 30 days: half inbound from 300 partner domains (a flag or quarantine verdict on some), half outbound
 * from 200 members, each with its recipient and two trace steps; a few held and quarantined. Then every
 * search of the mix below runs --rounds times (default 20, each with other values) through the admin API
 * (`GET /api/admin/message-search`, the same code as the portal's console), timed end to end over HTTP,
 * after one unmeasured round. Prints p50/p95 per search and over all; exit code 1 when the p95 over all is
 * 500 ms or more. Options: --messages N, --rounds N, --keep (leaves the database for a closer look with psql, and
 * prints its URL).
 */
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import { createTestDatabase, ownerDb } from '../../backend/test/support/database.ts';
import { MailPeer } from '../../backend/test/support/mail-peer.ts';
import { ACME_API_TOKEN, acmeTenant, globexTenant, startTestGateway } from '../../backend/test/support/test-gateway.ts';
import { percentile } from './latency-probe.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '20' },
    keep: { type: 'boolean', default: false },
  },
});
const total = Math.max(10_000, Number(values.messages));
const rounds = Math.max(5, Number(values.rounds));
const GOAL_MS = 500;

if (!process.env.DATABASE_URL) {
  console.error('bench:admin measures on PostgreSQL: set DATABASE_URL, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:admin');
  process.exit(2);
}
process.env.SEALPOST_TEST_DATABASE = 'postgres';

const database = await createTestDatabase();
const mailServer = await MailPeer.start();
const gateway = await startTestGateway(database, [acmeTenant(mailServer.port), globexTenant(mailServer.port)], { SEALPOST_LOG_LEVEL: 'warn' });
const owner = ownerDb(gateway.database.db);
const acme = gateway.directory.tenantForDomain('acme.test')!.id;
const globex = gateway.directory.tenantForDomain('globex.test')!.id;

/** Seeds messages first..last (numbers) of a tenant in one statement: messages, recipients and trace. */
async function seed(tenantId: string, first: number, last: number): Promise<void> {
  await owner.execute(sql`
    with src as materialized (
      select i, gen_random_uuid() as id, now() - make_interval(secs => (i::double precision * 2592000 / ${total})) as at
        from generate_series(${first}::int, ${last}::int) as i
    ), stored as (
      insert into messages (id, tenant_id, direction, mail_from, client_address, size_bytes, message_id_header, content_sha256,
                            content, wrapped_data_key, state, stage, stage_results, received_at)
      select id, ${tenantId}::uuid,
             case when i % 2 = 0 then 'inbound' else 'outbound' end,
             case when i % 2 = 0 then 'sender' || (i % 5000) || '@partner' || (i % 300) || '.example' else 'person' || (i % 200) || '@acme.test' end,
             '192.0.2.1', 10000 + (i % 50000), '<' || i || '.bench@mail.example>', 'bench', '\\x00'::bytea, '\\x00'::bytea,
             case when i % 500 = 0 then 'quarantined' when i % 997 = 0 then 'held' else 'delivered' end,
             'queued',
             case when i % 2 = 0
                  then jsonb_build_object('guard', jsonb_build_object('checked', true, 'score', i % 17,
                         'action', case when i % 500 = 0 then 'quarantine' when i % 40 = 0 then 'flag' else 'deliver' end))
                  else '{}'::jsonb end,
             at
        from src
    ), addressed as (
      insert into message_recipients (message_id, tenant_id, position, address)
      select id, ${tenantId}::uuid, 0,
             case when i % 2 = 0 then 'person' || (i % 200) || '@acme.test' else 'client' || (i % 7000) || '@customer' || (i % 500) || '.example' end
        from src
    )
    insert into message_trace (message_id, tenant_id, step, detail, at)
    select id, ${tenantId}::uuid, step, jsonb_build_object('bench', true), at from src cross join (values ('received'), ('delivered')) as steps(step)`);
}

const seedStarted = performance.now();
const chunk = 50_000;
for (let first = 1; first <= total; first += chunk) {
  await seed(acme, first, Math.min(total, first + chunk - 1));
  process.stdout.write(`\rseeding: ${Math.min(total, first + chunk - 1).toLocaleString('en')} of ${total.toLocaleString('en')} messages`);
}
await seed(globex, 1, 20_000);
await owner.execute(sql`analyze messages`);
await owner.execute(sql`analyze message_recipients`);
await owner.execute(sql`analyze message_trace`);
console.log(`\nseeded in ${((performance.now() - seedStarted) / 1000).toFixed(0)} s`);

const day = 86_400_000;
const now = Date.now();
const pick = (n: number, round: number) => (round * 7919 + 13) % n;
const iso = (ms: number) => new Date(ms).toISOString();

/** The searches an admin runs, each with other values every round. */
const SEARCHES: Array<{ name: string; query: (round: number) => Record<string, string> }> = [
  { name: 'sender address', query: (r) => ({ sender: `sender${pick(5000, r)}@partner${pick(5000, r) % 300}.example` }) },
  { name: 'sender domain', query: (r) => ({ sender: `partner${pick(300, r)}.example` }) },
  { name: 'recipient address', query: (r) => ({ recipient: `client${pick(7000, r)}@customer${pick(7000, r) % 500}.example` }) },
  { name: 'recipient domain (the tenant: half of all mail)', query: () => ({ recipient: 'acme.test' }) },
  { name: 'Message-ID', query: (r) => ({ messageId: `<${1 + pick(total, r)}.bench@mail.example>` }) },
  { name: 'one day', query: (r) => ({ from: iso(now - (2 + (r % 25)) * day), to: iso(now - (1 + (r % 25)) * day) }) },
  { name: 'quarantined', query: () => ({ state: 'quarantined' }) },
  { name: 'held, last 7 days', query: () => ({ state: 'held', from: iso(now - 7 * day) }) },
  { name: 'flagged', query: () => ({ verdict: 'flag' }) },
  { name: 'inbound, last 7 days', query: () => ({ direction: 'inbound', from: iso(now - 7 * day) }) },
  { name: 'sender domain + quarantine verdict', query: (r) => ({ sender: `partner${pick(300, r)}.example`, verdict: 'quarantine' }) },
  { name: 'recipient address + 30 days', query: (r) => ({ recipient: `person${pick(200, r)}@acme.test`, from: iso(now - 30 * day) }) },
];

async function timed(path: string): Promise<{ ms: number; body: { messages?: Array<{ id: string }>; next?: string } }> {
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${gateway.httpPort}${path}`, { headers: { authorization: `Bearer ${ACME_API_TOKEN}` } });
  const body = (await response.json()) as { messages?: Array<{ id: string }>; next?: string };
  const ms = performance.now() - started;
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${JSON.stringify(body)}`);
  return { ms, body };
}

const searchPath = (query: Record<string, string>) => `/api/admin/message-search?${new URLSearchParams({ ...query, limit: '50' })}`;
const results = new Map<string, number[]>();
const record = (name: string, ms: number) => results.set(name, [...(results.get(name) ?? []), ms]);
let sampleId = '';
let nextCursor = '';
for (let round = -1; round < rounds; round += 1) {
  for (const search of SEARCHES) {
    const { ms, body } = await timed(searchPath(search.query(Math.max(0, round))));
    if (round >= 0) record(search.name, ms);
    if (search.name === 'inbound, last 7 days') {
      sampleId = body.messages?.[round % 50 === 0 ? 0 : 1]?.id ?? sampleId;
      nextCursor = body.next ?? '';
    }
  }
  if (nextCursor) {
    const { ms } = await timed(searchPath({ direction: 'inbound', from: iso(now - 7 * day), after: nextCursor }));
    if (round >= 0) record('the next page', ms);
  }
  if (sampleId) {
    const { ms } = await timed(`/api/admin/message-search/${sampleId}`);
    if (round >= 0) record("one message's timeline", ms);
  }
}

const all = [...results.values()].flat();
const line = (name: string, samples: number[]) =>
  `${name.padEnd(48)} p50 ${percentile(samples, 50)!.toFixed(1).padStart(7)} ms   p95 ${percentile(samples, 95)!.toFixed(1).padStart(7)} ms   (${samples.length})`;
console.log(`\nMessage trace search, ${total.toLocaleString('en')} messages of one tenant on PostgreSQL, ${rounds} rounds, end to end over HTTP:`);
for (const [name, samples] of results) console.log(line(name, samples));
const p95 = percentile(all, 95)!;
console.log(line('all searches', all));
console.log(`goal: p95 under ${GOAL_MS} ms — ${p95 < GOAL_MS ? 'met' : 'NOT met'}`);

await gateway.stop();
await mailServer.close();
if (values.keep) console.log(`kept the database: ${database.url}`);
else await database.cleanup();
process.exit(p95 < GOAL_MS ? 0 : 1);
