/** Browser-side routing for /portal/*: the history API and one hook. */
import { useSyncExternalStore } from 'react';
import { withoutTrailingSlashes } from '../../common/src/trailing-slashes.ts';

const NAVIGATED = 'sealpost:navigated';

function subscribe(callback: () => void): () => void {
  window.addEventListener('popstate', callback);
  window.addEventListener(NAVIGATED, callback);
  return () => {
    window.removeEventListener('popstate', callback);
    window.removeEventListener(NAVIGATED, callback);
  };
}

const snapshot = () => window.location.pathname + window.location.search;

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === snapshot()) return;
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(NAVIGATED));
}

export interface Location {
  path: string;
  query: URLSearchParams;
}

export function useLocation(): Location {
  const current = useSyncExternalStore(subscribe, snapshot);
  const url = new URL(current, window.location.origin);
  return { path: withoutTrailingSlashes(url.pathname) || '/', query: url.searchParams };
}

/** Link clicks that should stay in the page (not with a modifier key, which opens a new tab). */
export function followInApp(event: React.MouseEvent<HTMLElement>, to: string): void {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(to);
}
