/**
 * A small semaphore for work that holds a whole message in memory (decrypting and parsing a stored
 * portal message): at most `concurrency` run at once, at most `maxQueued` wait, and everyone beyond
 * that is told to come back later (503 with Retry-After) instead of the process growing without bound.
 */
import { problems } from './portal-problems.ts';

export interface HeavyWorkLimits {
  concurrency: number;
  maxQueued: number;
  /** What the busy answer tells the client to wait. */
  retryAfterSeconds: number;
}

export class HeavyWorkLimiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** Requests answered "busy" since start, for tests and operators. */
  refused = 0;

  constructor(readonly limits: HeavyWorkLimits) {
    if (limits.concurrency < 1) throw new Error('heavy work needs a concurrency of at least 1');
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `work` when a slot is free; throws the portal's busy problem when the queue is full. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limits.concurrency) {
      if (this.waiting.length >= this.limits.maxQueued) {
        this.refused += 1;
        throw problems.busy(this.limits.retryAfterSeconds);
      }
      // The slot is handed over by the finishing job (running stays counted), so no newcomer can jump the queue.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}
