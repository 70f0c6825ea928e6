/**
 * `npm run bench:smtp`: SMTP acceptance and relay throughput of the Sealpost gateway compared with Postfix on this
 * machine. smtp-source pushes messages over many concurrent sessions into a receiver that relays everything to
 * smtp-sink; the same load goes first to a private Postfix instance (the reference), then to the gateway.
 *
 * Options:
 *   --messages N          messages per load run (default 5000; the gateway's second round sends 3 N)
 *   --sessions S          concurrent smtp-source sessions (default 50)
 *   --size BYTES          message body size (default 10240)
 *   --pglite              run the gateway on embedded PGlite instead of PostgreSQL
 *   --only postfix|sealpost
 *   --probe-messages N    latency probe messages per run (default 200)
 *   --probe-connections N latency probe connections (default 4)
 *   --drain-timeout SEC   how long to wait for the sink to have every accepted message (default 300)
 *   --time-limit MIN      hard limit for the whole benchmark (default 45)
 *   --keep                keep the temporary folders (Postfix queue and log, gateway data)
 *   --inbound             mail from the Internet instead of the tenant's connector: a realistic ~30 kB
 *                         DKIM-signed HTML message with links (see inbound-mail.ts) from a sender domain whose
 *                         SPF, DKIM and DMARC records a DNS server on loopback answers, to a tenant address;
 *                         every inbound check runs under the default policy. The bar is then 0.8 x Postfix,
 *                         and the gateway's CPU per message is printed. Use --messages 2500 for 10,000 in all.
 *
 * Exit code 0 when everything ran (the verdict is printed, not returned); 1 when a receiver could not be started,
 * the load could not run, or messages were lost (delivered < accepted after the drain timeout).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { freePort, makeTempDir, onRelease, releaseAll, sleep } from './bench-resources.ts';
import { percentile, runLatencyProbe, type ProbeResult } from './latency-probe.ts';
import { PostfixInstance } from './postfix-reference.ts';
import { mib, readProcessCpuMs, readProcessMemory, readProcessPss, RssSampler, treeRss } from './process-memory.ts';
import { startLocalDns, type LocalDns } from '../../backend/test/support/local-dns.ts';
import { inboundCorpus } from './inbound-mail.ts';
import { createBenchDatabase, METRIC, REPOSITORY_ROOT, SealpostGateway } from './sealpost-gateway.ts';
import { runSmtpSource, SmtpSink, type LoadOptions, type LoadResult } from './smtp-tools.ts';

interface Settings {
  messages: number;
  sessions: number;
  size: number;
  pglite: boolean;
  only?: 'postfix' | 'sealpost';
  probeMessages: number;
  probeConnections: number;
  drainTimeoutMs: number;
  timeLimitMs: number;
  keep: boolean;
  inbound: boolean;
}

/**
 * The bars: durable acceptance rate at least this share of Postfix's (relay from the tenant's connector;
 * inbound mail, every check included), and RSS growth between rounds at most this.
 */
const ACCEPT_RATIO_BAR = 0.5;
const INBOUND_ACCEPT_RATIO_BAR = 0.8;
const RSS_GROWTH_BAR = 0.25;

class UsageError extends Error {}

function readSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      messages: { type: 'string', default: '5000' },
      sessions: { type: 'string', default: '50' },
      size: { type: 'string', default: '10240' },
      pglite: { type: 'boolean', default: false },
      only: { type: 'string' },
      'probe-messages': { type: 'string', default: '200' },
      'probe-connections': { type: 'string', default: '4' },
      'drain-timeout': { type: 'string', default: '300' },
      'time-limit': { type: 'string', default: '45' },
      keep: { type: 'boolean', default: false },
      inbound: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    const header = readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0] ?? '';
    process.stdout.write(`${header.replace(/^\/\*\*?|^ \* ?/gm, '')}\n`);
    process.exit(0);
  }
  const positive = (name: string, raw: string | undefined) => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value <= 0) throw new UsageError(`--${name} must be a positive integer`);
    return value;
  };
  if (values.only !== undefined && values.only !== 'postfix' && values.only !== 'sealpost') {
    throw new UsageError('--only must be postfix or sealpost');
  }
  return {
    messages: positive('messages', values.messages),
    sessions: positive('sessions', values.sessions),
    size: positive('size', values.size),
    pglite: values.pglite ?? false,
    only: values.only as Settings['only'],
    probeMessages: positive('probe-messages', values['probe-messages']),
    probeConnections: positive('probe-connections', values['probe-connections']),
    drainTimeoutMs: positive('drain-timeout', values['drain-timeout']) * 1000,
    timeLimitMs: positive('time-limit', values['time-limit']) * 60_000,
    keep: values.keep ?? false,
    inbound: values.inbound ?? false,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// One measured round: load + probe, then drain to the sink.

interface Receiver {
  name: string;
  port: number;
  /** Current memory figure to sample (bytes); for Postfix the sum over its processes. */
  readRss: () => number | undefined;
  /** Extra condition for "drained" besides the sink count (e.g. the Postfix queue is empty). */
  isDrained?: () => Promise<boolean> | boolean;
  /** CPU time the receiver has used so far, in ms (the gateway process; not measured for Postfix). */
  readCpuMs?: () => number | undefined;
}

interface RoundResult {
  label: string;
  load: LoadResult;
  acceptedPerSecond: number;
  probe: {
    sent: number;
    accepted: number;
    refused: number;
    duringLoad: number;
    p50Ms?: number;
    p99Ms?: number;
    maxMs?: number;
    errors: string[];
  };
  /** Messages the sink received in this round (load and probe). */
  delivered: number;
  /** Messages the receiver accepted in this round (load and probe): what the sink should get. */
  expected: number;
  drained: boolean;
  /** Seconds from the start of the load to the last message at the sink. */
  deliverySeconds: number;
  deliveredPerSecond: number;
  peakRssBytes: number;
  rssAfterBytes?: number;
  /** The receiver's CPU time over the round (receive, store, check, deliver) per delivered message. */
  cpuMsPerMessage?: number;
}

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

async function measureRound(
  label: string,
  receiver: Receiver,
  sink: SmtpSink,
  load: LoadOptions,
  settings: Settings,
): Promise<RoundResult> {
  const sinkBefore = sink.count;
  const cpuBefore = receiver.readCpuMs?.();
  const sampler = new RssSampler(receiver.readRss, 200).start();

  log(`  ${label}: ${load.messages} messages, ${load.sessions} sessions, ${load.size} bytes each`);
  let loadDone = false;
  let loadCounter = 0;
  const loadStart = performance.now();
  const probeTotal = settings.probeMessages;
  let probeStarted = 0;

  // Spread the probe over the load: from the load's progress so far, estimate how long it still runs and pace
  // the probe messages that are left over that time.
  const pauseMs = () => {
    const elapsed = performance.now() - loadStart;
    if (loadCounter < 50 || elapsed < 500) return 20;
    const remainingLoadMs = ((load.messages - loadCounter) / loadCounter) * elapsed;
    const perConnectionLeft = Math.max(1, (probeTotal - probeStarted) / settings.probeConnections);
    return Math.max(0, Math.min(2000, (remainingLoadMs * 0.8) / perConnectionLeft));
  };

  let probePromise: Promise<ProbeResult> | undefined;
  const loadPromise = runSmtpSource(load, receiver.port, Math.max(300_000, load.messages * 100), {
    onProgress: (counter) => (loadCounter = counter),
  });
  // Let the load sessions connect first so the probe measures the receiver under load.
  const probeDelay = sleep(300).then(() => {
    probePromise = runLatencyProbe({
      port: receiver.port,
      messages: probeTotal,
      connections: settings.probeConnections,
      size: load.size,
      sender: load.sender,
      recipient: load.recipient,
      pauseMs,
      onMessageStart: () => probeStarted++,
      shouldStop: () => loadDone,
    });
  });
  const result = await loadPromise;
  loadDone = true;
  await probeDelay;
  const probe = await probePromise!;

  const inLoad = probe.samples.filter((s) => s.at <= result.endedAt && Math.floor(s.code / 100) === 2);
  const latencies = inLoad.map((s) => s.ms);
  const acceptedPerSecond = result.accepted / result.seconds;
  log(
    `    smtp-source: exit ${result.exitCode}${result.timedOut ? ' (timed out)' : ''}, ${result.accepted}/${load.messages} accepted` +
      ` in ${result.seconds.toFixed(2)} s = ${acceptedPerSecond.toFixed(1)} msg/s` +
      (result.refused ? `, ${result.refused} refused` : ''),
  );
  for (const [problem, count] of Object.entries(result.problems).slice(0, 8)) log(`      ${count} x ${problem}`);
  log(
    `    probe: ${probe.accepted} accepted (${inLoad.length} during the load), p50 ${fmtMs(percentile(latencies, 50))},` +
      ` p99 ${fmtMs(percentile(latencies, 99))}` +
      (probe.errors.length ? `, ${probe.errors.length} problems: ${probe.errors.slice(0, 3).join('; ')}` : ''),
  );

  // Drain: everything the receiver accepted (load and probe) must reach the sink.
  const expected = result.accepted + probe.accepted;
  const target = sinkBefore + expected;
  let drained = await sink.waitFor(target, settings.drainTimeoutMs, (count) =>
    log(`    draining: ${count - sinkBefore}/${expected} at the sink`),
  );
  if (drained && receiver.isDrained) {
    const deadline = performance.now() + 30_000;
    while (!(await receiver.isDrained()) && performance.now() < deadline) await sleep(200);
  }
  const delivered = sink.count - sinkBefore;
  drained = delivered >= expected;
  const deliverySeconds = ((delivered > 0 ? sink.lastMessageAt : performance.now()) - loadStart) / 1000;
  const deliveredPerSecond = delivered / deliverySeconds;
  log(
    `    sink: ${delivered}/${expected} delivered ${drained ? '' : '(INCOMPLETE) '}after ${deliverySeconds.toFixed(2)} s` +
      ` = ${deliveredPerSecond.toFixed(1)} msg/s`,
  );

  const cpuAfter = receiver.readCpuMs?.();
  const cpuMsPerMessage = cpuBefore !== undefined && cpuAfter !== undefined && delivered > 0 ? (cpuAfter - cpuBefore) / delivered : undefined;
  if (cpuMsPerMessage !== undefined) log(`    CPU: ${cpuMsPerMessage.toFixed(2)} ms per message in the receiver (receive, store, check, deliver)`);
  sampler.stop();
  // Memory after the round: let the receiver settle for a moment once the queue is empty.
  await sleep(1000);
  const after = receiver.readRss();
  log(`    memory: peak ${fmtMib(sampler.peak)} during the round, ${fmtMib(after)} after it`);

  return {
    label,
    load: result,
    acceptedPerSecond,
    probe: {
      sent: probe.samples.length,
      accepted: probe.accepted,
      refused: probe.refused,
      duringLoad: inLoad.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.length ? Math.max(...latencies) : undefined,
      errors: probe.errors.slice(0, 20),
    },
    delivered,
    expected,
    drained,
    deliverySeconds,
    deliveredPerSecond,
    peakRssBytes: Math.max(sampler.peak, after ?? 0),
    rssAfterBytes: after,
    cpuMsPerMessage,
  };
}

function fmtMs(value: number | undefined): string {
  return value === undefined ? 'n/a' : `${value.toFixed(value < 10 ? 2 : 1)} ms`;
}

function fmtMib(bytes: number | undefined): string {
  return bytes === undefined ? 'n/a' : `${mib(bytes).toFixed(1)} MiB`;
}

// ---------------------------------------------------------------------------------------------------------------
// The two receivers.

interface PostfixReport {
  ok: boolean;
  error?: string;
  round?: RoundResult;
  peakRssSumBytes?: number;
  peakPssSumBytes?: number;
  processesAtPeak?: number;
  log?: ReturnType<PostfixInstance['logCounts']>;
  directory?: string;
}

async function runPostfix(settings: Settings, load: LoadOptions): Promise<PostfixReport> {
  log('\n== Reference: private Postfix instance');
  const sinkPort = await freePort();
  const sink = await SmtpSink.start(sinkPort);
  const instance = await PostfixInstance.create({ smtpPort: await freePort(), relayPort: sinkPort, keep: settings.keep });
  try {
    await instance.start();
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  log(`  listening on 127.0.0.1:${instance.options.smtpPort}, relaying to smtp-sink on 127.0.0.1:${sinkPort}`);
  log(`  config_directory ${instance.configDir}`);
  // PSS divides shared pages (program text, libraries) among the processes; sampled less often, it is costly.
  let peakPss = 0;
  let processesAtPeak = 0;
  const pssTimer = setInterval(() => {
    let pss = 0;
    const pids = instance.processes();
    for (const pid of pids) pss += readProcessPss(pid) ?? 0;
    if (pss > peakPss) {
      peakPss = pss;
      processesAtPeak = pids.length;
    }
  }, 1000);
  try {
    const round = await measureRound(
      'round 1',
      {
        name: 'Postfix',
        port: instance.options.smtpPort,
        readRss: () => instance.totalRss().rss,
        isDrained: () => instance.queuedMessages() === 0,
      },
      sink,
      load,
      settings,
    );
    const counts = instance.logCounts();
    log(
      `  maillog: ${counts.queued} queued, ${counts.sent} sent, ${counts.deferred} deferred, ${counts.bounced} bounced,` +
        ` ${counts.rejected} rejected`,
    );
    return {
      ok: true,
      round,
      peakRssSumBytes: round.peakRssBytes,
      peakPssSumBytes: peakPss || undefined,
      processesAtPeak,
      log: counts,
      directory: settings.keep ? instance.root : undefined,
    };
  } finally {
    clearInterval(pssTimer);
    await instance.stop();
    await sink.stop();
  }
}

interface SealpostReport {
  ok: boolean;
  error?: string;
  database: 'postgres' | 'pglite';
  readyAfterMs?: number;
  rounds: RoundResult[];
  rssAtReadyBytes?: number;
  vmHwmBytes?: number;
  metrics?: Record<string, number>;
  gatewayOutput?: string[];
}

async function runSealpost(settings: Settings, load: LoadOptions, dnsServer?: string): Promise<SealpostReport> {
  const database = settings.pglite ? 'pglite' : 'postgres';
  log(`\n== Sealpost gateway (${database === 'pglite' ? 'embedded PGlite' : 'PostgreSQL'})`);
  const report: SealpostReport = { ok: false, database, rounds: [] };
  const sinkPort = await freePort();
  const sink = await SmtpSink.start(sinkPort);
  const databaseUrl = settings.pglite ? undefined : (await createBenchDatabase()).url;
  if (databaseUrl) log(`  database ${databaseUrl}`);
  const gateway = SealpostGateway.start({
    smtpPort: await freePort(),
    httpPort: await freePort(),
    sinkPort,
    databaseUrl,
    keep: settings.keep,
    ...(dnsServer ? { inbound: { dnsServer } } : {}),
  });
  try {
    report.readyAfterMs = await gateway.waitReady(120_000);
  } catch (error) {
    report.error = (error as Error).message;
    await gateway.stop();
    await sink.stop();
    return report;
  }
  log(
    `  ready after ${(report.readyAfterMs / 1000).toFixed(1)} s: SMTP 127.0.0.1:${gateway.options.smtpPort},` +
      ` HTTP 127.0.0.1:${gateway.options.httpPort}, pid ${gateway.pid}, relaying to smtp-sink on 127.0.0.1:${sinkPort}`,
  );
  const rss = () => treeRss(gateway.pid).rss || undefined;
  report.rssAtReadyBytes = rss();
  log(`  memory at ready: ${fmtMib(report.rssAtReadyBytes)}`);
  const receiver: Receiver = {
    name: 'Sealpost',
    port: gateway.options.smtpPort,
    readRss: rss,
    readCpuMs: () => readProcessCpuMs(gateway.pid),
    isDrained: async () => {
      const metrics = await gateway.metrics().catch(() => undefined);
      return metrics !== undefined && (metrics.get(METRIC.queueDepth) ?? 0) === 0;
    },
  };
  try {
    const before = await gateway.metrics();
    report.rounds.push(await measureRound('round 1', receiver, sink, load, settings));
    const middle = await gateway.metrics();
    crossCheck(before, middle, report.rounds[0]!);
    if (gateway.hasExited()) throw new Error(`the gateway exited during round 1:\n${gateway.outputTail()}`);
    const bigger = { ...load, messages: load.messages * 3 };
    report.rounds.push(await measureRound('round 2 (same process)', receiver, sink, bigger, settings));
    const after = await gateway.metrics();
    crossCheck(middle, after, report.rounds[1]!);
    report.metrics = Object.fromEntries(
      Object.values(METRIC)
        .filter((name) => after.has(name))
        .map((name) => [name, after.get(name)!]),
    );
    report.vmHwmBytes = readProcessMemory(gateway.pid)?.hwm;
    report.ok = !gateway.hasExited();
    if (!report.ok) report.error = `the gateway exited during the run:\n${gateway.outputTail()}`;
  } catch (error) {
    report.error = (error as Error).message;
  } finally {
    report.gatewayOutput = gateway.printed().slice(0, 20);
    await gateway.stop();
    await sink.stop();
  }
  return report;
}

/** Compares the gateway's own counters with what the load generator and the sink saw. */
function crossCheck(before: Map<string, number>, after: Map<string, number>, round: RoundResult): void {
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  const received = delta(METRIC.received);
  const delivered = delta(METRIC.delivered);
  const line =
    `    gateway counters: +${received} received, +${delivered} delivered, +${delta(METRIC.rejected)} rejected,` +
    ` +${delta(METRIC.deferred)} deferred, +${delta(METRIC.bounced)} bounced, queue depth ${after.get(METRIC.queueDepth) ?? 'n/a'}`;
  log(line);
  const count = delta(METRIC.acceptSecondsCount);
  if (count > 0) log(`    gateway's own mean accept time: ${fmtMs((delta(METRIC.acceptSecondsSum) / count) * 1000)}`);
  if (received !== round.expected) {
    log(`    note: the gateway counted ${received} received, the clients saw ${round.expected} accepted`);
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let settings: Settings;
  try {
    settings = readSettings(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  setTimeout(
    () => void finish(1, `time limit of ${settings.timeLimitMs / 60_000} minutes reached`),
    settings.timeLimitMs,
  ).unref();
  let load: LoadOptions = {
    messages: settings.messages,
    sessions: settings.sessions,
    size: settings.size,
    sender: 'sender@bench.test',
    recipient: 'rcpt@example.net',
    heloName: 'bench.test',
  };
  let dns: LocalDns | undefined;
  if (settings.inbound) {
    // One realistic message of about 30 kB, signed by its domain, which the DNS server vouches for.
    const corpus = await inboundCorpus({ distinct: 12, domains: 3, recipient: 'rcpt@bench.test' });
    const message = corpus.messages.find((m) => !m.kind.includes('unsigned') && m.raw.length > 25_000 && m.raw.length < 40_000) ?? corpus.messages[0]!;
    dns = await startLocalDns(corpus.zone);
    onRelease('local DNS server', () => dns!.close());
    const folder = makeTempDir('sealpost-bench-inbound-', settings.keep);
    const file = join(folder, 'message.eml');
    // smtp-source ends each line of the file with CRLF itself.
    writeFileSync(file, message.raw.toString('utf8').replace(/\r\n/g, '\n'));
    load = { ...load, size: message.raw.length, sender: message.sender, recipient: 'rcpt@bench.test', heloName: 'mta.sender.example', file };
  }
  const startedAt = new Date();
  log(`Sealpost SMTP benchmark, ${startedAt.toISOString()}`);
  log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${fmtMib(totalmem())} RAM,` +
      ` load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}`,
  );
  log(
    `load per run: smtp-source -A -c -d -s ${load.sessions} -m ${load.messages} ${load.file ? `-F ${load.file}` : `-l ${load.size}`}` +
      ` -f ${load.sender} -t ${load.recipient} -M ${load.heloName} 127.0.0.1:<receiver port>`,
  );
  if (settings.inbound) {
    log(`inbound: a ${load.size}-byte DKIM-signed HTML message from the Internet to a tenant address; DNS on ${dns!.server}; default policy`);
  }
  log(`latency probe: ${settings.probeMessages} messages over ${settings.probeConnections} connections during the load`);

  let postfix: PostfixReport | undefined;
  let sealpost: SealpostReport | undefined;
  if (settings.only !== 'sealpost') {
    try {
      postfix = await runPostfix(settings, load);
    } catch (error) {
      postfix = { ok: false, error: (error as Error).message };
    }
    if (!postfix.ok) log(`  Postfix reference FAILED: ${postfix.error}`);
  }
  if (settings.only !== 'postfix') {
    try {
      sealpost = await runSealpost(settings, load, dns?.server);
    } catch (error) {
      sealpost = { ok: false, error: (error as Error).message, database: settings.pglite ? 'pglite' : 'postgres', rounds: [] };
    }
    if (!sealpost.ok) log(`  Sealpost gateway FAILED: ${sealpost.error}`);
    if (sealpost.gatewayOutput?.length) {
      log('  the gateway printed (log level warn):');
      for (const line of sealpost.gatewayOutput.slice(0, 10)) log(`    | ${line.slice(0, 300)}`);
    }
  }

  // Summary.
  log('\n== Summary');
  const rows: Array<[string, RoundResult | undefined, number | undefined, number | undefined]> = [];
  if (postfix) rows.push(['Postfix', postfix.round, postfix.round?.peakRssBytes, undefined]);
  if (sealpost) {
    sealpost.rounds.forEach((round, index) =>
      rows.push([
        `Sealpost ${index === 0 ? 'N' : '3N'}`,
        round,
        round.peakRssBytes,
        index === sealpost!.rounds.length - 1 ? sealpost!.vmHwmBytes : undefined,
      ]),
    );
  }
  log(
    pad('receiver', 14) + pad('messages', 10) + pad('accepted/s', 12) + pad('delivered/s', 13) + pad('p50', 10) +
      pad('p99', 10) + pad('peak RSS', 12) + pad('RSS after', 12),
  );
  for (const [name, round, peak] of rows) {
    if (!round) {
      log(pad(name, 14) + 'did not run');
      continue;
    }
    log(
      pad(name, 14) + pad(String(round.load.messages), 10) + pad(round.acceptedPerSecond.toFixed(1), 12) +
        pad(round.deliveredPerSecond.toFixed(1), 13) + pad(fmtMs(round.probe.p50Ms), 10) +
        pad(fmtMs(round.probe.p99Ms), 10) + pad(fmtMib(peak), 12) + pad(fmtMib(round.rssAfterBytes), 12),
    );
  }
  if (postfix?.round) {
    log(
      `Postfix memory is the sum of RSS over its processes (up to ${postfix.processesAtPeak ?? '?'}); shared pages count` +
        ` once per process. Peak sum of PSS (shared pages divided): ${fmtMib(postfix.peakPssSumBytes)}.`,
    );
  }
  if (sealpost?.rounds.length) {
    log(
      `Sealpost memory is the gateway process (its database server is not included): ${fmtMib(sealpost.rssAtReadyBytes)}` +
        ` at ready, VmHWM ${fmtMib(sealpost.vmHwmBytes)} at the end.`,
    );
  }

  const ratio =
    postfix?.round && sealpost?.rounds[0]
      ? sealpost.rounds[0].acceptedPerSecond / postfix.round.acceptedPerSecond
      : undefined;
  if (ratio !== undefined) log(`Ratio Sealpost/Postfix, accepted msg/s: ${ratio.toFixed(2)}`);
  if (postfix?.round && sealpost?.rounds[0]) {
    log(
      `Ratio Sealpost/Postfix, delivered msg/s: ${(sealpost.rounds[0].deliveredPerSecond / postfix.round.deliveredPerSecond).toFixed(2)}`,
    );
  }

  const verdicts: Record<string, string> = {};
  const bar = settings.inbound ? INBOUND_ACCEPT_RATIO_BAR : ACCEPT_RATIO_BAR;
  if (ratio !== undefined && sealpost) {
    const pass = ratio >= bar;
    verdicts.acceptance =
      `${pass ? 'PASS' : 'FAIL'}: Sealpost accepts ${sealpost.rounds[0]!.acceptedPerSecond.toFixed(1)} msg/s durably on ` +
      `${sealpost.database === 'pglite' ? 'PGlite' : 'PostgreSQL'} = ${ratio.toFixed(2)} x Postfix ` +
      `${postfix!.round!.acceptedPerSecond.toFixed(1)} msg/s (bar: >= ${bar} x, on PostgreSQL${settings.inbound ? ', inbound with every check' : ''})` +
      (sealpost.database === 'pglite' ? ' [informational: measured on PGlite, the bar is defined on PostgreSQL]' : '');
  } else {
    verdicts.acceptance = 'n/a: needs both receivers measured in the same run';
  }
  const [first, second] = sealpost?.rounds ?? [];
  if (first?.rssAfterBytes && second?.rssAfterBytes) {
    const growth = second.rssAfterBytes / first.rssAfterBytes - 1;
    verdicts.memory =
      `${growth <= RSS_GROWTH_BAR ? 'PASS' : 'FAIL'}: gateway RSS ${fmtMib(first.rssAfterBytes)} after ` +
      `${first.load.messages} messages, ${fmtMib(second.rssAfterBytes)} after ${second.load.messages} more ` +
      `(${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%, bar: <= +${RSS_GROWTH_BAR * 100}%)`;
  } else {
    verdicts.memory = 'n/a: needs both gateway rounds';
  }
  const cpu = sealpost?.rounds.map((round) => round.cpuMsPerMessage).filter((x): x is number => x !== undefined) ?? [];
  if (cpu.length > 0) {
    verdicts.cpu = `gateway CPU ${cpu.map((x) => x.toFixed(2)).join(' / ')} ms per message over the rounds (receive, store, ${settings.inbound ? 'every inbound check, ' : ''}route, deliver; the checks alone: npm run bench:guard)`;
  }
  log(`VERDICT acceptance ${verdicts.acceptance}`);
  if (verdicts.cpu) log(`VERDICT cpu        ${verdicts.cpu}`);
  log(`VERDICT memory     ${verdicts.memory}`);

  // Failures that make the exit code non-zero.
  const failures: string[] = [];
  if (postfix && !postfix.ok) failures.push(`Postfix reference: ${firstLine(postfix.error)}`);
  if (sealpost && !sealpost.ok) failures.push(`Sealpost gateway: ${firstLine(sealpost.error)}`);
  const allRounds = [
    ...(postfix?.round ? [['Postfix', postfix.round] as const] : []),
    ...(sealpost?.rounds ?? []).map((round) => ['Sealpost', round] as const),
  ];
  for (const [name, round] of allRounds) {
    if (!round.drained) {
      failures.push(`${name} ${round.label}: lost messages, ${round.delivered}/${round.expected} delivered to the sink`);
    }
    if (round.load.exitCode !== 0 || round.load.timedOut) {
      failures.push(`${name} ${round.label}: smtp-source ended with ${round.load.exitCode}${round.load.timedOut ? ' (timed out)' : ''}`);
    }
  }
  for (const failure of failures) log(`PROBLEM ${failure}`);

  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, memoryBytes: totalmem(), loadAverageAtEnd: loadavg(), node: process.version },
    settings: { ...settings, drainTimeoutMs: undefined, timeLimitMs: undefined, drainTimeoutSeconds: settings.drainTimeoutMs / 1000 },
    load,
    postfix,
    sealpost,
    ratioAcceptedPerSecond: ratio,
    verdicts,
    failures,
  };
  const folder = join(REPOSITORY_ROOT, '.sealpost-bench');
  mkdirSync(folder, { recursive: true });
  const file = join(folder, `smtp-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  log(`\nfigures written to ${file}`);
  return failures.length > 0 ? 1 : 0;
}

function pad(text: string, width: number): string {
  return text.padEnd(width);
}

function firstLine(text: string | undefined): string {
  return (text ?? 'unknown error').split('\n')[0]!;
}

// Cleanup on every way out: normal end, error, Ctrl-C, SIGTERM, and the overall time limit.
let exiting = false;
async function finish(code: number, reason?: string): Promise<never> {
  if (!exiting) {
    exiting = true;
    if (reason) process.stderr.write(`\nbench: ${reason}; stopping everything the benchmark started\n`);
    const forced = setTimeout(() => process.exit(code), 60_000);
    forced.unref();
    await releaseAll();
  }
  process.exit(code);
}

process.on('SIGINT', () => void finish(130, 'interrupted'));
process.on('SIGTERM', () => void finish(143, 'terminated'));
process.on('uncaughtException', (error) => {
  process.stderr.write(`bench: ${error.stack ?? error.message}\n`);
  void finish(1, 'unexpected error');
});
process.on('unhandledRejection', (error) => {
  process.stderr.write(`bench: ${(error as Error)?.stack ?? String(error)}\n`);
  void finish(1, 'unexpected error');
});

main().then(
  (code) => finish(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    return finish(1);
  },
);
