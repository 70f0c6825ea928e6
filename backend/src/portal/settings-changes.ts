/**
 * Changing a tenant's portal settings (PATCH /api/portal/admin/settings): every field checked with a
 * message that names it and the rule it broke, all wrong fields at once; null takes the tenant's value
 * away (the product default applies again, or, for optional values, none); the change and the audit entry
 * that records it (each changed field, old → new; of templates only whether and how long) in one transaction.
 */
import { eq, sql } from 'drizzle-orm';
import { NOTIFICATION_HTML_PLACEHOLDERS, NOTIFICATION_PLACEHOLDERS } from '../../../common/src/notification-templates.ts';
import { templatePlaceholders } from '../../../common/src/placeholders.ts';
import type { PortalFieldError, PortalLanguage } from '../../../common/src/portal-api.ts';
import { appendAudit } from '../audit/audit-log.ts';
import type { Queryable } from '../db/client.ts';
import { portalTenantSettings } from '../db/schema.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { checkAddressSyntax } from '../mail/address-syntax.ts';
import type { AuditKeys } from '../vault/audit-keys.ts';
import { DEFAULT_PORTAL_SETTINGS, loadPortalSettings, type NotificationTemplate, type PortalSettings } from './portal-settings.ts';

type Stored = Partial<PortalSettings> & Record<string, unknown>;

const LANGUAGES: readonly PortalLanguage[] = ['en', 'de'];
const TEMPLATE_PARTS = ['subject', 'text', 'html'] as const;
/** A template part's longest text: a subject is one line, a body a page of HTML. */
const TEMPLATE_MAX_CHARS = { subject: 500, text: 100_000, html: 100_000 } as const;
const DIGEST_TEMPLATE_MAX_CHARS = 100_000;
const DIGEST_PLACEHOLDERS = ['subject', 'rows', 'domain'];
/** The largest storage size taken: far beyond any disk, and still exact in JSON and JavaScript. */
const MAX_BYTES = Number.MAX_SAFE_INTEGER;

type FieldSpec =
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'one-of'; values: readonly string[] }
  | { kind: 'boolean' };

/** The plain fields and their rules; notificationTemplates, memberQuotaBytes and digestTemplate have their own checks. */
const FIELDS: Record<string, FieldSpec> = {
  language: { kind: 'one-of', values: LANGUAGES },
  defaultExpiryDays: { kind: 'integer', min: 1, max: 3650 },
  maxExpiryDays: { kind: 'integer', min: 1, max: 3650 },
  magicLinkTtlMinutes: { kind: 'integer', min: 5, max: 525_600 },
  signInLinkTtlMinutes: { kind: 'integer', min: 5, max: 1440 },
  sessionTtlMinutes: { kind: 'integer', min: 5, max: 10_080 },
  bindSessionToIp: { kind: 'boolean' },
  tenantQuotaBytes: { kind: 'integer', min: 0, max: MAX_BYTES },
  memberDefaultQuotaBytes: { kind: 'integer', min: 0, max: MAX_BYTES },
  retentionDays: { kind: 'integer', min: 1, max: 36_500 },
  digestInterval: { kind: 'one-of', values: ['never', 'hourly', 'daily', 'weekly'] },
  digestLanguage: { kind: 'one-of', values: LANGUAGES },
  maxAttachmentBytes: { kind: 'integer', min: 0, max: MAX_BYTES },
  maxAttachments: { kind: 'integer', min: 0, max: 100 },
  maxReplyBytes: { kind: 'integer', min: 0, max: MAX_BYTES },
  secondFactor: { kind: 'one-of', values: ['on-request', 'always'] },
  unlistedAsContact: { kind: 'boolean' },
  magicLinkForAdmins: { kind: 'boolean' },
};

export const SETTINGS_FIELDS = [...Object.keys(FIELDS), 'notificationTemplates', 'memberQuotaBytes', 'digestTemplate'] as const;

/** Pairs of fields where the first may not be larger than the second. */
const ORDERED_PAIRS: ReadonlyArray<[lower: keyof PortalSettings, upper: keyof PortalSettings]> = [
  ['defaultExpiryDays', 'maxExpiryDays'],
  ['maxAttachmentBytes', 'maxReplyBytes'],
];

const error = (field: string, rule: PortalFieldError['rule'], text: string, limit?: string | number): PortalFieldError => ({
  field,
  message: `${field}: ${text}`,
  rule,
  ...(limit === undefined ? {} : { limit }),
});

function checkPlain(field: string, spec: FieldSpec, value: unknown): PortalFieldError | undefined {
  switch (spec.kind) {
    case 'boolean':
      return typeof value === 'boolean' ? undefined : error(field, 'type', 'must be true or false');
    case 'one-of':
      return typeof value === 'string' && spec.values.includes(value) ? undefined : error(field, 'one-of', `must be one of ${spec.values.join(', ')}`, spec.values.join(', '));
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return error(field, 'type', 'must be a whole number');
      if (value < spec.min) return error(field, 'minimum', spec.min === 0 ? 'must not be negative' : `must be at least ${spec.min}`, spec.min);
      if (value > spec.max) return error(field, 'maximum', `must be at most ${spec.max}`, spec.max);
      return undefined;
  }
}

/** A template part must keep what the recipient needs ({{link}}) and use only placeholders that are filled. */
function checkTemplateText(field: string, value: string, allowed: readonly string[], required: string | undefined, maxChars: number): PortalFieldError | undefined {
  if (value.length > maxChars) return error(field, 'too-long', `must be at most ${maxChars} characters`, maxChars);
  const used = templatePlaceholders(value);
  const unknown = used.find((name) => !allowed.includes(name));
  if (unknown) {
    return error(field, 'placeholder-unknown', `{{${unknown}}} is not a placeholder; use ${allowed.map((n) => `{{${n}}}`).join(', ')}`, `{{${unknown}}}`);
  }
  if (required && !used.includes(required)) return error(field, 'placeholder-missing', `must keep {{${required}}}`, `{{${required}}}`);
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The stored settings after the change, or every field error. `stored` is what the tenant set (without product defaults). */
export function applySettingsChange(
  stored: Stored,
  change: Record<string, unknown>,
  tenantDomains: readonly string[],
  tenant: { entraSignIn: boolean } = { entraSignIn: false },
): { ok: true; stored: Stored } | { ok: false; errors: PortalFieldError[] } {
  const errors: PortalFieldError[] = [];
  const next: Stored = { ...stored };
  const unset = (field: string) => delete next[field];

  for (const [field, value] of Object.entries(change)) {
    if (field in FIELDS) {
      if (value === null) unset(field);
      else {
        const problem = checkPlain(field, FIELDS[field]!, value);
        if (problem) errors.push(problem);
        else next[field] = value;
      }
    } else if (field === 'digestTemplate') {
      if (value === null || value === '') unset(field);
      else if (typeof value !== 'string') errors.push(error(field, 'type', 'must be text'));
      else {
        const problem = checkTemplateText(field, value, DIGEST_PLACEHOLDERS, 'rows', DIGEST_TEMPLATE_MAX_CHARS);
        if (problem) errors.push(problem);
        else next.digestTemplate = value;
      }
    } else if (field === 'memberQuotaBytes') {
      const quotas = changeMemberQuotas(value, tenantDomains, errors);
      if (quotas) next.memberQuotaBytes = quotas;
    } else if (field === 'notificationTemplates') {
      const templates = changeTemplates(next.notificationTemplates ?? {}, value, errors);
      if (templates) next.notificationTemplates = templates;
    } else {
      errors.push(error(field, 'unknown-field', `is not a portal setting; the settings are ${SETTINGS_FIELDS.join(', ')}`));
    }
  }

  // What will apply: the product defaults with the tenant's values over them, as loadPortalSettings reads it.
  const after = { ...DEFAULT_PORTAL_SETTINGS, ...next } as Record<string, unknown>;
  for (const [lower, upper] of ORDERED_PAIRS) {
    const low = after[lower];
    const high = after[upper];
    if (typeof low !== 'number' || typeof high !== 'number' || low <= high) continue;
    if (errors.some((e) => e.field === lower || e.field === upper)) continue;
    // Said of the field that changed; when both did, of the upper bound.
    if (upper in change) errors.push(error(upper, 'at-least', `must be at least ${lower} (${low})`, `${lower} (${low})`));
    else errors.push(error(lower, 'at-most', `must be at most ${upper} (${high})`, `${upper} (${high})`));
  }
  // Without the organisation sign-in, members with a console role would have no way in at all.
  if (change.magicLinkForAdmins === false && !tenant.entraSignIn && !errors.some((e) => e.field === 'magicLinkForAdmins')) {
    errors.push(
      error(
        'magicLinkForAdmins',
        'needs-organisation-sign-in',
        'can only be turned off when the organisation signs in with Entra ID (entra in the tenant file); otherwise admins could not sign in at all',
      ),
    );
  }
  return errors.length ? { ok: false, errors } : { ok: true, stored: next };
}

/** The whole per-member list is replaced: what the request names is the list afterwards (null: none). */
function changeMemberQuotas(value: unknown, tenantDomains: readonly string[], errors: PortalFieldError[]): Record<string, number> | undefined {
  const field = 'memberQuotaBytes';
  if (value === null) return {};
  if (!isRecord(value)) {
    errors.push(error(field, 'type', 'must map members\' addresses to sizes in bytes'));
    return undefined;
  }
  const domains = tenantDomains.map((d) => d.toLowerCase());
  const out: Record<string, number> = {};
  let failed = false;
  for (const [rawAddress, bytes] of Object.entries(value)) {
    const address = rawAddress.trim().toLowerCase();
    const entry = `${field}.${rawAddress}`;
    const syntax = checkAddressSyntax(address);
    if (!syntax.valid) {
      errors.push(error(entry, 'address', `is not a valid address: ${syntax.problem}`));
      failed = true;
      continue;
    }
    const domain = address.slice(address.lastIndexOf('@') + 1);
    if (!domains.includes(domain)) {
      errors.push(error(entry, 'foreign-domain', `must be an address of the organisation's domains (${domains.join(', ')})`, domains.join(', ')));
      failed = true;
      continue;
    }
    const problem = checkPlain(entry, { kind: 'integer', min: 0, max: MAX_BYTES }, bytes);
    if (problem) {
      errors.push(problem);
      failed = true;
      continue;
    }
    out[address] = bytes as number;
  }
  return failed ? undefined : out;
}

/** Per language and part: text replaces the part, null or empty text brings back the product's own; a language set to null loses all its parts. */
function changeTemplates(
  current: PortalSettings['notificationTemplates'],
  value: unknown,
  errors: PortalFieldError[],
): PortalSettings['notificationTemplates'] | undefined {
  const field = 'notificationTemplates';
  if (value === null) return {};
  if (!isRecord(value)) {
    errors.push(error(field, 'type', 'must map languages (en, de) to templates'));
    return undefined;
  }
  const out: PortalSettings['notificationTemplates'] = { ...current };
  let failed = false;
  for (const [language, parts] of Object.entries(value)) {
    const languageField = `${field}.${language}`;
    if (!LANGUAGES.includes(language as PortalLanguage)) {
      errors.push(error(languageField, 'one-of', 'is not a language of the portal; use en or de', 'en, de'));
      failed = true;
      continue;
    }
    const lang = language as PortalLanguage;
    if (parts === null) {
      delete out[lang];
      continue;
    }
    if (!isRecord(parts)) {
      errors.push(error(languageField, 'type', 'must have subject, text and html'));
      failed = true;
      continue;
    }
    const template: Partial<NotificationTemplate> = { ...out[lang] };
    for (const [part, text] of Object.entries(parts)) {
      const partField = `${languageField}.${part}`;
      if (!(TEMPLATE_PARTS as readonly string[]).includes(part)) {
        errors.push(error(partField, 'unknown-field', 'is not a part of a template; use subject, text, html'));
        failed = true;
        continue;
      }
      const name = part as (typeof TEMPLATE_PARTS)[number];
      if (text === null || text === '') {
        delete template[name];
        continue;
      }
      if (typeof text !== 'string') {
        errors.push(error(partField, 'type', 'must be text'));
        failed = true;
        continue;
      }
      const allowed = name === 'html' ? NOTIFICATION_HTML_PLACEHOLDERS : NOTIFICATION_PLACEHOLDERS;
      // The link is what the notification is for: text and HTML must carry it; a subject need not.
      const problem = checkTemplateText(partField, text, allowed, name === 'subject' ? undefined : 'link', TEMPLATE_MAX_CHARS[name]);
      if (problem) {
        errors.push(problem);
        failed = true;
        continue;
      }
      template[name] = text;
    }
    if (Object.keys(template).length) out[lang] = template;
    else delete out[lang];
  }
  return failed ? undefined : out;
}

export interface SettingsChangeRecord {
  field: string;
  from: unknown;
  to: unknown;
}

/** How a template shows in the audit log: that it is the tenant's own and how long, never its text. */
const templateNote = (text: string | undefined) => (text === undefined ? null : `custom (${text.length} characters)`);

/** What changed between two stored settings, field by field (templates and the member list entry by entry). */
export function describeChanges(before: Stored, after: Stored): SettingsChangeRecord[] {
  const changes: SettingsChangeRecord[] = [];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const key of keys) {
    if (key === 'notificationTemplates') {
      for (const language of LANGUAGES) {
        for (const part of TEMPLATE_PARTS) {
          const from = before.notificationTemplates?.[language]?.[part];
          const to = after.notificationTemplates?.[language]?.[part];
          if (from !== to) changes.push({ field: `notificationTemplates.${language}.${part}`, from: templateNote(from), to: templateNote(to) });
        }
      }
    } else if (key === 'digestTemplate') {
      if (before.digestTemplate !== after.digestTemplate) changes.push({ field: key, from: templateNote(before.digestTemplate), to: templateNote(after.digestTemplate) });
    } else if (key === 'memberQuotaBytes') {
      const from = before.memberQuotaBytes ?? {};
      const to = after.memberQuotaBytes ?? {};
      for (const address of [...new Set([...Object.keys(from), ...Object.keys(to)])].sort()) {
        if (from[address] !== to[address]) changes.push({ field: `memberQuotaBytes.${address}`, from: from[address] ?? null, to: to[address] ?? null });
      }
    } else if (before[key] !== after[key]) {
      changes.push({ field: key, from: before[key] ?? null, to: after[key] ?? null });
    }
  }
  return changes;
}

export interface SettingsActor {
  tenantId: string;
  actorId?: string;
  actorAddress: string;
  clientIp?: string;
}

/**
 * Checks and applies a change, and records it in the audit log in the same transaction (nothing when
 * nothing changed). The tenant's row is locked meanwhile, so two admins saving at once both count.
 */
export async function changePortalSettings(
  db: Queryable,
  auditKeys: AuditKeys,
  actor: SettingsActor,
  tenantDomains: readonly string[],
  change: Record<string, unknown>,
  tenant: { entraSignIn: boolean } = { entraSignIn: false },
): Promise<{ ok: true; settings: PortalSettings } | { ok: false; errors: PortalFieldError[] }> {
  return withTenants(db, actor.tenantId, async (tx) => {
    const [row] = await tx.select().from(portalTenantSettings).where(eq(portalTenantSettings.tenantId, actor.tenantId)).for('update');
    const stored = (row?.settings ?? {}) as Stored;
    const result = applySettingsChange(stored, change, tenantDomains, tenant);
    if (!result.ok) return result;
    const changes = describeChanges(stored, result.stored);
    if (changes.length) {
      const settings = result.stored as Record<string, unknown>;
      await tx
        .insert(portalTenantSettings)
        .values({ tenantId: actor.tenantId, settings })
        .onConflictDoUpdate({ target: portalTenantSettings.tenantId, set: { settings, updatedAt: sql`now()` } });
      await appendAudit(tx, auditKeys, {
        tenantId: actor.tenantId,
        action: 'portal_settings_changed',
        actorId: actor.actorId,
        actorAddress: actor.actorAddress,
        clientIp: actor.clientIp,
        details: { changes },
      });
    }
    return { ok: true, settings: await loadPortalSettings(tx, actor.tenantId) };
  });
}
