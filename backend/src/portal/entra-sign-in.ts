/**
 * Members and admins sign in to the portal with their organisation's Entra ID account (OpenID Connect,
 * authorization code with PKCE in the browser). The gateway keeps no state between the two steps:
 *
 * 1. start: the address's tenant must have Entra configured; the browser gets the application id, the
 *    authority and a nonce — a short-lived token signed with a key derived from the master key, naming the
 *    tenant and the hash of a random secret that goes to the browser as a cookie (so a nonce works only in
 *    the browser that asked for it).
 * 2. complete: the route verifies the ID token (http/entra-tokens.ts) and hands over who it names; the nonce
 *    inside it is checked here and used up (once only), the address must be one of the tenant's domains, and
 *    the role comes from the app roles or groups the tenant maps (highest wins), else from the member list.
 *
 * The session is a normal portal session (same cookies and CSRF token as a magic link's) with
 * `sign_in_method = 'entra'`; every sign-in and every refusal where an address is known is audited.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import { jwtVerify, SignJWT } from 'jose';
import type { EntraSignInStart, PortalRole, PortalSession } from '../../../common/src/portal-api.ts';
import { appendAudit } from '../audit/audit-log.ts';
import type { Database, Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { members, portalRateEvents } from '../db/schema.ts';
import type { EntraPortalSignIn, TenantDirectory, TenantInfo } from '../tenants/tenant-directory.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { takeRateToken } from './magic-links.ts';
import { problems } from './portal-problems.ts';
import { createSession, type NewSession } from './sessions.ts';
import type { TenantPortal } from './tenant-portal.ts';
import { hashSecret, newSecret, sameSecret } from './tokens.ts';

/** How long a started sign-in may take at Entra (typing a password, a second factor) before it must start again. */
export const ENTRA_NONCE_TTL_SECONDS = 10 * 60;
const NONCE_AUDIENCE = 'sealpost:portal-entra-sign-in';
const MAX_NONCE_LENGTH = 1024;

/** Portal roles from the most to the least rights: when app roles or groups give several, the first wins. */
const ROLE_RANK: readonly PortalRole[] = ['owner', 'operator', 'analyst', 'auditor', 'contact'];
/** The roles of the admin console; a Contact reads only their own messages. */
export const CONSOLE_ROLES: readonly PortalRole[] = ['owner', 'operator', 'analyst', 'auditor'];

/** Who a verified ID token names (http/entra-tokens.ts validateIdToken). */
export interface EntraSignInIdentity {
  objectId: string;
  /** The Entra tenant id. */
  tenantId: string;
  email?: string;
  roles: readonly string[];
  groups: readonly string[];
}

export interface EntraSignInOptions {
  db: Database;
  vault: KeyVault;
  directory: TenantDirectory;
  tenants: TenantPortal;
  /** Signs the nonces (derived from the master key: gateway.ts). */
  nonceKey: Uint8Array;
  /** Where browsers are sent to sign in (config.entra.browserAuthority). */
  browserAuthority: string;
  /** Sign-in attempts per client IP (starts and completions) and per address (completions), within windowSeconds. */
  limits?: { perAddress: number; perIp: number; windowSeconds: number };
}

export interface StartedSignIn {
  start: EntraSignInStart;
  /** The browser's half of the nonce: set as an HttpOnly cookie, asked back at completion. */
  binding: string;
}

export interface CompletedSignIn {
  created: NewSession;
  view: PortalSession;
  role: PortalRole;
}

/** The highest portal role the tenant's mapping gives for these app roles and groups; undefined when none is mapped. */
export function roleFromEntraClaims(mapping: EntraPortalSignIn, claims: { roles: readonly string[]; groups: readonly string[] }): PortalRole | undefined {
  const given: PortalRole[] = [];
  for (const role of claims.roles) {
    const mapped = mapping.appRoles && Object.hasOwn(mapping.appRoles, role) ? mapping.appRoles[role] : undefined;
    if (mapped) given.push(mapped);
  }
  const groups = Object.fromEntries(Object.entries(mapping.groups ?? {}).map(([id, role]) => [id.toLowerCase(), role]));
  for (const group of claims.groups) {
    const mapped = Object.hasOwn(groups, group) ? groups[group] : undefined;
    if (mapped) given.push(mapped);
  }
  return ROLE_RANK.find((role) => given.includes(role));
}

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

export class PortalEntraSignIn {
  private readonly limits: { perAddress: number; perIp: number; windowSeconds: number };

  constructor(private readonly options: EntraSignInOptions) {
    this.limits = options.limits ?? { perAddress: 20, perIp: 60, windowSeconds: 3600 };
  }

  /** The tenant of an address, with Entra configured; the problem to answer otherwise. */
  tenantWithEntra(address: string): TenantInfo & { entra: NonNullable<TenantInfo['entra']> } {
    const tenant = this.options.directory.tenantForAddress(address);
    if (!tenant?.entra) throw problems.organisationSignInUnavailable(domainOf(address));
    return tenant as TenantInfo & { entra: NonNullable<TenantInfo['entra']> };
  }

  /** GET entra-sign-in: where to send the browser, and a nonce bound to it. */
  async start(address: string, clientIp: string): Promise<StartedSignIn> {
    await this.limitIp(clientIp);
    const tenant = this.tenantWithEntra(address);
    const binding = newSecret();
    const nonce = await new SignJWT({ tnt: tenant.id, bnd: hashSecret(binding) })
      .setProtectedHeader({ alg: 'HS256' })
      .setAudience(NONCE_AUDIENCE)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${ENTRA_NONCE_TTL_SECONDS}s`)
      .sign(this.options.nonceKey);
    const { applicationId, tenantIds } = tenant.entra;
    return {
      binding,
      start: {
        applicationId,
        authority: `${this.options.browserAuthority}/${tenantIds.length === 1 ? tenantIds[0] : 'organizations'}`,
        nonce,
        loginHint: address,
      },
    };
  }

  /**
   * The nonce an ID token carries, checked before the token is: made by this gateway, not expired, and started
   * in this browser. Answers its tenant (whose Entra settings the token is then checked with) and its id.
   */
  async readNonce(nonce: string | undefined, binding: string | undefined): Promise<{ tenant: TenantInfo & { entra: NonNullable<TenantInfo['entra']> }; nonceId: string }> {
    if (!nonce || nonce.length > MAX_NONCE_LENGTH) throw problems.organisationSignInFailed('nonce_mismatch', 'The sign-in did not start on this page (the ID token carries no nonce of ours)');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(nonce, this.options.nonceKey, { algorithms: ['HS256'], audience: NONCE_AUDIENCE }));
    } catch (error) {
      const expired = (error as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw problems.organisationSignInFailed(
        'nonce_mismatch',
        expired ? `The sign-in took longer than ${ENTRA_NONCE_TTL_SECONDS / 60} minutes` : 'The ID token carries a nonce this gateway did not issue',
      );
    }
    if (!binding || typeof payload.bnd !== 'string' || !sameSecret(payload.bnd, hashSecret(binding))) {
      throw problems.organisationSignInFailed('nonce_mismatch', 'The sign-in was started in another browser');
    }
    const tenant = typeof payload.tnt === 'string' ? this.options.directory.tenantById(payload.tnt) : undefined;
    if (!tenant?.entra || typeof payload.jti !== 'string') throw problems.organisationSignInUnavailable(tenant?.domains[0] ?? 'this address');
    return { tenant: tenant as TenantInfo & { entra: NonNullable<TenantInfo['entra']> }, nonceId: payload.jti };
  }

  /**
   * Uses a nonce up, after its token was verified (so a forged token cannot spend someone's nonce): a second
   * use within its lifetime is a replay. The rate-event table holds the used ids; housekeeping clears it.
   */
  async spendNonce(nonceId: string): Promise<void> {
    const bucket = `entra-nonce:${nonceId}`;
    const spent = await this.options.db.transaction(async (tx) => {
      // One sign-in at a time per nonce: the check and the insert must not interleave.
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${bucket}, 0))`);
      const rows = (await tx.execute(sql`select 1 from portal_rate_events where bucket = ${bucket} limit 1`)) as unknown as { rows: unknown[] };
      if (rows.rows.length > 0) return true;
      await tx.insert(portalRateEvents).values({ bucket });
      return false;
    });
    if (spent) throw problems.organisationSignInFailed('replayed', 'This sign-in was already used');
  }

  /** Counts an attempt from this client IP; the rate-limited problem when there were too many. */
  async limitIp(clientIp: string): Promise<void> {
    const wait = await takeRateToken(this.options.db, `entra-sign-in:ip:${clientIp}`, this.limits.perIp, this.limits.windowSeconds);
    if (wait) throw problems.rateLimited(wait);
  }

  async limitAddress(address: string): Promise<void> {
    const wait = await takeRateToken(this.options.db, `entra-sign-in:address:${address}`, this.limits.perAddress, this.limits.windowSeconds);
    if (wait) throw problems.rateLimited(wait);
  }

  /**
   * Starts the session for a verified identity: the address must be of the tenant's domains; the role comes
   * from the tenant's mapping of app roles and groups, else from the member list, else Contact (where the
   * tenant lets addresses that are not members in). A member is remembered by object id; an address that is
   * not a member and gets a role from Entra joins the member list (source 'entra').
   */
  async complete(tenant: TenantInfo & { entra: NonNullable<TenantInfo['entra']> }, identity: EntraSignInIdentity, clientIp: string): Promise<CompletedSignIn> {
    const address = identity.email;
    if (!address || !tenant.domains.includes(domainOf(address))) {
      throw problems.notAMember(
        `The account ${address ?? '(without an address)'} is not an address of ${tenant.name} (${tenant.domains.join(', ')}). Sign in with your organisation account.`,
      );
    }
    const settings = await this.options.tenants.settings(tenant.id);
    const mapped = roleFromEntraClaims(tenant.entra.portalSignIn, identity);
    const result = await withTenants(this.options.db, tenant.id, async (tx) => {
      const member = await this.memberFor(tx, tenant.id, identity, address);
      if (member === 'bound-to-another') {
        throw problems.notAMember(`The address ${address} belongs to another Entra ID account in ${tenant.name}. Ask your administrator.`);
      }
      let role: PortalRole;
      let added = false;
      if (mapped) role = mapped;
      else if (member) role = member.role;
      else if (settings.unlistedAsContact) role = 'contact';
      else throw problems.notAMember(`${address} is not a member of ${tenant.name}, and only members sign in here. Ask your administrator to add you.`);
      const sessionAddress = member ? member.email : address;
      if (!member && mapped) {
        await tx.insert(members).values({ tenantId: tenant.id, email: address, role: mapped, entraObjectId: identity.objectId, source: 'entra' });
        await appendAudit(tx, this.options.vault.auditKeys, {
          tenantId: tenant.id,
          action: 'member_added',
          actorAddress: address,
          clientIp,
          details: { address, role: mapped, source: 'entra', objectId: identity.objectId },
        });
        added = true;
      }
      const created = await createSession(tx, {
        tenantId: tenant.id,
        address: sessionAddress,
        role,
        clientIp,
        bindToIp: settings.bindSessionToIp,
        ttlMinutes: settings.sessionTtlMinutes,
        signInMethod: 'entra',
      });
      await appendAudit(tx, this.options.vault.auditKeys, {
        tenantId: tenant.id,
        action: 'signed_in',
        actorId: created.session.id,
        actorAddress: sessionAddress,
        clientIp,
        details: {
          channel: 'entra',
          role,
          roleFrom: mapped ? 'entra' : member ? 'member-list' : 'unlisted',
          entraTenantId: identity.tenantId,
          objectId: identity.objectId,
        },
      });
      return { created, role, added };
    });
    // The directory's view of the members (the add-in and mail routing read it) learns the new member now.
    if (result.added) await this.options.directory.refresh();
    return { created: result.created, role: result.role, view: this.options.tenants.describeSession(result.created.session, settings) };
  }

  /** Records a refused sign-in in the tenant's audit log; the address is the one claimed, which may be untrue. */
  async recordFailure(tenantId: string, address: string, clientIp: string, reason: string, verified: boolean): Promise<void> {
    await withTenants(this.options.db, tenantId, (tx) =>
      appendAudit(tx, this.options.vault.auditKeys, {
        tenantId,
        action: 'sign_in_failed',
        actorAddress: address,
        clientIp,
        details: { channel: 'entra', reason, addressVerified: verified },
      }),
    );
  }

  /**
   * The member this identity is: by object id first (a renamed account stays the member it was), else by
   * address, remembering the object id; an address bound to another object id is a reassigned mailbox.
   */
  private async memberFor(tx: Queryable, tenantId: string, identity: EntraSignInIdentity, address: string): Promise<{ email: string; role: PortalRole } | 'bound-to-another' | undefined> {
    const [byObjectId] = await tx
      .select({ email: members.email, role: members.role })
      .from(members)
      .where(and(eq(members.tenantId, tenantId), eq(members.entraObjectId, identity.objectId)));
    if (byObjectId) return { email: byObjectId.email, role: byObjectId.role as PortalRole };
    const [byAddress] = await tx
      .select({ id: members.id, email: members.email, role: members.role, entraObjectId: members.entraObjectId })
      .from(members)
      .where(and(eq(members.tenantId, tenantId), eq(members.email, address)));
    if (!byAddress) return undefined;
    if (byAddress.entraObjectId && byAddress.entraObjectId !== identity.objectId) return 'bound-to-another';
    if (!byAddress.entraObjectId) {
      await tx.update(members).set({ entraObjectId: identity.objectId }).where(and(eq(members.id, byAddress.id), isNull(members.entraObjectId)));
    }
    return { email: byAddress.email, role: byAddress.role as PortalRole };
  }
}

/** The key the nonces are signed with: derived from the master key, so it is never in source or the database. */
export function entraNonceKey(masterKey: Buffer): Uint8Array {
  return new Uint8Array(createHmac('sha256', masterKey).update('sealpost:portal-entra-nonce-key').digest());
}
