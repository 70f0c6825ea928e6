/**
 * `npm run bench:preview`: how fast the add-in's per-recipient preview answers. A real gateway (embedded
 * PGlite, or PostgreSQL with SEALPOST_TEST_DATABASE=postgres and DATABASE_URL) and a local Entra issuer run
 * on loopback; each request carries a signed token and 50 recipients (internal and external). The server
 * time is the gateway's own Server-Timing figure; round trip is what the task pane would wait.
 *
 * Options: --requests N (default 300), --recipients N (default 50), --budget-ms N (default 100).
 * Exit code 1 when the server p95 is over budget.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createTestDatabase } from '../../backend/test/support/database.ts';
import { LocalEntraIssuer } from '../../backend/test/support/local-entra-issuer.ts';
import { MailPeer } from '../../backend/test/support/mail-peer.ts';
import { acmeTenant, startTestGateway } from '../../backend/test/support/test-gateway.ts';
import { percentile as percentileOf } from './latency-probe.ts';

const percentile = (values: number[], p: number) => percentileOf(values, p) ?? Number.NaN;

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '300' },
    recipients: { type: 'string', default: '50' },
    'budget-ms': { type: 'string', default: '100' },
  },
});
const requests = Number(values.requests);
const recipientCount = Number(values.recipients);
const budgetMs = Number(values['budget-ms']);

const APP_ID = '6f1c2a9e-8d51-4b7a-9c33-0f2d7e5a1b10';
const ENTRA_TENANT = '3b2f8c1d-4e5a-4f60-8a7b-9c0d1e2f3a4b';
const OBJECT_ID = '0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f';

const database = await createTestDatabase();
const issuer = await LocalEntraIssuer.start();
const mailServer = await MailPeer.start();
const gateway = await startTestGateway(
  database,
  [acmeTenant(mailServer.port, { domains: ['acme.test', 'acme-law.test'], entra: { applicationId: APP_ID, tenantIds: [ENTRA_TENANT] } })],
  { SEALPOST_ENTRA_AUTHORITY: issuer.url },
);
try {
  const token = issuer.sign(issuer.claims({ tid: ENTRA_TENANT, oid: OBJECT_ID, aud: APP_ID, email: 'alice@acme.test' }));
  const url = `http://127.0.0.1:${gateway.httpPort}/api/addin/preview`;
  const body = (round: number) =>
    JSON.stringify({
      mode: 'auto',
      recipients: Array.from({ length: recipientCount }, (_, i) =>
        i % 4 === 0 ? `colleague${i}@acme.test` : `client${round}-${i}@example${i % 9}.net`,
      ),
    });
  const ask = async (round: number) => {
    const started = performance.now();
    const response = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body(round) });
    const answer = (await response.json()) as { recipients?: unknown[] };
    const roundTrip = performance.now() - started;
    if (response.status !== 200 || answer.recipients?.length !== recipientCount) throw new Error(`preview failed: ${response.status} ${JSON.stringify(answer)}`);
    const server = Number(/dur=([\d.]+)/.exec(response.headers.get('server-timing') ?? '')?.[1]);
    return { server, roundTrip };
  };
  for (let i = 0; i < 20; i++) await ask(-i); // keys fetched, code paths warm
  const server: number[] = [];
  const roundTrip: number[] = [];
  for (let i = 0; i < requests; i++) {
    const sample = await ask(i);
    server.push(sample.server);
    roundTrip.push(sample.roundTrip);
  }
  const fmt = (n: number) => n.toFixed(2).padStart(7);
  const sortedServer = [...server].sort((a, b) => a - b);
  const sortedTrip = [...roundTrip].sort((a, b) => a - b);
  console.log(`preview, ${recipientCount} recipients, ${requests} requests, database ${database.kind}`);
  console.log(`  server      p50 ${fmt(percentile(sortedServer, 50))} ms   p95 ${fmt(percentile(sortedServer, 95))} ms   max ${fmt(sortedServer.at(-1)!)} ms`);
  console.log(`  round trip  p50 ${fmt(percentile(sortedTrip, 50))} ms   p95 ${fmt(percentile(sortedTrip, 95))} ms   max ${fmt(sortedTrip.at(-1)!)} ms`);
  const p95 = percentile(sortedServer, 95);
  console.log(p95 < budgetMs ? `  within the ${budgetMs} ms budget` : `  OVER the ${budgetMs} ms budget`);
  process.exitCode = p95 < budgetMs ? 0 : 1;
} finally {
  await gateway.stop();
  await mailServer.close();
  await issuer.close();
  await database.cleanup();
}
