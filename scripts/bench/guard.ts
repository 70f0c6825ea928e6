/**
 * `npm run bench:guard`: the CPU the inbound checks cost per message, parse included, with every check the
 * gateway runs (message structure, reply-to domain, header protection, content filter, network & geo,
 * sender authentication) under the default policy, against the goal of at most 4 CPU-ms per message.
 *
 * Two corpora, interleaved as mail arrives: realistic inbound mail (10–50 kB multipart/alternative with HTML
 * and links, DKIM-signed by a few dozen sender domains whose SPF, DKIM and DMARC records a real DNS server on
 * loopback answers, see inbound-mail.ts), and the odd cases (plain text, 3 attachments of 100 KiB, Reply-To
 * variants, a missing From). Each message is split (the parse stage's work) and checked; CPU time is
 * process.cpuUsage (user + system) around both: the mean is the total over all measured messages divided by
 * their number, the p95 over the per-message samples. DNS answers are cached as in the gateway.
 *
 * Options: --messages N (default 10000, at least 5000), --distinct N (different messages, default 300),
 * --budget-ms X (default 4). Exit code 1 when the mean is over the budget.
 */
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import type { GuardInput, GuardTenant } from '../../backend/src/guard/contract.ts';
import { createDnsResolver } from '../../backend/src/guard/dns-resolver.ts';
import { DEFAULT_GUARD_POLICY } from '../../backend/src/guard/policy.ts';
import { createGuardRunner } from '../../backend/src/guard/runner.ts';
import { gatewayGuardChecks } from '../../backend/src/guard/tenant-guard.ts';
import { splitMessage } from '../../backend/src/mail/header-block.ts';
import { alternativeHtml, crlf, headers, plainText, withAttachments } from '../../backend/test/support/crafted-mail.ts';
import { startLocalDns } from '../../backend/test/support/local-dns.ts';
import { inboundCorpus } from './inbound-mail.ts';
import { percentile as percentileOf } from './latency-probe.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '10000' },
    distinct: { type: 'string', default: '300' },
    'budget-ms': { type: 'string', default: '4' },
  },
});
const messages = Math.max(5000, Number(values.messages));
const distinct = Math.max(10, Number(values.distinct));
const budgetMs = Number(values['budget-ms']);

const tenant: GuardTenant = {
  id: '00000000-0000-4000-8000-0000000000a1',
  name: 'Acme',
  domains: ['acme.test'],
  members: Array.from({ length: 200 }, (_, i) => ({ email: `person${i}@acme.test`, name: `Person Number${i}` })).concat([{ email: 'anna.schmidt@acme.test', name: 'Anna Schmidt' }]),
};

/** The odd cases, in the proportions an inbound gateway might see them besides ordinary mail. */
const ODD: Array<{ kind: string; weight: number; make: (i: number) => string }> = [
  { kind: 'plain text', weight: 10, make: (i) => plainText({ 'Message-ID': `<p${i}@example.org>` }) },
  { kind: 'short alternative HTML', weight: 8, make: (i) => alternativeHtml({ 'Message-ID': `<a${i}@example.org>` }) },
  { kind: '3 attachments of 100 KiB', weight: 6, make: (i) => withAttachments(3, 100 * 1024, { 'Message-ID': `<m${i}@example.org>` }) },
  { kind: 'Reply-To other domain', weight: 4, make: (i) => alternativeHtml({ 'Reply-To': `"Accounts" <pay${i}@elsewhere.example>` }) },
  {
    kind: 'From missing, Reply-To garbage',
    weight: 2,
    make: (i) => crlf(`${headers({ To: 'alice@acme.test', Subject: `n${i}`, 'Reply-To': '<<<@@@ ;;;', 'Content-Type': 'text/plain' })}\nhello\n`),
  },
];

const realistic = await inboundCorpus({ distinct: Math.round(distinct * 0.7), domains: 40, recipient: 'anna.schmidt@acme.test' });
const dns = await startLocalDns(realistic.zone);
const resolver = createDnsResolver({ servers: [dns.server], timeoutMs: 2000 });

const corpus: Array<{ kind: string; raw: Buffer; sender: string }> = realistic.messages.map((m) => ({ kind: `realistic ${m.kind.includes('unsigned') ? 'unsigned' : 'signed'}`, raw: m.raw, sender: m.sender }));
const oddCount = distinct - corpus.length;
const totalWeight = ODD.reduce((sum, k) => sum + k.weight, 0);
for (const entry of ODD) {
  const count = Math.max(1, Math.round((oddCount * entry.weight) / totalWeight));
  for (let i = 0; i < count; i += 1) corpus.push({ kind: entry.kind, raw: Buffer.from(entry.make(i)), sender: 'someone@example.org' });
}
// Interleaved, as mail arrives, rather than one kind after another.
for (let i = corpus.length - 1; i > 0; i -= 1) {
  const j = (i * 7919) % (i + 1);
  [corpus[i], corpus[j]] = [corpus[j]!, corpus[i]!];
}

const checks = gatewayGuardChecks({
  hostname: 'gateway.bench.test',
  directory: { tenantForAddress: () => ({ id: tenant.id }) },
  policies: { policyFor: async () => DEFAULT_GUARD_POLICY },
  resolver,
});
const run = createGuardRunner({ checks, policyFor: () => DEFAULT_GUARD_POLICY, metrics: new Registry() });

/** The parse stage's work and the checks, as the gateway does them for one message. */
async function check(message: { raw: Buffer; sender: string }, index: number) {
  const split = splitMessage(message.raw);
  if (split.outcome !== 'split') throw new Error(`a benchmark message cannot be split: ${split.outcome}`);
  const input: GuardInput = {
    messageId: `m${index}`,
    tenantId: tenant.id,
    direction: 'inbound',
    mailFrom: message.sender,
    recipients: ['anna.schmidt@acme.test'],
    remoteAddress: '127.0.0.1',
    helo: 'mta.sender.example',
    raw: message.raw,
    header: { fields: split.fields, body: split.body },
    tenant,
  };
  return run(input);
}

// Warm-up: JIT and first allocations are not what a running gateway pays per message.
for (let i = 0; i < 1000; i += 1) await check(corpus[i % corpus.length]!, i);

const cpuOf = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;
const samples: number[] = [];
const byKind = new Map<string, { cpu: number[]; actions: Map<string, number>; bytes: number }>();
let measuredCpu = 0;
const wallStart = performance.now();
for (let i = 0; i < messages; i += 1) {
  const message = corpus[i % corpus.length]!;
  const { kind } = message;
  const before = process.cpuUsage();
  const verdict = await check(message, i);
  const cpu = cpuOf(process.cpuUsage(before));
  measuredCpu += cpu;
  samples.push(cpu);
  const entry = byKind.get(kind) ?? { cpu: [], actions: new Map<string, number>(), bytes: message.raw.length };
  entry.cpu.push(cpu);
  entry.actions.set(verdict.action, (entry.actions.get(verdict.action) ?? 0) + 1);
  byKind.set(kind, entry);
}
const wallMs = performance.now() - wallStart;

const mean = measuredCpu / messages;
const p95 = percentileOf(samples, 95) ?? Number.NaN;
const p99 = percentileOf(samples, 99) ?? Number.NaN;
const fmt = (ms: number) => ms.toFixed(4);

console.log(`guard stage: ${checks.map((c) => c.name).join(', ')}; ${messages} messages (${corpus.length} distinct), Node ${process.version}`);
console.log('');
console.log('kind                               size      messages  mean CPU-ms  p95 CPU-ms  verdicts');
for (const [kind, entry] of byKind) {
  const kindMean = entry.cpu.reduce((a, b) => a + b, 0) / entry.cpu.length;
  const actions = [...entry.actions].map(([action, count]) => `${action} ${count}`).join(', ');
  console.log(
    `${kind.padEnd(34)} ${`${Math.round(entry.bytes / 1024)} KiB`.padStart(8)} ${String(entry.cpu.length).padStart(9)}  ${fmt(kindMean).padStart(11)} ${fmt(percentileOf(entry.cpu, 95) ?? Number.NaN).padStart(11)}  ${actions}`,
  );
}
console.log('');
console.log(`CPU per message: mean ${fmt(mean)} ms, p95 ${fmt(p95)} ms, p99 ${fmt(p99)} ms (goal: at most ${budgetMs} ms)`);
console.log(`wall time: ${(wallMs / messages).toFixed(4)} ms per message, ${Math.round(messages / (wallMs / 1000))} messages/s on one core`);
console.log(mean <= budgetMs ? `OK: the mean is within the ${budgetMs} ms goal` : `OVER: the mean exceeds the ${budgetMs} ms goal`);
console.log(`DNS: ${dns.queries} questions reached the server for ${messages + 1000} messages (answers are cached as in the gateway)`);
await dns.close();
process.exitCode = mean <= budgetMs ? 0 : 1;
