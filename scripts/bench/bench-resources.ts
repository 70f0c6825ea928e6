/**
 * Bookkeeping for everything the SMTP benchmark starts: temporary folders, child processes, databases.
 * Every resource registers a release step here; `releaseAll` runs them newest first, once, and is called on
 * normal completion, on errors, on Ctrl-C/SIGTERM and when the overall time limit expires.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type ReleaseStep = { label: string; run: () => Promise<void> | void };

const steps: ReleaseStep[] = [];
let releasing: Promise<void> | undefined;

/** Registers a release step; returns a function that runs it early (and removes it from the list). */
export function onRelease(label: string, run: () => Promise<void> | void): () => Promise<void> {
  const step: ReleaseStep = { label, run };
  steps.push(step);
  return async () => {
    const index = steps.indexOf(step);
    if (index === -1) return;
    steps.splice(index, 1);
    await runStep(step);
  };
}

async function runStep(step: ReleaseStep): Promise<void> {
  try {
    await step.run();
  } catch (error) {
    process.stderr.write(`bench: cleanup "${step.label}" failed: ${(error as Error).message}\n`);
  }
}

/** Runs every registered release step, newest first. Safe to call several times. */
export function releaseAll(): Promise<void> {
  releasing ??= (async () => {
    while (steps.length > 0) {
      const step = steps.pop()!;
      await runStep(step);
    }
  })();
  return releasing;
}

export function makeTempDir(prefix: string, keep = false): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!keep) onRelease(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A free TCP port on 127.0.0.1 (asks the kernel for one, then closes the socket). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILL. Resolves when the process is gone. */
export async function stopProcess(pid: number, graceMs = 5000): Promise<void> {
  if (!isRunning(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(pid)) return;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 40 && isRunning(pid); i++) await sleep(50);
}

export interface ManagedChild {
  child: ChildProcess;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>;
  hasExited(): boolean;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns a child process that is stopped by `releaseAll` if it is still running then.
 * A zombie never counts as running here because we wait for the 'exit' event.
 */
export function spawnManaged(label: string, command: string, args: string[], options: SpawnOptions): ManagedChild {
  const child = spawn(command, args, options);
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (error) => {
      done = true;
      resolve(`spawn error: ${error.message}`);
    });
  });
  const stop = async (graceMs = 5000) => {
    if (done || child.pid === undefined) return;
    child.kill('SIGTERM');
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs));
    if ((await Promise.race([exited, timer])) === 'timeout' && !done) {
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(2000)]);
    }
  };
  const release = onRelease(`stop ${label}`, () => stop());
  void exited.then(() => release());
  return { child, exited, hasExited: () => done, stop };
}
