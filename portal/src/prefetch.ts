/**
 * Reads started before the page that shows them is on screen: opening a link asks for the thread and
 * its message at once, while the thread page's script is still loading, instead of one after the other.
 * Each answer is handed out once, and only for a short while; after that the page asks again.
 */
import { api } from './api.ts';

const KEEP_MS = 10_000;
const started = new Map<string, { answer: Promise<unknown>; at: number }>();

/** Starts GET `path` now; the page that needs it takes the answer with getPrefetched. */
export function prefetch(path: string): void {
  const answer = api.get<unknown>(path);
  // The page that takes it handles a failure; one that never comes must not leave it unhandled.
  answer.catch(() => undefined);
  started.set(path, { answer, at: Date.now() });
}

/** GET `path`: the prefetched answer when there is a fresh one, else a new request. */
export function getPrefetched<T>(path: string): Promise<T> {
  const entry = started.get(path);
  started.delete(path);
  if (entry && Date.now() - entry.at < KEEP_MS) return entry.answer as Promise<T>;
  return api.get<T>(path);
}
