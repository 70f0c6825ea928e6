/** The reader's portal session as the pages see it. */
import { createContext, useContext } from 'react';
import type { PortalRole, PortalSession } from '../../common/src/portal-api.ts';
import { api, setCsrfToken } from './api.ts';

export interface SessionState {
  /** undefined while it is being looked up; null when this browser has none. */
  session: PortalSession | null | undefined;
  /** Fetches GET /api/portal/session again (after opening a link) and returns it. */
  reload: () => Promise<PortalSession | null>;
  /** Takes a session the server has just described (opening a link answers with it): no second request. */
  adopt: (session: PortalSession) => void;
}

export const SessionContext = createContext<SessionState>({ session: undefined, reload: async () => null, adopt: () => undefined });
export const useSession = (): SessionState => useContext(SessionContext);

/** GET /api/portal/session; remembers its CSRF token for the state-changing requests. */
export async function fetchSession(): Promise<PortalSession> {
  const session = await api.get<PortalSession>('/api/portal/session', { quiet: true });
  setCsrfToken(session.csrfToken);
  return session;
}

const ADMIN_ROLES: ReadonlyArray<PortalRole> = ['owner', 'operator'];

export const isAdminRole = (role: PortalRole | undefined): boolean => role !== undefined && ADMIN_ROLES.includes(role);
