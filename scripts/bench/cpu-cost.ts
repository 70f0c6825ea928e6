/**
 * CPU per message for the protection benchmarks: in process (process.cpuUsage around N rounds) and for a
 * shell pipeline of external tools run N times (the children's CPU from bash's `times`, process starts
 * included, as a gateway calling the tool would pay them). Both also give messages per second of wall time.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface Cost {
  cpuMs: number;
  perSecond: number;
}

export async function inProcess(n: number, work: () => Promise<unknown>): Promise<Cost> {
  for (let i = 0; i < Math.min(5, n); i += 1) await work();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1) await work();
  const used = process.cpuUsage(cpu);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { cpuMs: (used.user + used.system) / 1000 / n, perSecond: n / seconds };
}

/** CPU of the child processes for `n` runs of a shell pipeline in `folder`. */
export function childProcesses(n: number, folder: string, pipeline: string, env: NodeJS.ProcessEnv = process.env): Cost {
  const start = process.hrtime.bigint();
  const out = execFileSync('bash', ['-c', `cd ${folder}; for i in $(seq ${n}); do ${pipeline}; done; times`], { env }).toString();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  // `times` prints the shell's then the children's user and system time: "0m1.234s 0m0.567s".
  const lines = out.trim().split('\n');
  const children = lines[lines.length - 1]!.trim().split(' ').map((t) => {
    const [minutes, secs] = t.replace('s', '').split('m');
    return Number(minutes) * 60 + Number(secs);
  });
  return { cpuMs: (((children[0] ?? 0) + (children[1] ?? 0)) * 1000) / n, perSecond: n / seconds };
}

/** A message of about `bytes` bytes of random base64 body, as the protection benchmarks send it. */
export function benchMessage(bytes: number): Buffer {
  const text = randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64').slice(0, bytes);
  const body = (text.match(/.{1,76}/g) ?? []).join('\r\n');
  return Buffer.from(
    `From: sender@bench.example\r\nTo: recipient@bench.example\r\nSubject: Bench\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}\r\n`,
  );
}
