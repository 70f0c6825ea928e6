/**
 * Link protection, first part: every link of the message (links.ts) is classified where it stands,
 * without asking the network: a script in place of an address, a host hidden behind user information
 * (https://bank.example@evil.example/), an IP address instead of a name, a URL shortener that hides the
 * destination, a domain that reads like the tenant's or a partner's, a host mixing scripts, link text
 * that shows another domain than the link goes to, and tracking parameters; and links printed as QR codes
 * in images (qr-codes.ts), which are judged like the others. Each kind is one symbol with the first example
 * and a count. Following redirects and rewriting links for click-time checks are later parts of this module.
 */
import { isIP } from 'node:net';
import { getDomain } from 'tldts';
import type { GuardCheck, GuardFinding } from '../contract.ts';
import { linksInHtml, linksInText, type FoundLink } from '../links.ts';
import { extractMessageText } from '../message-text.ts';
import { qrCodesInMessage } from '../qr-codes.ts';
import type { LinkFollower } from '../link-follower.ts';
import { editParts } from '../../mail/mime-edit.ts';
import { scanMimeStructure } from '../../mail/mime-structure.ts';
import { domainLookalike, mixedScriptDomain } from './header-protection.ts';

export const LINK_SCORES = {
  LINK_SCRIPT_SCHEME: 5,
  LINK_USERINFO: 4,
  LINK_IP_LITERAL: 3,
  LINK_SHORTENER: 2,
  LINK_LOOKALIKE: 6,
  LINK_MIXED_SCRIPT: 4,
  LINK_TEXT_MISMATCH: 5,
  LINK_TRACKING: 0,
  LINK_QR_CODE: 3,
  LINK_REDIRECTS: 1,
  LINK_LOGIN_FORM: 5,
  LINK_NOT_FOLLOWED: 0,
} as const;
/** Links followed a message at most, shorteners first. */
const MAX_FOLLOWED = 5;
type LinkSymbol = keyof typeof LINK_SCORES;

/** Public URL shorteners: a link through one hides where it leads until it is followed. */
const SHORTENERS = new Set([
  'bit.ly', 'bitly.com', 'tinyurl.com', 't.co', 'goo.gl', 'ow.ly', 'is.gd', 'v.gd', 'buff.ly', 'rebrand.ly', 'cutt.ly', 'shorturl.at',
  'rb.gy', 't.ly', 'tiny.cc', 'lnkd.in', 's.id', 'bl.ink', 'short.gy', 'qrco.de', 'tr.im', 'soo.gd', 'shorte.st', 'adf.ly', 'x.co',
  'u.to', 'clck.ru', 'gg.gg', 'urlz.fr', 'lc.cx', 'tiny.one', 'y2u.be', 'dub.sh', 'surl.li', 'shorturl.com',
]);
/** Parameters that identify the reader or the campaign to whoever sent the link; a trailing * is a prefix. */
const TRACKING = ['utm_*', 'fbclid', 'gclid', 'dclid', 'gbraid', 'wbraid', 'msclkid', 'yclid', 'mc_eid', 'mc_cid', '_hsenc', '_hsmi', 'mkt_tok', 'igshid', 'oly_enc_id', 'oly_anon_id', 'vero_id', 'rb_clickid', 's_cid', 'ttclid', 'twclid', 'li_fat_id'];
const SCRIPT_SCHEMES = new Set(['javascript:', 'vbscript:', 'data:']);
const MAX_SHOWN = 80;

function shown(text: string): string {
  const cut = text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
  return cut.replace(/\p{C}/gu, '?');
}

function trackingMatcher(extra: readonly string[]): (name: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of [...TRACKING, ...extra]) {
    if (entry.endsWith('*')) prefixes.push(entry.slice(0, -1));
    else exact.add(entry);
  }
  return (name) => {
    const lower = name.toLowerCase();
    return exact.has(lower) || prefixes.some((prefix) => lower.startsWith(prefix));
  };
}

/** The registrable domain a link text shows, when the text reads as an address (www.bank.example, https://…). */
function domainShownIn(text: string): string | undefined {
  const candidate = text.trim().split(/\s/)[0] ?? '';
  if (!candidate.includes('.') || candidate.length > 300) return undefined;
  let host: string;
  try {
    host = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(candidate) ? candidate : `http://${candidate}`).hostname;
  } catch {
    return undefined;
  }
  // A text such as "Invoice.pdf" or "Mr. Smith" is no address: the host must end in a known public suffix.
  return getDomain(host, { allowPrivateDomains: true }) ?? undefined;
}

/** The check; with a follower, policies that say `follow` have their links followed to where they lead. */
export function createLinkProtectionCheck(follower?: LinkFollower, followTimeoutMs = 3000): GuardCheck {
  return {
    name: 'link-protection',
    module: 'links',
    // Following asks the network: a replay reuses what was found when the message arrived.
    replayable: follower === undefined,
    phase: 'message',
    ...(follower ? { budget: { ms: followTimeoutMs + 1000 } } : {}),
    async run(context, signal) {
      const settings = context.policy.modules.links;
      const text = extractMessageText(context.header, {
        maxParts: context.policy.limits.maxParts,
        maxDepth: context.policy.limits.maxNestingDepth,
        keepHtml: true,
        skipHtmlText: true,
      });
      const links: FoundLink[] = [];
      linksInText(text.text, links);
      for (const html of text.htmlSource ?? []) linksInHtml(html, links);
      const codes = qrCodesInMessage(context.header, { maxParts: context.policy.limits.maxParts, maxDepth: context.policy.limits.maxNestingDepth });
      for (const code of codes) if (/^https?:\/\//i.test(code.text)) links.push({ url: code.text.slice(0, 2048), source: 'qr', text: code.image });
      if (links.length === 0) return [];

      const shorteners = new Set([...SHORTENERS, ...settings.shorteners]);
      const isTracking = trackingMatcher(settings.trackingParameters);
      const found = new Map<LinkSymbol, { first: string; count: number }>();
      const note = (symbol: LinkSymbol, reason: string) => {
        const entry = found.get(symbol);
        if (entry) entry.count += 1;
        else found.set(symbol, { first: reason, count: 1 });
      };
      const trackingNames = new Set<string>();
      const seen = new Set<string>();
      const judge = (link: FoundLink) => {
        const key = `${link.url}\n${link.text ?? ''}`;
        if (seen.has(key)) return;
        seen.add(key);
        if (link.source === 'qr') note('LINK_QR_CODE', `the image ${shown(link.text ?? '')} holds a QR code that leads to ${shown(link.url)}`);
        const lower = link.url.toLowerCase();
        const scheme = SCRIPT_SCHEMES.has(lower.slice(0, lower.indexOf(':') + 1)) ? lower.slice(0, lower.indexOf(':') + 1) : undefined;
        if (scheme && link.source !== 'css' && link.source !== 'srcset') {
          note('LINK_SCRIPT_SCHEME', `a link runs a ${scheme.slice(0, -1)} address instead of opening a page: ${shown(link.url)}`);
          return;
        }
        let url: URL;
        try {
          url = new URL(link.url);
        } catch {
          return;
        }
        if (url.protocol !== 'http:' && url.protocol !== 'https:') return;
        const host = url.hostname.replace(/^\[|\]$/g, '');
        for (const name of url.searchParams.keys()) {
          if (isTracking(name)) trackingNames.add(name.toLowerCase());
        }
        if ([...url.searchParams.keys()].some(isTracking)) note('LINK_TRACKING', '');

        if (url.username || url.password) {
          note('LINK_USERINFO', `${shown(link.url)} shows ${shown(decodeURIComponent(url.username))} before an @, but goes to ${host}`);
        }
        if (isIP(host)) {
          note('LINK_IP_LITERAL', `${shown(link.url)} goes to the address ${host}, not to a name`);
          return;
        }
        const registrable = getDomain(host, { allowPrivateDomains: true }) ?? host;
        if (shorteners.has(registrable) || shorteners.has(host)) note('LINK_SHORTENER', `${shown(link.url)} goes through the URL shortener ${registrable}, which hides where it leads`);
        const like = domainLookalike(host, context.tenant, context.policy.modules.headers);
        if (like) {
          note('LINK_LOOKALIKE', `${shown(link.url)} goes to ${host}, which looks like ${like.like}, ${like.whose === 'tenant' ? "one of the tenant's domains" : 'a partner domain'} (${like.how})`);
        }
        const mixed = mixedScriptDomain(host);
        if (mixed) note('LINK_MIXED_SCRIPT', `${shown(link.url)} goes to a host whose label "${shown(mixed.label)}" mixes ${mixed.scripts.join(' and ')} letters`);
        if (link.text && link.source !== 'qr') {
          const shownDomain = domainShownIn(link.text);
          if (shownDomain && shownDomain !== registrable) {
            note('LINK_TEXT_MISMATCH', `a link shows ${shown(link.text)} but goes to ${host}`);
          }
        }
      };
      for (const link of links) judge(link);

      if (settings.follow && follower) {
        const candidates = [...new Set(links.filter((l) => /^https?:\/\//i.test(l.url)).map((l) => l.url))]
          .filter((url) => !ownDomain(url, context.tenant?.domains ?? []))
          .sort((a, b) => Number(isShortened(b, shorteners)) - Number(isShortened(a, shorteners)))
          .slice(0, MAX_FOLLOWED);
        const followed = await Promise.all(candidates.map((url) => follower(url, signal)));
        for (const result of followed) {
          const start = result.hops[0]!;
          const last = result.hops[result.hops.length - 1]!;
          if (result.hops.length > 1) {
            note('LINK_REDIRECTS', `${shown(start)} leads through ${result.hops.length - 1} redirect${result.hops.length === 2 ? '' : 's'} to ${shown(last)}`);
            judge({ url: last, source: 'href' });
          }
          if (result.loginForm) note('LINK_LOGIN_FORM', `the page ${shown(start)} leads to asks for a password (${shown(last)})`);
          if (result.stopped) note('LINK_NOT_FOLLOWED', `${shown(last)} was not followed further: ${result.stopped}`);
        }
      }
      const findings: GuardFinding[] = [];
      for (const [symbol, { first, count }] of found) {
        const reason =
          symbol === 'LINK_TRACKING'
            ? `${count} link${count === 1 ? '' : 's'} carry tracking parameters (${[...trackingNames].slice(0, 5).join(', ')})`
            : `${first}${count > 1 ? ` (and ${count - 1} more such link${count === 2 ? '' : 's'})` : ''}`;
        findings.push({ symbol, score: LINK_SCORES[symbol], reason });
      }
      return findings;
    },
    /**
     * A message whose images hold QR codes gets a warning part first: where each code leads, written so it
     * cannot be clicked or scanned from the warning (hxxps://evil[.]example/…).
     */
    disarm(context) {
      if (!context.policy.modules.links.qrWarning || !context.findings.some((f) => f.symbol === 'LINK_QR_CODE')) return undefined;
      const codes = qrCodesInMessage(context.header, { maxParts: context.policy.limits.maxParts, maxDepth: context.policy.limits.maxNestingDepth });
      if (codes.length === 0) return undefined;
      const structure = scanMimeStructure(context.header, { maxParts: context.policy.limits.maxParts, maxDepth: context.policy.limits.maxNestingDepth, maxBodyBytes: context.header.body.length });
      const lines = codes.map((code) => `- ${code.image}: ${defanged(code.text)}`);
      const notice =
        `Caution: ${codes.length === 1 ? 'an image in this message holds a QR code' : `images in this message hold ${codes.length} QR codes`}. ` +
        'A QR code opens its link on your phone, outside your organisation\'s protection. Where it leads:\n' +
        `${lines.join('\n')}\n\nDo not scan it unless you expected it from this sender.\n`;
      return {
        raw: editParts(context.header, structure, {}, notice),
        changes: [{ symbol: 'LINK_QR_WARNING', reason: `a warning names where the QR code${codes.length === 1 ? ' leads' : 's lead'}: ${codes.map((c) => defanged(c.text)).join(', ')}` }],
      };
    },
  };
}

export const linkProtectionCheck = createLinkProtectionCheck();

function ownDomain(url: string, domains: readonly string[]): boolean {
  try {
    const host = new URL(url).hostname.toLowerCase();
    return domains.some((d) => host === d || host.endsWith(`.${d}`));
  } catch {
    return false;
  }
}

function isShortened(url: string, shorteners: ReadonlySet<string>): boolean {
  try {
    const host = new URL(url).hostname.toLowerCase();
    return shorteners.has(getDomain(host) ?? host) || shorteners.has(host);
  } catch {
    return false;
  }
}

/** A link as text nobody clicks by mistake: hxxp(s) and [.] in the host. */
export function defanged(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url.slice(0, 300));
  } catch {
    return shown(url.slice(0, 300)).replaceAll('.', '[.]');
  }
  const scheme = parsed.protocol.replace('http', 'hxxp');
  return shown(`${scheme}//${parsed.host.replaceAll('.', '[.]')}${parsed.pathname}${parsed.search}`);
}
