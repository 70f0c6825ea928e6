/**
 * Accept-latency probe: a minimal SMTP client that sends messages over a few connections while the load runs
 * and times, for each message, the interval from writing the final "." to receiving the 250 reply. That is the
 * time a receiver needs to take responsibility for a message (for a durable receiver: to store it safely).
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface ProbeOptions {
  port: number;
  host?: string;
  /** Messages in total, spread evenly over the connections. */
  messages: number;
  connections: number;
  /** Body size in bytes (headers come on top). */
  size: number;
  sender: string;
  recipient: string;
  /** Pause between two messages of one connection, in ms (a function is asked before every pause). */
  pauseMs: number | (() => number);
  /** Called when a message transaction begins. */
  onMessageStart?: () => void;
  /** Per-reply timeout, in ms. */
  replyTimeoutMs?: number;
  /** Stops sending new messages once this returns true (e.g. the load is over and enough samples exist). */
  shouldStop?: () => boolean;
}

export interface ProbeSample {
  /** performance.now() at the moment the final "." was written. */
  at: number;
  /** Milliseconds from the final "." to the complete reply. */
  ms: number;
  code: number;
}

export interface ProbeResult {
  samples: ProbeSample[];
  /** Messages answered with 2xx after the final ".". */
  accepted: number;
  /** Messages refused at any stage. */
  refused: number;
  errors: string[];
}

interface Reply {
  code: number;
  text: string;
}

/** Reads complete SMTP replies (multi-line aware) from a socket. */
class ReplyReader {
  private buffer = '';
  private lines: string[] = [];
  private pending: { resolve: (reply: Reply) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let index: number;
      while ((index = this.buffer.indexOf('\n')) !== -1) {
        this.lines.push(this.buffer.slice(0, index).replace(/\r$/, ''));
        this.buffer = this.buffer.slice(index + 1);
      }
      this.deliver();
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(this.failure);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed by the server')));
  }

  private tryTake(): Reply | undefined {
    const last = this.lines.findIndex((line) => !/^\d{3}-/.test(line));
    if (last === -1) return undefined;
    const block = this.lines.splice(0, last + 1);
    const final = block.at(-1)!;
    return { code: Number(final.slice(0, 3)) || 0, text: block.join('\n') };
  }

  private deliver(): void {
    if (!this.pending) return;
    const reply = this.tryTake();
    if (!reply) return;
    const pending = this.pending;
    this.pending = undefined;
    pending.resolve(reply);
  }

  next(timeoutMs: number): Promise<Reply> {
    const ready = this.tryTake();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }
}

/** A message body of about `size` bytes in CRLF lines of 78 characters, already dot-safe. */
export function probeMessage(options: Pick<ProbeOptions, 'sender' | 'recipient' | 'size'>, id: string): string {
  const headers = [
    `From: <${options.sender}>`,
    `To: <${options.recipient}>`,
    `Subject: latency probe ${id}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${id}@probe.bench.test>`,
  ].join('\r\n');
  const line = 'P'.repeat(76) + '\r\n';
  const body = line.repeat(Math.max(1, Math.ceil(options.size / line.length)));
  return `${headers}\r\n\r\n${body}`;
}

async function expect(reader: ReplyReader, timeoutMs: number, wanted: number, stage: string): Promise<Reply> {
  const reply = await reader.next(timeoutMs);
  if (Math.floor(reply.code / 100) !== wanted) throw new RefusedError(`${stage}: ${reply.text.split('\n').at(-1)}`);
  return reply;
}

class RefusedError extends Error {}

async function runConnection(
  options: ProbeOptions,
  connectionIndex: number,
  quota: number,
  result: ProbeResult,
): Promise<void> {
  const timeoutMs = options.replyTimeoutMs ?? 60_000;
  const socket = connect({ host: options.host ?? '127.0.0.1', port: options.port });
  socket.setNoDelay(true);
  const reader = new ReplyReader(socket);
  const send = (line: string) => socket.write(`${line}\r\n`, 'latin1');
  try {
    await expect(reader, timeoutMs, 2, 'greeting');
    send('EHLO probe.bench.test');
    await expect(reader, timeoutMs, 2, 'EHLO');
    for (let i = 0; i < quota; i++) {
      if (options.shouldStop?.()) break;
      options.onMessageStart?.();
      try {
        send(`MAIL FROM:<${options.sender}>`);
        await expect(reader, timeoutMs, 2, 'MAIL');
        send(`RCPT TO:<${options.recipient}>`);
        await expect(reader, timeoutMs, 2, 'RCPT');
        send('DATA');
        await expect(reader, timeoutMs, 3, 'DATA');
        socket.write(probeMessage(options, `p${connectionIndex}.${i}.${Date.now()}`), 'latin1');
        const at = performance.now();
        socket.write('.\r\n', 'latin1');
        const reply = await reader.next(timeoutMs);
        const ms = performance.now() - at;
        result.samples.push({ at, ms, code: reply.code });
        if (Math.floor(reply.code / 100) === 2) result.accepted++;
        else {
          result.refused++;
          result.errors.push(`end of data: ${reply.text.split('\n').at(-1)}`);
        }
      } catch (error) {
        if (!(error instanceof RefusedError)) throw error;
        result.refused++;
        result.errors.push(error.message);
        send('RSET');
        await reader.next(timeoutMs);
      }
      const pause = typeof options.pauseMs === 'function' ? options.pauseMs() : options.pauseMs;
      if (pause > 0 && i < quota - 1) await new Promise((resolve) => setTimeout(resolve, pause));
    }
    send('QUIT');
    await reader.next(5000).catch(() => undefined);
  } catch (error) {
    result.errors.push(`connection ${connectionIndex}: ${(error as Error).message}`);
  } finally {
    socket.destroy();
  }
}

/** Runs the probe; resolves when all connections are done (errors are collected, never thrown). */
export async function runLatencyProbe(options: ProbeOptions): Promise<ProbeResult> {
  const result: ProbeResult = { samples: [], accepted: 0, refused: 0, errors: [] };
  const connections = Math.max(1, Math.min(options.connections, options.messages));
  const base = Math.floor(options.messages / connections);
  const extra = options.messages % connections;
  await Promise.all(
    Array.from({ length: connections }, (_, index) =>
      runConnection(options, index, base + (index < extra ? 1 : 0), result),
    ),
  );
  return result;
}

/** Percentile by the nearest-rank method; undefined for no values. */
export function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

// Stand-alone use: node --import tsx scripts/bench/latency-probe.ts PORT [MESSAGES] [CONNECTIONS]
if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2]);
  if (!port) {
    process.stderr.write('usage: latency-probe.ts PORT [MESSAGES] [CONNECTIONS]\n');
    process.exit(2);
  }
  const result = await runLatencyProbe({
    port,
    messages: Number(process.argv[3] ?? 50),
    connections: Number(process.argv[4] ?? 2),
    size: 10240,
    sender: 'sender@bench.test',
    recipient: 'rcpt@example.net',
    pauseMs: 0,
  });
  const ms = result.samples.map((s) => s.ms);
  process.stdout.write(
    `${JSON.stringify({
      accepted: result.accepted,
      refused: result.refused,
      p50: percentile(ms, 50),
      p99: percentile(ms, 99),
      errors: result.errors.slice(0, 5),
    })}\n`,
  );
}
