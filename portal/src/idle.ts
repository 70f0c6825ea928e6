/**
 * Runs `work` when the browser has a moment (requestIdleCallback), at the latest after `timeoutMs`; where the
 * browser has no idle callbacks, after `fallbackMs`. Returns a function that cancels it.
 */
export function whenIdle(work: () => void, { timeoutMs, fallbackMs }: { timeoutMs: number; fallbackMs: number }): () => void {
  if (typeof window.requestIdleCallback !== 'function') {
    const timer = window.setTimeout(work, fallbackMs);
    return () => window.clearTimeout(timer);
  }
  const idle = window.requestIdleCallback(work, { timeout: timeoutMs });
  return () => window.cancelIdleCallback(idle);
}
