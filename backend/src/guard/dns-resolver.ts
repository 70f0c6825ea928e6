/**
 * DNS for sender authentication, in mailauth's resolver shape: (name, rrtype) → answers. It asks the
 * operator's DNS servers (host or host:port) through node's own resolver with a timeout and a retry.
 * "No such name" and "no such record" pass through as ENOTFOUND/ENODATA, which mailauth reads as "none";
 * a timeout, a refused connection or a server failure becomes ETIMEOUT, which mailauth reads as a
 * temporary error — so a DNS outage is never mistaken for a missing record or a pass.
 */
import { Resolver } from 'node:dns/promises';
import { LRUCache } from 'lru-cache';

export type DnsResolver = (name: string, rrtype: string) => Promise<unknown>;

const ABSENT = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME']);

/**
 * How long answers are kept. Node's resolver does not give the TTL of TXT records, so a short fixed time
 * stands in for it: a changed SPF or DMARC record takes effect within minutes, and the busy senders of a
 * mail stream (the same few thousand domains) cost one question per period instead of four per message.
 * "No such name" is kept shorter; failures are never kept.
 */
export const DNS_ANSWER_TTL_MS = 5 * 60_000;
export const DNS_ABSENT_TTL_MS = 60_000;
const MAX_CACHED_ANSWERS = 20_000;

type Cached = { answer: unknown } | { absent: { message: string; code: string } };

export function createDnsResolver(options: { servers?: string[]; timeoutMs: number; cache?: boolean }): DnsResolver {
  const ask = uncachedResolver(options);
  if (options.cache === false) return ask;
  const cache = new LRUCache<string, Cached>({ max: MAX_CACHED_ANSWERS, ttl: DNS_ANSWER_TTL_MS });
  // Questions in flight are shared: a burst of mail from one domain asks once.
  const pending = new Map<string, Promise<unknown>>();
  return async (name, rrtype) => {
    const key = `${rrtype.toUpperCase()} ${name.toLowerCase()}`;
    const cached = cache.get(key);
    if (cached) {
      if ('answer' in cached) return cached.answer;
      throw Object.assign(new Error(cached.absent.message), { code: cached.absent.code });
    }
    let asking = pending.get(key);
    if (!asking) {
      asking = ask(name, rrtype).then(
        (answer) => {
          cache.set(key, { answer });
          return answer;
        },
        (error: unknown) => {
          const code = (error as { code?: string }).code;
          if (code === 'ENOTFOUND' || code === 'ENODATA') cache.set(key, { absent: { message: (error as Error).message, code } }, { ttl: DNS_ABSENT_TTL_MS });
          throw error;
        },
      );
      pending.set(key, asking);
      void asking.then(
        () => pending.delete(key),
        () => pending.delete(key),
      );
    }
    return asking;
  };
}

function uncachedResolver(options: { servers?: string[]; timeoutMs: number }): DnsResolver {
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

/**
 * The resolver as one message's checks see it: every question is answered by the deadline. A question
 * still open then, and every later one, fails as ETIMEOUT (a temporary error), so with dead DNS servers
 * the sender authentication ends within its budget with temporary-error results instead of being cut off
 * with no results at all. The question left open still finishes (and fills the cache) in the background.
 */
export function resolverWithDeadline(resolver: DnsResolver, deadline: number): DnsResolver {
  return (name, rrtype) => {
    const left = deadline - Date.now();
    const late = () => Object.assign(new Error(`${name} ${rrtype}: no answer within the time for this message`), { code: 'ETIMEOUT' });
    if (left <= 0) return Promise.reject(late());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(late()), left);
      resolver(name, rrtype).then(
        (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error as Error);
        },
      );
    });
  };
}
