/** Memory figures of running processes, read from /proc (Linux only). */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessMemory {
  /** Resident set size now, in bytes. */
  rss: number;
  /** Peak resident set size since the process started (VmHWM), in bytes. */
  hwm: number;
}

/** VmRSS and VmHWM of one process, or undefined when it is gone (or a zombie without memory). */
export function readProcessMemory(pid: number): ProcessMemory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const rss = field('VmRSS');
  if (rss === undefined) return undefined;
  return { rss, hwm: field('VmHWM') ?? rss };
}

/** Proportional set size (shared pages divided among their users), in bytes; undefined when unavailable. */
export function readProcessPss(pid: number): number | undefined {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const match = /^Pss:\s+(\d+)\s+kB/m.exec(rollup);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Parent pid of every process on the machine. */
function parentTable(): Map<number, number> {
  const table = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may contain spaces; fields after it are fixed.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(entry), Number(rest[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  return table;
}

/** The given process and all its descendants. */
export function processTree(rootPid: number): number[] {
  const table = parentTable();
  const result = [rootPid];
  for (let i = 0; i < result.length; i++) {
    for (const [pid, parent] of table) if (parent === result[i]) result.push(pid);
  }
  return result;
}

/** Pids whose environment contains exactly `NAME=value` (used to find the processes of one mail instance). */
export function processesWithEnvironment(name: string, value: string): number[] {
  const wanted = `${name}=${value}`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environment = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environment.includes(wanted)) found.push(Number(entry));
    } catch {
      // Gone, or not readable.
    }
  }
  return found;
}

/** Sum of VmRSS over the process tree rooted at `rootPid`. */
export function treeRss(rootPid: number): { rss: number; processes: number } {
  let rss = 0;
  let processes = 0;
  for (const pid of processTree(rootPid)) {
    const memory = readProcessMemory(pid);
    if (memory) {
      rss += memory.rss;
      processes++;
    }
  }
  return { rss, processes };
}

/** Samples a memory reading at a fixed interval and remembers the maximum. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  peak = 0;
  samples = 0;
  last = 0;

  constructor(
    private readonly read: () => number | undefined,
    private readonly intervalMs = 200,
  ) {}

  start(): this {
    this.sampleNow();
    this.timer = setInterval(() => this.sampleNow(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  sampleNow(): number | undefined {
    const value = this.read();
    if (value !== undefined && value > 0) {
      this.samples++;
      this.last = value;
      if (value > this.peak) this.peak = value;
    }
    return value;
  }

  /** Restarts the peak (e.g. at the start of a new round). */
  resetPeak(): void {
    this.peak = 0;
    this.samples = 0;
    this.sampleNow();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

export const mib = (bytes: number) => bytes / (1024 * 1024);

/** CPU time (user + system) a process has used so far, in milliseconds; undefined when it is gone. */
export function readProcessCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces: the fields after it start past its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)). */
const CLOCK_TICKS_PER_SECOND = 100;
