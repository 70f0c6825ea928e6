/**
 * The gateway crash test, seen only from the outside: messages go in over SMTP from the tenant's connector,
 * come out over SMTP at a receiving server on loopback, and their final states are read from the database
 * (PostgreSQL) or the admin API (embedded PGlite, which belongs to the gateway process). While the messages
 * are sent, the gateway is killed with SIGKILL and restarted on the same database and data folder, and the
 * database can be restarted once (the caller passes how).
 *
 * Used by `npm run chaos` (scripts/chaos.ts: 10,000 messages, 5 kills, one PostgreSQL restart) and by
 * backend/test/chaos.test.ts (a few hundred messages, 2 kills, no database restart).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { stringify } from 'yaml';
import { freePort, GatewayProcess } from '../../backend/test/support/gateway-process.ts';
import { SmtpConversation, type SmtpReply } from '../../backend/test/support/smtp-conversation.ts';

/** Message states after which the gateway does nothing more with a message. */
export const FINAL_STATES = new Set(['delivered', 'bounced', 'partly_delivered', 'quarantined', 'rejected']);

export interface ChaosOptions {
  messages: number;
  kills: number;
  /** SMTP sessions sending at once. */
  concurrency: number;
  /** PostgreSQL database of this run; undefined runs the gateway on embedded PGlite in `workDir`. */
  databaseUrl?: string;
  /** An empty folder for the gateway's data folder and configuration. */
  workDir: string;
  /** Restarts the database server once in the middle of the run; undefined: no restart. */
  restartDatabase?: () => Promise<void>;
  /** Every n-th message asks for portal protection (its notification carries the marker); 0: none. */
  portalEvery: number;
  /** Deliveries one gateway process runs at once (SEALPOST_DELIVERY_CONCURRENCY): the duplicate bound uses it. */
  deliveryConcurrency: number;
  /** Claim lease of a delivery: how soon the claims of a killed process come back to the queue. */
  deliveryLeaseSeconds: number;
  /** Time for sending every message (retries included). */
  sendTimeoutMs: number;
  /**
   * After the sending, how long the count of unsettled messages (not final, or accepted but not at the receiver)
   * may stay without going down before the run fails: a slow queue passes, a stuck one does not.
   */
  settleTimeoutMs: number;
  /** Progress lines. */
  log: (line: string) => void;
}

export const DEFAULT_CHAOS_OPTIONS = {
  messages: 10_000,
  kills: 5,
  concurrency: 20,
  portalEvery: 10,
  deliveryConcurrency: 20,
  deliveryLeaseSeconds: 5,
  sendTimeoutMs: 30 * 60_000,
  settleTimeoutMs: 2 * 60_000,
} as const;

export interface ChaosReport {
  sent: number;
  /** Messages answered 250 after DATA. */
  accepted: number;
  /** Messages never answered 250 within the send time. */
  notAccepted: number;
  /** SMTP transactions tried, first tries and retries. */
  attempts: number;
  /** Retries after a connection error, a timeout or a 4xx. */
  retries: number;
  /** Transactions whose DATA was sent in full but whose reply never came (the gateway died). */
  repliesLost: number;
  /** Refusals that the sender retried, by reply (for example "451 4.3.0" while the database was away). */
  refusals: Record<string, number>;
  /** Accepted messages that never arrived at the receiver, or that are not in the database. */
  lost: number;
  lostMarkers: string[];
  /** Stored copies (database rows) beyond the one each message needs: sent again because the 250 was not seen. */
  resentBecause250Lost: number;
  /** Of those, copies stored although the gateway answered 4xx (the commit's outcome was cut off with the database). */
  storedDespite4xx: number;
  /** Deliveries at the receiver beyond one per stored copy: the gateway repeated a delivery after a crash. */
  deliveredTwiceByGateway: number;
  /** Stored copies that did not arrive although another copy of the message did. */
  storedCopiesNotDelivered: number;
  deliveriesReceived: number;
  /** Mail at the receiver without a marker of this run (for example delivery status notifications). */
  unmarkedReceived: number;
  /** Messages (database rows, notifications included) by state at the end. */
  states: Record<string, number>;
  notFinal: number;
  notFinalSamples: string[];
  killsDone: number;
  databaseRestartsDone: number;
  /** Times the gateway ended without being killed (a defect; it was started again to finish the count). */
  gatewayExitsByItself: number;
  /** Longest time a kill or a database restart kept the gateway from accepting mail, in seconds. */
  longestOutageSeconds: number;
  bounds: { resent: number; deliveredTwice: number; explanation: string };
  elapsedSeconds: number;
  failures: string[];
}

type MessageRow = { id: string; direction: string; messageIdHeader: string | null; state: string };

const MARKER_PATTERN = /chaos-[a-z0-9]+-\d+/;

/** The receiving SMTP server (the outbound destination): counts the deliveries of every marker. */
class MarkerReceiver {
  readonly counts = new Map<string, number>();
  total = 0;
  unmarked = 0;

  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  static async start(): Promise<MarkerReceiver> {
    let receiver!: MarkerReceiver;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      disableReverseLookup: true,
      logger: false,
      size: 1024 * 1024,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const marker = MARKER_PATTERN.exec(Buffer.concat(chunks).toString('latin1'))?.[0];
          // A delivery status notification (null sender) quotes the original's headers: it is not a delivery.
          const isNotification = !session.envelope.mailFrom || session.envelope.mailFrom.address === '';
          receiver.total += 1;
          if (!marker || isNotification) receiver.unmarked += 1;
          else receiver.counts.set(marker, (receiver.counts.get(marker) ?? 0) + 1);
          callback();
        });
      },
    });
    // A gateway killed in the middle of a delivery leaves a broken connection here: expected.
    server.on('error', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver = new MarkerReceiver(server, (server.server.address() as AddressInfo).port);
    return receiver;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** What the sender knows about one message. */
interface Outgoing {
  marker: string;
  raw: string;
  accepted: boolean;
  attempts: number;
  repliesLost: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function composeMessage(marker: string, portal: boolean): string {
  const headers = [
    'From: Alice <alice@chaos.test>',
    'To: Partner <partner@example.net>',
    `Subject: chaos message ${marker}`,
    `Message-ID: <${marker}@chaos.test>`,
    `Date: ${new Date().toUTCString()}`,
    `X-Chaos-Marker: ${marker}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
  ];
  if (portal) headers.push('X-Sealpost-Encrypt: portal');
  return `${headers.join('\r\n')}\r\n\r\nMessage ${marker}: sent while the gateway is being killed.\r\n`;
}

type TransactionOutcome =
  | { kind: 'accepted' }
  | { kind: 'refused-before-data' | 'refused-after-data'; reply: string }
  | { kind: 'reply-lost' | 'connection-failed' };

/**
 * One SMTP transaction, like an MTA's: only a 250 after DATA counts; a reply that never comes after the data
 * was sent in full leaves it open whether the message was stored.
 */
async function sendOnce(smtp: SmtpConversation, message: Outgoing, replyTimeoutMs: number): Promise<TransactionOutcome> {
  let dataSent = false;
  const refused = (kind: 'refused-before-data' | 'refused-after-data', reply: SmtpReply): TransactionOutcome =>
    reply.code === 0 ? { kind: dataSent ? 'reply-lost' : 'connection-failed' } : { kind, reply: `${reply.code} ${reply.text.split(' ')[0] ?? ''}`.trim() };
  try {
    for (const command of ['MAIL FROM:<alice@chaos.test>', 'RCPT TO:<partner@example.net>']) {
      const reply = await smtp.command(command);
      if (reply.code !== 250) return refused('refused-before-data', reply);
    }
    const data = await smtp.command('DATA');
    if (data.code !== 354) return refused('refused-before-data', data);
    const stuffed = message.raw.replace(/(^|\r\n)\./g, '$1..');
    await smtp.writeAndDrain(`${stuffed}.\r\n`);
    dataSent = true;
    const final = await smtp.readReply(replyTimeoutMs);
    return final.code === 250 ? { kind: 'accepted' } : refused('refused-after-data', final);
  } catch {
    return { kind: dataSent ? 'reply-lost' : 'connection-failed' };
  }
}

/** Lists every message of the run with its state: from PostgreSQL directly, or through the admin API. */
interface StateSource {
  rows(): Promise<MessageRow[]>;
  close(): Promise<void>;
}

function postgresStates(url: string): StateSource {
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5000 });
  // The database restart ends idle connections; the next query opens a new one.
  pool.on('error', () => undefined);
  return {
    async rows() {
      const result = await pool.query<MessageRow>(
        'select id, direction, message_id_header as "messageIdHeader", state from messages',
      );
      return result.rows;
    },
    close: () => pool.end(),
  };
}

function adminApiStates(httpPort: () => number, token: string): StateSource {
  return {
    async rows() {
      // Newest first, pages of 500; a page starts 1 ms after the oldest row of the previous one, so rows that share
      // a millisecond at the page boundary are read twice (and kept once), never skipped.
      const seen = new Map<string, MessageRow>();
      let before: string | undefined;
      for (;;) {
        const query = new URLSearchParams({ limit: '500' });
        if (before) query.set('before', before);
        const response = await fetch(`http://127.0.0.1:${httpPort()}/api/admin/messages?${query}`, {
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(30_000),
        });
        if (!response.ok) throw new Error(`GET /api/admin/messages answered ${response.status}`);
        const page = ((await response.json()) as { messages: Array<MessageRow & { receivedAt: string }> }).messages;
        let added = 0;
        for (const row of page) {
          if (seen.has(row.id)) continue;
          seen.set(row.id, { id: row.id, direction: row.direction, messageIdHeader: row.messageIdHeader, state: row.state });
          added += 1;
        }
        if (page.length < 500) break;
        if (added === 0) throw new Error('the admin API returned more than 500 messages received in one millisecond');
        before = new Date(Date.parse(page.at(-1)!.receivedAt) + 1).toISOString();
      }
      return [...seen.values()];
    },
    close: async () => undefined,
  };
}

function markerOfMessageId(header: string | null): string | undefined {
  return header ? MARKER_PATTERN.exec(header)?.[0] : undefined;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const log = options.log;
  const runId = randomBytes(4).toString('hex');
  const receiver = await MarkerReceiver.start();
  const apiToken = randomBytes(24).toString('hex');
  const dataDir = join(options.workDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const configFile = join(options.workDir, 'tenants.yaml');
  writeFileSync(
    configFile,
    stringify({
      tenants: [
        {
          name: 'Chaos',
          domains: ['chaos.test'],
          connectors: [{ name: 'load-generator', ips: ['127.0.0.1/32'] }],
          mailServer: `smtp://127.0.0.1:${receiver.port}`,
          members: [{ email: 'alice@chaos.test', role: 'owner' }],
          apiTokens: [{ name: 'chaos', token: apiToken }],
        },
      ],
    }),
  );
  const env: Record<string, string> = {
    SEALPOST_DATA_DIR: dataDir,
    SEALPOST_CONFIG: configFile,
    SEALPOST_SMTP_HOST: '127.0.0.1',
    SEALPOST_SMTP_PORT: String(await freePort()),
    SEALPOST_HTTP_HOST: '127.0.0.1',
    SEALPOST_HTTP_PORT: String(await freePort()),
    // Outbound mail to external recipients goes to the receiver.
    SEALPOST_RELAY: `smtp://127.0.0.1:${receiver.port}`,
    SEALPOST_WORKER_POLL_MS: '200',
    SEALPOST_DELIVERY_LEASE_SECONDS: String(options.deliveryLeaseSeconds),
    SEALPOST_DELIVERY_CONCURRENCY: String(options.deliveryConcurrency),
    SEALPOST_LOG_LEVEL: 'warn',
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
  };
  const gateway = new GatewayProcess(env);
  const states = options.databaseUrl ? postgresStates(options.databaseUrl) : adminApiStates(() => gateway.httpPort, apiToken);

  const messages: Outgoing[] = Array.from({ length: options.messages }, (_, i) => {
    const marker = `chaos-${runId}-${i}`;
    const portal = options.portalEvery > 0 && i % options.portalEvery === options.portalEvery - 1;
    return { marker, raw: composeMessage(marker, portal), accepted: false, attempts: 0, repliesLost: 0 };
  });

  let accepted = 0;
  /** Refusals the sender retried, by reply code and enhanced code (a database outage: 451 4.3.0). */
  const refusals: Record<string, number> = {};
  let killsDone = 0;
  let databaseRestartsDone = 0;
  let longestOutageMs = 0;
  const failures: string[] = [];
  try {
    await gateway.start(120_000);
    log(`chaos: gateway ready (pid ${gateway.pid}, SMTP 127.0.0.1:${gateway.smtpPort}, receiver 127.0.0.1:${receiver.port}, ${options.databaseUrl ? 'PostgreSQL' : 'PGlite'})`);

    // Events are spread over the sending: event j happens when (j + 1) / (events + 1) of the messages are accepted.
    // The database restart, if any, takes the middle place.
    const eventCount = options.kills + (options.restartDatabase ? 1 : 0);
    const events: Array<'kill' | 'restart-database'> = Array.from({ length: options.kills }, () => 'kill' as const);
    if (options.restartDatabase) events.splice(Math.floor(options.kills / 2), 0, 'restart-database');
    const thresholds = events.map((_, j) => Math.floor((options.messages * (j + 1)) / (eventCount + 1)));

    const sendDeadline = Date.now() + options.sendTimeoutMs;
    let next = 0;
    let sendingDone = false;
    // A gateway that cannot be restarted ends the sending at once instead of retrying until the send time is up.
    let aborted = false;

    const session = async () => {
      let smtp: SmtpConversation | undefined;
      let backoff = 0;
      for (;;) {
        const message = messages[next];
        if (!message || aborted) break;
        next += 1;
        while (!message.accepted && !aborted && Date.now() < sendDeadline) {
          if (backoff > 0) await sleep(backoff + Math.floor(Math.random() * backoff));
          if (!smtp) {
            try {
              smtp = await SmtpConversation.open(gateway.smtpPort);
              if (smtp.greeting.code !== 220) throw new Error(`greeting ${smtp.greeting.code}`);
              const ehlo = await smtp.command('EHLO chaos-sender.chaos.test');
              if (ehlo.code !== 250) throw new Error(`EHLO answered ${ehlo.code}`);
            } catch {
              await smtp?.quit().catch(() => undefined);
              smtp = undefined;
              backoff = Math.min(1000, Math.max(100, backoff * 2));
              continue;
            }
          }
          message.attempts += 1;
          const outcome = await sendOnce(smtp, message, 30_000);
          if (outcome.kind === 'accepted') {
            message.accepted = true;
            accepted += 1;
            backoff = 0;
            break;
          }
          if (outcome.kind === 'reply-lost') message.repliesLost += 1;
          if (outcome.kind === 'refused-before-data' || outcome.kind === 'refused-after-data') {
            refusals[outcome.reply] = (refusals[outcome.reply] ?? 0) + 1;
          }
          // After anything but a clean refusal the connection is not trusted again.
          await smtp.quit().catch(() => undefined);
          smtp = undefined;
          backoff = Math.min(1000, Math.max(100, backoff * 2));
        }
      }
      await smtp?.quit().catch(() => undefined);
    };

    let unexpectedExits = 0;
    /** A gateway that ended by itself is a defect: it is recorded, then started again so the run can count the damage. */
    const restartIfExited = async (during: string) => {
      if (gateway.pid !== undefined && isRunning(gateway.pid)) return;
      unexpectedExits += 1;
      failures.push(`the gateway exited by itself ${during}; last output:\n${tail(gateway.output)}`);
      log(`chaos: the gateway exited by itself ${during}; starting it again`);
      await gateway.start(120_000);
    };

    const chaos = async () => {
      for (const [j, event] of events.entries()) {
        while (accepted < thresholds[j]! && !sendingDone) {
          await restartIfExited('between the chaos steps');
          await sleep(50);
        }
        if (sendingDone) break;
        const outageStarted = Date.now();
        if (event === 'kill') {
          await gateway.kill();
          killsDone += 1;
          log(`chaos: kill -9 number ${killsDone} after ${accepted} accepted`);
          await gateway.start(120_000);
        } else {
          log(`chaos: restarting the database after ${accepted} accepted`);
          await options.restartDatabase!();
          databaseRestartsDone += 1;
          await waitUntilReady(gateway.httpPort, 120_000, () => restartIfExited('during the database restart'));
        }
        const outage = Date.now() - outageStarted;
        longestOutageMs = Math.max(longestOutageMs, outage);
        log(`chaos: the gateway accepts mail again after ${(outage / 1000).toFixed(1)} s`);
      }
      while (!sendingDone) {
        await restartIfExited('after the last chaos step');
        await sleep(50);
      }
    };

    const progress = setInterval(() => {
      log(`chaos: ${accepted}/${options.messages} accepted, ${receiver.total} deliveries received`);
    }, 10_000);
    const chaosDone = chaos().catch((error: unknown) => {
      aborted = true;
      failures.push(`the chaos step failed: ${(error as Error).message}`);
    });
    try {
      await Promise.all(Array.from({ length: options.concurrency }, () => session()));
    } finally {
      sendingDone = true;
      clearInterval(progress);
    }
    await chaosDone;
    log(`chaos: sending done, ${accepted}/${options.messages} accepted in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for final states`);

    // Settling: every stored message in a final state and every accepted message at the receiver.
    let lastProgressAt = Date.now();
    let fewestUnsettled = Number.POSITIVE_INFINITY;
    let rows: MessageRow[] = [];
    let lastReport = 0;
    for (;;) {
      await restartIfExited('while the queue was settling');
      try {
        rows = await states.rows();
      } catch (error) {
        log(`chaos: reading message states failed (${(error as Error).message}); trying again`);
      }
      const open = rows.filter((r) => !FINAL_STATES.has(r.state)).length;
      const missing = messages.filter((m) => m.accepted && !receiver.counts.has(m.marker)).length;
      if (rows.length > 0 && open === 0 && missing === 0) break;
      if (open + missing < fewestUnsettled) {
        fewestUnsettled = open + missing;
        lastProgressAt = Date.now();
      }
      if (Date.now() - lastProgressAt > options.settleTimeoutMs) {
        failures.push(
          `no progress for ${options.settleTimeoutMs / 1000} s while settling: ${open} messages not final, ${missing} accepted messages not at the receiver`,
        );
        break;
      }
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        log(`chaos: waiting: ${open} messages not final, ${missing} accepted messages not at the receiver yet`);
      }
      await sleep(1000);
    }
    // A repeated delivery of a claim that expired would arrive within one lease after the last one: wait that long.
    await sleep(options.deliveryLeaseSeconds * 1000 + 1000);
    try {
      rows = await states.rows();
    } catch (error) {
      failures.push(`the final message states could not be read: ${(error as Error).message}`);
    }

    return buildReport({ options, messages, receiver, rows, refusals, killsDone, databaseRestartsDone, unexpectedExits, longestOutageMs, started, failures, gatewayOutput: gateway.output });
  } finally {
    await gateway.stop().catch(() => undefined);
    await states.close().catch(() => undefined);
    await receiver.close();
  }
}

/** Waits until the gateway's readiness check passes again (the database answers); `check` runs between tries. */
async function waitUntilReady(httpPort: number, timeoutMs: number, check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await check();
    try {
      const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // not answering yet
    }
    await sleep(200);
  }
  throw new Error(`the gateway was not ready again within ${timeoutMs / 1000} s after the database restart`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Start-up notices every (re)start prints; they say nothing about a failure. */
const START_UP_NOTICES = ['using a master key generated', 'audit checkpoints are signed with a key generated', 'STARTTLS uses a self-signed'];

/** The last lines the gateway printed, without its start-up notices. */
function tail(output: string, lines = 15): string {
  return output
    .trimEnd()
    .split('\n')
    .filter((line) => !START_UP_NOTICES.some((notice) => line.includes(notice)))
    .slice(-lines)
    .join('\n');
}

function buildReport(input: {
  options: ChaosOptions;
  messages: Outgoing[];
  receiver: MarkerReceiver;
  rows: MessageRow[];
  refusals: Record<string, number>;
  killsDone: number;
  databaseRestartsDone: number;
  unexpectedExits: number;
  longestOutageMs: number;
  started: number;
  failures: string[];
  gatewayOutput: string;
}): ChaosReport {
  const { options, messages, receiver, rows, failures } = input;
  const copies = new Map<string, number>();
  const stateCounts: Record<string, number> = {};
  const notFinalSamples: string[] = [];
  let notFinal = 0;
  for (const row of rows) {
    stateCounts[row.state] = (stateCounts[row.state] ?? 0) + 1;
    if (!FINAL_STATES.has(row.state)) {
      notFinal += 1;
      if (notFinalSamples.length < 10) notFinalSamples.push(`${row.id} (${row.direction}, ${row.messageIdHeader ?? 'no Message-ID'}): ${row.state}`);
    }
    if (row.direction !== 'outbound') continue;
    const marker = markerOfMessageId(row.messageIdHeader);
    if (marker) copies.set(marker, (copies.get(marker) ?? 0) + 1);
  }

  const lostMarkers: string[] = [];
  let resent = 0;
  let storedDespite4xx = 0;
  let deliveredTwice = 0;
  let copiesNotDelivered = 0;
  for (const message of messages) {
    const stored = copies.get(message.marker) ?? 0;
    const arrived = receiver.counts.get(message.marker) ?? 0;
    if (message.accepted && (stored === 0 || arrived === 0)) lostMarkers.push(message.marker);
    if (stored > 1) {
      resent += stored - 1;
      // Each lost reply can explain one extra copy; the rest were stored although the gateway answered 4xx.
      storedDespite4xx += Math.max(0, stored - 1 - message.repliesLost);
    }
    if (arrived > stored) deliveredTwice += arrived - stored;
    if (arrived > 0 && arrived < stored) copiesNotDelivered += stored - arrived;
  }
  const accepted = messages.filter((m) => m.accepted).length;
  const attempts = messages.reduce((sum, m) => sum + m.attempts, 0);
  const events = input.killsDone + input.databaseRestartsDone;
  // Every event cuts at most one SMTP transaction per sending session between its commit and its 250.
  const resentBound = events * options.concurrency;
  // A kill or a database outage repeats deliveries whose result was not yet committed: those being sent at that
  // moment and those whose result waited for or was in the recording transaction. The delivery worker keeps
  // the two together under twice its concurrency (it stops claiming while results wait), so this is a bound the
  // worker guarantees, not an expectation.
  const deliveredTwiceBound = events * 2 * options.deliveryConcurrency;

  const report: ChaosReport = {
    sent: messages.filter((m) => m.attempts > 0).length,
    accepted,
    notAccepted: messages.length - accepted,
    attempts,
    retries: attempts - messages.filter((m) => m.attempts > 0).length,
    repliesLost: messages.reduce((sum, m) => sum + m.repliesLost, 0),
    refusals: input.refusals,
    lost: lostMarkers.length,
    lostMarkers: lostMarkers.slice(0, 20),
    resentBecause250Lost: resent,
    storedDespite4xx,
    deliveredTwiceByGateway: deliveredTwice,
    storedCopiesNotDelivered: copiesNotDelivered,
    deliveriesReceived: receiver.total,
    unmarkedReceived: receiver.unmarked,
    states: stateCounts,
    notFinal,
    notFinalSamples,
    killsDone: input.killsDone,
    databaseRestartsDone: input.databaseRestartsDone,
    gatewayExitsByItself: input.unexpectedExits,
    longestOutageSeconds: Math.round(input.longestOutageMs / 100) / 10,
    bounds: {
      resent: resentBound,
      deliveredTwice: deliveredTwiceBound,
      explanation:
        `resent <= events x sending sessions (${events} x ${options.concurrency}): each kill or database restart cuts at most one ` +
        `transaction per session after its commit; delivered twice <= events x 2 x delivery concurrency (${events} x 2 x ${options.deliveryConcurrency}): ` +
        'the deliveries in flight plus the results not yet committed, which the delivery worker keeps under twice its concurrency',
    },
    elapsedSeconds: Math.round((Date.now() - input.started) / 100) / 10,
    failures,
  };

  if (report.notAccepted > 0) failures.push(`${report.notAccepted} messages were never answered 250 within ${options.sendTimeoutMs / 1000} s`);
  if (report.lost > 0) failures.push(`${report.lost} accepted messages were lost: ${report.lostMarkers.slice(0, 5).join(', ')}`);
  if (copiesNotDelivered > 0) failures.push(`${copiesNotDelivered} stored copies were never delivered`);
  if (notFinal > 0) failures.push(`${notFinal} messages are not in a final state: ${notFinalSamples.slice(0, 3).join('; ')}`);
  if (resent > resentBound) failures.push(`${resent} messages were stored twice, more than the bound of ${resentBound}`);
  if (deliveredTwice > deliveredTwiceBound) failures.push(`${deliveredTwice} deliveries were repeated by the gateway, more than the bound of ${deliveredTwiceBound}`);
  if (report.killsDone < options.kills) failures.push(`only ${report.killsDone} of ${options.kills} kills happened`);
  if (options.restartDatabase && report.databaseRestartsDone < 1) failures.push('the database restart did not happen');
  const unexpectedStates = Object.keys(stateCounts).filter((s) => s === 'bounced' || s === 'partly_delivered' || s === 'rejected' || s === 'quarantined');
  if (unexpectedStates.length > 0) failures.push(`messages ended ${unexpectedStates.map((s) => `${s} (${stateCounts[s]})`).join(', ')}; every one should be delivered`);
  const lastOutput = tail(input.gatewayOutput);
  if (failures.length > 0 && lastOutput) failures.push(`last gateway output:\n${lastOutput}`);
  return report;
}

/** The report as lines for a person, then one JSON line for tools. */
export function formatChaosReport(report: ChaosReport): string {
  const lines = [
    '',
    'Sealpost chaos test',
    `  sent                         ${report.sent}`,
    `  accepted (250 seen)          ${report.accepted}`,
    `  not accepted                 ${report.notAccepted}`,
    `  SMTP transactions            ${report.attempts} (${report.retries} retries, ${report.repliesLost} replies lost to a kill)`,
    `  refusals retried             ${Object.entries(report.refusals).map(([r, n]) => `${r}: ${n}`).join(', ') || 'none'}`,
    `  lost                         ${report.lost}  (must be 0)`,
    `  resent (250 not seen)        ${report.resentBecause250Lost}  (bound ${report.bounds.resent}; ${report.storedDespite4xx} of them stored although answered 4xx)`,
    `  delivered twice by gateway   ${report.deliveredTwiceByGateway}  (bound ${report.bounds.deliveredTwice})`,
    `  deliveries at the receiver   ${report.deliveriesReceived} (${report.unmarkedReceived} without a marker)`,
    `  message states               ${Object.entries(report.states).map(([s, n]) => `${s} ${n}`).join(', ') || 'none'}`,
    `  not in a final state         ${report.notFinal}  (must be 0)`,
    `  kills done                   ${report.killsDone}`,
    `  database restarts done       ${report.databaseRestartsDone}`,
    `  gateway exits by itself      ${report.gatewayExitsByItself}  (must be 0)`,
    `  longest outage               ${report.longestOutageSeconds} s`,
    `  elapsed                      ${report.elapsedSeconds} s`,
    `  bounds: ${report.bounds.explanation}`,
    report.failures.length === 0 ? 'RESULT: passed' : `RESULT: FAILED\n${report.failures.map((f) => `  - ${f}`).join('\n')}`,
    `CHAOS_JSON ${JSON.stringify({ ...report, bounds: { resent: report.bounds.resent, deliveredTwice: report.bounds.deliveredTwice } })}`,
  ];
  return lines.join('\n');
}
