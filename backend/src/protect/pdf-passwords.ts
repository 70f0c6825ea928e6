/**
 * Passwords of the password PDF, in one readable form (20 letters and digits in groups of five):
 * - derived per (message, recipient) with a key of the gateway's, for the passwords the gateway sends
 *   through the portal or by SMS;
 * - drawn at random for a password the sender tells the recipients (by phone, in person). The add-in asks
 *   the gateway for one and gets it back with a sealed ticket: the password, the tenant, the member and
 *   an expiry, encrypted and authenticated (JWE, direct AES-256-GCM) with a key only the gateway holds.
 *   The draft carries the ticket, never the password, because the draft's headers stay in the sender's
 *   Sent Items; the gateway opens the ticket when the message arrives.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { EncryptJWT, errors, jwtDecrypt } from 'jose';

/** Letters and digits that cannot be mistaken for each other when read aloud or typed from a screen. */
const PASSWORD_ALPHABET = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const PASSWORD_LENGTH = 20;
/** How long a sender-told password may be used for new messages after the add-in fetched it. */
export const PASSWORD_TICKET_DAYS = 30;
const TICKET_AUDIENCE = 'sealpost:pdf-password-ticket';

/** About 115 bits from a source of bytes, in groups of five for reading. */
function readablePassword(nextBytes: (round: number) => Buffer): string {
  let password = '';
  for (let round = 0; password.length < PASSWORD_LENGTH; round += 1) {
    // Bytes at or above the largest multiple of the alphabet's size are skipped, so every letter is equally likely.
    for (const byte of nextBytes(round)) {
      if (byte < 256 - (256 % PASSWORD_ALPHABET.length) && password.length < PASSWORD_LENGTH) password += PASSWORD_ALPHABET[byte % PASSWORD_ALPHABET.length];
    }
  }
  return password.match(/.{5}/g)!.join('-');
}

/**
 * The password of one (message, recipient). It is derived rather than drawn at random, so that protecting
 * the same recipient again (after a crash between storing the password in the portal and storing the PDF)
 * gives the same password the portal already holds.
 */
export function pdfPassword(key: Buffer, messageId: string, recipient: string): string {
  return readablePassword((round) => createHmac('sha256', key).update(`sealpost:pdf-password:${messageId}:${recipient.toLowerCase()}:${round}`).digest());
}

/** A password for the sender to tell the recipients. */
export function randomPdfPassword(): string {
  return readablePassword(() => randomBytes(32));
}

/** The key that seals password tickets, derived from the master key (apart from the password key). */
export function passwordTicketKey(masterKey: Buffer): Uint8Array {
  return new Uint8Array(createHmac('sha256', masterKey).update('sealpost:pdf-password-ticket-key').digest());
}

export interface PasswordTicketHolder {
  tenantId: string;
  /** The member who asked for the password, lower-case. */
  member: string;
}

export interface IssuedPasswordTicket {
  password: string;
  ticket: string;
  expiresAt: Date;
}

/** A new random password and its sealed ticket for a member. */
export async function issuePasswordTicket(key: Uint8Array, holder: PasswordTicketHolder, now = new Date(), days = PASSWORD_TICKET_DAYS): Promise<IssuedPasswordTicket> {
  const password = randomPdfPassword();
  const issuedAt = Math.floor(now.getTime() / 1000);
  const expiresAt = new Date((issuedAt + days * 86_400) * 1000);
  const ticket = await new EncryptJWT({ pwd: password, tid: holder.tenantId })
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
    .setSubject(holder.member.toLowerCase())
    .setAudience(TICKET_AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .encrypt(key);
  return { password, ticket, expiresAt };
}

export type OpenedPasswordTicket =
  | { valid: true; password: string; expiresAt: Date }
  /** Why the ticket cannot serve, in words for the trace (never the password). */
  | { valid: false; reason: string };

/**
 * The password in a ticket, when the ticket was sealed by this gateway, has not expired, and was made for
 * this tenant and for the member who sends the message (the envelope sender or the From address).
 */
export async function openPasswordTicket(key: Uint8Array, ticket: string, expected: { tenantId: string; senders: readonly string[] }, now = new Date()): Promise<OpenedPasswordTicket> {
  let payload;
  try {
    ({ payload } = await jwtDecrypt(ticket, key, {
      audience: TICKET_AUDIENCE,
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
      currentDate: now,
      requiredClaims: ['sub', 'exp', 'iat'],
    }));
  } catch (error) {
    if (error instanceof errors.JWTExpired) {
      const expired = typeof error.payload.exp === 'number' ? new Date(error.payload.exp * 1000).toISOString() : 'earlier';
      return { valid: false, reason: `the password ticket expired (${expired}); tickets serve ${PASSWORD_TICKET_DAYS} days` };
    }
    if (error instanceof errors.JOSEError) return { valid: false, reason: `the password ticket was not sealed by this gateway or was changed (${error.code})` };
    throw error;
  }
  const { pwd, tid, sub, exp } = payload as { pwd?: unknown; tid?: unknown; sub?: string; exp?: number };
  if (typeof pwd !== 'string' || !/^[A-Za-z0-9]{5}(?:-[A-Za-z0-9]{5}){3}$/.test(pwd) || typeof tid !== 'string') {
    return { valid: false, reason: 'the password ticket holds no password' };
  }
  if (tid !== expected.tenantId) return { valid: false, reason: 'the password ticket was made for another organisation' };
  const senders = expected.senders.map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (!sub || !senders.includes(sub)) {
    return { valid: false, reason: `the password ticket was made for ${sub ?? 'nobody'}, who is not the sender of this message (${senders.join(', ') || 'no sender'})` };
  }
  return { valid: true, password: pwd, expiresAt: new Date(Number(exp) * 1000) };
}
