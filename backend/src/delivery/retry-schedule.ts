/** When to try a deferred delivery again, and when to give up. */

export interface RetryPolicy {
  firstRetryMs: number;
  maxRetryMs: number;
  maxAgeMs: number;
}

/** First retry after a minute, doubling, at most an hour apart, given up after five days. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  firstRetryMs: 60_000,
  maxRetryMs: 3_600_000,
  maxAgeMs: 5 * 24 * 3_600_000,
};

/** Exponential back-off with ±10 % jitter, so that deferred deliveries do not come back in lockstep. */
export function nextAttemptDelayMs(attemptsSoFar: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(attemptsSoFar - 1, 30));
  const base = Math.min(policy.maxRetryMs, policy.firstRetryMs * 2 ** exponent);
  const jitter = 1 + (random() * 0.2 - 0.1);
  return Math.max(1, Math.round(base * jitter));
}

export function hasExpired(firstQueuedAt: Date, now: Date, policy: RetryPolicy): boolean {
  return now.getTime() - firstQueuedAt.getTime() >= policy.maxAgeMs;
}
