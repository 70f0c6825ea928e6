/**
 * RFC 6238 one-time codes (HMAC-SHA1, 30 s, 6 digits) computed as an authenticator app does, written
 * here from the RFC so the tests check the portal's codes independently of the library it uses.
 */
import { createHmac } from 'node:crypto';

/** RFC 4648 base32, as authenticator apps read the key. */
function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of text.split('=')[0]!.replace(/\s/g, '').toUpperCase()) bits += alphabet.indexOf(char).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The code for the given 30-second time step. */
export function totpCode(secret: string, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

/** The current 30-second time step. */
export const currentStep = (): number => Math.floor(Date.now() / 30_000);
