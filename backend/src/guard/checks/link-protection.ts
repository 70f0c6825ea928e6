/**
 * Link protection, first part: every link of the message (links.ts) is classified where it stands,
 * without asking the network: a script in place of an address, a host hidden behind user information
 * (https://bank.example@evil.example/), an IP address instead of a name, a URL shortener that hides the
 * destination, a domain that reads like the tenant's or a partner's, a host mixing scripts, link text
 * that shows another domain than the link goes to, and tracking parameters; and links printed as QR codes
 * in images (qr-codes.ts), which are judged like the others. Each kind is one symbol with the first example
 * and a count. For policies that say so, links are followed through their redirects (link-follower.ts),
 * and the links of delivered mail are rewritten to the click check (click-links.ts) and cleaned of
 * tracking parameters.
 */
import { isIP } from 'node:net';
import { getDomain } from 'tldts';
import libmime from 'libmime';
import type { ClickLinks } from '../click-links.ts';
import type { GuardChange, GuardCheck, GuardDisarmContext, GuardFinding, GuardTenant } from '../contract.ts';
import { linksInHtml, linksInText, rewriteHtmlLinks, rewriteTextLinks, type FoundLink, type LinkRewrite } from '../links.ts';
import { decodeTextPart, encodeTextPart, extractMessageText, isAttachment } from '../message-text.ts';
import type { GuardPolicy } from '../policy.ts';
import { qrCodesInMessage } from '../qr-codes.ts';
import type { LinkFollower } from '../link-follower.ts';
import { editParts, type PartReplacement } from '../../mail/mime-edit.ts';
import { scanMimeStructure, unfoldedValue, type MimePartSummary, type MimeStructure } from '../../mail/mime-structure.ts';
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

interface FoundSymbol {
  first: string;
  count: number;
  /** For LINK_LOOKALIKE: the domain the first such link imitates. */
  like?: string;
}

/**
 * Judges links one by one under a policy and collects what it found: the check runs it over every link of
 * a message, the click check over the one link that was clicked and where it leads.
 */
function linkJudge(tenant: GuardTenant | undefined, policy: GuardPolicy) {
  const settings = policy.modules.links;
  const shorteners = new Set([...SHORTENERS, ...settings.shorteners]);
  const isTracking = trackingMatcher(settings.trackingParameters);
  const found = new Map<LinkSymbol, FoundSymbol>();
  const note = (symbol: LinkSymbol, reason: string, like?: string) => {
    const entry = found.get(symbol);
    if (entry) entry.count += 1;
    else found.set(symbol, { first: reason, count: 1, ...(like ? { like } : {}) });
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
    const like = domainLookalike(host, tenant, policy.modules.headers);
    if (like) {
      note(
        'LINK_LOOKALIKE',
        `${shown(link.url)} goes to ${host}, which looks like ${like.like}, ${like.whose === 'tenant' ? "one of the tenant's domains" : 'a partner domain'} (${like.how})`,
        like.like,
      );
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
  /** Follows links to where they lead and judges the destinations; returns what each follow found. */
  const follow = async (urls: readonly string[], follower: LinkFollower, signal?: AbortSignal) => {
    const followed = await Promise.all(urls.map((url) => follower(url, signal)));
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
    return followed;
  };
  const findings = (): GuardFinding[] => {
    const list: GuardFinding[] = [];
    for (const [symbol, { first, count }] of found) {
      const reason =
        symbol === 'LINK_TRACKING'
          ? `${count} link${count === 1 ? '' : 's'} carry tracking parameters (${[...trackingNames].slice(0, 5).join(', ')})`
          : `${first}${count > 1 ? ` (and ${count - 1} more such link${count === 2 ? '' : 's'})` : ''}`;
      list.push({ symbol, score: LINK_SCORES[symbol], reason });
    }
    return list;
  };
  return { judge, follow, findings, found, shorteners, isTracking };
}

export interface LinkProtectionOptions {
  /** Follows links for policies that say `follow`, and for the click check. */
  follower?: LinkFollower;
  followTimeoutMs?: number;
  /** Signs click-checked links, for policies that say `rewrite`. */
  clickLinks?: ClickLinks;
}

/** The score from which a finding at click time warns the reader (a shortener's 2 does; a redirect's 1 does not). */
const CLICK_WARNING_SCORE = 2;
/** Different links rewritten a message at most; one signature each. */
const MAX_REWRITTEN = 2000;

/** The check; with a follower, policies that say `follow` have their links followed to where they lead. */
export function createLinkProtectionCheck(options: LinkProtectionOptions = {}): GuardCheck {
  const { follower, followTimeoutMs = 3000, clickLinks } = options;
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

      const judgement = linkJudge(context.tenant, context.policy);
      for (const link of links) judgement.judge(link);
      if (settings.follow && follower) {
        const candidates = [...new Set(links.filter((l) => /^https?:\/\//i.test(l.url)).map((l) => l.url))]
          .filter((url) => !ownDomain(url, context.tenant?.domains ?? []))
          .sort((a, b) => Number(isShortened(b, judgement.shorteners)) - Number(isShortened(a, judgement.shorteners)))
          .slice(0, MAX_FOLLOWED);
        await judgement.follow(candidates, follower, signal);
      }
      return judgement.findings();
    },
    /**
     * Rewrites the links of the delivered message to the click check and removes tracking parameters,
     * as the policy says; a message whose images hold QR codes gets a warning part first: where each code
     * leads, written so it cannot be clicked or scanned from the warning (hxxps://evil[.]example/…).
     */
    async disarm(context) {
      const settings = context.policy.modules.links;
      const signer = settings.rewrite ? clickLinks : undefined;
      const rewriting = signer !== undefined || settings.removeTracking;
      const warnQr = settings.qrWarning && context.findings.some((f) => f.symbol === 'LINK_QR_CODE');
      if (!rewriting && !warnQr) return undefined;
      const limits = { maxParts: context.policy.limits.maxParts, maxDepth: context.policy.limits.maxNestingDepth };
      const structure = scanMimeStructure(context.header, { ...limits, maxBodyBytes: context.header.body.length });
      const changes: GuardChange[] = [];
      const findings: GuardFinding[] = [];
      let replace: PartReplacement[] = [];
      if (rewriting && structure.limitReached) {
        findings.push({
          symbol: 'LINK_NOT_REWRITTEN',
          score: 5,
          reason: `the message's structure was not read to its end (${structure.limitReached} limit), so its links could not be rewritten`,
        });
      } else if (rewriting) {
        const rewritten = await rewriteLinksOfParts(context, structure, { signer, removeTracking: settings.removeTracking });
        replace = rewritten.replace;
        changes.push(...rewritten.changes);
        findings.push(...rewritten.findings);
      }
      const codes = warnQr ? qrCodesInMessage(context.header, limits) : [];
      let notice: string | undefined;
      if (codes.length > 0) {
        const lines = codes.map((code) => `- ${code.image}: ${defanged(code.text)}`);
        notice =
          `Caution: ${codes.length === 1 ? 'an image in this message holds a QR code' : `images in this message hold ${codes.length} QR codes`}. ` +
          "A QR code opens its link on your phone, outside your organisation's protection. Where it leads:\n" +
          `${lines.join('\n')}\n\nDo not scan it unless you expected it from this sender.\n`;
        changes.push({
          symbol: 'LINK_QR_WARNING',
          reason: `a warning names where the QR code${codes.length === 1 ? ' leads' : 's lead'}: ${codes.map((c) => defanged(c.text)).join(', ')}`,
        });
      }
      if (replace.length === 0 && notice === undefined) return findings.length > 0 ? { findings } : undefined;
      return { raw: editParts(context.header, structure, { replace }, notice), changes, ...(findings.length > 0 ? { findings } : {}) };
    },
  };
}

/**
 * The text parts of a message with their links rewritten: each different link is signed once for the
 * click check (or only cleaned of tracking parameters), then every place it stands is replaced.
 */
async function rewriteLinksOfParts(
  context: GuardDisarmContext,
  structure: MimeStructure,
  how: { signer?: ClickLinks; removeTracking: boolean },
): Promise<{ replace: PartReplacement[]; changes: GuardChange[]; findings: GuardFinding[] }> {
  const judgement = linkJudge(context.tenant, context.policy);
  const parts = structure.partList
    .map((part, index) => ({ part, index }))
    .filter(
      ({ part, index }) =>
        (part.contentType === 'text/plain' || part.contentType === 'text/html') &&
        part.bodyBytes !== undefined &&
        (index === 0 || part.delimiterOffset !== undefined) &&
        !isAttachment(part.fields),
    )
    .map((entry) => ({ ...entry, ...decodeTextPart(context.header, entry.part) }));
  const rewriteIn = (text: string, html: boolean, rewrite: LinkRewrite) => (html ? rewriteHtmlLinks(text, rewrite).html : rewriteTextLinks(text, rewrite).text);

  const wanted = new Set<string>();
  for (const { part, text } of parts) {
    rewriteIn(text, part.contentType === 'text/html', (url) => {
      wanted.add(url);
      return undefined;
    });
  }
  const removedNames = new Set<string>();
  let cleaned = 0;
  let skipped = 0;
  const targets = new Map<string, Promise<string>>();
  for (const url of wanted) {
    if (!/^https?:\/\//i.test(url) || how.signer?.isClickLink(url)) continue;
    const clean = how.removeTracking ? withoutTracking(url, judgement.isTracking) : { url, removed: [] };
    if (clean.removed.length > 0) {
      cleaned += 1;
      for (const name of clean.removed) removedNames.add(name);
    }
    if (how.signer && !ownDomain(url, context.tenant?.domains ?? [])) {
      if (targets.size >= MAX_REWRITTEN) {
        skipped += 1;
        continue;
      }
      targets.set(url, how.signer.link({ url: clean.url, tenantId: context.tenantId, messageId: context.messageId, ...(context.policy.name ? { policy: context.policy.name } : {}) }));
    } else if (clean.removed.length > 0) targets.set(url, Promise.resolve(clean.url));
  }
  const resolved = new Map<string, string>();
  await Promise.all([...targets].map(async ([url, target]) => resolved.set(url, await target)));

  const replace: PartReplacement[] = [];
  for (const { part, index, text, charset } of parts) {
    const html = part.contentType === 'text/html';
    let changed = 0;
    const next = rewriteIn(text, html, (url) => {
      const target = resolved.get(url);
      if (target !== undefined) changed += 1;
      return target;
    });
    if (changed === 0) continue;
    const encoded = encodeTextPart(next, charset);
    replace.push({ part: index, inPlace: true, contentType: contentTypeWithCharset(part, encoded.charset), content: encoded.bytes });
  }
  const changes: GuardChange[] = [];
  const signed = how.signer ? [...resolved.keys()].filter((url) => resolved.get(url)!.startsWith(how.signer!.prefix)).length : 0;
  if (replace.length > 0 && signed > 0) {
    changes.push({ symbol: 'LINK_REWRITTEN', reason: `${signed} link${signed === 1 ? '' : 's'} now go${signed === 1 ? 'es' : ''} through the click check, which checks ${signed === 1 ? 'it' : 'them'} again when clicked` });
  }
  if (replace.length > 0 && cleaned > 0) {
    changes.push({ symbol: 'LINK_TRACKING_REMOVED', reason: `tracking parameters (${[...removedNames].slice(0, 5).join(', ')}) were removed from ${cleaned} link${cleaned === 1 ? '' : 's'}` });
  }
  const findings: GuardFinding[] =
    skipped > 0 ? [{ symbol: 'LINK_NOT_REWRITTEN', score: 5, reason: `${skipped} links past the first ${MAX_REWRITTEN} different ones were not rewritten for the click check` }] : [];
  return { replace, changes, findings };
}

/** The part's Content-Type with the charset its new content is written in. */
function contentTypeWithCharset(part: MimePartSummary, charset: string): string {
  const field = part.fields.find((f) => f.name.toLowerCase() === 'content-type');
  let params: Record<string, string> = {};
  if (field) {
    try {
      params = libmime.parseHeaderValue(unfoldedValue(field).slice(0, 2000)).params;
    } catch {
      params = {};
    }
  }
  return libmime.buildHeaderValue({ value: part.contentType, params: { ...params, charset } });
}

/**
 * The link without its tracking parameters, the rest of its query byte for byte (a URL serialiser would
 * re-encode every other parameter), and the names removed.
 */
export function withoutTracking(url: string, isTracking: (name: string) => boolean): { url: string; removed: string[] } {
  const query = url.indexOf('?');
  if (query < 0) return { url, removed: [] };
  const hash = url.indexOf('#', query);
  const search = url.slice(query + 1, hash < 0 ? url.length : hash);
  const removed: string[] = [];
  const kept = search.split('&').filter((pair) => {
    const rawName = pair.split('=')[0] ?? '';
    let name: string;
    try {
      name = decodeURIComponent(rawName.replaceAll('+', ' '));
    } catch {
      name = rawName;
    }
    if (!isTracking(name)) return true;
    removed.push(name.toLowerCase());
    return false;
  });
  if (removed.length === 0) return { url, removed };
  const rest = kept.join('&');
  return { url: `${url.slice(0, query)}${rest ? `?${rest}` : ''}${hash < 0 ? '' : url.slice(hash)}`, removed };
}

/** What the click check found about one link: where it really goes, and each finding in words. */
export interface ClickedLinkCheck {
  /** The link as clicked, and every address it redirects through; the last is where it really goes. */
  hops: string[];
  findings: Array<{ symbol: string; score: number; reason: string; like?: string }>;
  /** A finding that warns the reader before going on; a redirect alone (http to https, a mailing service's counter) does not. */
  suspicious: boolean;
}

/**
 * The check of a link at the time it is clicked: judged as when the message arrived, under the tenant's
 * policy as it is now, and followed through its redirects to where it really leads.
 */
export async function checkClickedLink(
  url: string,
  options: { tenant?: GuardTenant; policy: GuardPolicy; follower?: LinkFollower; signal?: AbortSignal },
): Promise<ClickedLinkCheck> {
  const judgement = linkJudge(options.tenant, options.policy);
  judgement.judge({ url, source: 'href' });
  let hops = [url];
  if (options.follower) {
    const [result] = await judgement.follow([url], options.follower, options.signal);
    if (result) hops = result.hops;
  }
  const findings = judgement.findings().map((finding) => {
    const like = judgement.found.get(finding.symbol as LinkSymbol)?.like;
    return { ...finding, ...(like ? { like } : {}) };
  });
  return { hops, findings, suspicious: findings.some((f) => f.score >= CLICK_WARNING_SCORE) };
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
