/**
 * Following a link to where it really leads, for link protection: HTTP redirects (3xx Location) and HTML
 * meta refreshes, up to a number of hops and within a time budget, and whether the page it lands on asks
 * for a password (a login form: credential harvesting).
 *
 * It only ever connects to public addresses: every host is resolved first and every address checked
 * (loopback, private, link-local with the cloud metadata address, carrier-grade NAT, documentation,
 * multicast and reserved ranges, and their IPv4-mapped IPv6 forms are refused), after every DNS answer and
 * at every hop, and the connection goes to the address that was checked, so a second DNS answer cannot
 * send it elsewhere. Tests list their loopback servers in `allow` (SEALPOST_LINK_FOLLOW_ALLOW), which is
 * empty by default.
 */
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';
import { Parser } from 'htmlparser2';

export interface LinkFollowerOptions {
  /** The whole follow, all hops together. */
  timeoutMs: number;
  maxHops: number;
  /** Addresses or CIDR ranges that may be reached although they are not public (tests only). */
  allow?: readonly string[];
}

export interface FollowedLink {
  /** Every address the link passed through, the link itself first and the last one reached last. */
  hops: string[];
  /** The HTTP status of the last hop, when it answered. */
  status?: number;
  /** The last page has a password field. */
  loginForm: boolean;
  /** Why following stopped before a page was reached, in words. */
  stopped?: string;
}

export type LinkFollower = (url: string, signal?: AbortSignal) => Promise<FollowedLink>;

const NOT_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24],
  ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 127], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

/** Whether an address is one on the public Internet (an IPv4-mapped IPv6 address is judged as IPv4). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
    if (mapped) return isPublicAddress(mapped[1]!);
  }
  return !NOT_PUBLIC.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

const MAX_PAGE_BYTES = 256 * 1024;

export function createLinkFollower(options: LinkFollowerOptions): LinkFollower {
  const allowed = new BlockList();
  for (const entry of options.allow ?? []) {
    const [address, prefix] = entry.split('/');
    const family = isIP(address ?? '');
    if (family === 0) continue;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) allowed.addAddress(address!, type);
    else allowed.addSubnet(address!, Number(prefix), type);
  }
  const reachable = (address: string) => isPublicAddress(address) || allowed.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');

  return async (start, outer) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    const stop = () => controller.abort(outer?.reason);
    outer?.addEventListener('abort', stop, { once: true });
    const hops = [start];
    try {
      let current = start;
      for (let hop = 0; ; hop++) {
        let url: URL;
        try {
          url = new URL(current);
        } catch {
          return { hops, loginForm: false, stopped: 'the address cannot be read' };
        }
        if (url.protocol !== 'http:' && url.protocol !== 'https:') return { hops, loginForm: false, stopped: `it leads to a ${url.protocol} address` };
        const host = url.hostname.replace(/^\[|\]$/g, '');
        let address = host;
        if (!isIP(host)) {
          const answers = await lookup(host, { all: true, verbatim: true });
          const refused = answers.find((a) => !reachable(a.address));
          if (refused || answers.length === 0) return { hops, loginForm: false, stopped: `${host} resolves to ${refused?.address ?? 'nothing'}, which is not a public address` };
          address = answers[0]!.address;
        } else if (!reachable(host)) {
          return { hops, loginForm: false, stopped: `${host} is not a public address` };
        }
        const answer = await get(url, address, controller.signal);
        const next = answer.location ?? answer.refresh;
        if (next === undefined) return { hops, status: answer.status, loginForm: answer.loginForm };
        if (hop + 1 > options.maxHops) return { hops, status: answer.status, loginForm: false, stopped: `it redirects more than ${options.maxHops} times` };
        current = new URL(next, url).toString();
        hops.push(current);
      }
    } catch (error) {
      return { hops, loginForm: false, stopped: controller.signal.aborted ? `no answer within ${options.timeoutMs} ms` : `it could not be reached: ${(error as Error).message.slice(0, 100)}` };
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', stop);
    }
  };
}

/** One request to the checked address: the status, a redirect's target, and for HTML a meta refresh and a password field. */
function get(url: URL, address: string, signal: AbortSignal): Promise<{ status: number; location?: string; refresh?: string; loginForm: boolean }> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.get(
      url,
      {
        signal,
        headers: { 'user-agent': 'Sealpost link check', accept: 'text/html,*/*;q=0.1' },
        // The connection goes to the address that was checked, whatever DNS answers now.
        lookup: (_hostname, options, callback) => {
          const family = isIP(address);
          if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
          else callback(null, address, family);
        },
        // A phishing page's certificate is no reason not to look at it; nothing is sent but the request.
        rejectUnauthorized: false,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        const location = status >= 300 && status < 400 ? response.headers.location : undefined;
        const html = /text\/html|application\/xhtml/i.test(String(response.headers['content-type'] ?? ''));
        if (location !== undefined || !html) {
          response.resume();
          resolve({ status, ...(location !== undefined ? { location } : {}), loginForm: false });
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          if (size >= MAX_PAGE_BYTES) return;
          chunks.push(chunk);
          size += chunk.length;
          if (size >= MAX_PAGE_BYTES) response.destroy();
        });
        const finish = () => resolve({ status, ...readPage(Buffer.concat(chunks).subarray(0, MAX_PAGE_BYTES).toString('utf8')) });
        response.on('end', finish);
        response.on('close', finish);
        response.on('error', reject);
      },
    );
    request.on('error', reject);
  });
}

/** A page's meta refresh target and whether it has a password field. */
function readPage(html: string): { refresh?: string; loginForm: boolean } {
  let refresh: string | undefined;
  let loginForm = false;
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        if (name === 'input' && (attributes.type ?? '').toLowerCase() === 'password') loginForm = true;
        if (name === 'meta' && (attributes['http-equiv'] ?? '').toLowerCase() === 'refresh' && refresh === undefined) {
          const content = attributes.content ?? '';
          const at = content.toLowerCase().indexOf('url=');
          if (at >= 0) refresh = content.slice(at + 4).trim().replace(/^['"]|['"]$/g, '') || undefined;
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  return { ...(refresh ? { refresh } : {}), loginForm };
}
