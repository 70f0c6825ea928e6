/** Wakes a worker loop at once when work arrives in this process; other processes' work is found by polling. */
export class WorkSignal {
  private waiter: (() => void) | undefined;
  private pending = false;

  notify(): void {
    this.pending = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** Resolves on the next notify (or at once if one came since the last wait), or after timeoutMs. */
  wait(timeoutMs: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve();
      }, timeoutMs);
      this.waiter = () => {
        clearTimeout(timer);
        this.pending = false;
        resolve();
      };
    });
  }
}

/** The life of a background worker: start runs its loop once; stop ends the loop, wakes it and waits for it. */
export abstract class WorkerLoop {
  readonly signal = new WorkSignal();
  protected running = false;
  private loop: Promise<void> | undefined;

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.signal.notify();
    await this.loop;
  }

  /** The loop; it returns once `running` is false. */
  protected abstract run(): Promise<void>;
}

export interface IntakePriorityOptions {
  /**
   * The background work's share of the thread while sessions keep handing in messages (0 < share ≤ 1;
   * 1 turns the priority off).
   */
  share: number;
  /** How old the oldest waiting message may grow before the background work runs at full speed again. */
  maxLagMs: number;
  /** Accepted messages within windowMs that make the intake busy. */
  busyMessages?: number;
  windowMs?: number;
  /** The longest single pause, so a large batch never stalls its messages for long. */
  maxPauseMs?: number;
}

/**
 * Senders first. A burst of mail is accepted at the speed of intake (receive, seal, commit) and the
 * checks, routing and deliveries behind it take a bounded share of the one thread until the burst is
 * over, then work off what waits at full speed. The lead is bounded: once the oldest waiting message is
 * older than maxLagMs, the background work runs at full speed again, and intake slows with it (its
 * commits wait on the same thread and database), so a sustained overload builds no unbounded backlog.
 */
export class IntakePriority {
  private readonly accepted: number[] = [];
  private readonly busyMessages: number;
  private readonly windowMs: number;
  private readonly maxPauseMs: number;
  private backlogMs = 0;

  constructor(private readonly options: IntakePriorityOptions) {
    this.busyMessages = options.busyMessages ?? 5;
    this.windowMs = options.windowMs ?? 250;
    this.maxPauseMs = options.maxPauseMs ?? 250;
  }

  /** The intake acknowledged messages now. */
  noteAccepted(count = 1, now = performance.now()): void {
    for (let i = 0; i < count; i++) this.accepted.push(now);
    this.forget(now);
  }

  /** Whether sessions are handing in messages at a pace worth giving way to. */
  busy(now = performance.now()): boolean {
    this.forget(now);
    return this.accepted.length >= this.busyMessages;
  }

  /** The stages report the age of the oldest message they took up: the backlog the priority may build. */
  reportBacklog(oldestWaitingMs: number): void {
    this.backlogMs = oldestWaitingMs;
  }

  /** Whether background work gives way now: the intake is busy and the backlog is younger than allowed. */
  givingWay(now = performance.now()): boolean {
    return this.options.share < 1 && this.backlogMs < this.options.maxLagMs && this.busy(now);
  }

  /** The share of the background work while it gives way (for workers that limit concurrency, not time). */
  get share(): number {
    return this.options.share;
  }

  /** How long background work that just took workMs should pause: 0 unless it is giving way. */
  pauseAfter(workMs: number, now = performance.now()): number {
    if (!this.givingWay(now)) return 0;
    const { share } = this.options;
    return Math.min(this.maxPauseMs, (workMs * (1 - share)) / share);
  }

  private forget(now: number): void {
    const since = now - this.windowMs;
    let drop = 0;
    while (drop < this.accepted.length && this.accepted[drop]! < since) drop += 1;
    if (drop > 0) this.accepted.splice(0, drop);
    // Only the count within the window matters; a flood keeps at most a window's worth.
    if (this.accepted.length > 10_000) this.accepted.splice(0, this.accepted.length - 10_000);
  }
}

/**
 * Work items taken up together: each item waits in a queue, and the queue is worked off in groups of at
 * most `maxGroup`, with at most `maxRunning` groups at once, so that items arriving while a group runs
 * share the next one (one transaction and commit for many). With `retrySingly`, a group that fails is run
 * again item by item, so the item that cannot be done fails alone and the others are done.
 */
export class GroupedWork<In, Out> {
  private readonly queue: Array<{ item: In; resolve: (result: Out) => void; reject: (error: unknown) => void }> = [];
  private running = 0;

  constructor(
    private readonly options: { maxGroup: number; maxRunning: number; retrySingly: boolean; run: (items: In[]) => Promise<Out[]> },
  ) {}

  submit(item: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.running < this.options.maxRunning) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running += 1;
    try {
      for (;;) {
        const group = this.queue.splice(0, this.options.maxGroup);
        if (group.length === 0) return;
        try {
          const results = await this.options.run(group.map((g) => g.item));
          group.forEach((g, i) => g.resolve(results[i]!));
        } catch (error) {
          if (!this.options.retrySingly || group.length === 1) {
            for (const g of group) g.reject(error);
            continue;
          }
          for (const g of group) {
            try {
              const [result] = await this.options.run([g.item]);
              g.resolve(result!);
            } catch (single) {
              g.reject(single);
            }
          }
        }
      }
    } finally {
      this.running -= 1;
    }
  }
}
