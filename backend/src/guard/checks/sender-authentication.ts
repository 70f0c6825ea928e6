/**
 * Sender authentication (module `authentication`): SPF for the envelope sender, DKIM signatures, DMARC for
 * the From domain and the ARC chain, verified by mailauth against DNS at the time of receipt — so the check
 * is not replayable. Each result becomes an Rspamd-like finding; DNS that fails is a temporary-error
 * finding with a positive score, never a pass. DMARC strict alignment (adkim=s / aspf=s) is checked here,
 * because mailauth treats it as relaxed. When the policy honours DMARC, p=reject and p=quarantine force
 * their action. The check also writes the Authentication-Results field (RFC 8601) and says whether the
 * envelope sender is verified (rejection notices go only to verified senders).
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { authenticate } from 'mailauth';
import type { GuardCheck, GuardCheckResult, GuardFinding, GuardServices } from '../contract.ts';
import { headerValue } from '../../mail/header-block.ts';
import { resolverWithDeadline } from '../dns-resolver.ts';

export const AUTH_SCORES = {
  R_SPF_ALLOW: -0.2,
  R_SPF_SOFTFAIL: 2,
  R_SPF_FAIL: 4,
  R_SPF_NEUTRAL: 0,
  R_SPF_NA: 0,
  R_SPF_DNSFAIL: 1,
  R_SPF_PERMFAIL: 1,
  R_DKIM_ALLOW: -0.2,
  R_DKIM_REJECT: 3,
  R_DKIM_TEMPFAIL: 1,
  R_DKIM_PERMFAIL: 1,
  R_DKIM_NA: 0,
  DMARC_POLICY_ALLOW: -0.5,
  DMARC_POLICY_REJECT: 6,
  DMARC_POLICY_QUARANTINE: 4,
  DMARC_POLICY_SOFTFAIL: 1,
  DMARC_NA: 0,
  DMARC_DNSFAIL: 1,
  DMARC_PERMFAIL: 1,
  ARC_ALLOW: -0.1,
  ARC_REJECT: 1,
  ARC_DNSFAIL: 1,
  ARC_NA: 0,
} as const;

/** DKIM body hashes need the whole message; beyond this the message is not one people send. */
const AUTH_MAX_BYTES = 16 * 1024 * 1024;
/** Text taken from the message or DNS into a reason or header is kept this short. */
const MAX_SHOWN = 120;

interface SpfResult { domain?: string; 'client-ip'?: string; status?: { result?: string; comment?: string } }
interface DkimEntry { signingDomain?: string; selector?: string; status?: { result?: string; comment?: string; header?: { i?: string; s?: string } } }
interface DmarcResult {
  domain?: string;
  policy?: string;
  p?: string;
  pct?: number;
  status?: { result?: string; comment?: string; header?: { from?: string } };
  alignment?: { spf?: { result?: string | false; strict?: boolean }; dkim?: { result?: string | false; strict?: boolean } };
}
interface ArcResult { status?: { result?: string; comment?: string }; i?: number }
interface AuthResult { spf?: SpfResult | false; dkim?: { results?: DkimEntry[] }; dmarc?: DmarcResult | false; arc?: ArcResult | false }

export function senderAuthenticationCheck(services: Pick<GuardServices, 'hostname' | 'resolver'> & { dnsTimeoutMs?: number }): GuardCheck {
  const timeoutMs = services.dnsTimeoutMs ?? 5000;
  return {
    name: 'sender-authentication',
    module: 'authentication',
    replayable: false,
    phase: 'message',
    budget: { bytes: AUTH_MAX_BYTES, ms: 3 * timeoutMs },
    async run(context) {
      const hostname = services.hostname;
      const ip = context.remoteAddress && isIP(context.remoteAddress) ? context.remoteAddress : undefined;
      const sender = context.mailFrom && context.mailFrom.includes('@') ? context.mailFrom.slice(0, 320) : '';
      const helo = (context.helo ?? '').slice(0, 255);
      let result: AuthResult;
      try {
        result = (await authenticate(context.raw, {
          ip: ip ?? '0.0.0.0',
          helo,
          sender,
          mta: hostname,
          // Two thirds of the budget for DNS, the rest for the signatures' cryptography and the verdict.
          resolver: services.resolver && resolverWithDeadline(services.resolver, Date.now() + 2 * timeoutMs),
          trustReceived: false,
          disableBimi: true,
        } as Parameters<typeof authenticate>[1])) as AuthResult;
      } catch (error) {
        const text = shown(error instanceof Error ? error.message : String(error));
        return {
          findings: [{ symbol: 'R_DKIM_PERMFAIL', score: AUTH_SCORES.R_DKIM_PERMFAIL, reason: `the message could not be authenticated: ${text}` }],
          headers: [{ name: 'Authentication-Results', value: `${hostname}; none` }],
          facts: { senderVerified: false, dmarc: 'permerror' },
        };
      }
      return judge(result, {
        hostname,
        ip,
        sender,
        honourDmarc: context.policy.modules.authentication.honourDmarcPolicy,
        sample: dmarcSample(headerValue(context.header.fields, 'message-id') ?? context.messageId),
      });
    },
  };
}

/**
 * Where a message falls in a DMARC record's pct sampling (RFC 7489 6.6.4), 0–99. Taken from the message's
 * Message-ID rather than drawn at random, so the same message gets the same verdict when it is checked
 * again (a retried stage, a simulation) while a domain's messages still spread evenly over the range.
 */
export function dmarcSample(key: string): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) % 100;
}

function judge(result: AuthResult, given: { hostname: string; ip?: string; sender: string; honourDmarc: boolean; sample: number }): GuardCheckResult {
  const findings: GuardFinding[] = [];
  const parts: string[] = [];
  const senderDomain = given.sender ? given.sender.slice(given.sender.lastIndexOf('@') + 1).toLowerCase() : '';

  // SPF
  const spf = result.spf || undefined;
  const spfResult = given.ip ? (spf?.status?.result ?? 'none') : 'none';
  const spfDomain = (spf?.domain ?? senderDomain).toLowerCase();
  const ipText = given.ip ?? 'an unknown address';
  const spfFinding: Record<string, [keyof typeof AUTH_SCORES, string]> = {
    pass: ['R_SPF_ALLOW', `SPF pass: ${ipText} may send for ${spfDomain}`],
    fail: ['R_SPF_FAIL', `SPF fail: ${ipText} is not allowed to send for ${spfDomain}`],
    softfail: ['R_SPF_SOFTFAIL', `SPF softfail: ${spfDomain} says ${ipText} is probably not allowed to send for it`],
    neutral: ['R_SPF_NEUTRAL', `SPF neutral: ${spfDomain} says nothing about ${ipText}`],
    temperror: ['R_SPF_DNSFAIL', `SPF temporary error: DNS for ${spfDomain} did not answer`],
    permerror: ['R_SPF_PERMFAIL', `SPF permanent error: the SPF record of ${spfDomain} is broken`],
  };
  const [spfSymbol, spfReason] = spfFinding[spfResult] ?? [
    'R_SPF_NA',
    given.ip ? `no SPF record for ${spfDomain || 'the null sender'}` : 'no valid connecting address to check SPF for',
  ];
  findings.push({ symbol: spfSymbol, score: AUTH_SCORES[spfSymbol], reason: shown(spfReason, 200) });
  parts.push(`spf=${spfResult}${spfDomain ? ` smtp.mailfrom=${token(given.sender || spfDomain)}` : ''}`);

  // DKIM
  const signatures = result.dkim?.results ?? [];
  const dkimPassDomains: string[] = [];
  for (const entry of signatures.slice(0, 10)) {
    const outcome = entry.status?.result ?? 'none';
    const d = (entry.signingDomain ?? '').toLowerCase();
    if (outcome === 'none') continue;
    if (outcome === 'pass') dkimPassDomains.push(d);
    const symbol: keyof typeof AUTH_SCORES =
      outcome === 'pass'
        ? 'R_DKIM_ALLOW'
        : outcome === 'fail' || (outcome === 'neutral' && /body hash/i.test(entry.status?.comment ?? ''))
          ? 'R_DKIM_REJECT' : outcome === 'temperror' ? 'R_DKIM_TEMPFAIL' : 'R_DKIM_PERMFAIL';
    const comment = entry.status?.comment ? ` (${shown(entry.status.comment, 60)})` : '';
    findings.push({ symbol, score: AUTH_SCORES[symbol], reason: shown(`DKIM ${outcome} for d=${d || '?'} s=${entry.selector ?? '?'}${comment}`, 200) });
    parts.push(`dkim=${outcome}${d ? ` header.d=${token(d)}` : ''}${entry.selector ? ` header.s=${token(entry.selector)}` : ''}`);
  }
  if (!findings.some((f) => f.symbol.startsWith('R_DKIM_'))) {
    findings.push({ symbol: 'R_DKIM_NA', score: AUTH_SCORES.R_DKIM_NA, reason: 'the message has no DKIM signature' });
    parts.push('dkim=none');
  }

  // DMARC, with strict alignment checked here.
  const dmarc = result.dmarc || undefined;
  let dmarcResult = dmarc?.status?.result ?? 'none';
  const fromDomain = (dmarc?.domain ?? dmarc?.status?.header?.from ?? '').toLowerCase();
  let strictNote = '';
  if (dmarc && dmarcResult === 'pass') {
    const spfAligned = dmarc.alignment?.spf?.result ? String(dmarc.alignment.spf.result).toLowerCase() : '';
    const dkimAligned = dmarc.alignment?.dkim?.result ? String(dmarc.alignment.dkim.result).toLowerCase() : '';
    const spfOk = spfAligned !== '' && (!dmarc.alignment?.spf?.strict || spfAligned === fromDomain);
    const dkimOk = dkimAligned !== '' && (!dmarc.alignment?.dkim?.strict || dkimPassDomains.includes(fromDomain));
    if (!spfOk && !dkimOk) {
      dmarcResult = 'fail';
      strictNote = ' (strict alignment: the authenticated domain is not exactly the From domain)';
    }
  }
  const policy = (dmarc?.policy ?? dmarc?.p ?? 'none').toLowerCase();
  const pct = typeof dmarc?.pct === 'number' ? dmarc.pct : 100;
  if (dmarcResult === 'pass') {
    findings.push({ symbol: 'DMARC_POLICY_ALLOW', score: AUTH_SCORES.DMARC_POLICY_ALLOW, reason: `DMARC pass for ${fromDomain}` });
  } else if (dmarcResult === 'fail') {
    const applies = pct >= 100 || given.sample < pct;
    const effective = applies ? policy : 'none';
    const base = `DMARC fail: neither SPF nor DKIM authenticates ${fromDomain}${strictNote}; its policy is p=${policy}${pct < 100 ? ` pct=${pct}` : ''}`;
    if (effective === 'reject') {
      findings.push({ symbol: 'DMARC_POLICY_REJECT', score: AUTH_SCORES.DMARC_POLICY_REJECT, reason: shown(base, 300), ...(given.honourDmarc ? { action: 'reject' as const } : {}) });
    } else if (effective === 'quarantine') {
      findings.push({ symbol: 'DMARC_POLICY_QUARANTINE', score: AUTH_SCORES.DMARC_POLICY_QUARANTINE, reason: shown(base, 300), ...(given.honourDmarc ? { action: 'quarantine' as const } : {}) });
    } else {
      findings.push({ symbol: 'DMARC_POLICY_SOFTFAIL', score: AUTH_SCORES.DMARC_POLICY_SOFTFAIL, reason: shown(base, 300) });
    }
  } else if (dmarcResult === 'temperror') {
    findings.push({ symbol: 'DMARC_DNSFAIL', score: AUTH_SCORES.DMARC_DNSFAIL, reason: `DMARC temporary error: DNS for ${fromDomain || 'the From domain'} did not answer` });
  } else if (dmarcResult === 'permerror') {
    findings.push({ symbol: 'DMARC_PERMFAIL', score: AUTH_SCORES.DMARC_PERMFAIL, reason: shown(`DMARC permanent error for ${fromDomain || 'the From domain'}`) });
  } else {
    findings.push({ symbol: 'DMARC_NA', score: AUTH_SCORES.DMARC_NA, reason: fromDomain ? `no DMARC record for ${fromDomain}` : 'no From domain to check DMARC for' });
  }
  parts.push(`dmarc=${dmarcResult}${fromDomain ? ` header.from=${token(fromDomain)}` : ''}`);

  // ARC
  const arc = result.arc || undefined;
  const arcResult = arc?.status?.result ?? 'none';
  if (arcResult === 'pass') findings.push({ symbol: 'ARC_ALLOW', score: AUTH_SCORES.ARC_ALLOW, reason: `the ARC chain (${arc?.i ?? '?'} hops) is intact` });
  else if (arcResult === 'fail') findings.push({ symbol: 'ARC_REJECT', score: AUTH_SCORES.ARC_REJECT, reason: shown(`the ARC chain is broken${arc?.status?.comment ? `: ${arc.status.comment}` : ''}`) });
  else if (arcResult === 'temperror') findings.push({ symbol: 'ARC_DNSFAIL', score: AUTH_SCORES.ARC_DNSFAIL, reason: 'ARC temporary error: DNS did not answer' });
  else findings.push({ symbol: 'ARC_NA', score: AUTH_SCORES.ARC_NA, reason: 'the message has no ARC chain' });
  parts.push(`arc=${arcResult === 'pass' || arcResult === 'fail' ? arcResult : 'none'}`);

  const spfVerified = spfResult === 'pass' && spfDomain === senderDomain;
  const dkimVerified = dkimPassDomains.includes(senderDomain);
  const senderVerified = senderDomain !== '' && (spfVerified || dkimVerified) && dmarcResult !== 'fail' && dmarcResult !== 'temperror';
  return {
    findings,
    headers: [{ name: 'Authentication-Results', value: `${given.hostname}; ${parts.join('; ')}` }],
    facts: { senderVerified, dmarc: dmarcResult },
  };
}

/** A header value token (RFC 8601 pvalue): printable, no separators that would end it; else quoted. */
function token(text: string): string {
  const clean = text.replace(/[^\x21-\x7e]/g, '').slice(0, 255);
  return /^[A-Za-z0-9.@_+=-]+$/.test(clean) ? clean : `"${clean.replace(/["\\]/g, '')}"`;
}

function shown(text: string, max = MAX_SHOWN): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}
