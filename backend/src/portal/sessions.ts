/**
 * Portal sessions: a session cookie and a second browser-held secret, both stored as hashes, plus a CSRF
 * token for state-changing requests. Where the tenant binds sessions to the client IP (the default), a
 * request from another IP is refused so that the portal can offer a fresh link instead.
 */
import { randomBytes } from 'node:crypto';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { portalSessions } from '../db/schema.ts';
import type { PortalRole } from '../../../common/src/portal-api.ts';
import { hashSecret, newSecret, sameSecret } from './tokens.ts';

export interface PortalSessionInfo {
  id: string;
  tenantId: string;
  address: string;
  role?: PortalRole;
  csrfToken: string;
  expiresAt: Date;
  clientIp: string;
  /** The session reads nothing until the recipient proves a second factor (second-factor.ts). */
  factorRequired: boolean;
  /** The recipient proved a second factor in this session. */
  factorVerified: boolean;
}

export interface NewSession {
  session: PortalSessionInfo;
  sessionToken: string;
  browserSecret: string;
}

export async function createSession(
  q: Queryable,
  input: {
    tenantId: string;
    address: string;
    role?: PortalRole;
    clientIp: string;
    bindToIp: boolean;
    ttlMinutes: number;
    linkId?: string;
    factorRequired?: boolean;
    /** How the session began: a mailed link (the default) or the organisation's Entra ID sign-in. */
    signInMethod?: 'link' | 'entra';
  },
): Promise<NewSession> {
  const sessionToken = newSecret();
  const browserSecret = newSecret();
  const csrfToken = randomBytes(24).toString('base64url');
  const expiresAt = new Date(Date.now() + input.ttlMinutes * 60_000);
  const [row] = await q
    .insert(portalSessions)
    .values({
      tenantId: input.tenantId,
      tokenHash: hashSecret(sessionToken),
      browserSecretHash: hashSecret(browserSecret),
      csrfToken,
      address: input.address,
      role: input.role ?? null,
      clientIp: input.clientIp,
      bindToIp: input.bindToIp,
      linkId: input.linkId ?? null,
      factorRequired: input.factorRequired ?? false,
      signInMethod: input.signInMethod ?? 'link',
      expiresAt,
    })
    .returning({ id: portalSessions.id });
  return {
    sessionToken,
    browserSecret,
    session: {
      id: row!.id,
      tenantId: input.tenantId,
      address: input.address,
      role: input.role,
      csrfToken,
      expiresAt,
      clientIp: input.clientIp,
      factorRequired: input.factorRequired ?? false,
      factorVerified: false,
    },
  };
}

export type SessionLookup =
  | { kind: 'ok'; session: PortalSessionInfo }
  | { kind: 'missing' }
  | { kind: 'ip-changed'; session: PortalSessionInfo };

export async function resolveSession(
  q: Queryable,
  sessionToken: string | undefined,
  browserSecret: string | undefined,
  clientIp: string,
): Promise<SessionLookup> {
  if (!sessionToken || !browserSecret) return { kind: 'missing' };
  // Whose session this is comes first, and only the tenant (drizzle/0007_tenant_isolation.sql); the session
  // is then read in that tenant's scope.
  const tokenHash = hashSecret(sessionToken);
  const [owner] = await queryRows<{ tenant_id: string | null }>(q, sql`select sealpost_tenant_of_portal_session(${tokenHash}) as tenant_id`);
  if (!owner?.tenant_id) return { kind: 'missing' };
  const [row] = await withTenants(q, owner.tenant_id, (tx) =>
    tx
      .select()
      .from(portalSessions)
      .where(and(eq(portalSessions.tokenHash, tokenHash), isNull(portalSessions.endedAt), gt(portalSessions.expiresAt, sql`now()`))),
  );
  if (!row || !sameSecret(row.browserSecretHash, hashSecret(browserSecret))) return { kind: 'missing' };
  const session: PortalSessionInfo = {
    id: row.id,
    tenantId: row.tenantId,
    address: row.address,
    role: (row.role ?? undefined) as PortalRole | undefined,
    csrfToken: row.csrfToken,
    expiresAt: row.expiresAt,
    clientIp: row.clientIp,
    factorRequired: row.factorRequired,
    factorVerified: row.factorVerifiedAt !== null,
  };
  if (row.bindToIp && row.clientIp !== clientIp) return { kind: 'ip-changed', session };
  return { kind: 'ok', session };
}

export async function endSession(q: Queryable, session: { id: string; tenantId: string }): Promise<void> {
  await withTenants(q, session.tenantId, (tx) => tx.update(portalSessions).set({ endedAt: sql`now()` }).where(eq(portalSessions.id, session.id)));
}

/** Marks the session as having proved the recipient's second factor. */
export async function markFactorVerified(q: Queryable, session: { id: string; tenantId: string }): Promise<void> {
  await withTenants(q, session.tenantId, (tx) =>
    tx.update(portalSessions).set({ factorVerifiedAt: sql`now()`, factorChallenge: null }).where(eq(portalSessions.id, session.id)),
  );
}

/** Keeps the WebAuthn challenge this session was just given. */
export async function setFactorChallenge(q: Queryable, session: { id: string; tenantId: string }, challenge: string): Promise<void> {
  await withTenants(q, session.tenantId, (tx) => tx.update(portalSessions).set({ factorChallenge: challenge }).where(eq(portalSessions.id, session.id)));
}

/** Takes (reads and clears) the session's WebAuthn challenge, so one challenge answers once. */
export async function takeFactorChallenge(q: Queryable, session: { id: string; tenantId: string }): Promise<string | undefined> {
  return withTenants(q, session.tenantId, async (tx) => {
    const [row] = await tx.select({ challenge: portalSessions.factorChallenge }).from(portalSessions).where(eq(portalSessions.id, session.id));
    if (!row?.challenge) return undefined;
    await tx.update(portalSessions).set({ factorChallenge: null }).where(eq(portalSessions.id, session.id));
    return row.challenge;
  });
}
