/** The reader's portal session as the pages see it. */
import { createContext, useContext } from 'react';
import type { PortalRole, PortalSession, PortalSessionState } from '../../common/src/portal-api.ts';
import { ApiProblem, api, setCsrfToken } from './api.ts';

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

/**
 * GET /api/portal/session/state (200 also without a session, so an anonymous visit logs no failed request);
 * remembers the session's CSRF token for the state-changing requests. Null without a session; a session
 * opened on another network is the session-ip-changed problem, as the other routes answer it.
 */
export async function fetchSession(): Promise<PortalSession | null> {
  const state = await api.get<PortalSessionState>('/api/portal/session/state', { quiet: true });
  if (!state.signedIn) {
    if (state.ipChanged) {
      throw new ApiProblem({ type: 'urn:sealpost:problem:session-ip-changed', title: 'Session opened on another network', status: 401 });
    }
    return null;
  }
  setCsrfToken(state.session.csrfToken);
  return state.session;
}

const ADMIN_ROLES: ReadonlyArray<PortalRole> = ['owner', 'operator'];

export const isAdminRole = (role: PortalRole | undefined): boolean => role !== undefined && ADMIN_ROLES.includes(role);

const POLICY_READ_ROLES: ReadonlyArray<PortalRole> = ['owner', 'operator', 'analyst', 'auditor'];

/** Who sees MailGuard's policies page (owners and operators also change them). */
export const canReadPolicies = (role: PortalRole | undefined): boolean => role !== undefined && POLICY_READ_ROLES.includes(role);

const AUDIT_ROLES: ReadonlyArray<PortalRole> = ['owner', 'operator', 'auditor'];

/** Who reads the audit log, exports it and checks its chain. */
export const canReadAudit = (role: PortalRole | undefined): boolean => role !== undefined && AUDIT_ROLES.includes(role);

const STORAGE_ROLES: ReadonlyArray<PortalRole> = ['owner', 'operator', 'analyst'];

/** Who sees the portal's storage against its quotas. */
export const canReadStorage = (role: PortalRole | undefined): boolean => role !== undefined && STORAGE_ROLES.includes(role);

/** Who sees the portal's settings page: the same roles as the policies; owners and operators also change them. */
export const canReadSettings = canReadPolicies;

/** Who sees the members page: every console role; owners and operators also change it. */
export const canReadMembers = canReadPolicies;

const TOKEN_READ_ROLES: ReadonlyArray<PortalRole> = ['owner', 'operator', 'analyst'];

/** Who sees the API tokens page (never a token itself): owners and operators manage it, analysts read it. */
export const canReadTokens = (role: PortalRole | undefined): boolean => role !== undefined && TOKEN_READ_ROLES.includes(role);
