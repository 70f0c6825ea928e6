/**
 * Validation of the Entra ID access tokens the Outlook add-in sends (MSAL nested app authentication) and of
 * the ID tokens of the portal's sign-in (entra-sign-in.ts). Only RS256 is accepted, with keys published by the issuer of the token's own Entra tenant:
 * `${authority}/${tid}/v2.0/.well-known/openid-configuration` names the JWKS, which is cached and fetched
 * again (at most once per cooldown) when a token names a key id the cache does not know, so rotated keys
 * are picked up without letting forged key ids turn into a flood of requests to the issuer.
 */
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { withoutTrailingSlashes } from '../../../common/src/trailing-slashes.ts';

export type EntraTokenErrorCode =
  | 'malformed'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'tenant_not_allowed'
  | 'keys_unavailable'
  /** An ID token whose nonce is not the one its sign-in started with, or was used already. */
  | 'nonce_mismatch'
  | 'replayed';

export class EntraTokenError extends Error {
  override name = 'EntraTokenError';
  constructor(
    readonly code: EntraTokenErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface EntraIdentity {
  /** The user's object id (oid), stable across renames. */
  objectId: string;
  /** The Entra tenant (directory) id. */
  tenantId: string;
  /** preferred_username, upn or email, lower-cased; undefined when the token carries none. */
  email?: string;
  name?: string;
  /** Delegated scopes (scp). */
  scopes: string[];
  audience: string;
  expiresAt: Date;
}

/** A verified ID token of the portal's sign-in: who, and the app roles and groups Entra put in it. */
export interface EntraIdTokenIdentity extends Omit<EntraIdentity, 'scopes'> {
  roles: string[];
  /** Group object ids, lower-cased. */
  groups: string[];
}

export interface EntraValidationPolicy {
  /** The Entra application (client) ids whose tokens are accepted. */
  applicationIds: readonly string[];
  /** The Entra tenant ids whose users may sign in. */
  allowedTenantIds: readonly string[];
  clockSkewSeconds?: number;
}

export interface EntraTokenValidatorOptions {
  /** https://login.microsoftonline.com, or a sovereign cloud's authority. */
  authorityBaseUrl: string;
  fetchImpl?: typeof fetch;
  /** How long a fetched key set is used before it is fetched again. */
  jwksCacheMs?: number;
  /** The least time between two fetches caused by an unknown key id. */
  keyRefreshCooldownMs?: number;
  /** Time limit for one request to the issuer. */
  issuerTimeoutMs?: number;
  /**
   * The host of this deployment's public URL (SEALPOST_PUBLIC_URL), the host part of the Application ID URI
   * the add-in asks tokens for (`api://<host>/<application id>`). Without it only the bare application id and
   * `api://<application id>` are accepted: a token issued for the same application under another host's URI
   * was meant for another deployment.
   */
  addinHost?: string;
}

/** The Microsoft public cloud: the only authority whose v1 issuer (sts.windows.net) is accepted. */
export const MICROSOFT_AUTHORITY = 'https://login.microsoftonline.com';
const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_DOCUMENT_BYTES = 512 * 1024;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

interface TenantKeys {
  keys: Map<string, KeyObject>;
  fetchedAt: number;
}

interface DecodedToken {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signedPart: Buffer;
  signature: Buffer;
}

export class EntraTokenValidator {
  private readonly authority: string;
  private readonly fetchImpl: typeof fetch;
  private readonly jwksCacheMs: number;
  private readonly keyRefreshCooldownMs: number;
  private readonly issuerTimeoutMs: number;
  private readonly addinHost: string | undefined;
  private readonly keysByTenant = new Map<string, TenantKeys>();
  private readonly inFlight = new Map<string, Promise<TenantKeys>>();
  /** When the issuer was last asked for a tenant's keys (successfully or not). */
  private readonly lastFetchAttempt = new Map<string, number>();

  constructor(options: EntraTokenValidatorOptions) {
    this.authority = withoutTrailingSlashes(options.authorityBaseUrl);
    this.addinHost = options.addinHost;
    this.fetchImpl = options.fetchImpl ?? fetch;
    this.jwksCacheMs = options.jwksCacheMs ?? 6 * 3600_000;
    this.keyRefreshCooldownMs = options.keyRefreshCooldownMs ?? 30_000;
    this.issuerTimeoutMs = options.issuerTimeoutMs ?? 5_000;
  }

  /**
   * The Entra tenant id a token claims, before anything is verified: only for choosing which Sealpost
   * tenant's settings to validate it with.
   */
  static unverifiedTenantId(token: string): string | undefined {
    try {
      const tid = decode(token).claims.tid;
      return typeof tid === 'string' && GUID.test(tid) ? tid.toLowerCase() : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The nonce and address an ID token claims, before anything is verified: only for finding the sign-in it
   * belongs to, rate limits and the audit log's note of who a refused sign-in claimed to be.
   */
  static unverifiedSignIn(token: string): { nonce?: string; address?: string } {
    try {
      const { claims } = decode(token);
      const address = [claims.preferred_username, claims.upn, claims.email].find(
        (value): value is string => typeof value === 'string' && value.includes('@') && value.length <= 320,
      );
      return {
        ...(typeof claims.nonce === 'string' ? { nonce: claims.nonce } : {}),
        ...(address ? { address: address.trim().toLowerCase() } : {}),
      };
    } catch {
      return {};
    }
  }

  async validate(token: string, policy: EntraValidationPolicy): Promise<EntraIdentity> {
    const { claims, tenantId, exp } = await this.verified(token, policy);
    const audience = claims.aud;
    if (typeof audience !== 'string' || !policy.applicationIds.some((id) => audienceNames(audience, id, this.addinHost))) {
      throw new EntraTokenError('wrong_audience', `the token is meant for "${String(audience)}", not for this add-in's application`);
    }
    return {
      ...identityOf(claims, tenantId, exp),
      scopes: typeof claims.scp === 'string' ? claims.scp.split(' ').filter(Boolean) : [],
      audience,
    };
  }

  /**
   * An ID token from the portal's sign-in (OpenID Connect, authorization code with PKCE): the same keys,
   * issuer and times as an access token; its audience is exactly the application id, it must say when it
   * was issued, and its nonce is what the sign-in started with (`checkNonce` throws when it is not).
   */
  async validateIdToken(
    token: string,
    policy: EntraValidationPolicy & { checkNonce: (nonce: string | undefined) => Promise<void> | void },
  ): Promise<EntraIdTokenIdentity> {
    const { claims, tenantId, exp } = await this.verified(token, policy);
    const audience = claims.aud;
    if (typeof audience !== 'string' || !policy.applicationIds.some((id) => id.toLowerCase() === audience.toLowerCase())) {
      throw new EntraTokenError('wrong_audience', `the ID token is meant for "${String(audience)}", not for this organisation's application`);
    }
    if (typeof claims.iat !== 'number' || !Number.isFinite(claims.iat)) throw new EntraTokenError('malformed', 'the ID token does not say when it was issued (iat)');
    if (claims.iat > Date.now() / 1000 + (policy.clockSkewSeconds ?? 300)) {
      throw new EntraTokenError('not_yet_valid', `the ID token claims to be issued in the future (${new Date(claims.iat * 1000).toISOString()})`);
    }
    await policy.checkNonce(typeof claims.nonce === 'string' ? claims.nonce : undefined);
    return {
      ...identityOf(claims, tenantId, exp),
      audience,
      // Entra sends at most 200 groups; beyond that it names a Graph query instead (`_claim_names`), read as none.
      roles: stringList(claims.roles),
      groups: stringList(claims.groups).map((group) => group.toLowerCase()),
    };
  }

  /** Signature, tenant, issuer and validity times: what every Entra token must pass. */
  private async verified(token: string, policy: EntraValidationPolicy): Promise<{ claims: Record<string, unknown>; tenantId: string; exp: number }> {
    const { header, claims, signedPart, signature } = decode(token);
    const skew = policy.clockSkewSeconds ?? 300;

    if (header.alg !== 'RS256') {
      throw new EntraTokenError('bad_signature', `tokens signed with "${String(header.alg)}" are not accepted; only RS256 is`);
    }
    if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 200) {
      throw new EntraTokenError('malformed', 'the token header names no key id (kid)');
    }
    const tid = claims.tid;
    if (typeof tid !== 'string' || !GUID.test(tid)) throw new EntraTokenError('malformed', 'the token carries no Entra tenant id (tid)');
    const tenantId = tid.toLowerCase();
    // Checked before any key is fetched, so a foreign tenant's token never makes us call its issuer.
    if (!policy.allowedTenantIds.some((allowed) => allowed.toLowerCase() === tenantId)) {
      throw new EntraTokenError('tenant_not_allowed', `Entra tenant ${tenantId} is not allowed for this organisation`);
    }

    const key = await this.keyFor(tenantId, header.kid);
    if (signature.length === 0 || !verifySignature('RSA-SHA256', signedPart, key, signature)) {
      throw new EntraTokenError('bad_signature', 'the token signature does not verify with the issuer key');
    }

    const issuer = claims.iss;
    const expectedIssuer = `${this.authority}/${tenantId}/v2.0`;
    const v1Issuer = `https://sts.windows.net/${tenantId}/`;
    const issuerOk =
      typeof issuer === 'string' &&
      (issuer.toLowerCase() === expectedIssuer.toLowerCase() || (this.authority === MICROSOFT_AUTHORITY && issuer.toLowerCase() === v1Issuer));
    if (!issuerOk) throw new EntraTokenError('wrong_issuer', `the token issuer "${String(issuer)}" is not ${expectedIssuer}`);

    const now = Date.now() / 1000;
    const exp = claims.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new EntraTokenError('malformed', 'the token has no expiry (exp)');
    if (now > exp + skew) throw new EntraTokenError('expired', `the token expired at ${new Date(exp * 1000).toISOString()}`);
    const nbf = claims.nbf;
    if (nbf !== undefined) {
      if (typeof nbf !== 'number' || !Number.isFinite(nbf)) throw new EntraTokenError('malformed', 'the token not-before (nbf) is not a number');
      if (now + skew < nbf) throw new EntraTokenError('not_yet_valid', `the token is valid only from ${new Date(nbf * 1000).toISOString()}`);
    }
    return { claims, tenantId, exp };
  }

  private async keyFor(tenantId: string, kid: string): Promise<KeyObject> {
    let cached = this.keysByTenant.get(tenantId);
    if (!cached || Date.now() - cached.fetchedAt > this.jwksCacheMs) {
      cached = await this.refresh(tenantId, cached);
    }
    let key = cached.keys.get(kid);
    if (!key) {
      const last = this.lastFetchAttempt.get(tenantId) ?? 0;
      if (Date.now() - last >= this.keyRefreshCooldownMs) {
        cached = await this.refresh(tenantId, cached);
        key = cached.keys.get(kid);
      }
    }
    if (!key) throw new EntraTokenError('bad_signature', `the issuer publishes no key "${kid.slice(0, 80)}"`);
    return key;
  }

  /** Fetches a tenant's keys; when the issuer cannot be reached, keys fetched earlier stay in use. */
  private refresh(tenantId: string, stale: TenantKeys | undefined): Promise<TenantKeys> {
    const running = this.inFlight.get(tenantId);
    if (running) return running;
    this.lastFetchAttempt.set(tenantId, Date.now());
    const fetching = this.fetchKeys(tenantId)
      .then((keys) => {
        const entry = { keys, fetchedAt: Date.now() };
        this.keysByTenant.set(tenantId, entry);
        return entry;
      })
      .catch((error: unknown) => {
        if (stale) return stale;
        throw error;
      })
      .finally(() => this.inFlight.delete(tenantId));
    this.inFlight.set(tenantId, fetching);
    return fetching;
  }

  private async fetchKeys(tenantId: string): Promise<Map<string, KeyObject>> {
    const configurationUrl = `${this.authority}/${tenantId}/v2.0/.well-known/openid-configuration`;
    const configuration = await this.fetchJson(configurationUrl);
    const jwksUri = (configuration as { jwks_uri?: unknown }).jwks_uri;
    if (typeof jwksUri !== 'string') throw new EntraTokenError('keys_unavailable', `${configurationUrl} names no jwks_uri`);
    let jwksUrl: URL;
    try {
      jwksUrl = new URL(jwksUri);
    } catch {
      throw new EntraTokenError('keys_unavailable', `${configurationUrl} names an invalid jwks_uri`);
    }
    // Keys are only taken from the authority itself.
    if (jwksUrl.origin !== new URL(this.authority).origin) {
      throw new EntraTokenError('keys_unavailable', `the jwks_uri ${jwksUri} is not on the authority ${this.authority}`);
    }
    const jwks = (await this.fetchJson(jwksUrl.toString())) as { keys?: unknown };
    if (!Array.isArray(jwks.keys)) throw new EntraTokenError('keys_unavailable', `${jwksUri} holds no key list`);
    const keys = new Map<string, KeyObject>();
    for (const jwk of jwks.keys as Array<Record<string, unknown>>) {
      if (!jwk || jwk.kty !== 'RSA' || typeof jwk.kid !== 'string' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') continue;
      if (jwk.use !== undefined && jwk.use !== 'sig') continue;
      if (jwk.alg !== undefined && jwk.alg !== 'RS256') continue;
      try {
        const key = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' });
        if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) continue;
        keys.set(jwk.kid, key);
      } catch {
        // A key that cannot be read is skipped; the others still serve.
      }
    }
    return keys;
  }

  private async fetchJson(url: string): Promise<unknown> {
    let response: Response;
    try {
      response = await this.fetchImpl(url, { signal: AbortSignal.timeout(this.issuerTimeoutMs), headers: { accept: 'application/json' } });
    } catch (error) {
      throw new EntraTokenError('keys_unavailable', `the Entra issuer at ${url} cannot be reached: ${(error as Error).message}`);
    }
    if (!response.ok) throw new EntraTokenError('keys_unavailable', `the Entra issuer answered ${response.status} for ${url}`);
    const text = await response.text();
    if (text.length > MAX_DOCUMENT_BYTES) throw new EntraTokenError('keys_unavailable', `${url} answered with an oversized document`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new EntraTokenError('keys_unavailable', `${url} did not answer with JSON`);
    }
  }
}

/** Who a verified token names: object id, tenant, address (lower-cased), name, expiry. */
function identityOf(claims: Record<string, unknown>, tenantId: string, exp: number): Omit<EntraIdentity, 'scopes' | 'audience'> {
  const oid = claims.oid;
  if (typeof oid !== 'string' || !GUID.test(oid)) throw new EntraTokenError('malformed', 'the token carries no user object id (oid)');
  const email = [claims.preferred_username, claims.upn, claims.email].find(
    (value): value is string => typeof value === 'string' && value.includes('@'),
  );
  return {
    objectId: oid.toLowerCase(),
    tenantId,
    ...(email ? { email: email.trim().toLowerCase() } : {}),
    ...(typeof claims.name === 'string' ? { name: claims.name } : {}),
    expiresAt: new Date(exp * 1000),
  };
}

/** A claim that should be a list of short strings; anything else counts as none (at most 500 entries of 200 characters). */
function stringList(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.slice(0, 500).filter((entry): entry is string => typeof entry === 'string' && entry.length > 0 && entry.length <= 200);
}

/**
 * The audience of a token for the add-in: the application id itself (what Entra puts in v2 tokens), the
 * default Application ID URI `api://<application id>`, or the URI the add-in's scope names,
 * `api://<this deployment's host>/<application id>` — never the same id under some other host.
 */
function audienceNames(audience: string, applicationId: string, addinHost: string | undefined): boolean {
  const aud = audience.toLowerCase();
  const id = applicationId.toLowerCase();
  if (aud === id || aud === `api://${id}`) return true;
  return addinHost !== undefined && aud === `api://${addinHost.toLowerCase()}/${id}`;
}

function decode(token: string): DecodedToken {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    throw new EntraTokenError('malformed', 'the token is empty or too long');
  }
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) {
    throw new EntraTokenError('malformed', 'the token is not a signed JWT (three base64url parts)');
  }
  const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
  const header = parseJsonObject(headerPart, 'header');
  const claims = parseJsonObject(claimsPart, 'claims');
  return {
    header,
    claims,
    signedPart: Buffer.from(`${headerPart}.${claimsPart}`, 'ascii'),
    signature: Buffer.from(signaturePart, 'base64url'),
  };
}

function parseJsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new EntraTokenError('malformed', `the token ${what} is not JSON`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new EntraTokenError('malformed', `the token ${what} is not an object`);
  return value as Record<string, unknown>;
}
