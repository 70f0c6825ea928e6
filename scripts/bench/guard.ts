/**
 * `npm run bench:guard`: the CPU the guard stage costs per message with the shipped checks (message
 * structure, reply-to domain), against the goal of at most 0.3 CPU-ms per message.
 *
 * The corpus is what an inbound gateway sees: plain text, multipart/alternative HTML, messages with three
 * attachments of about 100 KiB, and Reply-To variants (same domain, subdomain, other domain, missing
 * From, an unreadable Reply-To). Inputs are built and split before measuring, as the pipeline's parse
 * stage has done that work by the time the guard runs; only the runner's work is measured, metrics
 * included. CPU time is process.cpuUsage (user + system) around each message: the mean is the total over
 * all measured messages divided by their number, the p95 is over the per-message samples.
 *
 * Options: --messages N (default 10000, at least 5000), --distinct N (different messages, default 300),
 * --budget-ms X (default 0.3). Exit code 1 when the mean is over the budget.
 */
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import type { GuardInput } from '../../backend/src/guard/contract.ts';
import { DEFAULT_GUARD_POLICY } from '../../backend/src/guard/policy.ts';
import { createGuardRunner } from '../../backend/src/guard/runner.ts';
import { GUARD_CHECKS } from '../../backend/src/guard/tenant-guard.ts';
import { alternativeHtml, crlf, guardInput, headers, plainText, withAttachments } from '../../backend/test/support/crafted-mail.ts';
import { percentile as percentileOf } from './latency-probe.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '10000' },
    distinct: { type: 'string', default: '300' },
    'budget-ms': { type: 'string', default: '0.3' },
  },
});
const messages = Math.max(5000, Number(values.messages));
const distinct = Math.max(10, Number(values.distinct));
const budgetMs = Number(values['budget-ms']);

/** Kinds in the proportions an inbound gateway might see them. */
const KINDS: Array<{ kind: string; weight: number; make: (i: number) => string }> = [
  { kind: 'plain text', weight: 30, make: (i) => plainText({ 'Message-ID': `<p${i}@example.org>` }) },
  { kind: 'alternative HTML', weight: 35, make: (i) => alternativeHtml({ 'Message-ID': `<a${i}@example.org>` }) },
  { kind: '3 attachments of 100 KiB', weight: 10, make: (i) => withAttachments(3, 100 * 1024, { 'Message-ID': `<m${i}@example.org>` }) },
  { kind: 'Reply-To same domain', weight: 8, make: (i) => alternativeHtml({ 'Reply-To': `team${i}@example.org` }) },
  { kind: 'Reply-To subdomain', weight: 5, make: (i) => plainText({ 'Reply-To': `support@help${i}.example.org` }) },
  { kind: 'Reply-To other domain', weight: 8, make: (i) => alternativeHtml({ 'Reply-To': `"Accounts" <pay${i}@elsewhere.example>` }) },
  {
    kind: 'From missing, Reply-To garbage',
    weight: 4,
    make: (i) => crlf(`${headers({ To: 'alice@acme.test', Subject: `n${i}`, 'Reply-To': '<<<@@@ ;;;', 'Content-Type': 'text/plain' })}\nhello\n`),
  },
];

const totalWeight = KINDS.reduce((sum, k) => sum + k.weight, 0);
const corpus: Array<{ kind: string; input: GuardInput }> = [];
for (const entry of KINDS) {
  const count = Math.max(1, Math.round((distinct * entry.weight) / totalWeight));
  for (let i = 0; i < count; i += 1) corpus.push({ kind: entry.kind, input: guardInput(entry.make(i), { messageId: `${entry.kind}-${i}` }) });
}
// Interleaved, as mail arrives, rather than one kind after another.
for (let i = corpus.length - 1; i > 0; i -= 1) {
  const j = (i * 7919) % (i + 1);
  [corpus[i], corpus[j]] = [corpus[j]!, corpus[i]!];
}

const run = createGuardRunner({ checks: GUARD_CHECKS, policyFor: () => DEFAULT_GUARD_POLICY, metrics: new Registry() });

// Warm-up: JIT and first allocations are not what a running gateway pays per message.
for (let i = 0; i < 1000; i += 1) await run(corpus[i % corpus.length]!.input);

const cpuOf = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;
const samples: number[] = [];
const byKind = new Map<string, { cpu: number[]; actions: Map<string, number>; bytes: number }>();
let measuredCpu = 0;
const wallStart = performance.now();
for (let i = 0; i < messages; i += 1) {
  const { kind, input } = corpus[i % corpus.length]!;
  const before = process.cpuUsage();
  const verdict = await run(input);
  const cpu = cpuOf(process.cpuUsage(before));
  measuredCpu += cpu;
  samples.push(cpu);
  const entry = byKind.get(kind) ?? { cpu: [], actions: new Map<string, number>(), bytes: input.raw.length };
  entry.cpu.push(cpu);
  entry.actions.set(verdict.action, (entry.actions.get(verdict.action) ?? 0) + 1);
  byKind.set(kind, entry);
}
const wallMs = performance.now() - wallStart;

const mean = measuredCpu / messages;
const p95 = percentileOf(samples, 95) ?? Number.NaN;
const p99 = percentileOf(samples, 99) ?? Number.NaN;
const fmt = (ms: number) => ms.toFixed(4);

console.log(`guard stage: ${GUARD_CHECKS.map((c) => c.name).join(', ')}; ${messages} messages (${corpus.length} distinct), Node ${process.version}`);
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
process.exitCode = mean <= budgetMs ? 0 : 1;
