/**
 * Sender addresses: REPLYTO_DOMAIN_DIFFERS when a Reply-To address is in another domain than From
 * (answers to a look-alike "CEO" then go to the attacker), and findings for From and Reply-To fields that
 * are missing, repeated or unreadable. A broken header is a finding, never an exception.
 *
 * Same domain means: equal, or one a subdomain of the other (news.acme.test and acme.test agree). That
 * approximates "same registered domain" without a public-suffix list; two sibling subdomains
 * (eu.acme.test, us.acme.test) count as different, and so would two domains under one public suffix if
 * one were a suffix of the other — which only a public suffix itself can be.
 *
 * Addresses are read with nodemailer's address parser (a tokenizer, linear), from the raw unfolded value:
 * decoding encoded words first would turn an encoded comma in a display name into a second address.
 */
import { domainToASCII } from 'node:url';
import addressparser from 'nodemailer/lib/addressparser';
import { unfoldedValue } from '../../mail/mime-structure.ts';
import type { HeaderField } from '../../mail/header-block.ts';
import type { GuardCheck, GuardFinding } from '../contract.ts';

export const REPLY_TO_SCORES = {
  REPLYTO_DOMAIN_DIFFERS: 4,
  REPLYTO_UNREADABLE: 2,
  REPLYTO_MULTIPLE: 1,
  FROM_MISSING: 3,
  FROM_UNREADABLE: 3,
  FROM_MULTIPLE: 3,
} as const;

/** Address fields are short; a longer value is read only this far (the rest is not addresses a person reads). */
const MAX_ADDRESS_FIELD_CHARS = 8 * 1024;
const MAX_NAMED = 5;

/**
 * Part of the `headers` module: its switch, score and action apply; `replyToMismatch: false` silences
 * REPLYTO_DOMAIN_DIFFERS (mailing lists and ticket systems answer elsewhere by design) while missing and
 * broken From fields are still found.
 */
export const replyToDomainCheck: GuardCheck = {
  name: 'reply-to-domain',
  module: 'headers',
  phase: 'message',
  run(context) {
    const findings = senderAddressFindings(context.header.fields);
    return context.policy.modules.headers.replyToMismatch ? findings : findings.filter((f) => f.symbol !== 'REPLYTO_DOMAIN_DIFFERS');
  },
};

export function senderAddressFindings(fields: readonly HeaderField[]): GuardFinding[] {
  const findings: GuardFinding[] = [];
  const fromFields = fields.filter((f) => f.name.toLowerCase() === 'from');
  const replyToFields = fields.filter((f) => f.name.toLowerCase() === 'reply-to');

  if (fromFields.length === 0) {
    findings.push({ symbol: 'FROM_MISSING', score: REPLY_TO_SCORES.FROM_MISSING, reason: 'the message has no From field' });
  } else if (fromFields.length > 1) {
    findings.push({
      symbol: 'FROM_MULTIPLE',
      score: REPLY_TO_SCORES.FROM_MULTIPLE,
      reason: `the message has ${fromFields.length} From fields; readers disagree about which one is the sender`,
    });
  }
  const from = fromFields.length > 0 ? readAddresses(fromFields) : undefined;
  if (from && from.domains.length === 0) {
    findings.push({
      symbol: 'FROM_UNREADABLE',
      score: REPLY_TO_SCORES.FROM_UNREADABLE,
      reason: `the From field holds no readable address: "${shown(from.firstText)}"`,
    });
  }

  if (replyToFields.length === 0) return findings;
  if (replyToFields.length > 1) {
    findings.push({
      symbol: 'REPLYTO_MULTIPLE',
      score: REPLY_TO_SCORES.REPLYTO_MULTIPLE,
      reason: `the message has ${replyToFields.length} Reply-To fields`,
    });
  }
  const replyTo = readAddresses(replyToFields);
  if (replyTo.domains.length === 0 || replyTo.broken.length > 0) {
    findings.push({
      symbol: 'REPLYTO_UNREADABLE',
      score: REPLY_TO_SCORES.REPLYTO_UNREADABLE,
      reason:
        replyTo.domains.length === 0
          ? `the Reply-To field holds no readable address: "${shown(replyTo.firstText)}"`
          : `the Reply-To field holds an unreadable address: "${shown(replyTo.broken[0]!)}"`,
    });
  }
  if (!from || from.domains.length === 0) return findings;
  const foreign = replyTo.domains.filter((domain) => !from.domains.some((own) => sameOrganisation(domain, own)));
  if (foreign.length > 0) {
    const fromDomains = from.domains.slice(0, MAX_NAMED).join(', ');
    findings.push({
      symbol: 'REPLYTO_DOMAIN_DIFFERS',
      score: REPLY_TO_SCORES.REPLYTO_DOMAIN_DIFFERS,
      reason: `reply-to domain ${foreign.slice(0, MAX_NAMED).join(', ')} differs from the from-domain ${fromDomains}`,
    });
  }
  return findings;
}

interface ReadAddresses {
  /** Distinct domains, lower-case ASCII (IDNA), in order of appearance. */
  domains: string[];
  /** Entries the parser found that are no address (no @, no domain). */
  broken: string[];
  firstText: string;
}

function readAddresses(fields: readonly HeaderField[]): ReadAddresses {
  const domains: string[] = [];
  const broken: string[] = [];
  let firstText = '';
  for (const field of fields) {
    const text = unfoldedValue(field, 'utf8').slice(0, MAX_ADDRESS_FIELD_CHARS);
    firstText ||= text;
    let parsed: Array<{ name: string; address: string }>;
    try {
      parsed = addressparser(text, { flatten: true });
    } catch {
      broken.push(text);
      continue;
    }
    for (const entry of parsed) {
      const domain = domainOf(entry.address ?? '');
      if (domain) {
        if (!domains.includes(domain)) domains.push(domain);
      } else if (entry.address || entry.name) {
        broken.push(entry.address || entry.name);
      }
    }
  }
  return { domains, broken, firstText };
}

function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  const raw = address.slice(at + 1).trim().replace(/\.$/, '');
  if (!raw || raw.includes(' ')) return undefined;
  if (raw.startsWith('[')) return raw.toLowerCase();
  // domainToASCII gives '' for what is no domain name at all.
  const ascii = domainToASCII(raw.toLowerCase());
  return ascii && ascii.includes('.') ? ascii : undefined;
}

function sameOrganisation(a: string, b: string): boolean {
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}

/** Header text as it may appear in a reason: printable, short. */
function shown(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
}
