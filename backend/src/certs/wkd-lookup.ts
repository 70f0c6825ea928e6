/**
 * OpenPGP keys from the recipient domain's Web Key Directory (draft-koch-openpgp-webkey-service): the
 * advanced address (openpgpkey.<domain>) first, then the direct one, over HTTPS only, without redirects,
 * each with a time limit and a size limit; only keys with a user ID that names the address count. What
 * a directory returns is used for the message at hand only, never stored, and named in the trace.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:https';
import type { LookupFunction } from 'node:net';
import * as openpgp from 'openpgp';
import { encryptionProblem, readPgpKeys, type ParsedPgpKey } from './pgp-keys.ts';

const MAX_KEY_BYTES = 256 * 1024;
const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/**
 * z-base-32 (the WKD's encoding of the SHA-1 of the local part). Written here: no kept package offers it,
 * and it is a few lines over a 32-letter alphabet.
 */
export function zBase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ZBASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/** The two URLs of an address (advanced, direct). */
export function wkdUrls(address: string): string[] {
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1).toLowerCase();
  const hash = zBase32(createHash('sha1').update(local.toLowerCase()).digest());
  const l = encodeURIComponent(local);
  return [`https://openpgpkey.${domain}/.well-known/openpgpkey/${domain}/hu/${hash}?l=${l}`, `https://${domain}/.well-known/openpgpkey/hu/${hash}?l=${l}`];
}

export interface WkdOptions {
  /** For a test directory on this machine: the port to connect to, the CA it is signed by and a resolver. */
  port?: number;
  ca?: string | Buffer;
  lookup?: LookupFunction;
}

export interface WkdKey extends ParsedPgpKey {
  url: string;
}

export class WkdLookup {
  constructor(private readonly options: WkdOptions = {}) {}

  /** The first usable key the address's directory publishes for it, or the reason there is none. */
  async keyFor(address: string, timeoutMs: number): Promise<{ key?: WkdKey; problem?: string }> {
    const deadline = Date.now() + timeoutMs;
    let problem = 'no Web Key Directory answered';
    for (const url of wkdUrls(address)) {
      const left = deadline - Date.now();
      if (left <= 0) return { problem: `no answer within ${timeoutMs} ms` };
      let body: Buffer;
      try {
        body = await this.fetch(url, left);
      } catch (error) {
        problem = `${new URL(url).host}: ${String((error as Error).message ?? error).slice(0, 120)}`;
        continue;
      }
      let keys: ParsedPgpKey[];
      try {
        keys = await readPgpKeys(body);
      } catch {
        problem = `${new URL(url).host}: the answer is no OpenPGP key`;
        continue;
      }
      for (const key of keys.filter((k) => k.addresses.includes(address))) {
        const unusable = await encryptionProblem(key.key as openpgp.PublicKey);
        if (!unusable) return { key: { ...key, url } };
        problem = `${new URL(url).host}: the key ${key.fingerprint} cannot take encrypted mail (${unusable})`;
      }
      if (!keys.some((k) => k.addresses.includes(address))) problem = `${new URL(url).host}: no key names ${address}`;
    }
    return { problem };
  }

  private fetch(url: string, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const target = new URL(url);
      const req = request(
        {
          host: target.hostname,
          port: this.options.port ?? 443,
          path: `${target.pathname}${target.search}`,
          method: 'GET',
          servername: target.hostname,
          headers: { accept: 'application/octet-stream' },
          timeout: timeoutMs,
          ...(this.options.ca ? { ca: this.options.ca } : {}),
          ...(this.options.lookup ? { lookup: this.options.lookup } : {}),
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`HTTP ${res.statusCode}`));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_KEY_BYTES) {
              req.destroy(new Error(`the answer is larger than ${MAX_KEY_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        },
      );
      // A directory that accepts the connection and then says nothing is given up on at the deadline.
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.on('close', () => clearTimeout(timer));
      req.end();
    });
  }
}
