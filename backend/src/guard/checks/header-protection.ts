/**
 * Header protection (module `headers`): mail that pretends to come from someone the recipient trusts.
 *
 * - Display-name impersonation: the From display name names a member of the tenant ("Anna Schmidt",
 *   "Schmidt, Anna", "Dr. Anna Schmidt", "ceo@acme.test") while the address is outside the tenant's domains.
 *   A mail client shows the name, not the address, so this is the usual CEO-fraud disguise.
 * - Look-alike domains: the From, Reply-To or envelope sender domain is not the tenant's (or a partner's)
 *   but reads like one: the same confusable skeleton (UTS #39, from `unhomoglyph`) of the registrable
 *   domain after IDN→Unicode, or a typical phishing slip of one letter (see `oneSlipVariants`). A domain
 *   label mixing scripts (Latin with Cyrillic) is a finding of its own.
 *
 * Every piece of work is bounded: address fields are read to MAX_ADDRESS_FIELD_CHARS, at most
 * MAX_ADDRESSES addresses per field, domains of at most 253 characters with labels of at most 63; the
 * tenant's names and skeletons are computed once per tenant and policy and kept in a WeakMap.
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import libmime from 'libmime';
import addressparser from 'nodemailer/lib/addressparser';
import { parse as parseDomain } from 'tldts';
import unhomoglyph from 'unhomoglyph';
import { unfoldedValue } from '../../mail/mime-structure.ts';
import type { HeaderField } from '../../mail/header-block.ts';
import type { GuardCheck, GuardCheckContext, GuardFinding, GuardTenant } from '../contract.ts';
import type { GuardPolicy } from '../policy.ts';

export const HEADER_PROTECTION_SCORES = {
  FROM_NAME_IMPERSONATES_MEMBER: 6,
  FROM_NAME_HAS_ADDRESS: 2,
  FROM_DOMAIN_LOOKALIKE: 8,
  REPLYTO_DOMAIN_LOOKALIKE: 6,
  ENVFROM_DOMAIN_LOOKALIKE: 5,
  FROM_DOMAIN_MIXED_SCRIPT: 5,
  REPLYTO_DOMAIN_MIXED_SCRIPT: 4,
  ENVFROM_DOMAIN_MIXED_SCRIPT: 3,
} as const;

/** Address fields are short; the rest of a longer value is not addresses a person reads. */
const MAX_ADDRESS_FIELD_CHARS = 8 * 1024;
/** Addresses looked at per field (From, Reply-To): a real message names one or two. */
const MAX_ADDRESSES = 20;
/** A display name longer than this is cut before it is compared. */
const MAX_DISPLAY_NAME_CHARS = 256;
/** A display name with more words than this names no single person. */
const MAX_NAME_TOKENS = 8;
/** Words a display name may add to a member's name ("Anna Schmidt CEO", "Anna Schmidt via phone"). */
const MAX_EXTRA_NAME_TOKENS = 2;
/** Members and protected domains precomputed per tenant; a directory larger than this is cut. */
const MAX_MEMBERS = 50_000;
const MAX_PROTECTED_DOMAINS = 1_000;
/** One-letter slips are only looked for in names at least this long; shorter ones collide with real words. */
const MIN_SLIP_LABEL_LENGTH = 4;

/** Titles people put before a name; they say nothing about who it is. */
const HONORIFICS = new Set(['dr', 'prof', 'mr', 'mrs', 'ms', 'miss', 'mx', 'sir', 'herr', 'frau', 'ing', 'dipl', 'mag', 'med', 'phd']);

export const headerProtectionCheck: GuardCheck = {
  name: 'header-protection',
  module: 'headers',
  replayable: true,
  phase: 'message',
  run(context) {
    return headerProtectionFindings(context);
  },
};

type Source = 'FROM' | 'REPLYTO' | 'ENVFROM';
const SOURCE_LABEL: Record<Source, string> = { FROM: 'From', REPLYTO: 'Reply-To', ENVFROM: 'envelope sender' };

export function headerProtectionFindings(
  context: Pick<GuardCheckContext, 'header' | 'mailFrom' | 'tenant' | 'policy'>,
): GuardFinding[] {
  const settings = context.policy.modules.headers;
  const tenant = context.tenant;
  const findings: GuardFinding[] = [];
  const from = readAddresses(context.header.fields, 'from');
  const known = knownTo(tenant, settings);

  if (settings.displayNameSpoofing) findings.push(...displayNameFindings(from, known));
  if (settings.lookalikeDomains) {
    const replyTo = readAddresses(context.header.fields, 'reply-to');
    const envelope = domainOf(context.mailFrom ?? '');
    findings.push(...lookalikeFindings('FROM', from.map((a) => a.domain), known));
    findings.push(...lookalikeFindings('REPLYTO', replyTo.map((a) => a.domain), known));
    findings.push(...lookalikeFindings('ENVFROM', [envelope], known));
  }
  return findings;
}

// --- What the tenant is, computed once per tenant and policy -------------------------------------------

interface ProtectedDomain {
  /** As configured (ASCII, lower case). */
  domain: string;
  whose: 'tenant' | 'partner';
}

interface KnownSenders {
  tenantDomains: readonly string[];
  /** Sorted, folded name words joined by a space → the member's address. */
  memberByName: Map<string, string>;
  /** Member address, lower case → itself. */
  memberAddresses: Set<string>;
  protectedDomains: readonly ProtectedDomain[];
  /** Registrable domains (ASCII) of the protected ones: the same organisation, never a look-alike. */
  protectedRegistrable: Set<string>;
  /** `labelSkeleton|suffixSkeleton` → the protected domain it belongs to. */
  skeletons: Map<string, ProtectedDomain>;
  /** The same with one letter dropped from the label (for a look-alike that drops a letter). */
  droppedLetter: Map<string, ProtectedDomain>;
  /** Hosts of links already judged against these domains (domainLookalike), bounded. */
  judgedHosts: Map<string, ReturnType<typeof domainLookalike>>;
}

const EMPTY_TENANT: GuardTenant = { id: '', name: '', domains: [], members: [] };
type Settings = GuardPolicy['modules']['headers'];
/**
 * Keyed by the directory's member and domain lists rather than the tenant object: the guard stage hands
 * each message a fresh tenant object around the same lists, and a reloaded directory makes new lists.
 */
const knownCache = new WeakMap<GuardTenant['members'], WeakMap<GuardTenant['domains'], WeakMap<Settings, KnownSenders>>>();

function knownTo(tenant: GuardTenant | undefined, settings: Settings): KnownSenders {
  const { members, domains } = tenant ?? EMPTY_TENANT;
  let byDomains = knownCache.get(members);
  if (!byDomains) knownCache.set(members, (byDomains = new WeakMap()));
  let bySettings = byDomains.get(domains);
  if (!bySettings) byDomains.set(domains, (bySettings = new WeakMap()));
  let known = bySettings.get(settings);
  if (!known) bySettings.set(settings, (known = computeKnown(tenant ?? EMPTY_TENANT, settings)));
  return known;
}

function computeKnown(tenant: GuardTenant, settings: Settings): KnownSenders {
  const tenantDomains = tenant.domains.map((d) => asciiDomain(d)).filter((d): d is string => d !== undefined);
  const memberByName = new Map<string, string>();
  const memberAddresses = new Set<string>();
  for (const member of tenant.members.slice(0, MAX_MEMBERS)) {
    const email = member.email.toLowerCase();
    memberAddresses.add(email);
    const tokens = member.name ? nameTokens(member.name) : derivedNameTokens(email);
    if (tokens.length === 0 || tokens.length > MAX_NAME_TOKENS) continue;
    const key = nameKey(tokens);
    if (!memberByName.has(key)) memberByName.set(key, email);
  }

  const protectedDomains: ProtectedDomain[] = [];
  for (const domain of tenantDomains) protectedDomains.push({ domain, whose: 'tenant' });
  for (const partner of settings.partnerDomains) {
    const domain = asciiDomain(partner);
    if (domain && !protectedDomains.some((p) => p.domain === domain)) protectedDomains.push({ domain, whose: 'partner' });
  }
  protectedDomains.length = Math.min(protectedDomains.length, MAX_PROTECTED_DOMAINS);

  const protectedRegistrable = new Set<string>();
  const skeletons = new Map<string, ProtectedDomain>();
  const droppedLetter = new Map<string, ProtectedDomain>();
  for (const entry of protectedDomains) {
    const parts = registrableParts(entry.domain);
    protectedRegistrable.add(parts.registrable);
    const key = `${parts.labelSkeleton}|${parts.suffixSkeleton}`;
    if (!skeletons.has(key)) skeletons.set(key, entry);
    // The dropped-letter form must itself be MIN_SLIP_LABEL_LENGTH long: acme minus a letter is ace, acm, ame, a real name each.
    if (parts.labelSkeleton.length <= MIN_SLIP_LABEL_LENGTH) continue;
    for (let i = 0; i < parts.labelSkeleton.length; i += 1) {
      const dropped = `${parts.labelSkeleton.slice(0, i)}${parts.labelSkeleton.slice(i + 1)}|${parts.suffixSkeleton}`;
      if (!droppedLetter.has(dropped)) droppedLetter.set(dropped, entry);
    }
  }
  return { tenantDomains, memberByName, memberAddresses, protectedDomains, protectedRegistrable, skeletons, droppedLetter, judgedHosts: new Map() };
}

// --- Display names ---------------------------------------------------------------------------------------

interface Sender {
  /** The decoded display name ('' when there is none). */
  name: string;
  /** The address's domain, lower-case ASCII; undefined when the address has no readable domain. */
  domain: string | undefined;
  address: string;
}

function displayNameFindings(from: readonly Sender[], known: KnownSenders): GuardFinding[] {
  const findings: GuardFinding[] = [];
  const seen = new Set<string>();
  for (const sender of from) {
    if (!sender.name) continue;
    const outside = !sender.domain || !known.tenantDomains.some((own) => sameOrganisation(sender.domain!, own));
    const named = addressesIn(sender.name);
    if (outside) {
      const member = named.find((address) => known.memberAddresses.has(address)) ?? memberNamed(sender.name, known);
      if (member && member !== sender.address.toLowerCase() && !seen.has('impersonates')) {
        seen.add('impersonates');
        findings.push({
          symbol: 'FROM_NAME_IMPERSONATES_MEMBER',
          score: HEADER_PROTECTION_SCORES.FROM_NAME_IMPERSONATES_MEMBER,
          reason:
            `the From name "${shown(sender.name)}" names the member ${member}, but ` +
            (sender.domain ? `the address ${shown(sender.address)} is outside the tenant's domains` : 'the address is unreadable'),
        });
      }
    }
    // An address in the name that is a member's was reported above; any other in a foreign domain is the generic trick.
    const foreign = named.find(
      (address) =>
        !(outside && known.memberAddresses.has(address)) &&
        (!sender.domain || !sameOrganisation(domainOf(address)!, sender.domain)),
    );
    if (foreign && !seen.has('address')) {
      seen.add('address');
      findings.push({
        symbol: 'FROM_NAME_HAS_ADDRESS',
        score: HEADER_PROTECTION_SCORES.FROM_NAME_HAS_ADDRESS,
        reason: `the From name shows the address ${shown(foreign)}, but the message is from ${shown(sender.address) || 'an unreadable address'}`,
      });
    }
  }
  return findings;
}

/** The member whose name the display name is: the same words, in any order, with up to two words added. */
function memberNamed(displayName: string, known: KnownSenders): string | undefined {
  if (known.memberByName.size === 0) return undefined;
  const tokens = nameTokens(displayName);
  if (tokens.length === 0 || tokens.length > MAX_NAME_TOKENS) return undefined;
  const exact = known.memberByName.get(nameKey(tokens));
  if (exact) return exact;
  // Leave out one or two of the words (at most 8 + 28 lookups); what remains must still be a full name.
  for (let i = 0; i < tokens.length; i += 1) {
    const without = tokens.filter((_, k) => k !== i);
    if (without.length >= 2) {
      const hit = known.memberByName.get(nameKey(without));
      if (hit) return hit;
    }
    if (MAX_EXTRA_NAME_TOKENS < 2) continue;
    for (let j = i + 1; j < tokens.length; j += 1) {
      const withoutTwo = tokens.filter((_, k) => k !== i && k !== j);
      if (withoutTwo.length < 2) continue;
      const hit = known.memberByName.get(nameKey(withoutTwo));
      if (hit) return hit;
    }
  }
  return undefined;
}

/**
 * The words of a name, compared loosely: case and diacritics folded (Müller = Muller, ß = ss), any
 * punctuation a separator ("Schmidt, Anna"), titles dropped ("Dr."). Word order is ignored by nameKey.
 */
function nameTokens(text: string): string[] {
  const folded = text
    .slice(0, MAX_DISPLAY_NAME_CHARS)
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/ß/g, 'ss');
  return folded.split(/[^\p{L}\p{N}]+/u).filter((token) => token !== '' && !HONORIFICS.has(token));
}

/** A name guessed from an address when the tenant file gives none: anna.schmidt@ → "anna schmidt". */
function derivedNameTokens(email: string): string[] {
  const local = email.slice(0, Math.min(email.lastIndexOf('@'), 64));
  const tokens = local.split(/[._-]+/);
  // Only "first.last"-shaped local parts make a name; "ceo" or "info" name a role, not a person.
  if (tokens.length < 2 || tokens.length > 3) return [];
  return tokens.every((t) => /^\p{L}{2,}$/u.test(t)) ? nameTokens(tokens.join(' ')) : [];
}

function nameKey(tokens: readonly string[]): string {
  return [...new Set(tokens)].sort().join(' ');
}

/** Addresses written inside a display name ("ceo@acme.test" <x@evil.example>), lower case, a few at most. */
function addressesIn(name: string): string[] {
  const found: string[] = [];
  if (!name.includes('@')) return found;
  for (const piece of name.slice(0, MAX_DISPLAY_NAME_CHARS).split(/[\s<>"'(),;:[\]]+/)) {
    if (found.length >= 5) break;
    if (piece.includes('@') && domainOf(piece)) found.push(piece.toLowerCase());
  }
  return found;
}

// --- Look-alike domains -------------------------------------------------------------------------------

interface DomainParts {
  /** The registrable domain (ASCII): the organisation's name under its public suffix. */
  registrable: string;
  /** The confusable skeleton of the registrable label (`acme` of eu.acme.co.uk) and of the public suffix. */
  labelSkeleton: string;
  suffixSkeleton: string;
}

function registrableParts(ascii: string): DomainParts {
  const parsed = parseDomain(ascii, { allowPrivateDomains: true });
  const registrable = parsed.domain ?? ascii;
  const label = parsed.domainWithoutSuffix ?? registrable;
  const suffix = parsed.domain ? (parsed.publicSuffix ?? '') : '';
  return { registrable, labelSkeleton: skeleton(domainToUnicode(label) || label), suffixSkeleton: skeleton(domainToUnicode(suffix) || suffix) };
}

/**
 * UTS #39 skeleton (unhomoglyph: Cyrillic с → c, 1 → l, 0 → O, m → rn), then lower case so O and o agree,
 * then the pairs a reader takes for one letter folded to that letter: rn → m (back to one letter, so a
 * slip next to an m is still one position), vv → w, cl → d.
 */
function skeleton(text: string): string {
  return unhomoglyph(text.normalize('NFKC').toLowerCase())
    .toLowerCase()
    .replaceAll('rn', 'm')
    .replaceAll('vv', 'w')
    .replaceAll('cl', 'd');
}

type Likeness = 'confusable letters' | 'a dropped letter' | 'a doubled letter' | 'two swapped letters';

/**
 * The protected domain a candidate reads like, and how. Besides the skeleton (which already covers
 * rn/m, 1/l, 0/o, vv/w, cl/d and the script homoglyphs), one slip of the kind typo-squatters register:
 * a dropped letter (acm.test), a doubled letter (acmme.test) or two neighbours swapped (amce.test).
 * Arbitrary substitutions and insertions are left out: within one edit of a short name lie many real,
 * unrelated names. Each slip is one lookup per position of a label of at most 63 characters, so the work
 * is linear in the label (quadratic only in building the ≤ 63-character keys).
 */
function lookalikeOf(parts: DomainParts, known: KnownSenders): { like: ProtectedDomain; how: Likeness } | undefined {
  const { labelSkeleton: label, suffixSkeleton: suffix } = parts;
  const same = known.skeletons.get(`${label}|${suffix}`);
  if (same) return { like: same, how: 'confusable letters' };
  if (label.length < MIN_SLIP_LABEL_LENGTH) return undefined;
  const dropped = known.droppedLetter.get(`${label}|${suffix}`);
  if (dropped) return { like: dropped, how: 'a dropped letter' };
  for (let i = 1; i < label.length; i += 1) {
    if (label[i] === label[i - 1]) {
      if (label.length - 1 < MIN_SLIP_LABEL_LENGTH) continue;
      const hit = known.skeletons.get(`${label.slice(0, i)}${label.slice(i + 1)}|${suffix}`);
      if (hit) return { like: hit, how: 'a doubled letter' };
    } else {
      const hit = known.skeletons.get(`${label.slice(0, i - 1)}${label[i]}${label[i - 1]}${label.slice(i + 1)}|${suffix}`);
      if (hit) return { like: hit, how: 'two swapped letters' };
    }
  }
  return undefined;
}

/**
 * Whether a domain (from a link, say) reads like one of the tenant's or its partners' without being it:
 * what it looks like and how, or undefined. The same test the From and Reply-To domains get.
 */
export function domainLookalike(
  domain: string,
  tenant: GuardTenant | undefined,
  settings: Settings,
): { like: string; whose: 'tenant' | 'partner'; how: Likeness } | undefined {
  const known = knownTo(tenant, settings);
  if (known.judgedHosts.has(domain)) return known.judgedHosts.get(domain);
  const answer = judgeHost(domain, known);
  // Mail links to the same few thousand hosts: their answers are kept, up to a bound.
  if (known.judgedHosts.size >= MAX_JUDGED_HOSTS) known.judgedHosts.clear();
  known.judgedHosts.set(domain, answer);
  return answer;
}

const MAX_JUDGED_HOSTS = 20_000;

function judgeHost(domain: string, known: KnownSenders): { like: string; whose: 'tenant' | 'partner'; how: Likeness } | undefined {
  const ascii = asciiDomain(domain);
  if (!ascii || ascii.startsWith('[')) return undefined;
  if (known.protectedDomains.some((p) => sameOrganisation(ascii, p.domain))) return undefined;
  const parts = registrableParts(ascii);
  if (known.protectedRegistrable.has(parts.registrable)) return undefined;
  const match = lookalikeOf(parts, known);
  return match ? { like: domainToUnicode(match.like.domain) || match.like.domain, whose: match.like.whose, how: match.how } : undefined;
}

/** A label of the domain that mixes scripts a domain should not (UTS #39 highly restrictive), if any. */
export function mixedScriptDomain(domain: string): { label: string; scripts: string[] } | undefined {
  // Only a name written in other letters than ASCII (an xn-- label) can mix scripts.
  if (!domain.includes('xn--')) return undefined;
  const unicode = domainToUnicode(domain);
  return unicode ? mixedScriptLabel(unicode) : undefined;
}

function lookalikeFindings(source: Source, domains: ReadonlyArray<string | undefined>, known: KnownSenders): GuardFinding[] {
  const findings: GuardFinding[] = [];
  const seen = new Set<string>();
  let lookalike: GuardFinding | undefined;
  let mixed: GuardFinding | undefined;
  let more = 0;
  for (const domain of domains) {
    if (!domain || seen.has(domain) || domain.startsWith('[')) continue;
    seen.add(domain);
    if (known.protectedDomains.some((p) => sameOrganisation(domain, p.domain))) continue;
    const unicode = domainToUnicode(domain);
    if (!unicode) continue;
    const parts = registrableParts(domain);
    const shownAs = unicode !== domain ? `${shown(unicode)} (${domain})` : domain;

    if (!mixed) {
      const label = mixedScriptLabel(unicode);
      if (label) {
        mixed = {
          symbol: `${source}_DOMAIN_MIXED_SCRIPT`,
          score: HEADER_PROTECTION_SCORES[`${source}_DOMAIN_MIXED_SCRIPT`],
          reason: `the ${SOURCE_LABEL[source]} domain ${shownAs} has a label "${shown(label.label)}" mixing ${label.scripts.join(' and ')} letters`,
        };
      }
    }
    if (known.protectedRegistrable.has(parts.registrable)) continue;
    const match = lookalikeOf(parts, known);
    if (!match) continue;
    if (lookalike) {
      more += 1;
      continue;
    }
    const likeUnicode = domainToUnicode(match.like.domain) || match.like.domain;
    lookalike = {
      symbol: `${source}_DOMAIN_LOOKALIKE`,
      score: HEADER_PROTECTION_SCORES[`${source}_DOMAIN_LOOKALIKE`],
      reason:
        `the ${SOURCE_LABEL[source]} domain ${shownAs} looks like ${shown(likeUnicode)}, ` +
        `${match.like.whose === 'tenant' ? "one of the tenant's domains" : 'a partner domain'} (${match.how})`,
    };
  }
  if (lookalike) {
    if (more > 0) lookalike.reason += ` and ${more} more such domain${more === 1 ? '' : 's'}`;
    findings.push(lookalike);
  }
  if (mixed) findings.push(mixed);
  return findings;
}

/**
 * Scripts whose letters a domain label may combine: UTS #39's "highly restrictive" level, where Latin
 * goes only with the Han-based sets of Japanese, Chinese and Korean.
 */
const SCRIPTS = ['Latin', 'Cyrillic', 'Greek', 'Armenian', 'Hebrew', 'Arabic', 'Han', 'Hiragana', 'Katakana', 'Hangul', 'Bopomofo'] as const;
const SCRIPT_PATTERNS = SCRIPTS.map((script) => [script, new RegExp(`^\\p{Script=${script}}$`, 'u')] as const);
const ALLOWED_SCRIPT_SETS: ReadonlyArray<ReadonlySet<string>> = [
  new Set(['Latin', 'Han', 'Hiragana', 'Katakana']),
  new Set(['Latin', 'Han', 'Bopomofo']),
  new Set(['Latin', 'Han', 'Hangul']),
];

function mixedScriptLabel(unicode: string): { label: string; scripts: string[] } | undefined {
  // An ASCII domain is one script (Latin, digits, hyphen); only IDN labels can mix.
  if (/^[\x00-\x7f]*$/.test(unicode)) return undefined;
  for (const label of unicode.split('.')) {
    const scripts = new Set<string>();
    for (const char of label) {
      if (!/\p{L}/u.test(char)) continue;
      scripts.add(SCRIPT_PATTERNS.find(([, pattern]) => pattern.test(char))?.[0] ?? 'other');
    }
    if (scripts.size < 2) continue;
    if (ALLOWED_SCRIPT_SETS.some((allowed) => [...scripts].every((s) => allowed.has(s)))) continue;
    return { label, scripts: [...scripts] };
  }
  return undefined;
}

// --- Addresses ---------------------------------------------------------------------------------------------

/**
 * The addresses of all fields of this name, read with nodemailer's address parser (a linear tokenizer)
 * from the raw value; display names are decoded afterwards so an encoded comma stays inside its name.
 */
function readAddresses(fields: readonly HeaderField[], name: 'from' | 'reply-to'): Sender[] {
  const senders: Sender[] = [];
  for (const field of fields) {
    if (field.name.toLowerCase() !== name) continue;
    let parsed: Array<{ name?: string; address?: string }>;
    try {
      parsed = addressparser(unfoldedValue(field, 'utf8').slice(0, MAX_ADDRESS_FIELD_CHARS), { flatten: true });
    } catch {
      continue;
    }
    for (const entry of parsed) {
      if (senders.length >= MAX_ADDRESSES) return senders;
      const address = (entry.address ?? '').slice(0, 320);
      senders.push({ name: decodedName(entry.name ?? ''), address, domain: domainOf(address) });
    }
  }
  return senders;
}

function decodedName(name: string): string {
  const cut = name.slice(0, MAX_DISPLAY_NAME_CHARS * 4);
  try {
    return libmime.decodeWords(cut).slice(0, MAX_DISPLAY_NAME_CHARS).trim();
  } catch {
    return cut.slice(0, MAX_DISPLAY_NAME_CHARS).trim();
  }
}

function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  return asciiDomain(address.slice(at + 1));
}

/** A domain name as lower-case ASCII (IDNA), or undefined when it is none or longer than DNS allows. */
function asciiDomain(text: string): string | undefined {
  const raw = text.trim().replace(/\.$/, '').toLowerCase();
  if (!raw || raw.length > 253 * 4 || raw.includes(' ')) return undefined;
  if (raw.startsWith('[')) return raw.length <= 64 ? raw : undefined;
  // domainToASCII gives '' for what is no domain name at all (xn--zz, bad characters).
  const ascii = domainToASCII(raw);
  if (!ascii || !ascii.includes('.') || ascii.length > 253) return undefined;
  return ascii.split('.').every((label) => label.length > 0 && label.length <= 63) ? ascii : undefined;
}

function sameOrganisation(a: string, b: string): boolean {
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}

/** Header text as it may appear in a reason: no control or direction-changing characters, short. */
function shown(text: string): string {
  const cut = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return cut.replace(/\p{C}/gu, '?');
}
