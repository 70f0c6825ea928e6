/**
 * Certificates from the tenant's directories, for outbound S/MIME to a recipient the store has none for:
 * LDAP (ldapts; `userSMIMECertificate` and `userCertificate;binary` of the entry whose mail is the address),
 * asked in the order the tenant file lists them, each with a time limit. What a directory returns is used
 * for the message at hand only: held in memory, never stored or shown, and named in the trace by source
 * and fingerprint. A directory that does not answer in time is skipped, never waited on.
 */
import { createHash } from 'node:crypto';
import { Client, EqualityFilter } from 'ldapts';
import type { TenantInfo } from '../tenants/tenant-directory.ts';
import { readCertificates } from './certificate-store.ts';

/** A certificate a directory returned: its DER, fingerprint and validity, and where it came from. */
export interface DirectoryCertificate {
  der: Buffer;
  fingerprint: string;
  notAfter: Date;
  source: 'ldap';
  /** The directory, as the trace names it (its URL without credentials). */
  directory: string;
}

const DEFAULT_TIMEOUT_MS = 3000;
/** Entries and certificates one look-up reads at most: a directory that returns more is answering something else. */
const MAX_ENTRIES = 5;
const MAX_CERTIFICATE_BYTES = 64 * 1024;

export type DirectoryProblem = { directory: string; problem: string };

export class DirectoryLookup {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  /**
   * For each address, the valid certificates the tenant's directories hold that name it; addresses the
   * directories know nothing for are absent. Problems (a directory down, slow, refusing the bind) are
   * returned for the trace.
   */
  async certificatesFor(tenant: TenantInfo, addresses: readonly string[], at = new Date()): Promise<{ found: Map<string, DirectoryCertificate[]>; problems: DirectoryProblem[] }> {
    const found = new Map<string, DirectoryCertificate[]>();
    const problems: DirectoryProblem[] = [];
    let wanted = [...new Set(addresses.map((a) => a.trim().toLowerCase()))];
    for (const directory of tenant.smimeDirectories) {
      if (wanted.length === 0) break;
      const label = redactedUrl(directory.url);
      try {
        const results = await this.ldap(directory, wanted);
        for (const [address, ders] of results) {
          const usable = ders.flatMap((der) => usableCertificate(der, address, at, label));
          if (usable.length > 0) found.set(address, usable);
        }
      } catch (error) {
        problems.push({ directory: label, problem: String((error as Error)?.message ?? error).slice(0, 200) });
      }
      wanted = wanted.filter((a) => !found.has(a));
    }
    return { found, problems };
  }

  private async ldap(directory: TenantInfo['smimeDirectories'][number], addresses: string[]): Promise<Map<string, Buffer[]>> {
    const timeout = directory.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const client = new Client({ url: directory.url, timeout, connectTimeout: timeout });
    const deadline = AbortSignal.timeout(timeout * 2);
    const work = (async () => {
      if (directory.bindDn) {
        const password = directory.bindPasswordEnv ? this.env[directory.bindPasswordEnv] : undefined;
        if (directory.bindPasswordEnv && password === undefined) throw new Error(`${directory.bindPasswordEnv} is not set: the directory cannot be bound to`);
        await client.bind(directory.bindDn, password ?? '');
      }
      const results = new Map<string, Buffer[]>();
      for (const address of addresses) {
        const { searchEntries } = await client.search(directory.baseDn, {
          scope: 'sub',
          filter: new EqualityFilter({ attribute: 'mail', value: address }),
          attributes: ['userSMIMECertificate', 'userCertificate;binary', 'userCertificate'],
          explicitBufferAttributes: ['userSMIMECertificate', 'userCertificate;binary', 'userCertificate'],
          sizeLimit: MAX_ENTRIES,
          timeLimit: Math.ceil(timeout / 1000),
        });
        const ders = searchEntries.flatMap((entry) =>
          ['userSMIMECertificate', 'userCertificate;binary', 'userCertificate'].flatMap((name) => {
            const value = entry[name];
            return (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter((v): v is Buffer => Buffer.isBuffer(v) && v.length <= MAX_CERTIFICATE_BYTES);
          }),
        );
        if (ders.length > 0) results.set(address, ders);
      }
      return results;
    })();
    try {
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => deadline.addEventListener('abort', () => reject(new Error(`no answer within ${timeout * 2} ms`)), { once: true })),
      ]);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }
}

function usableCertificate(der: Buffer, address: string, at: Date, directory: string): DirectoryCertificate[] {
  try {
    // userSMIMECertificate may hold a PKCS#7 bundle; readCertificates reads both forms.
    return readCertificates(der)
      .filter((c) => c.addresses.includes(address) && c.notBefore <= at && at <= c.notAfter)
      .map((c) => ({ der: c.der, fingerprint: createHash('sha256').update(c.der).digest('hex'), notAfter: c.notAfter, source: 'ldap' as const, directory }));
  } catch {
    return [];
  }
}

function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'ldap directory';
  }
}
