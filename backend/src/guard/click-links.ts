/**
 * Click-checked links: link protection rewrites the links of delivered mail to the gateway's click
 * endpoint (`/l/<token>`), and the endpoint checks each link again when it is clicked. The token is a JWT
 * (jose, HS256) that carries the link, the tenant, the message and the policy that decided it, signed
 * with a key derived from the master key: a link changed in the mail, or made up, fails the signature and
 * is refused with a page that says so, never followed.
 */
import { hkdfSync } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';

export interface ClickLinkClaims {
  /** The link as it will be opened (tracking parameters already removed when the policy says so). */
  url: string;
  tenantId: string;
  /** The message it came in, for the trace. */
  messageId: string;
  /** The name of the policy that decided the message: the click is judged under it again. */
  policy?: string;
}

/** Why a token was refused: its signature or content is wrong, or it is no token at all. */
export class ClickLinkRefused extends Error {
  constructor(readonly why: 'tampered' | 'malformed') {
    super(why === 'tampered' ? 'the link was changed after it was sent, or was not made by this gateway' : 'the link is incomplete');
  }
}

const KEY_LABEL = 'sealpost click-link tokens v1';
const ISSUER = 'sealpost-click';
/** A token longer than this was not made here (the longest link is 2,048 characters). */
const MAX_TOKEN_CHARS = 4096;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{10,200}\.[A-Za-z0-9_-]{10,4000}\.[A-Za-z0-9_-]{20,100}$/;

export class ClickLinks {
  private readonly key: Uint8Array;
  /** `<public URL>/l/`: a link that starts with it is already checked at click time. */
  readonly prefix: string;

  constructor(key: Uint8Array, publicUrl: string) {
    if (key.length < 32) throw new Error('the click-link key must be at least 32 bytes');
    this.key = key;
    this.prefix = `${publicUrl.replace(/\/$/, '')}/l/`;
  }

  /** The key comes from the master key, so every gateway process of an installation signs and reads alike. */
  static fromMasterKey(masterKey: Buffer, publicUrl: string): ClickLinks {
    return new ClickLinks(new Uint8Array(hkdfSync('sha256', masterKey, Buffer.alloc(0), KEY_LABEL, 32)), publicUrl);
  }

  /** The click-checked address of one link. */
  async link(claims: ClickLinkClaims): Promise<string> {
    const token = await new SignJWT({ u: claims.url, t: claims.tenantId, m: claims.messageId, ...(claims.policy ? { p: claims.policy } : {}) })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setIssuedAt()
      .sign(this.key);
    return `${this.prefix}${token}`;
  }

  isClickLink(url: string): boolean {
    return url.startsWith(this.prefix);
  }

  /** The claims of a token from a click; throws ClickLinkRefused when it is not one this gateway signed. */
  async read(token: string): Promise<ClickLinkClaims> {
    if (token.length > MAX_TOKEN_CHARS || !TOKEN_SHAPE.test(token)) throw new ClickLinkRefused('malformed');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], issuer: ISSUER }));
    } catch (error) {
      if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWTClaimValidationFailed) throw new ClickLinkRefused('tampered');
      throw new ClickLinkRefused('malformed');
    }
    const { u, t, m, p } = payload;
    if (typeof u !== 'string' || typeof t !== 'string' || typeof m !== 'string' || (p !== undefined && typeof p !== 'string')) {
      throw new ClickLinkRefused('malformed');
    }
    if (!/^https?:\/\//i.test(u)) throw new ClickLinkRefused('malformed');
    return { url: u, tenantId: t, messageId: m, ...(p ? { policy: p } : {}) };
  }
}
