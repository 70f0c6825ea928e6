/**
 * The two Postfix test programs the benchmark drives: smtp-sink (the final destination that counts deliveries)
 * and smtp-source (the load generator).
 */
import { performance } from 'node:perf_hooks';
import { sleep, spawnManaged, type ManagedChild } from './bench-resources.ts';

export const SMTP_SINK = '/usr/sbin/smtp-sink';
export const SMTP_SOURCE = '/usr/sbin/smtp-source';

/** A running smtp-sink that reports how many messages it has received. */
export class SmtpSink {
  private messages = 0;
  private lastChangeAt = 0;
  private waiters: Array<() => void> = [];
  private stderr = '';

  private constructor(
    readonly port: number,
    private readonly process: ManagedChild,
  ) {
    let pending = '';
    process.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const parts = pending.split(/[\r\n]/);
      pending = parts.pop() ?? '';
      for (const part of parts) this.parse(part);
    });
    process.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
  }

  /** Starts smtp-sink on 127.0.0.1:port. It discards messages and counts them (-c). */
  static async start(port: number): Promise<SmtpSink> {
    const args = ['-c', '-m', '1000'];
    // smtp-sink refuses to run as root without a user to switch to.
    if (process.getuid?.() === 0) args.push('-u', 'nobody');
    args.push(`127.0.0.1:${port}`, '1024');
    const managed = spawnManaged('smtp-sink', SMTP_SINK, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const sink = new SmtpSink(port, managed);
    await sleep(300);
    if (managed.hasExited()) {
      throw new Error(`smtp-sink did not start on port ${port}: ${sink.stderr.trim() || 'exited'}`);
    }
    return sink;
  }

  private parse(line: string): void {
    const match = /mesg=(\d+)/.exec(line);
    if (!match) return;
    const count = Number(match[1]);
    if (count !== this.messages) {
      this.messages = count;
      this.lastChangeAt = performance.now();
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  get count(): number {
    return this.messages;
  }

  /** performance.now() of the last message received. */
  get lastMessageAt(): number {
    return this.lastChangeAt;
  }

  get errors(): string {
    return this.stderr.trim();
  }

  /** Waits until at least `count` messages arrived; false after `timeoutMs`. */
  async waitFor(count: number, timeoutMs: number, onProgress?: (count: number) => void): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    let lastReport = performance.now();
    while (this.messages < count) {
      const left = deadline - performance.now();
      if (left <= 0 || this.process.hasExited()) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (onProgress && performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        onProgress(this.messages);
      }
    }
    return true;
  }

  stop(): Promise<void> {
    return this.process.stop();
  }
}

export interface LoadOptions {
  messages: number;
  sessions: number;
  size: number;
  sender: string;
  recipient: string;
  heloName: string;
  /** A prepared message (header and body, LF line ends) sent instead of smtp-source's generated one. */
  file?: string;
}

/** The smtp-source arguments for one load run; identical for every receiver apart from the port. */
export function smtpSourceArgs(load: LoadOptions, port: number): string[] {
  return [
    '-A', // keep going when a reply is negative; each refusal is reported on stderr and counted
    '-c', // print a running counter of completed messages
    '-d', // several messages per connection
    '-s', String(load.sessions),
    '-m', String(load.messages),
    ...(load.file ? ['-F', load.file] : ['-l', String(load.size)]),
    '-f', load.sender,
    '-t', load.recipient,
    '-M', load.heloName,
    `127.0.0.1:${port}`,
  ];
}

export function describeCommand(command: string, args: string[]): string {
  return [command, ...args].map((a) => (/^[\w@.:/=-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export interface LoadResult {
  command: string;
  /** Messages requested (-m). */
  messages: number;
  exitCode: number | string;
  /** Messages whose content was sent in full (smtp-source's counter). */
  sent: number;
  /** Messages refused at the end of DATA (warnings on stderr). */
  refused: number;
  /** sent - refused. */
  accepted: number;
  /** Wall time of smtp-source, spawn to exit, in seconds. */
  seconds: number;
  startedAt: number;
  endedAt: number;
  /** Other warnings and errors of smtp-source, grouped and counted. */
  problems: Record<string, number>;
  timedOut: boolean;
}

/** Runs smtp-source against 127.0.0.1:port and waits for it (killed after `timeoutMs`). */
export async function runSmtpSource(
  load: LoadOptions,
  port: number,
  timeoutMs: number,
  hooks: { onProgress?: (counter: number) => void } = {},
): Promise<LoadResult> {
  const args = smtpSourceArgs(load, port);
  const startedAt = performance.now();
  const managed = spawnManaged('smtp-source', SMTP_SOURCE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let counter = 0;
  let stdoutTail = '';
  managed.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdoutTail = (stdoutTail + chunk).slice(-200);
    const numbers = stdoutTail.split(/[\r\n]/).filter((x) => /^\d+$/.test(x));
    const last = numbers.at(-1);
    if (last !== undefined && Number(last) > counter) {
      counter = Number(last);
      hooks.onProgress?.(counter);
    }
  });
  let refused = 0;
  const problems: Record<string, number> = {};
  let stderrPending = '';
  managed.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderrPending += chunk;
    const lines = stderrPending.split('\n');
    stderrPending = lines.pop() ?? '';
    for (const raw of lines) {
      const line = raw.replace(/^smtp-source:\s*/, '').trim();
      if (!line) continue;
      if (/end of data rejected/.test(line)) refused++;
      // Group by the text without numbers so that repeated warnings collapse.
      const key = line.replace(/\d+/g, 'N').slice(0, 160);
      problems[key] = (problems[key] ?? 0) + 1;
    }
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void managed.stop(2000);
  }, timeoutMs);
  const exitCode = await managed.exited;
  clearTimeout(timer);
  const endedAt = performance.now();
  // Give the pipes a moment to deliver the final counter.
  await sleep(50);
  if (stderrPending.trim()) {
    const key = stderrPending.replace(/^smtp-source:\s*/, '').trim().replace(/\d+/g, 'N').slice(0, 160);
    problems[key] = (problems[key] ?? 0) + 1;
  }
  return {
    command: describeCommand(SMTP_SOURCE, args),
    messages: load.messages,
    exitCode,
    sent: counter,
    refused,
    accepted: Math.max(0, counter - refused),
    seconds: (endedAt - startedAt) / 1000,
    startedAt,
    endedAt,
    problems,
    timedOut,
  };
}
