/**
 * An inbound policy with its defaults filled in: what the runner and the checks read. Admins write
 * policies (guard-policy-settings.ts) naming only what differs; resolveGuardPolicy() completes them.
 *
 * Defaults, and why:
 * - flag at 5, block at 15 (Rspamd's add_header 6 / reject 15, a step lower for flagging because a flag
 *   only moves mail to the junk folder); a flagged message gets `X-Sealpost-Flag: YES` (Exchange's rule
 *   makes it SCL 7); a blocked one is quarantined, where nothing is lost and the recipient is told;
 * - a check that times out or fails forces **quarantine** (score 0): a message a check could not read
 *   must neither be delivered as if it were clean nor be lost. A tenant may soften this to `flag` or
 *   harden it to `reject`, never to deliver;
 * - structure limits far above real mail: 200 parts, nesting 12 deep, and 998-byte header lines
 *   (RFC 5322 2.1.1's limit; a longer one scores only a little, as some real senders break it);
 * - every module on, adding its checks' own scores;
 * - recipients release their own quarantined mail below the block threshold; quarantine is kept 30 days.
 */
import type { GuardAction } from './contract.ts';
import {
  type ATTACHMENT_ACTIONS,
  DEFAULT_POLICY_NAME,
  type GuardCheckName,
  type GuardModuleName,
  type NamedPolicySettings,
  type PolicyMatch,
  type PolicySettings,
} from '../guard-policy-settings.ts';

export interface GuardModuleSettings {
  enabled: boolean;
  action: 'score' | 'quarantine' | 'reject';
  /** The score each positive finding of the module adds instead of the check's own; undefined keeps the check's. */
  scoreDelta?: number;
}

export interface ContentRule {
  kind: 'keyword' | 'pattern';
  /** The keyword, or the pattern's source. */
  text: string;
  caseSensitive: boolean;
  description?: string;
}

export type AttachmentAction = (typeof ATTACHMENT_ACTIONS)[number] | 'sanitise';
export interface AttachmentRule {
  action: AttachmentAction;
  score: number;
  /** Office and PDF rules: what a file that cannot be cleaned gets. */
  onSanitiseFailure?: 'score' | 'remove' | 'block';
}
export type AttachmentCategoryName = 'office' | 'archives' | 'scripts' | 'executables' | 'html' | 'pdf';

export interface AttachmentSettings extends GuardModuleSettings {
  categories: Readonly<Record<AttachmentCategoryName, AttachmentRule>>;
  macroDetection: boolean;
  pdfActiveContent: boolean;
  typeMismatch: AttachmentRule;
  archives: {
    inspect: boolean;
    maxDepth: number;
    onDepthExceeded: AttachmentRule;
    onEncrypted: AttachmentRule;
    onBomb: AttachmentRule;
    maxEntries: number;
    maxUnpackedBytes: number;
    maxRatio: number;
  };
  custom: ReadonlyArray<{ pattern: string } & AttachmentRule>;
}

export interface GuardPolicy {
  /** The stored policy's id; undefined for the built-in default. */
  id?: string;
  name: string;
  priority: number;
  match: PolicyMatch;
  maxMessageBytes?: number;
  thresholds: { flag: number; block: number };
  onFlag: { header: boolean; subjectPrefix?: string; catchAll?: string; quarantine: boolean };
  onBlock: 'quarantine' | 'reject';
  /** Per-symbol scores that replace a check's own. */
  scores: Readonly<Record<string, number>>;
  disabledChecks: ReadonlySet<string>;
  onCheckFailure: { action: Exclude<GuardAction, 'deliver'>; score: number };
  limits: { maxParts: number; maxNestingDepth: number; maxHeaderLineBytes: number };
  modules: {
    structure: GuardModuleSettings;
    content: GuardModuleSettings & {
      /** Keywords (by position) then patterns, in the order they are tried. */
      rules: readonly ContentRule[];
      scope: ReadonlyArray<'subject' | 'text' | 'html'>;
    };
    headers: GuardModuleSettings & {
      replyToMismatch: boolean;
      displayNameSpoofing: boolean;
      lookalikeDomains: boolean;
      partnerDomains: readonly string[];
    };
    network: GuardModuleSettings & {
      ipBlockList: readonly string[];
      ipAllowList: readonly string[];
      domainBlockList: ReadonlyArray<{ domain: string; scope: 'sender' | 'from' | 'replyTo' }>;
      countryBlockList: readonly string[];
    };
    authentication: GuardModuleSettings & { honourDmarcPolicy: boolean };
    attachments: AttachmentSettings;
    links: GuardModuleSettings & {
      shorteners: readonly string[];
      trackingParameters: readonly string[];
      qrWarning: boolean;
      follow: boolean;
      rewrite: boolean;
      removeTracking: boolean;
      clickThrough: boolean;
    };
  };
  quarantine: {
    delivery: 'notify' | 'portalOnly';
    sender?: string;
    /** undefined: the notice's subject in the policy's language. */
    subject?: string;
    template?: string;
    language: 'en' | 'de';
    adminReleaseThreshold: number;
    retentionDays: number;
  };
  rejection: { notify: boolean; subject?: string; template?: string };
}

const moduleDefaults: GuardModuleSettings = { enabled: true, action: 'score' };

/**
 * Attachments by default: programs and scripts are what no business partner needs to mail, so they block
 * the message; a macro document is delivered without its macros (removed whole when it cannot be cleaned),
 * which the recipient is told; a PDF
 * with active content and an HTML file (a common phishing page) count towards the score; an archive that
 * cannot be checked, or is encrypted, counts a little; a bomb or an archive nested past five levels blocks.
 */
const attachmentDefaults: AttachmentSettings = {
  ...moduleDefaults,
  categories: {
    office: { action: 'sanitise', score: 5, onSanitiseFailure: 'remove' },
    archives: { action: 'score', score: 2 },
    scripts: { action: 'block', score: 10 },
    executables: { action: 'block', score: 10 },
    html: { action: 'score', score: 3 },
    pdf: { action: 'score', score: 4, onSanitiseFailure: 'remove' },
  },
  macroDetection: true,
  pdfActiveContent: true,
  typeMismatch: { action: 'score', score: 3 },
  archives: {
    inspect: true,
    maxDepth: 5,
    onDepthExceeded: { action: 'block', score: 10 },
    onEncrypted: { action: 'score', score: 3 },
    onBomb: { action: 'block', score: 10 },
    maxEntries: 10_000,
    maxUnpackedBytes: 200 * 1024 * 1024,
    maxRatio: 200,
  },
  custom: [],
};

export const DEFAULT_GUARD_POLICY: GuardPolicy = Object.freeze({
  name: DEFAULT_POLICY_NAME,
  priority: 1_000_000,
  match: {},
  thresholds: { flag: 5, block: 15 },
  onFlag: { header: true, quarantine: false },
  onBlock: 'quarantine',
  scores: {},
  disabledChecks: new Set<string>(),
  onCheckFailure: { action: 'quarantine', score: 0 },
  limits: { maxParts: 200, maxNestingDepth: 12, maxHeaderLineBytes: 998 },
  modules: {
    structure: moduleDefaults,
    content: { ...moduleDefaults, rules: [], scope: ['subject', 'text', 'html'] },
    headers: { ...moduleDefaults, replyToMismatch: true, displayNameSpoofing: true, lookalikeDomains: true, partnerDomains: [] },
    network: { ...moduleDefaults, ipBlockList: [], ipAllowList: [], domainBlockList: [], countryBlockList: [] },
    authentication: { ...moduleDefaults, honourDmarcPolicy: true },
    attachments: attachmentDefaults,
    links: { ...moduleDefaults, shorteners: [], trackingParameters: [], qrWarning: true, follow: false, rewrite: false, removeTracking: false, clickThrough: true },
  },
  quarantine: {
    delivery: 'notify',
    language: 'en',
    adminReleaseThreshold: 15,
    retentionDays: 30,
  },
  rejection: { notify: true },
}) as GuardPolicy;

/** The check each module holds, for switching a module off. */
export const MODULE_OF_CHECK: Record<GuardCheckName, GuardModuleName> = {
  'message-structure': 'structure',
  'reply-to-domain': 'headers',
  'content-filter': 'content',
  'header-protection': 'headers',
  'network-geo': 'network',
  'sender-authentication': 'authentication',
  'attachment-filter': 'attachments',
  'link-protection': 'links',
};

function moduleOf(given: { enabled?: boolean; action?: GuardModuleSettings['action']; scoreDelta?: number } | undefined): GuardModuleSettings {
  return {
    enabled: given?.enabled ?? true,
    action: given?.action ?? 'score',
    ...(given?.scoreDelta !== undefined ? { scoreDelta: given.scoreDelta } : {}),
  };
}

/** A policy as written (the tenant file's guard section, or a stored policy) with every default filled in. */
export function resolveGuardPolicy(
  settings: (PolicySettings & Partial<Pick<NamedPolicySettings, 'name' | 'priority' | 'match'>>) | undefined,
  id?: string,
): GuardPolicy {
  if (!settings) return DEFAULT_GUARD_POLICY;
  const d = DEFAULT_GUARD_POLICY;
  const modules = settings.modules ?? {};
  const structureLimits = { ...settings.limits, ...pickDefined(modules.structure ?? {}, ['maxParts', 'maxNestingDepth', 'maxHeaderLineBytes']) };
  const flag = settings.thresholds?.flag ?? d.thresholds.flag;
  const block = settings.thresholds?.block ?? Math.max(d.thresholds.block, flag);
  const keywords = [...(modules.content?.keywords ?? [])]
    .map((k, index) => ({ ...k, index }))
    .sort((a, b) => (a.position ?? Number.MAX_SAFE_INTEGER) - (b.position ?? Number.MAX_SAFE_INTEGER) || a.index - b.index);
  return {
    ...(id ? { id } : {}),
    name: settings.name ?? d.name,
    priority: settings.priority ?? d.priority,
    match: settings.match ?? {},
    ...(settings.maxMessageSizeMb !== undefined ? { maxMessageBytes: Math.round(settings.maxMessageSizeMb * 1024 * 1024) } : {}),
    thresholds: { flag, block },
    onFlag: settings.onFlag?.quarantine
      ? { header: false, quarantine: true }
      : {
          header: settings.onFlag?.header ?? d.onFlag.header,
          ...(settings.onFlag?.subjectPrefix ? { subjectPrefix: settings.onFlag.subjectPrefix } : {}),
          ...(settings.onFlag?.catchAll ? { catchAll: settings.onFlag.catchAll } : {}),
          quarantine: false,
        },
    onBlock: settings.onBlock ?? d.onBlock,
    scores: { ...settings.scores },
    disabledChecks: new Set(settings.disabledChecks ?? []),
    onCheckFailure: {
      action: settings.onCheckFailure?.action ?? d.onCheckFailure.action,
      score: settings.onCheckFailure?.score ?? d.onCheckFailure.score,
    },
    limits: {
      maxParts: structureLimits.maxParts ?? d.limits.maxParts,
      maxNestingDepth: structureLimits.maxNestingDepth ?? d.limits.maxNestingDepth,
      maxHeaderLineBytes: structureLimits.maxHeaderLineBytes ?? d.limits.maxHeaderLineBytes,
    },
    modules: {
      structure: moduleOf(modules.structure),
      content: {
        ...moduleOf(modules.content),
        rules: [
          ...keywords.map((k): ContentRule => ({ kind: 'keyword', text: k.text, caseSensitive: false })),
          ...(modules.content?.patterns ?? []).map(
            (p): ContentRule => ({ kind: 'pattern', text: p.pattern, caseSensitive: p.caseSensitive ?? false, ...(p.description ? { description: p.description } : {}) }),
          ),
        ],
        scope: modules.content?.scope ?? d.modules.content.scope,
      },
      headers: {
        ...moduleOf(modules.headers),
        replyToMismatch: modules.headers?.replyToMismatch ?? true,
        displayNameSpoofing: modules.headers?.displayNameSpoofing ?? true,
        lookalikeDomains: modules.headers?.lookalikeDomains ?? true,
        partnerDomains: modules.headers?.partnerDomains ?? [],
      },
      network: {
        ...moduleOf(modules.network),
        ipBlockList: modules.network?.ipBlockList ?? [],
        ipAllowList: modules.network?.ipAllowList ?? [],
        domainBlockList: (modules.network?.domainBlockList ?? []).map((r) => ({ domain: r.domain, scope: r.scope ?? 'sender' })),
        countryBlockList: modules.network?.countryBlockList ?? [],
      },
      authentication: { ...moduleOf(modules.authentication), honourDmarcPolicy: modules.authentication?.honourDmarcPolicy ?? true },
      attachments: resolveAttachments(modules.attachments),
      links: {
        ...moduleOf(modules.links),
        shorteners: modules.links?.shorteners ?? [],
        trackingParameters: (modules.links?.trackingParameters ?? []).map((p) => p.toLowerCase()),
        qrWarning: modules.links?.qrWarning ?? true,
        follow: modules.links?.follow ?? false,
        rewrite: modules.links?.rewrite ?? false,
        removeTracking: modules.links?.removeTracking ?? false,
        clickThrough: modules.links?.clickThrough ?? true,
      },
    },
    quarantine: {
      delivery: settings.quarantine?.delivery ?? d.quarantine.delivery,
      ...(settings.quarantine?.sender ? { sender: settings.quarantine.sender } : {}),
      ...(settings.quarantine?.subject ? { subject: settings.quarantine.subject } : {}),
      ...(settings.quarantine?.template ? { template: settings.quarantine.template } : {}),
      language: settings.quarantine?.language ?? d.quarantine.language,
      adminReleaseThreshold: settings.quarantine?.adminReleaseThreshold ?? block,
      retentionDays: settings.quarantine?.retentionDays ?? d.quarantine.retentionDays,
    },
    rejection: {
      notify: settings.rejection?.notify ?? d.rejection.notify,
      ...(settings.rejection?.subject ? { subject: settings.rejection.subject } : {}),
      ...(settings.rejection?.template ? { template: settings.rejection.template } : {}),
    },
  };
}

function resolveAttachments(given: NonNullable<PolicySettings['modules']>['attachments']): AttachmentSettings {
  const d = attachmentDefaults;
  const rule = (
    written: { action?: AttachmentAction; score?: number; onSanitiseFailure?: AttachmentRule['onSanitiseFailure'] } | undefined,
    fallback: AttachmentRule,
  ): AttachmentRule => ({
    action: written?.action ?? fallback.action,
    score: written?.score ?? fallback.score,
    ...((written?.onSanitiseFailure ?? fallback.onSanitiseFailure) ? { onSanitiseFailure: written?.onSanitiseFailure ?? fallback.onSanitiseFailure } : {}),
  });
  const categories = Object.fromEntries(
    (Object.keys(d.categories) as AttachmentCategoryName[]).map((name) => [name, rule(given?.categories?.[name], d.categories[name])]),
  ) as Record<AttachmentCategoryName, AttachmentRule>;
  return {
    ...moduleOf(given),
    categories,
    macroDetection: given?.macroDetection ?? d.macroDetection,
    pdfActiveContent: given?.pdfActiveContent ?? d.pdfActiveContent,
    typeMismatch: rule(given?.typeMismatch, d.typeMismatch),
    archives: {
      inspect: given?.archives?.inspect ?? d.archives.inspect,
      maxDepth: given?.archives?.maxDepth ?? d.archives.maxDepth,
      onDepthExceeded: rule(given?.archives?.onDepthExceeded, d.archives.onDepthExceeded),
      onEncrypted: rule(given?.archives?.onEncrypted, d.archives.onEncrypted),
      onBomb: rule(given?.archives?.onBomb, d.archives.onBomb),
      maxEntries: given?.archives?.maxEntries ?? d.archives.maxEntries,
      maxUnpackedBytes: given?.archives?.maxUnpackedMb !== undefined ? Math.round(given.archives.maxUnpackedMb * 1024 * 1024) : d.archives.maxUnpackedBytes,
      maxRatio: given?.archives?.maxRatio ?? d.archives.maxRatio,
    },
    custom: (given?.custom ?? []).map((r) => ({ pattern: r.pattern, action: r.action ?? 'block', score: r.score ?? 10 })),
  };
}

function pickDefined<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (from[key] !== undefined) picked[key] = from[key];
  return picked;
}

/** Whether a policy's routing rules take this message: within a list any entry, and every list given. */
export function policyMatches(match: PolicyMatch, mailFrom: string, recipients: readonly string[]): boolean {
  const sender = mailFrom.toLowerCase();
  const senderDomain = domainOf(sender);
  const lowerRecipients = recipients.map((r) => r.toLowerCase());
  if (match.senders?.length && !match.senders.includes(sender)) return false;
  if (match.senderDomains?.length && !match.senderDomains.some((d) => senderDomain === d || senderDomain.endsWith(`.${d}`))) return false;
  if (match.recipients?.length && !lowerRecipients.some((r) => match.recipients!.includes(r))) return false;
  if (match.recipientDomains?.length && !lowerRecipients.some((r) => match.recipientDomains!.includes(domainOf(r)))) return false;
  return true;
}

/** The first enabled policy, by priority, whose rules take the message; the given fallback otherwise. */
export function selectPolicy(
  policies: readonly (GuardPolicy & { enabled?: boolean })[],
  mailFrom: string,
  recipients: readonly string[],
  fallback: GuardPolicy = DEFAULT_GUARD_POLICY,
): GuardPolicy {
  const ordered = [...policies].sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
  return ordered.find((p) => p.enabled !== false && policyMatches(p.match, mailFrom, recipients)) ?? fallback;
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1);
}
