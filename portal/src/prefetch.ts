/**
 * Reads started before the page that shows them is on screen, or already answered: opening a link brings
 * the thread and its message with the link's own answer, so the thread page shows them in its first
 * rendering; were they left out, the page that opened the link asks for both at once. Each answer is
 * handed out once, and only for a short while; after that the page asks again.
 */
import { useCallback, useRef, useState } from 'react';
import { api } from './api.ts';

const KEEP_MS = 10_000;
const started = new Map<string, { answer: Promise<unknown>; at: number }>();
const answered = new Map<string, { value: unknown; at: number }>();

/** An answer for GET `path` that came with another one: the page that needs it takes it with useProvidedAnswer. */
export function provideAnswer(path: string, value: unknown): void {
  answered.set(path, { value, at: Date.now() });
}

/** The answer provided for GET `path`, at once, when there is a fresh one (a page's first state). */
function takeAnswer<T>(path: string): T | undefined {
  const entry = answered.get(path);
  answered.delete(path);
  return entry && Date.now() - entry.at < KEEP_MS ? (entry.value as T) : undefined;
}

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

/**
 * For a page whose first state may have come with another answer: that answer (or undefined), and a check
 * its loading effect calls with the path it is about to read. The check says yes once, for the path that was
 * provided, so the effect's first run asks nothing; every later run (another thread, another message) reads.
 */
export function useProvidedAnswer<T>(path: string | undefined): readonly [T | undefined, (path: string) => boolean] {
  const [initial] = useState(() => (path === undefined ? undefined : takeAnswer<T>(path)));
  const provided = useRef(initial === undefined ? undefined : path);
  const wasProvided = useCallback((current: string) => {
    const was = provided.current === current;
    provided.current = undefined;
    return was;
  }, []);
  return [initial, wasProvided];
}
