/** The reader's portal session as the pages see it. */
import { createContext, useContext } from 'react';
import type { PortalSession } from '../../common/src/portal-api.ts';
import { api, setCsrfToken } from './api.ts';

export interface SessionState {
  /** undefined while it is being looked up; null when this browser has none. */
  session: PortalSession | null | undefined;
  /** Fetches GET /api/portal/session again (after opening a link) and returns it. */
  reload: () => Promise<PortalSession | null>;
}

export const SessionContext = createContext<SessionState>({ session: undefined, reload: async () => null });
export const useSession = (): SessionState => useContext(SessionContext);

/** GET /api/portal/session; remembers its CSRF token for the state-changing requests. */
export async function fetchSession(): Promise<PortalSession> {
  const session = await api.get<PortalSession>('/api/portal/session', { quiet: true });
  setCsrfToken(session.csrfToken);
  return session;
}
