/**
 * Where mail for a domain goes: its MX hosts by preference (RFC 5321 section 5.1), the domain itself when it
 * has no MX but an address (implicit MX), and nowhere for a null MX (RFC 7505).
 */
import { isIP } from 'node:net';
import { Resolver } from 'node:dns/promises';

export type ExchangerLookup =
  | { hosts: string[] }
  | { permanentError: string; enhancedCode: string }
  | { temporaryError: string };

type MxResolver = Pick<Resolver, 'resolveMx' | 'resolve4' | 'resolve6'>;

let defaultResolver: Resolver | undefined;

const PERMANENT_CODES = new Set(['ENOTFOUND', 'NXDOMAIN']);
const NO_DATA_CODES = new Set(['ENODATA', 'ENOTFOUND', 'NXDOMAIN']);

export async function resolveMailExchangers(domain: string, resolver?: MxResolver): Promise<ExchangerLookup> {
  const literal = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(domain);
  if (literal) {
    return isIP(literal[1]!) ? { hosts: [literal[1]!] } : { permanentError: `${domain} is not a valid address literal`, enhancedCode: '5.1.2' };
  }
  const dns = resolver ?? (defaultResolver ??= new Resolver({ timeout: 5000, tries: 2 }));
  let records: Array<{ exchange: string; priority: number }>;
  try {
    records = await dns.resolveMx(domain);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'ENOTFOUND' || code === 'NXDOMAIN') {
      return { permanentError: `the domain ${domain} does not exist`, enhancedCode: '5.1.2' };
    }
    if (code === 'ENODATA') return implicitExchanger(dns, domain);
    return { temporaryError: `looking up the mail servers of ${domain} failed (${code || (error as Error).message})` };
  }
  if (records.length === 0) return implicitExchanger(dns, domain);
  if (records.length === 1 && (records[0]!.exchange === '' || records[0]!.exchange === '.')) {
    return { permanentError: `the domain ${domain} does not accept mail (null MX)`, enhancedCode: '5.1.10' };
  }
  const byPreference = new Map<number, string[]>();
  for (const record of records) {
    if (!record.exchange || record.exchange === '.') continue;
    const list = byPreference.get(record.priority) ?? [];
    list.push(record.exchange.replace(/\.$/, ''));
    byPreference.set(record.priority, list);
  }
  const hosts = [...byPreference.entries()]
    .sort(([a], [b]) => a - b)
    .flatMap(([, list]) => shuffle(list));
  return { hosts };
}

async function implicitExchanger(dns: MxResolver, domain: string): Promise<ExchangerLookup> {
  const answers = await Promise.allSettled([dns.resolve4(domain), dns.resolve6(domain)]);
  if (answers.some((a) => a.status === 'fulfilled' && a.value.length > 0)) return { hosts: [domain] };
  const codes = answers.map((a) => (a.status === 'rejected' ? ((a.reason as NodeJS.ErrnoException).code ?? '') : 'ENODATA'));
  if (codes.every((c) => NO_DATA_CODES.has(c))) {
    return { permanentError: `the domain ${domain} has no mail server (no MX and no address)`, enhancedCode: codes.some((c) => PERMANENT_CODES.has(c)) ? '5.1.2' : '5.1.10' };
  }
  return { temporaryError: `looking up the address of ${domain} failed (${codes.join(', ')})` };
}

function shuffle<T>(list: T[]): T[] {
  const copy = [...list];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
