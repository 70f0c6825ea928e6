/**
 * A real Entra-like token issuer on loopback: per tenant path it serves the OpenID configuration and a
 * JWKS with its own RSA keys, and signs access tokens. It can also sign with a key it does not publish,
 * name an unknown key id, rotate its keys, or stop answering, so tests can exercise every refusal.
 */
import { createHmac, createSign, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
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

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {
    this.current = newKey();
    this.published = [this.current];
  }

  static async start(): Promise<LocalEntraIssuer> {
    let issuer!: LocalEntraIssuer;
    const server = createServer((request, response) => issuer.answer(request.url ?? '/', response));
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

  private answer(path: string, response: import('node:http').ServerResponse): void {
    this.requests.push(path);
    if (!this.available) {
      response.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable');
      return;
    }
    const configuration = /^\/([0-9a-f-]{36})\/v2\.0\/\.well-known\/openid-configuration$/i.exec(path);
    if (configuration) {
      const tid = configuration[1]!;
      return json(response, {
        issuer: this.issuerFor(tid),
        authorization_endpoint: `${this.url}/${tid}/oauth2/v2.0/authorize`,
        token_endpoint: `${this.url}/${tid}/oauth2/v2.0/token`,
        jwks_uri: `${this.url}/${tid}/discovery/v2.0/keys`,
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (/^\/([0-9a-f-]{36})\/discovery\/v2\.0\/keys$/i.test(path)) {
      return json(response, {
        keys: this.published.map((k) => ({ ...k.publicKey.export({ format: 'jwk' }), kid: k.kid, use: 'sig', alg: 'RS256' })),
      });
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }
}

function json(response: import('node:http').ServerResponse, body: unknown): void {
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
