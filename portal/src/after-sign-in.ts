/**
 * A quarantine notice's link opened before signing in: the address is kept in this browser, and the
 * sign-in link (opened later, often in a new tab) leads to that message instead of the sent page.
 * Only quarantine addresses are kept, so nothing else can be planted as a place to land.
 */
import { navigate } from './router.ts';

/** Kept for a notice's link opened before signing in: after the sign-in link, the member lands on the message. */
const AFTER_SIGN_IN_KEY = 'sealpost.portal.after-sign-in';
const QUARANTINE_PATH = /^\/portal\/quarantine\/[0-9a-f-]{36}$/;

export function rememberAfterSignIn(path: string): void {
  if (!QUARANTINE_PATH.test(path)) return;
  try {
    window.localStorage.setItem(AFTER_SIGN_IN_KEY, path);
  } catch {
    // private modes may refuse storage: the member then opens the notice's link again
  }
}

export function goAfterSignIn(): boolean {
  let path: string | null = null;
  try {
    path = window.localStorage.getItem(AFTER_SIGN_IN_KEY);
    window.localStorage.removeItem(AFTER_SIGN_IN_KEY);
  } catch {
    return false;
  }
  if (!path || !QUARANTINE_PATH.test(path)) return false;
  navigate(path, { replace: true });
  return true;
}
