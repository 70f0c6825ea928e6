/**
 * Network & geo (module `network`): the connecting address against the policy's IP block and allow
 * lists and its country against the country block list, and the sender's domains (envelope sender, From,
 * Reply-To, each as the rule's scope says) against the domain block list; a listed domain blocks its
 * subdomains too. The policy's size limit is here as well, since it too is known from the envelope.
 *
 * Most of these are known before the 250, so the hook below refuses them at SMTP time when the policy
 * would reject anyway (the real client is told instead of a bounce to a possibly forged sender); the
 * message-time check scores the rest. The hook never returns findings: the check would count them twice.
 *
 * Country rules without a GeoIP database are not applied, and the finding NET_GEOIP_INACTIVE says so on
 * every message they would have judged: never a silent pass.
 */
import { BlockList } from 'node:net';
import { domainToASCII } from 'node:url';
import addressparser from 'nodemailer/lib/addressparser';
import { unfoldedValue } from '../../mail/mime-structure.ts';
import type { HeaderField } from '../../mail/header-block.ts';
import { addAddressRule } from '../../tenants/tenant-directory.ts';
import type { GuardCheck, GuardFinding, GuardServices, SmtpHook, SmtpRefusal } from '../contract.ts';
import { plainAddress } from '../geoip.ts';
import type { GuardPolicy } from '../policy.ts';

export const NETWORK_GEO_SCORES = {
  NET_IP_BLOCKED: 20,
  NET_IP_NOT_ALLOWED: 20,
  NET_DOMAIN_BLOCKED: 20,
  NET_COUNTRY_BLOCKED: 20,
  NET_COUNTRY_UNKNOWN: 0,
  NET_GEOIP_INACTIVE: 0,
  NET_ADDRESS_UNREADABLE: 2,
  SIZE_EXCEEDS_POLICY: 20,
} as const;

type NetworkSettings = GuardPolicy['modules']['network'];
type Scope = NetworkSettings['domainBlockList'][number]['scope'];

interface CompiledNetwork {
  blocked: BlockList;
  /** undefined when the policy has no allow list. */
  allowed?: BlockList;
  /** Rules the admin wrote that are no address (the settings schema should have refused them). */
  badRules: string[];
  countries: ReadonlySet<string>;
  domains: ReadonlyMap<Scope, readonly string[]>;
}

/** Policies are immutable: a compiled list lives as long as its settings object. */
const compiledCache = new WeakMap<NetworkSettings, CompiledNetwork>();

function compiled(settings: NetworkSettings): CompiledNetwork {
  let result = compiledCache.get(settings);
  if (result) return result;
  const badRules: string[] = [];
  const list = (rules: readonly string[]) => {
    const blockList = new BlockList();
    for (const rule of rules) {
      try {
        addAddressRule(blockList, rule.trim());
      } catch {
        badRules.push(rule);
      }
    }
    return blockList;
  };
  const domains = new Map<Scope, string[]>();
  for (const rule of settings.domainBlockList) {
    const domain = normalDomain(rule.domain);
    if (!domain) continue;
    domains.set(rule.scope, [...(domains.get(rule.scope) ?? []), domain]);
  }
  result = {
    blocked: list(settings.ipBlockList),
    allowed: settings.ipAllowList.length > 0 ? list(settings.ipAllowList) : undefined,
    badRules,
    countries: new Set(settings.countryBlockList.map((c) => c.toUpperCase())),
    domains,
  };
  compiledCache.set(settings, result);
  return result;
}

/** A finding about the connecting address and the envelope, known from the envelope alone. */
function envelopeFindings(
  settings: NetworkSettings,
  services: Pick<GuardServices, 'geoip'>,
  remoteAddress: string | undefined,
  mailFrom: string,
): { findings: GuardFinding[]; country?: string } {
  const rules = compiled(settings);
  const findings: GuardFinding[] = [];
  let country: string | undefined;
  const hasAddressRules = settings.ipBlockList.length > 0 || settings.ipAllowList.length > 0 || rules.countries.size > 0;
  const address = remoteAddress === undefined ? undefined : plainAddress(remoteAddress);
  if (hasAddressRules && !address) {
    findings.push({
      symbol: 'NET_ADDRESS_UNREADABLE',
      score: NETWORK_GEO_SCORES.NET_ADDRESS_UNREADABLE,
      reason: `the connecting address "${shown(remoteAddress ?? '')}" is no IP address; address and country rules could not be applied`,
    });
  } else if (address) {
    const type = address.includes(':') ? 'ipv6' : 'ipv4';
    if (rules.blocked.check(address, type)) {
      findings.push({
        symbol: 'NET_IP_BLOCKED',
        score: NETWORK_GEO_SCORES.NET_IP_BLOCKED,
        reason: `the connecting address ${address} is on the policy's IP block list (${matchingRule(settings.ipBlockList, address)})`,
      });
    }
    if (rules.allowed && !rules.allowed.check(address, type)) {
      findings.push({
        symbol: 'NET_IP_NOT_ALLOWED',
        score: NETWORK_GEO_SCORES.NET_IP_NOT_ALLOWED,
        reason: `the connecting address ${address} is outside the policy's IP allow list`,
      });
    }
    if (services.geoip) {
      country = services.geoip.country(address);
      if (rules.countries.size > 0) {
        if (!country) {
          findings.push({
            symbol: 'NET_COUNTRY_UNKNOWN',
            score: NETWORK_GEO_SCORES.NET_COUNTRY_UNKNOWN,
            reason: `the GeoIP database does not know the country of ${address}; country rules did not apply`,
          });
        } else if (rules.countries.has(country)) {
          findings.push({
            symbol: 'NET_COUNTRY_BLOCKED',
            score: NETWORK_GEO_SCORES.NET_COUNTRY_BLOCKED,
            reason: `the connecting address ${address} is in ${country}, a country on the policy's block list`,
          });
        }
      }
    } else if (rules.countries.size > 0) {
      findings.push({
        symbol: 'NET_GEOIP_INACTIVE',
        score: NETWORK_GEO_SCORES.NET_GEOIP_INACTIVE,
        reason: 'the policy blocks countries but no GeoIP database is configured (SEALPOST_GEOIP_DB); country rules were not applied',
      });
    }
  }
  const senderDomain = domainOf(mailFrom);
  if (senderDomain) findings.push(...domainFindings(rules, 'sender', [senderDomain]));
  return { findings, country };
}

function domainFindings(rules: CompiledNetwork, scope: Scope, domains: readonly string[]): GuardFinding[] {
  const listed = rules.domains.get(scope);
  if (!listed) return [];
  const label = scope === 'sender' ? 'envelope sender' : scope === 'from' ? 'From' : 'Reply-To';
  for (const domain of domains) {
    const rule = listed.find((l) => domain === l || domain.endsWith(`.${l}`));
    if (rule) {
      return [
        {
          symbol: 'NET_DOMAIN_BLOCKED',
          score: NETWORK_GEO_SCORES.NET_DOMAIN_BLOCKED,
          reason: `the ${label} domain ${domain} is on the policy's domain block list (${rule})`,
        },
      ];
    }
  }
  return [];
}

function headerDomainFindings(settings: NetworkSettings, fields: readonly HeaderField[]): GuardFinding[] {
  const rules = compiled(settings);
  const findings: GuardFinding[] = [];
  for (const [scope, name] of [['from', 'from'], ['replyTo', 'reply-to']] as const) {
    if (!rules.domains.has(scope)) continue;
    findings.push(...domainFindings(rules, scope, headerDomains(fields, name)));
  }
  return findings;
}

function sizeFinding(policy: GuardPolicy, bytes: number): GuardFinding[] {
  if (policy.maxMessageBytes === undefined || bytes <= policy.maxMessageBytes) return [];
  return [
    {
      symbol: 'SIZE_EXCEEDS_POLICY',
      score: NETWORK_GEO_SCORES.SIZE_EXCEEDS_POLICY,
      reason: `the message has ${bytes} bytes; the policy "${policy.name}" allows ${policy.maxMessageBytes}`,
      action: policy.onBlock,
    },
  ];
}

export function networkGeoCheck(services: Pick<GuardServices, 'geoip'>): GuardCheck {
  return {
    name: 'network-geo',
    module: 'network',
    replayable: true,
    phase: 'message',
    run(context) {
      const settings = context.policy.modules.network;
      const { findings, country } = envelopeFindings(settings, services, context.remoteAddress, context.mailFrom);
      findings.push(...headerDomainFindings(settings, context.header.fields));
      findings.push(...sizeFinding(context.policy, context.totalBytes));
      return country ? { findings, facts: { country } } : { findings };
    },
  };
}

/** Whether a finding alone makes this policy reject the message (its module's action, or onBlock and the block threshold). */
function wouldReject(policy: GuardPolicy, finding: GuardFinding): boolean {
  const module = policy.modules.network;
  if (module.action === 'reject') return true;
  if (policy.onBlock !== 'reject') return false;
  const score = policy.scores[finding.symbol] ?? module.scoreDelta ?? finding.score;
  return score >= policy.thresholds.block;
}

function refusal(finding: GuardFinding): { refuse: SmtpRefusal } {
  return { refuse: { code: 550, enhanced: '5.7.1', message: `Refused by the recipient's policy: ${finding.reason}` } };
}

function sizeRefusal(bytes: number, limit: number): { refuse: SmtpRefusal } {
  return { refuse: { code: 552, enhanced: '5.3.4', message: `Message of ${bytes} bytes is larger than the recipient's policy allows (${limit} bytes)` } };
}

export function networkGeoHook(services: GuardServices): SmtpHook {
  const policyOf = async (recipient: string, mailFrom: string): Promise<GuardPolicy | undefined> => {
    const tenant = services.directory.tenantForAddress(recipient);
    if (!tenant) return undefined;
    return services.policies.policyFor({ tenantId: tenant.id, mailFrom, recipients: [recipient] });
  };
  return {
    name: 'network-geo',
    async rcptTo(session, address) {
      const policy = await policyOf(address, session.mailFrom ?? '');
      if (!policy) return undefined;
      if (policy.maxMessageBytes !== undefined && session.declaredSize !== undefined && session.declaredSize > policy.maxMessageBytes) {
        return sizeRefusal(session.declaredSize, policy.maxMessageBytes);
      }
      if (!policy.modules.network.enabled || policy.disabledChecks.has('network-geo')) return undefined;
      const { findings } = envelopeFindings(policy.modules.network, services, session.remoteAddress, session.mailFrom ?? '');
      const deciding = findings.find((f) => f.score > 0 && f.symbol !== 'NET_ADDRESS_UNREADABLE' && wouldReject(policy, f));
      return deciding ? refusal(deciding) : undefined;
    },
    async dataEnd(session, message) {
      if (session.recipients.length === 0) return undefined;
      const policies: GuardPolicy[] = [];
      for (const recipient of session.recipients) {
        const policy = await policyOf(recipient, session.mailFrom ?? '');
        if (!policy) return undefined;
        policies.push(policy);
      }
      const bytes = message.raw.length;
      if (policies.every((p) => p.maxMessageBytes !== undefined && bytes > p.maxMessageBytes)) {
        return sizeRefusal(bytes, Math.max(...policies.map((p) => p.maxMessageBytes!)));
      }
      let first: GuardFinding | undefined;
      for (const policy of policies) {
        if (!policy.modules.network.enabled || policy.disabledChecks.has('network-geo')) return undefined;
        const deciding = headerDomainFindings(policy.modules.network, message.header.fields).find((f) => wouldReject(policy, f));
        if (!deciding) return undefined;
        first ??= deciding;
      }
      return first ? refusal(first) : undefined;
    },
  };
}

/** The IP rule that matched, for the reason (the first one; the list is the admin's, short enough to scan). */
function matchingRule(rules: readonly string[], address: string): string {
  const type = address.includes(':') ? 'ipv6' : 'ipv4';
  for (const rule of rules) {
    const single = new BlockList();
    try {
      addAddressRule(single, rule.trim());
    } catch {
      continue;
    }
    if (single.check(address, type)) return rule;
  }
  return 'a listed range';
}

/** Address fields are short; a longer value is read only this far. */
const MAX_ADDRESS_FIELD_CHARS = 8 * 1024;
const MAX_ADDRESSES = 50;

function headerDomains(fields: readonly HeaderField[], name: string): string[] {
  const domains: string[] = [];
  for (const field of fields) {
    if (field.name.toLowerCase() !== name) continue;
    let parsed: Array<{ address?: string }>;
    try {
      parsed = addressparser(unfoldedValue(field, 'utf8').slice(0, MAX_ADDRESS_FIELD_CHARS), { flatten: true });
    } catch {
      continue;
    }
    for (const entry of parsed.slice(0, MAX_ADDRESSES)) {
      const domain = domainOf(entry.address ?? '');
      if (domain && !domains.includes(domain)) domains.push(domain);
    }
  }
  return domains;
}

function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  return normalDomain(address.slice(at + 1));
}

function normalDomain(raw: string): string | undefined {
  const text = raw.trim().replace(/\.$/, '').toLowerCase();
  if (!text || text.length > 253 || text.includes(' ')) return undefined;
  // domainToASCII gives '' for what is no domain name at all.
  const ascii = domainToASCII(text);
  return ascii || undefined;
}

function shown(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
}
