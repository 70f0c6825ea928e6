/**
 * What an admin writes for an inbound policy, in the tenant file (`guard:` and `guard.policies:`) and
 * through the admin API alike: one schema, so both refuse the same mistakes with the same words, each
 * naming the field. Every field is optional; policy.ts fills in the defaults.
 *
 * A policy is named, enabled or not, matched by routing rules with a priority, and has:
 * - two thresholds: at the flag threshold a message is marked (header, subject prefix, catch-all address,
 *   or quarantine instead of marking); at the block threshold it is quarantined or rejected;
 * - modules, each a group of checks with its own switch, score and forced action (score, quarantine,
 *   reject): content filter, header protection, network & geo, sender authentication, message structure;
 * - quarantine and rejection settings (notification, release threshold, retention, templates).
 */
import { isIP } from 'node:net';
import { RE2JS } from 're2js';
import { z } from 'zod';

/** The guard's checks by name, so a misspelt name in disabledChecks is an error rather than a check left on. */
export const GUARD_CHECK_NAMES = [
  'message-structure',
  'reply-to-domain',
  'content-filter',
  'header-protection',
  'network-geo',
  'sender-authentication',
  'attachment-filter',
  'link-protection',
] as const;
export type GuardCheckName = (typeof GUARD_CHECK_NAMES)[number];

/** The modules a policy switches and scores; each check belongs to one (GuardCheck.module). */
export const GUARD_MODULES = ['structure', 'content', 'headers', 'network', 'authentication', 'attachments', 'links'] as const;
export type GuardModuleName = (typeof GUARD_MODULES)[number];

/** The longest pattern or keyword an admin may write; longer ones are not what a rule needs. */
export const MAX_RULE_LENGTH = 1000;
/** Most rules per list: each is tried on every message. */
export const MAX_RULES = 500;

const domainName = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(/^(?!-)[a-z0-9-]{1,63}(?:\.(?!-)[a-z0-9-]{1,63})+$/, 'must be a domain name such as example.com (IDNs in their xn-- form)');

const address = z.string().trim().toLowerCase().max(320).email('must be an e-mail address');

/** 192.0.2.1, 192.0.2.0/24, 2001:db8::/32. */
const ipRule = z
  .string()
  .trim()
  .max(64)
  .superRefine((value, context) => {
    const problem = ipRuleProblem(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });

export function ipRuleProblem(rule: string): string | undefined {
  const [ip, prefix, extra] = rule.split('/');
  const family = isIP(ip ?? '');
  if (!ip || family === 0 || extra !== undefined) return `"${rule}" is not an IP address or CIDR range (192.0.2.0/24, 2001:db8::/32)`;
  if (prefix === undefined) return undefined;
  const bits = Number(prefix);
  if (!/^\d{1,3}$/.test(prefix) || bits > (family === 6 ? 128 : 32)) return `"${rule}" has a prefix length outside 0–${family === 6 ? 128 : 32}`;
  return undefined;
}

/**
 * Compiles an admin's pattern with RE2 semantics (re2js): matching takes time linear in the input, so no
 * pattern can make a message take long. Patterns RE2 cannot run (back-references, lookaround) are refused.
 * Returns the compiled pattern or the reason it is refused, in words an admin can act on.
 */
export function compileRulePattern(pattern: string, caseSensitive = false): { regex: RE2JS } | { problem: string } {
  if (pattern.length === 0) return { problem: 'is empty' };
  if (pattern.length > MAX_RULE_LENGTH) return { problem: `is ${pattern.length} characters long; at most ${MAX_RULE_LENGTH}` };
  try {
    return { regex: RE2JS.compile(pattern, caseSensitive ? 0 : RE2JS.CASE_INSENSITIVE) };
  } catch (error) {
    const detail = error instanceof Error ? error.message.replace(/^error parsing regexp: /, '') : String(error);
    const hint = /\\[1-9]|\(\?[=!<]/.test(pattern)
      ? ' (back-references and lookaround are not supported: patterns run in linear time)'
      : '';
    return { problem: `is not a pattern the filter can run: ${detail}${hint}` };
  }
}

const moduleBase = {
  enabled: z.boolean().optional(),
  /** What a finding of the module does: add to the score, or force quarantine or rejection whatever the sum. */
  action: z.enum(['score', 'quarantine', 'reject']).optional(),
  /** The score each finding of the module adds, instead of the check's own. */
  scoreDelta: z.number().finite().min(-1000).max(1000).optional(),
};

const contentModule = z.strictObject({
  ...moduleBase,
  /** Words or phrases, matched case-insensitively as whole words; the position orders them (lowest first). */
  keywords: z
    .array(z.strictObject({ text: z.string().trim().min(1).max(MAX_RULE_LENGTH), position: z.number().int().min(0).max(1_000_000).optional() }))
    .max(MAX_RULES)
    .optional(),
  /** Regular expressions (RE2 syntax). */
  patterns: z
    .array(
      z
        .strictObject({
          pattern: z.string().max(MAX_RULE_LENGTH),
          caseSensitive: z.boolean().optional(),
          description: z.string().trim().max(200).optional(),
        })
        .superRefine((rule, context) => {
          const compiled = compileRulePattern(rule.pattern, rule.caseSensitive);
          if ('problem' in compiled) context.addIssue({ code: 'custom', path: ['pattern'], message: compiled.problem });
        }),
    )
    .max(MAX_RULES)
    .optional(),
  /** Where rules look: the subject, the text body, HTML bodies as text (all by default). */
  scope: z.array(z.enum(['subject', 'text', 'html'])).min(1).optional(),
});

const headersModule = z.strictObject({
  ...moduleBase,
  replyToMismatch: z.boolean().optional(),
  displayNameSpoofing: z.boolean().optional(),
  lookalikeDomains: z.boolean().optional(),
  /** Partners' domains whose look-alikes are caught like the tenant's own. */
  partnerDomains: z.array(domainName).max(MAX_RULES).optional(),
});

const networkModule = z.strictObject({
  ...moduleBase,
  /** Mail from these addresses or ranges is blocked. */
  ipBlockList: z.array(ipRule).max(10_000).optional(),
  /** When given, mail is accepted only from these addresses or ranges. */
  ipAllowList: z.array(ipRule).max(10_000).optional(),
  domainBlockList: z
    .array(
      z.strictObject({
        domain: domainName,
        /** Which domain of the message is compared: the envelope sender's, the From header's or the Reply-To's. */
        scope: z.enum(['sender', 'from', 'replyTo']).optional(),
      }),
    )
    .max(10_000)
    .optional(),
  /** ISO 3166-1 alpha-2 codes of the connecting address's country (from the operator's GeoIP database). */
  countryBlockList: z
    .array(z.string().trim().toUpperCase().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 country code such as RU or NG'))
    .max(300)
    .optional(),
});

const authenticationModule = z.strictObject({
  ...moduleBase,
  /** Follow the sender domain's DMARC policy: p=reject rejects, p=quarantine quarantines (default on). */
  honourDmarcPolicy: z.boolean().optional(),
});

const structureModule = z.strictObject({
  ...moduleBase,
  maxParts: z.number().int().min(1).max(100_000).optional(),
  maxNestingDepth: z.number().int().min(1).max(1000).optional(),
  maxHeaderLineBytes: z.number().int().min(78).max(1_000_000).optional(),
});

/**
 * What an attachment rule does with a file it applies to: nothing, add its score, block the message (the
 * policy's onBlock: quarantine or reject), or remove the file and deliver the rest with a notice.
 */
export const ATTACHMENT_ACTIONS = ['allow', 'score', 'block', 'remove'] as const;
const attachmentAction = z.enum(ATTACHMENT_ACTIONS);
const attachmentRule = z.strictObject({
  action: attachmentAction.optional(),
  /** The score a file adds under score and block. */
  score: z.number().finite().min(-1000).max(1000).optional(),
});
/**
 * Office documents and PDFs may also be cleaned: `sanitise` delivers the document without its macros
 * (or its scripts, actions, embedded files and forms). When it cannot be cleaned (damaged, encrypted,
 * inside an archive), onSanitiseFailure applies: score, remove or block.
 */
const sanitisableRule = z.strictObject({
  action: z.enum([...ATTACHMENT_ACTIONS, 'sanitise']).optional(),
  score: z.number().finite().min(-1000).max(1000).optional(),
  onSanitiseFailure: z.enum(['score', 'remove', 'block']).optional(),
});

const attachmentsModule = z.strictObject({
  ...moduleBase,
  /**
   * Rules per category. Office files and PDFs are ordinary mail: their rule applies to the risky ones (VBA
   * macros; JavaScript, launch actions, embedded files, forms). Archives' rule applies to archives that
   * cannot be unpacked and checked (RAR, 7z, damaged); the files inside readable ones get their own rules.
   */
  categories: z
    .strictObject({
      office: sanitisableRule.optional(),
      archives: attachmentRule.optional(),
      scripts: attachmentRule.optional(),
      executables: attachmentRule.optional(),
      html: attachmentRule.optional(),
      pdf: sanitisableRule.optional(),
    })
    .optional(),
  /** Look for VBA macros in Office files (default on). */
  macroDetection: z.boolean().optional(),
  /** Look for active content in PDFs (default on). */
  pdfActiveContent: z.boolean().optional(),
  /** A file whose name says another type than its content. */
  typeMismatch: attachmentRule.optional(),
  archives: z
    .strictObject({
      /** Unpack ZIP archives and check the files inside (default on). */
      inspect: z.boolean().optional(),
      /** Archives inside archives that are unpacked (1–50, default 5). */
      maxDepth: z.number().int().min(1).max(50).optional(),
      onDepthExceeded: attachmentRule.optional(),
      /** Password-protected archives, whose content cannot be checked. */
      onEncrypted: attachmentRule.optional(),
      /** Decompression bombs: too many entries, too many bytes, or an entry that unpacks too many times its size. */
      onBomb: attachmentRule.optional(),
      maxEntries: z.number().int().min(1).max(100_000).optional(),
      maxUnpackedMb: z.number().positive().max(4096).optional(),
      maxRatio: z.number().min(2).max(100_000).optional(),
    })
    .optional(),
  /** Extensions and file name patterns (* and ?), such as *.scr or invoice_*.exe; tried on files inside archives too. */
  custom: z
    .array(
      z.strictObject({
        pattern: z.string().trim().min(1).max(200).regex(/^[^\/\\\x00-\x1f]+$/, 'must be a file name pattern such as *.scr or invoice_*.exe'),
        action: attachmentAction.optional(),
        score: z.number().finite().min(-1000).max(1000).optional(),
      }),
    )
    .max(MAX_RULES)
    .optional(),
});

const linksModule = z.strictObject({
  ...moduleBase,
  /** Domains of URL shorteners besides the built-in list (bit.ly, tinyurl.com, t.co …). */
  shorteners: z.array(domainName).max(MAX_RULES).optional(),
  /** Query parameters that track the reader, besides the built-in ones (utm_*, fbclid, gclid, mc_eid …); a trailing * matches a prefix. */
  trackingParameters: z
    .array(z.string().trim().min(1).max(100).regex(/^[A-Za-z0-9_.-]+\*?$/, 'must be a parameter name such as utm_* or fbclid'))
    .max(MAX_RULES)
    .optional(),
  /** Add a warning to a delivered message whose images hold QR codes, with each link written so it cannot be clicked (default on). */
  qrWarning: z.boolean().optional(),
  /**
   * Follow links (up to five a message, shorteners first) through their redirects to where they lead, and
   * look for a password field there (default off: it costs a request per link and time per message).
   */
  follow: z.boolean().optional(),
  /**
   * Rewrite the links of delivered mail to Sealpost's click check (default off): each click is checked
   * again, and the reader sees where the link really goes before a warning lets them on.
   */
  rewrite: z.boolean().optional(),
  /** Remove tracking parameters from the links of delivered mail (default off). */
  removeTracking: z.boolean().optional(),
  /** Whether the click check's warning page lets the reader open a suspicious link anyway (default on). */
  clickThrough: z.boolean().optional(),
});

const template = z.string().max(100_000);

/** The settings of one policy, without its name and routing (shared by the default and the named policies). */
export const policySettingsShape = {
  /** Messages larger than this are refused (at SMTP time when the policy is known before the data). */
  maxMessageSizeMb: z.number().positive().max(1024).optional(),
  /** Score sums at or above which a message is flagged, and blocked. */
  thresholds: z
    .strictObject({ flag: z.number().finite().optional(), block: z.number().finite().optional() })
    .refine((t) => t.flag === undefined || t.block === undefined || t.flag <= t.block, { message: 'must rise: flag <= block' })
    .optional(),
  /** What a flagged message gets. `quarantine` keeps it instead of marking it. */
  onFlag: z
    .strictObject({
      header: z.boolean().optional(),
      subjectPrefix: z.string().max(50).regex(/^[^\r\n]*$/, 'must be one line').optional(),
      catchAll: address.optional(),
      quarantine: z.boolean().optional(),
    })
    .refine((f) => !f.quarantine || (!f.header && !f.subjectPrefix && !f.catchAll), {
      message: 'quarantine instead of marking cannot be combined with header, subjectPrefix or catchAll',
    })
    .optional(),
  /** What a blocked message gets: kept in quarantine (the recipient is told), or rejected. */
  onBlock: z.enum(['quarantine', 'reject']).optional(),
  /** Per-symbol scores that replace the check's own (REPLYTO_DOMAIN_DIFFERS: 6). */
  scores: z
    .record(z.string(), z.number().finite())
    .superRefine((scores, context) => {
      for (const symbol of Object.keys(scores)) {
        if (!/^[A-Z][A-Z0-9_]{0,99}$/.test(symbol)) {
          context.addIssue({ code: 'custom', path: [symbol], message: 'is not a symbol: symbol names are upper case, e.g. REPLYTO_DOMAIN_DIFFERS' });
        }
      }
    })
    .optional(),
  disabledChecks: z.array(z.enum(GUARD_CHECK_NAMES)).optional(),
  /**
   * What a check that times out or fails yields: a forced action and a score. Never deliver: a message a
   * check could not read must not pass as if it had been read.
   */
  onCheckFailure: z
    .strictObject({ action: z.enum(['flag', 'quarantine', 'reject']).optional(), score: z.number().finite().optional() })
    .optional(),
  /** Limits of the message-structure check (kept here as well as under modules.structure for older files). */
  limits: z
    .strictObject({
      maxParts: z.number().int().min(1).max(100_000).optional(),
      maxNestingDepth: z.number().int().min(1).max(1000).optional(),
      maxHeaderLineBytes: z.number().int().min(78).max(1_000_000).optional(),
    })
    .optional(),
  modules: z
    .strictObject({
      structure: structureModule.optional(),
      content: contentModule.optional(),
      headers: headersModule.optional(),
      network: networkModule.optional(),
      authentication: authenticationModule.optional(),
      attachments: attachmentsModule.optional(),
      links: linksModule.optional(),
    })
    .optional(),
  quarantine: z
    .strictObject({
      /** notify: the recipient gets a notification; portalOnly: they find it in the portal. */
      delivery: z.enum(['notify', 'portalOnly']).optional(),
      sender: address.optional(),
      subject: z.string().trim().min(1).max(200).regex(/^[^\r\n]*$/, 'must be one line').optional(),
      /** HTML with placeholders: {{recipient}} {{sender}} {{subject}} {{score}} {{reason}} {{link}} {{date}}. */
      template: template.optional(),
      language: z.enum(['en', 'de']).optional(),
      /** Up to this score recipients release a message themselves; above it Operators and Analysts do. */
      adminReleaseThreshold: z.number().finite().optional(),
      retentionDays: z.number().int().min(1).max(3650).optional(),
    })
    .optional(),
  rejection: z
    .strictObject({
      /** Send the sender a rejection notice when a message is rejected after the 250 (never to forged or null senders). */
      notify: z.boolean().optional(),
      subject: z.string().trim().min(1).max(200).regex(/^[^\r\n]*$/, 'must be one line').optional(),
      /** HTML with placeholders: {{sender}} {{recipients}} {{subject}} {{reason}} {{date}}. */
      template: template.optional(),
    })
    .optional(),
};

export const policySettingsSchema = z.strictObject(policySettingsShape);
export type PolicySettings = z.infer<typeof policySettingsSchema>;

/** Which mail a named policy is for. Within a list any entry matches; every list given must match. */
export const policyMatchSchema = z.strictObject({
  senders: z.array(address).max(MAX_RULES).optional(),
  recipients: z.array(address).max(MAX_RULES).optional(),
  senderDomains: z.array(domainName).max(MAX_RULES).optional(),
  recipientDomains: z.array(domainName).max(MAX_RULES).optional(),
});
export type PolicyMatch = z.infer<typeof policyMatchSchema>;

export const policyName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^\x00-\x1f\x7f]+$/, 'must be one line of printable characters');

/** A named policy: its settings, whether it is on, its priority (lower first) and the mail it is for. */
export const namedPolicySchema = z.strictObject({
  name: policyName,
  enabled: z.boolean().optional(),
  /** Lower numbers are tried first; the first enabled policy whose rules match applies. */
  priority: z.number().int().min(0).max(1_000_000).optional(),
  match: policyMatchSchema.optional(),
  ...policySettingsShape,
});
export type NamedPolicySettings = z.infer<typeof namedPolicySchema>;

/** The tenant file's `guard:` section: the tenant's default policy, and named policies for some of its mail. */
export const guardSectionSchema = z
  .strictObject({
    ...policySettingsShape,
    policies: z.array(namedPolicySchema).max(200).optional(),
  })
  .superRefine((section, context) => {
    const seen = new Set<string>();
    for (const [index, policy] of (section.policies ?? []).entries()) {
      const key = policy.name.toLowerCase();
      if (key === DEFAULT_POLICY_NAME.toLowerCase()) {
        context.addIssue({ code: 'custom', path: ['policies', index, 'name'], message: `"${DEFAULT_POLICY_NAME}" is the name of the settings directly under guard:` });
      }
      if (seen.has(key)) context.addIssue({ code: 'custom', path: ['policies', index, 'name'], message: `a second policy is named "${policy.name}"` });
      seen.add(key);
    }
  });
export type GuardSettings = z.infer<typeof guardSectionSchema>;

/** The name of the tenant's default policy: the settings directly under the tenant file's `guard:`. */
export const DEFAULT_POLICY_NAME = 'Default';
