/**
 * DNS for sender authentication, in mailauth's resolver shape: (name, rrtype) → answers. It asks the
 * operator's DNS servers (host or host:port) through node's own resolver with a timeout and a retry.
 * "No such name" and "no such record" pass through as ENOTFOUND/ENODATA, which mailauth reads as "none";
 * a timeout, a refused connection or a server failure becomes ETIMEOUT, which mailauth reads as a
 * temporary error — so a DNS outage is never mistaken for a missing record or a pass.
 */
import { Resolver } from 'node:dns/promises';

export type DnsResolver = (name: string, rrtype: string) => Promise<unknown>;

const ABSENT = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME']);

export function createDnsResolver(options: { servers?: string[]; timeoutMs: number }): DnsResolver {
  const resolver = new Resolver({ timeout: Math.max(1, Math.round(options.timeoutMs)), tries: 2 });
  if (options.servers && options.servers.length > 0) resolver.setServers(options.servers);
  return async (name, rrtype) => {
    try {
      switch (rrtype.toUpperCase()) {
        case 'TXT':
          return await resolver.resolveTxt(name);
        case 'MX':
          return await resolver.resolveMx(name);
        case 'A':
          return await resolver.resolve4(name);
        case 'AAAA':
          return await resolver.resolve6(name);
        case 'PTR':
          return await resolver.resolvePtr(name);
        case 'CNAME':
          return await resolver.resolveCname(name);
        case 'NS':
          return await resolver.resolveNs(name);
        default:
          throw Object.assign(new Error(`DNS type ${rrtype} is not asked for sender authentication`), { code: 'ENOTIMP' });
      }
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code && ABSENT.has(code)) throw Object.assign(new Error(`${name} ${rrtype}: no answer`), { code: code === 'ENODATA' ? 'ENODATA' : 'ENOTFOUND' });
      if (code === 'ENOTIMP') throw error;
      throw Object.assign(new Error(`${name} ${rrtype}: DNS failed (${code ?? 'unknown'})`), { code: 'ETIMEOUT', cause: error });
    }
  };
}
