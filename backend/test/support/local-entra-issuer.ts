/**
 * A real Entra-like token issuer on loopback: per tenant path it serves the OpenID configuration and a
 * JWKS with its own RSA keys, and signs access tokens. It can also sign with a key it does not publish,
 * name an unknown key id, rotate its keys, or stop answering, so tests can exercise every refusal.
 *
 * For browser tests it also signs a user in the way Entra's v2.0 endpoints do for a single-page app: the
 * authorize endpoint answers at once for the user the test set (`signedInUser`) with a code bound to the
 * PKCE challenge, nonce, client and redirect URI; the token endpoint (CORS, for the redirect URI's origin)
 * redeems the code once for an ID token, an access token and `client_info`.
 *
 * The issuer has two names, like an issuer behind a proxy: the gateway reaches it at `url` (plain http on
 * loopback) and the tokens' `iss` is that name, which the gateway checks; a browser reaches it through a
 * forwarder that sends `x-forwarded-proto` and `x-forwarded-host`, and then the OpenID configuration names
 * that public (https) origin, as MSAL requires its metadata to match the authority it was given.
 */
import { createHash, createHmac, createSign, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface SignOptions {
  /** Sign with a key this issuer never publishes (a forger's key) instead of the current one. */
  foreignKey?: boolean;
  /** Put this key id in the header (defaults to the signing key's). */
  kid?: string;
  /** 'none' leaves the signature empty; 'HS256' signs with the given secret (or the modulus of the public key). */
  alg?: 'RS256' | 'none' | 'HS256';
  hmacSecret?: string;
}

export interface EntraClaims {
  tid: string;
  oid: string;
  aud: string;
  iss?: string;
  preferred_username?: string;
  scp?: string;
  exp?: number;
  nbf?: number;
  iat?: number;
  [claim: string]: unknown;
}

/** Who the authorize endpoint signs in, with the claims Entra would put in the ID token. */
export interface SignedInUser {
  oid: string;
  preferred_username: string;
  name?: string;
  /** The Entra tenant of the account; the tenant of the authorize path when not given. */
  tid?: string;
  roles?: string[];
  groups?: string[];
}

/** An authorization code handed out and not yet redeemed, with what its redemption must match. */
interface PendingCode {
  tenantId: string;
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  nonce?: string;
  scope: string;
  user: SignedInUser;
  expiresAt: number;
}

const TENANT_PATH = /^\/([0-9a-f-]{36})\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|oauth2\/v2\.0\/(?:authorize|token|logout))$/i;
const CODE_LIFETIME_MS = 10 * 60_000;
const MAX_FORM_BYTES = 64 * 1024;
/** Microsoft Graph: the audience of the access token an ID-token-only sign-in still gets. */
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';

function newKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid: randomUUID(), privateKey, publicKey };
}

export class LocalEntraIssuer {
  /** Requests per path, to see what the validator fetched. */
  readonly requests: string[] = [];
  /** While false, every request is answered 503. */
  available = true;
  private published: SigningKey[];
  private current: SigningKey;
  private readonly forger = newKey();
  /** Who the authorize endpoint signs in; without one it answers `access_denied`. */
  signedInUser: SignedInUser | undefined;
  /** The query of every authorize request, to see what the browser asked for. */
  readonly authorizeRequests: Array<Record<string, string>> = [];
  /** Why each refused token request was refused (the `error_description` sent back). */
  readonly refusedTokenRequests: string[] = [];
  private readonly codes = new Map<string, PendingCode>();
  /** Origins of the redirect URIs codes were issued for: the token endpoint answers their scripts (CORS). */
  private readonly browserOrigins = new Set<string>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {
    this.current = newKey();
    this.published = [this.current];
  }

  static async start(): Promise<LocalEntraIssuer> {
    let issuer!: LocalEntraIssuer;
    const server = createServer((request, response) => {
      issuer.answer(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
        response.end(String(error));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = new LocalEntraIssuer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return issuer;
  }

  issuerFor(tenantId: string): string {
    return `${this.url}/${tenantId}/v2.0`;
  }

  get currentKid(): string {
    return this.current.kid;
  }

  /** A new signing key is published and used; the old one is withdrawn unless `keepOld`. */
  rotate(keepOld = false): void {
    this.current = newKey();
    this.published = keepOld ? [...this.published, this.current] : [this.current];
  }

  /** Claims of a valid token for the given user, one hour long; `overrides` replace any of them. */
  claims(base: { tid: string; oid: string; aud: string; email?: string }, overrides: Partial<EntraClaims> = {}): EntraClaims {
    const now = Math.floor(Date.now() / 1000);
    return {
      aud: base.aud,
      iss: this.issuerFor(base.tid),
      iat: now,
      nbf: now,
      exp: now + 3600,
      tid: base.tid,
      oid: base.oid,
      ...(base.email ? { preferred_username: base.email } : {}),
      scp: 'access_as_user',
      ver: '2.0',
      ...overrides,
    };
  }

  sign(claims: EntraClaims, options: SignOptions = {}): string {
    const alg = options.alg ?? 'RS256';
    const key = options.foreignKey ? this.forger : this.current;
    const header = { typ: 'JWT', alg, kid: options.kid ?? key.kid };
    const signed = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
    if (alg === 'none') return `${signed}.`;
    if (alg === 'HS256') {
      // The classic confusion attack: the public key's own bytes as the HMAC secret.
      const secret = options.hmacSecret ?? (this.current.publicKey.export({ format: 'jwk' }).n as string);
      return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
    }
    const signature = createSign('RSA-SHA256').update(signed).sign(key.privateKey).toString('base64url');
    return `${signed}.${signature}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const target = new URL(request.url ?? '/', this.url);
    this.requests.push(`${target.pathname}${target.search}`);
    if (!this.available) {
      response.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable');
      return;
    }
    const match = TENANT_PATH.exec(target.pathname);
    if (!match) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const tid = match[1]!.toLowerCase();
    const endpoint = match[2]!;
    const base = publicBase(request) ?? this.url;
    if (endpoint.endsWith('openid-configuration')) {
      return json(response, {
        issuer: `${base}/${tid}/v2.0`,
        authorization_endpoint: `${base}/${tid}/oauth2/v2.0/authorize`,
        token_endpoint: `${base}/${tid}/oauth2/v2.0/token`,
        end_session_endpoint: `${base}/${tid}/oauth2/v2.0/logout`,
        jwks_uri: `${base}/${tid}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment'],
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (endpoint.endsWith('keys')) {
      return json(response, {
        keys: this.published.map((k) => ({ ...k.publicKey.export({ format: 'jwk' }), kid: k.kid, use: 'sig', alg: 'RS256' })),
      });
    }
    if (endpoint.endsWith('authorize') && request.method === 'GET') return this.authorize(tid, target.searchParams, response);
    if (endpoint.endsWith('token')) {
      if (request.method === 'OPTIONS') {
        response.writeHead(204, {
          ...this.corsHeaders(request),
          'access-control-allow-methods': 'POST',
          'access-control-allow-headers': request.headers['access-control-request-headers'] ?? 'content-type',
          'access-control-max-age': '600',
        });
        response.end();
        return;
      }
      if (request.method === 'POST') return this.redeem(tid, request, response);
    }
    if (endpoint.endsWith('logout')) {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('signed out');
      return;
    }
    response.writeHead(405, { 'content-type': 'text/plain' }).end('method not allowed');
  }

  /**
   * The sign-in page of Entra, without the page: the test's user is signed in at once and the browser sent
   * back with a code. A request Entra would refuse before knowing where to send the answer gets a plain error.
   */
  private authorize(tid: string, query: URLSearchParams, response: ServerResponse): void {
    this.authorizeRequests.push(Object.fromEntries(query));
    const fail = (message: string): void => {
      response.writeHead(400, { 'content-type': 'text/plain' }).end(message);
    };
    const clientId = query.get('client_id');
    const redirectUri = query.get('redirect_uri');
    if (!clientId || !redirectUri) return fail('AADSTS900144: client_id and redirect_uri are required');
    let redirect: URL;
    try {
      redirect = new URL(redirectUri);
    } catch {
      return fail('AADSTS50011: the redirect_uri is not an absolute URL');
    }
    const responseMode = query.get('response_mode') ?? 'query';
    if (responseMode !== 'query' && responseMode !== 'fragment') return fail(`AADSTS900144: response_mode ${responseMode} is not supported here`);
    const answer = (params: Record<string, string>): void => {
      const state = query.get('state');
      const encoded = new URLSearchParams({ ...params, ...(state ? { state } : {}) }).toString();
      if (responseMode === 'fragment') redirect.hash = encoded;
      else for (const [name, value] of new URLSearchParams(encoded)) redirect.searchParams.append(name, value);
      response.writeHead(302, { location: redirect.toString(), 'cache-control': 'no-store' }).end();
    };
    if (query.get('response_type') !== 'code') return answer({ error: 'unsupported_response_type', error_description: 'only the authorization code flow' });
    const codeChallenge = query.get('code_challenge');
    if (!codeChallenge || query.get('code_challenge_method') !== 'S256') {
      return answer({ error: 'invalid_request', error_description: 'AADSTS9002325: PKCE with S256 is required for single-page apps' });
    }
    const user = this.signedInUser;
    if (!user) return answer({ error: 'access_denied', error_description: 'AADSTS50105: no user is signed in' });
    const code = randomBytes(32).toString('base64url');
    this.codes.set(code, {
      tenantId: tid,
      clientId,
      redirectUri,
      codeChallenge,
      ...(query.get('nonce') ? { nonce: query.get('nonce')! } : {}),
      scope: query.get('scope') ?? 'openid',
      user,
      expiresAt: Date.now() + CODE_LIFETIME_MS,
    });
    this.browserOrigins.add(redirect.origin);
    answer({ code, ...(query.get('client_info') === '1' ? { client_info: clientInfo(user, tid) } : {}) });
  }

  /** The token endpoint: a code once, for the client and redirect URI it was issued to, with its PKCE verifier. */
  private async redeem(tid: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const cors = this.corsHeaders(request);
    const refuse = (error: string, description: string): void => {
      this.refusedTokenRequests.push(description);
      response.writeHead(400, { ...cors, 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ error, error_description: description }));
    };
    const form = new URLSearchParams((await readBody(request)).toString('utf8'));
    if (form.get('grant_type') !== 'authorization_code') return refuse('unsupported_grant_type', `grant_type ${String(form.get('grant_type'))} is not supported`);
    const code = form.get('code') ?? '';
    const pending = this.codes.get(code);
    // A code is spent by its first redemption, whatever the outcome.
    this.codes.delete(code);
    if (!pending || pending.expiresAt < Date.now() || pending.tenantId !== tid) return refuse('invalid_grant', 'AADSTS70008: the code is unknown, spent or expired');
    if (form.get('client_id') !== pending.clientId) return refuse('invalid_client', 'AADSTS700005: the code was issued to another client');
    if (form.get('redirect_uri') !== pending.redirectUri) return refuse('invalid_grant', 'AADSTS50148: the redirect_uri differs from the authorize request');
    const verifier = form.get('code_verifier') ?? '';
    if (createHash('sha256').update(verifier).digest('base64url') !== pending.codeChallenge) {
      return refuse('invalid_grant', 'AADSTS501481: the code_verifier does not match the code_challenge');
    }
    const { user } = pending;
    const tenantId = user.tid ?? tid;
    const base = this.claims({ tid: tenantId, oid: user.oid, aud: pending.clientId, email: user.preferred_username });
    delete base.scp;
    const idToken = this.sign({
      ...base,
      sub: createHash('sha256').update(`${user.oid}:${pending.clientId}`).digest('base64url'),
      name: user.name ?? user.preferred_username,
      ...(pending.nonce ? { nonce: pending.nonce } : {}),
      ...(user.roles ? { roles: user.roles } : {}),
      ...(user.groups ? { groups: user.groups } : {}),
    });
    const accessToken = this.sign(this.claims({ tid: tenantId, oid: user.oid, aud: GRAPH_APP_ID }, { scp: 'openid profile email' }));
    response.writeHead(200, { ...cors, 'content-type': 'application/json', 'cache-control': 'no-store' }).end(
      JSON.stringify({
        token_type: 'Bearer',
        scope: pending.scope,
        expires_in: 3600,
        ext_expires_in: 3600,
        id_token: idToken,
        access_token: accessToken,
        client_info: clientInfo(user, tid),
      }),
    );
  }

  /** Like Entra for a single-page app's redirect URI: its origin, and only it, may read the answer. */
  private corsHeaders(request: IncomingMessage): Record<string, string> {
    const origin = request.headers.origin;
    return origin && this.browserOrigins.has(origin) ? { 'access-control-allow-origin': origin, vary: 'origin' } : { vary: 'origin' };
  }
}

/** The public origin a forwarder names (`x-forwarded-proto`, `x-forwarded-host`), if any. */
function publicBase(request: IncomingMessage): string | undefined {
  const host = request.headers['x-forwarded-host'];
  const proto = request.headers['x-forwarded-proto'];
  return typeof host === 'string' && typeof proto === 'string' ? `${proto}://${host}` : undefined;
}

/** What MSAL builds the account from: the user's object id and home tenant. */
function clientInfo(user: SignedInUser, pathTenant: string): string {
  return b64(JSON.stringify({ uid: user.oid, utid: user.tid ?? pathTenant }));
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new Error('the form is larger than 64 KiB');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function json(response: ServerResponse, body: unknown): void {
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
