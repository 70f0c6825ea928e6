/**
 * A recipient's second factor for the portal: something the recipient holds, not a code to the inbox the
 * magic link already proved. An authenticator app (TOTP, RFC 6238, otpauth) or a passkey (WebAuthn,
 * @simplewebauthn/server), plus ten one-time recovery codes made with the first factor.
 *
 * When it is asked: the sender asked (option `otp`, stored on the portal message), the tenant asks it of
 * every recipient (`secondFactor: always`), or the recipient set one up (then it is theirs and always
 * asked). A session that must prove it reads nothing until it has (portal-routes.ts, message-access.ts).
 *
 * Who may set one up: a session whose address has none yet (the magic link showed control of the address,
 * which is all there is before a factor exists), or a session that proved an existing one. A lost factor
 * is replaced with a recovery code, or an owner or operator removes the recipient's factors (audited).
 */
import { randomInt, randomUUID } from 'node:crypto';
import { and, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import * as OTPAuth from 'otpauth';
import QRCode from 'qrcode';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { SecondFactorResult, SecondFactorStatus, TotpEnrolment } from '../../../common/src/portal-api.ts';
import { appendAudit, type AuditAction } from '../audit/audit-log.ts';
import type { Database, Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { portalFactors, portalMessages, portalRecoveryCodes } from '../db/schema.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { takeRateToken } from './magic-links.ts';
import { problems, type PortalProblemError } from './portal-problems.ts';
import { markFactorVerified, setFactorChallenge, takeFactorChallenge, type PortalSessionInfo } from './sessions.ts';
import { readableByRecipient } from './visibility.ts';

const TOTP_PERIOD_SECONDS = 30;
const TOTP_DIGITS = 6;
const RECOVERY_CODES = 10;
/** Letters and digits that cannot be mistaken for each other when read from paper. */
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
/** Tries per address (codes, recovery codes and passkeys together) within the window, across processes. */
const ATTEMPTS = { max: 10, windowSeconds: 15 * 60 };

type FactorRow = typeof portalFactors.$inferSelect;

export interface SecondFactorOptions {
  db: Database;
  vault: KeyVault;
  directory: TenantDirectory;
  /** The portal's public URL: its host is the passkeys' relying party, its origin the only one accepted. */
  publicUrl: string;
}

const binding = (address: string) => `second-factor:${address}`;

/**
 * A failed attempt is answered as a problem only after its transaction committed, so the audit entry
 * that records the failure is kept (a problem thrown inside would roll it back).
 */
async function settled(work: Promise<SecondFactorResult | PortalProblemError>): Promise<SecondFactorResult> {
  const outcome = await work;
  if ('verified' in outcome) return outcome;
  throw outcome;
}

function totpFor(secret: OTPAuth.Secret, issuer: string, address: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({ issuer, label: address, algorithm: 'SHA1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS, secret });
}

function newRecoveryCode(): string {
  let code = '';
  for (let i = 0; i < 10; i += 1) code += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)];
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

/** How a recovery code is compared: lower case, without the dash and spaces people add when typing it. */
const normalisedRecoveryCode = (code: string) => code.toLowerCase().replace(/[\s-]/g, '');

export class SecondFactors {
  private readonly rpId: string;
  private readonly origin: string;

  constructor(private readonly options: SecondFactorOptions) {
    const url = new URL(options.publicUrl);
    this.rpId = url.hostname;
    this.origin = url.origin;
  }

  /** Whether a new session for this address must prove a second factor before it reads anything. */
  async requiredForNewSession(q: Queryable, input: { tenantId: string; address: string; always: boolean }): Promise<boolean> {
    if (input.always) return true;
    const [factor] = await q
      .select({ id: portalFactors.id })
      .from(portalFactors)
      .where(and(eq(portalFactors.tenantId, input.tenantId), eq(portalFactors.address, input.address), isNotNull(portalFactors.confirmedAt)))
      .limit(1);
    if (factor) return true;
    const [asked] = await q
      .select({ id: portalMessages.id })
      .from(portalMessages)
      .where(and(eq(portalMessages.tenantId, input.tenantId), readableByRecipient(input.address), eq(portalMessages.requireSecondFactor, true)))
      .limit(1);
    return asked !== undefined;
  }

  async status(session: PortalSessionInfo): Promise<SecondFactorStatus> {
    const { factors, recoveryCodesLeft } = await withTenants(this.options.db, session.tenantId, async (tx) => ({
      factors: await this.confirmedFactors(tx, session),
      recoveryCodesLeft: await this.recoveryCodesLeft(tx, session),
    }));
    return {
      required: session.factorRequired,
      verified: session.factorVerified,
      canEnrol: factors.length === 0 || session.factorVerified,
      totp: factors.some((f) => f.kind === 'totp'),
      passkeys: factors.filter((f) => f.kind === 'passkey').length,
      recoveryCodesLeft,
    };
  }

  // --- Authenticator app -------------------------------------------------------------------------

  /** A new secret for an authenticator app, kept unconfirmed until a code from it is typed (confirmTotp). */
  async startTotp(session: PortalSessionInfo): Promise<TotpEnrolment> {
    const issuer = this.issuer(session.tenantId);
    const secret = new OTPAuth.Secret({ size: 20 });
    const id = randomUUID();
    await withTenants(this.options.db, session.tenantId, async (tx) => {
      await this.checkMayEnrol(tx, session);
      // One unconfirmed secret per address: starting again replaces the one not typed in.
      await tx
        .delete(portalFactors)
        .where(and(eq(portalFactors.tenantId, session.tenantId), eq(portalFactors.address, session.address), eq(portalFactors.kind, 'totp'), isNull(portalFactors.confirmedAt)));
      const sealed = await this.options.vault.seal(session.tenantId, id, Buffer.from(secret.bytes), tx, binding(session.address));
      await tx.insert(portalFactors).values({
        id,
        tenantId: session.tenantId,
        address: session.address,
        kind: 'totp',
        label: 'Authenticator app',
        sealedSecret: sealed.content,
        wrappedDataKey: sealed.wrappedDataKey,
      });
    });
    const uri = totpFor(secret, issuer, session.address).toString();
    const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return { secret: secret.base32, uri, qrSvg };
  }

  /** The first code from the app the recipient just set up: confirms it, and proves the factor for this session. */
  async confirmTotp(session: PortalSessionInfo, code: string, clientIp: string): Promise<SecondFactorResult> {
    await this.countAttempt(session);
    return settled(withTenants(this.options.db, session.tenantId, async (tx) => {
      await this.checkMayEnrol(tx, session);
      const [pending] = await tx
        .select()
        .from(portalFactors)
        .where(and(eq(portalFactors.tenantId, session.tenantId), eq(portalFactors.address, session.address), eq(portalFactors.kind, 'totp'), isNull(portalFactors.confirmedAt)));
      if (!pending) throw problems.invalid('Start setting up the authenticator app first.');
      const step = await this.matchingStep(tx, pending, code);
      if (step === undefined) {
        await this.audit(tx, session, 'second_factor_failed', clientIp, { method: 'totp', during: 'enrolment' });
        return problems.secondFactorInvalid();
      }
      // An app set up again replaces the one before it.
      await tx
        .delete(portalFactors)
        .where(and(eq(portalFactors.tenantId, session.tenantId), eq(portalFactors.address, session.address), eq(portalFactors.kind, 'totp'), isNotNull(portalFactors.confirmedAt)));
      await tx.update(portalFactors).set({ confirmedAt: sql`now()`, lastUsedAt: sql`now()`, lastStep: step }).where(eq(portalFactors.id, pending.id));
      return this.enrolled(tx, session, 'totp', clientIp);
    }));
  }

  async verifyTotp(session: PortalSessionInfo, code: string, clientIp: string): Promise<SecondFactorResult> {
    await this.countAttempt(session);
    return settled(withTenants(this.options.db, session.tenantId, async (tx) => {
      const [factor] = (await this.confirmedFactors(tx, session)).filter((f) => f.kind === 'totp');
      if (!factor) throw problems.invalid('No authenticator app is set up for this address.');
      const step = await this.matchingStep(tx, factor, code);
      if (step === undefined) {
        await this.audit(tx, session, 'second_factor_failed', clientIp, { method: 'totp' });
        return problems.secondFactorInvalid();
      }
      await tx.update(portalFactors).set({ lastStep: step, lastUsedAt: sql`now()` }).where(eq(portalFactors.id, factor.id));
      return this.verified(tx, session, 'totp', clientIp);
    }));
  }

  /**
   * The time step the code belongs to (the current one or its neighbours, for clocks a little off), or
   * undefined. A step at or before the last one accepted is refused, so a code seen once works once.
   */
  private async matchingStep(q: Queryable, factor: FactorRow, code: string): Promise<number | undefined> {
    const digits = code.replace(/\s/g, '');
    if (!/^\d{6}$/.test(digits)) return undefined;
    const secretBytes = await this.options.vault.open(factor.tenantId, factor.id, { content: factor.sealedSecret!, wrappedDataKey: factor.wrappedDataKey! }, q, binding(factor.address));
    const totp = totpFor(new OTPAuth.Secret({ buffer: new Uint8Array(secretBytes).buffer }), '', factor.address);
    const now = Date.now();
    const delta = totp.validate({ token: digits, timestamp: now, window: 1 });
    if (delta === null) return undefined;
    const step = Math.floor(now / 1000 / TOTP_PERIOD_SECONDS) + delta;
    if (factor.lastStep !== null && step <= factor.lastStep) return undefined;
    return step;
  }

  // --- Passkeys ----------------------------------------------------------------------------------

  async passkeyRegistrationOptions(session: PortalSessionInfo): Promise<PublicKeyCredentialCreationOptionsJSON> {
    return withTenants(this.options.db, session.tenantId, async (tx) => {
      await this.checkMayEnrol(tx, session);
      const existing = (await this.confirmedFactors(tx, session)).filter((f) => f.kind === 'passkey');
      const options = await generateRegistrationOptions({
        rpName: this.issuer(session.tenantId),
        rpID: this.rpId,
        userName: session.address,
        userDisplayName: session.address,
        attestationType: 'none',
        excludeCredentials: existing.map((f) => ({ id: f.credentialId!, transports: (f.transports ?? undefined) as AuthenticatorTransportFuture[] | undefined })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
        // ES256 and RS256: what passkeys and security keys offer.
        supportedAlgorithmIDs: [-7, -257],
      });
      await setFactorChallenge(tx, session, options.challenge);
      return options;
    });
  }

  async registerPasskey(session: PortalSessionInfo, response: RegistrationResponseJSON, clientIp: string): Promise<SecondFactorResult> {
    await this.countAttempt(session);
    const expectedChallenge = await takeFactorChallenge(this.options.db, session);
    if (!expectedChallenge) throw problems.invalid('Ask for a new passkey challenge first.');
    let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verification = await verifyRegistrationResponse({ response, expectedChallenge, expectedOrigin: this.origin, expectedRPID: this.rpId, requireUserVerification: false });
    } catch (error) {
      throw problems.secondFactorInvalid(`The passkey could not be set up: ${(error as Error).message}`);
    }
    if (!verification.verified || !verification.registrationInfo) throw problems.secondFactorInvalid('The passkey could not be set up.');
    const { credential } = verification.registrationInfo;
    return withTenants(this.options.db, session.tenantId, async (tx) => {
      await this.checkMayEnrol(tx, session);
      const [taken] = await tx
        .select({ id: portalFactors.id })
        .from(portalFactors)
        .where(and(eq(portalFactors.tenantId, session.tenantId), eq(portalFactors.credentialId, credential.id)));
      if (taken) throw problems.invalid('This passkey is set up already.');
      await tx.insert(portalFactors).values({
        id: randomUUID(),
        tenantId: session.tenantId,
        address: session.address,
        kind: 'passkey',
        label: 'Passkey',
        credentialId: credential.id,
        publicKey: Buffer.from(credential.publicKey),
        signCount: credential.counter,
        transports: credential.transports ?? null,
        confirmedAt: sql`now()`,
        lastUsedAt: sql`now()`,
      });
      return this.enrolled(tx, session, 'passkey', clientIp);
    });
  }

  async passkeyAuthenticationOptions(session: PortalSessionInfo): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return withTenants(this.options.db, session.tenantId, async (tx) => {
      const passkeys = (await this.confirmedFactors(tx, session)).filter((f) => f.kind === 'passkey');
      if (passkeys.length === 0) throw problems.invalid('No passkey is set up for this address.');
      const options = await generateAuthenticationOptions({
        rpID: this.rpId,
        allowCredentials: passkeys.map((f) => ({ id: f.credentialId!, transports: (f.transports ?? undefined) as AuthenticatorTransportFuture[] | undefined })),
        userVerification: 'preferred',
      });
      await setFactorChallenge(tx, session, options.challenge);
      return options;
    });
  }

  async authenticatePasskey(session: PortalSessionInfo, response: AuthenticationResponseJSON, clientIp: string): Promise<SecondFactorResult> {
    await this.countAttempt(session);
    const expectedChallenge = await takeFactorChallenge(this.options.db, session);
    if (!expectedChallenge) throw problems.invalid('Ask for a new passkey challenge first.');
    return settled(withTenants(this.options.db, session.tenantId, async (tx) => {
      const factor = (await this.confirmedFactors(tx, session)).find((f) => f.kind === 'passkey' && f.credentialId === response.id);
      if (!factor) {
        await this.audit(tx, session, 'second_factor_failed', clientIp, { method: 'passkey', reason: 'unknown passkey' });
        return problems.secondFactorInvalid('This passkey is not set up for this address.');
      }
      let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
      try {
        verification = await verifyAuthenticationResponse({
          response,
          expectedChallenge,
          expectedOrigin: this.origin,
          expectedRPID: this.rpId,
          requireUserVerification: false,
          credential: {
            id: factor.credentialId!,
            publicKey: new Uint8Array(factor.publicKey!),
            counter: factor.signCount,
            transports: (factor.transports ?? undefined) as AuthenticatorTransportFuture[] | undefined,
          },
        });
      } catch (error) {
        await this.audit(tx, session, 'second_factor_failed', clientIp, { method: 'passkey', reason: (error as Error).message.slice(0, 200) });
        return problems.secondFactorInvalid('The passkey did not confirm it is you.');
      }
      if (!verification.verified) {
        await this.audit(tx, session, 'second_factor_failed', clientIp, { method: 'passkey', reason: 'not verified' });
        return problems.secondFactorInvalid('The passkey did not confirm it is you.');
      }
      await tx
        .update(portalFactors)
        .set({ signCount: verification.authenticationInfo.newCounter, lastUsedAt: sql`now()` })
        .where(eq(portalFactors.id, factor.id));
      return this.verified(tx, session, 'passkey', clientIp);
    }));
  }

  // --- Recovery codes and reset ------------------------------------------------------------------

  /** A recovery code proves the factor once; the recipient may then set up a new app or passkey. */
  async useRecoveryCode(session: PortalSessionInfo, code: string, clientIp: string): Promise<SecondFactorResult> {
    await this.countAttempt(session);
    return settled(withTenants(this.options.db, session.tenantId, async (tx) => {
      const hash = await this.options.vault.fingerprint(session.tenantId, Buffer.from(`recovery:${session.address}:${normalisedRecoveryCode(code)}`), tx);
      const [used] = await tx
        .update(portalRecoveryCodes)
        .set({ usedAt: sql`now()` })
        .where(
          and(
            eq(portalRecoveryCodes.tenantId, session.tenantId),
            eq(portalRecoveryCodes.address, session.address),
            eq(portalRecoveryCodes.codeHash, hash),
            isNull(portalRecoveryCodes.usedAt),
          ),
        )
        .returning({ id: portalRecoveryCodes.id });
      if (!used) {
        await this.audit(tx, session, 'second_factor_failed', clientIp, { method: 'recovery-code' });
        return problems.secondFactorInvalid('That recovery code is not valid or was used already.');
      }
      await this.audit(tx, session, 'recovery_code_used', clientIp, { left: await this.recoveryCodesLeft(tx, session) });
      return this.verified(tx, session, 'recovery-code', clientIp);
    }));
  }

  /** Ten fresh recovery codes for a session that proved its factor; the old ones stop working. */
  async newRecoveryCodes(session: PortalSessionInfo, clientIp: string): Promise<string[]> {
    if (!session.factorVerified) throw problems.secondFactorRequired();
    return withTenants(this.options.db, session.tenantId, async (tx) => {
      const codes = await this.replaceRecoveryCodes(tx, session);
      await this.audit(tx, session, 'second_factor_enrolled', clientIp, { method: 'recovery-codes' });
      return codes;
    });
  }

  /** Removes every factor and recovery code of an address (an owner or operator, for a recipient who lost them). */
  async reset(tenantId: string, address: string, by: { actor: string; clientIp: string }): Promise<number> {
    const normalised = address.trim().toLowerCase();
    return withTenants(this.options.db, tenantId, async (tx) => {
      const removed = await tx
        .delete(portalFactors)
        .where(and(eq(portalFactors.tenantId, tenantId), eq(portalFactors.address, normalised)))
        .returning({ id: portalFactors.id });
      await tx.delete(portalRecoveryCodes).where(and(eq(portalRecoveryCodes.tenantId, tenantId), eq(portalRecoveryCodes.address, normalised)));
      await appendAudit(tx, this.options.vault.auditKeys, {
        tenantId,
        action: 'second_factor_reset',
        actorAddress: by.actor,
        clientIp: by.clientIp,
        details: { address: normalised, factors: removed.length },
      });
      return removed.length;
    });
  }

  // --- Shared ------------------------------------------------------------------------------------

  private issuer(tenantId: string): string {
    return this.options.directory.tenantById(tenantId)?.name || 'Sealpost';
  }

  private confirmedFactors(q: Queryable, session: PortalSessionInfo): Promise<FactorRow[]> {
    return q
      .select()
      .from(portalFactors)
      .where(and(eq(portalFactors.tenantId, session.tenantId), eq(portalFactors.address, session.address), isNotNull(portalFactors.confirmedAt)));
  }

  private async recoveryCodesLeft(q: Queryable, session: PortalSessionInfo): Promise<number> {
    const [row] = await q
      .select({ count: sql<number>`count(*)::int` })
      .from(portalRecoveryCodes)
      .where(and(eq(portalRecoveryCodes.tenantId, session.tenantId), eq(portalRecoveryCodes.address, session.address), isNull(portalRecoveryCodes.usedAt)));
    return Number(row?.count ?? 0);
  }

  /** Setting up a factor: only while the address has none, or after this session proved one. */
  private async checkMayEnrol(q: Queryable, session: PortalSessionInfo): Promise<void> {
    if (session.factorVerified) return;
    if ((await this.confirmedFactors(q, session)).length > 0) throw problems.secondFactorRequired();
  }

  private async countAttempt(session: PortalSessionInfo): Promise<void> {
    const wait = await takeRateToken(this.options.db, `second-factor:${session.tenantId}:${session.address}`, ATTEMPTS.max, ATTEMPTS.windowSeconds);
    if (wait) throw problems.rateLimited(wait);
  }

  private async replaceRecoveryCodes(q: Queryable, session: PortalSessionInfo): Promise<string[]> {
    await q.delete(portalRecoveryCodes).where(and(eq(portalRecoveryCodes.tenantId, session.tenantId), eq(portalRecoveryCodes.address, session.address)));
    const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
    const rows = [];
    for (const code of codes) {
      rows.push({
        tenantId: session.tenantId,
        address: session.address,
        codeHash: await this.options.vault.fingerprint(session.tenantId, Buffer.from(`recovery:${session.address}:${normalisedRecoveryCode(code)}`), q),
      });
    }
    await q.insert(portalRecoveryCodes).values(rows);
    return codes;
  }

  /** A factor was set up: the session counts as verified; the first factor comes with recovery codes. */
  private async enrolled(q: Queryable, session: PortalSessionInfo, method: 'totp' | 'passkey', clientIp: string): Promise<SecondFactorResult> {
    const recoveryCodes = (await this.recoveryCodesLeft(q, session)) === 0 ? await this.replaceRecoveryCodes(q, session) : undefined;
    await this.audit(q, session, 'second_factor_enrolled', clientIp, { method });
    await markFactorVerified(q, session);
    return { verified: true, ...(recoveryCodes ? { recoveryCodes } : {}) };
  }

  private async verified(q: Queryable, session: PortalSessionInfo, method: string, clientIp: string): Promise<SecondFactorResult> {
    await this.audit(q, session, 'second_factor_verified', clientIp, { method });
    await markFactorVerified(q, session);
    return { verified: true };
  }

  private async audit(q: Queryable, session: PortalSessionInfo, action: AuditAction, clientIp: string, details: Record<string, unknown>): Promise<void> {
    await appendAudit(q, this.options.vault.auditKeys, {
      tenantId: session.tenantId,
      action,
      actorId: session.id,
      actorAddress: session.address,
      clientIp,
      details,
    });
  }
}
