/** A tenant's portal settings, with the product defaults for everything the tenant did not set. */
import { eq, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { inTenantScope } from '../db/tenant-scope.ts';
import { portalTenantSettings } from '../db/schema.ts';
import type { PortalLanguage } from '../../../common/src/portal-api.ts';

export interface NotificationTemplate {
  /** Placeholders: {{sender}}, {{subject}}, {{link}}, {{expires}}. */
  subject: string;
  text: string;
  html: string;
}

export type DigestInterval = 'never' | 'hourly' | 'daily' | 'weekly';

export interface PortalSettings {
  /** Language of notifications and the portal; unset: German for .de/.at/.ch recipients, else English. */
  language?: PortalLanguage;
  notificationTemplates: Partial<Record<PortalLanguage, Partial<NotificationTemplate>>>;
  defaultExpiryDays: number;
  maxExpiryDays: number;
  magicLinkTtlMinutes: number;
  signInLinkTtlMinutes: number;
  sessionTtlMinutes: number;
  bindSessionToIp: boolean;
  /** Unset: no tenant-wide limit. */
  tenantQuotaBytes?: number;
  memberDefaultQuotaBytes: number;
  memberQuotaBytes: Record<string, number>;
  /** Unset: kept until expiry or deletion. */
  retentionDays?: number;
  digestInterval: DigestInterval;
  /** Placeholders: {{subject}}, {{rows}}, {{domain}}. */
  digestTemplate?: string;
  digestLanguage?: PortalLanguage;
  maxAttachmentBytes: number;
  maxAttachments: number;
  maxReplyBytes: number;
  /**
   * When recipients must prove a second factor (authenticator app, passkey): `on-request` when the sender
   * asks (option `otp`) or the recipient set one up; `always` for every recipient outside the tenant.
   */
  secondFactor: 'on-request' | 'always';
}

export const DEFAULT_PORTAL_SETTINGS: PortalSettings = {
  notificationTemplates: {},
  defaultExpiryDays: 30,
  maxExpiryDays: 90,
  magicLinkTtlMinutes: 7 * 24 * 60,
  signInLinkTtlMinutes: 15,
  sessionTtlMinutes: 8 * 60,
  bindSessionToIp: true,
  memberDefaultQuotaBytes: 2 * 1024 ** 3,
  memberQuotaBytes: {},
  digestInterval: 'never',
  maxAttachmentBytes: 20 * 1024 * 1024,
  maxAttachments: 10,
  maxReplyBytes: 25 * 1024 * 1024,
  secondFactor: 'on-request',
};

export async function loadPortalSettings(q: Queryable, tenantId: string): Promise<PortalSettings> {
  const [row] = await inTenantScope(q, tenantId, (tx) => tx.select().from(portalTenantSettings).where(eq(portalTenantSettings.tenantId, tenantId)));
  return { ...DEFAULT_PORTAL_SETTINGS, ...((row?.settings ?? {}) as Partial<PortalSettings>) };
}

/** Merges the given settings into the tenant's stored ones. */
export async function updatePortalSettings(db: Queryable, tenantId: string, changes: Partial<PortalSettings>): Promise<PortalSettings> {
  return inTenantScope(db, tenantId, (q) => updateSettingsIn(q, tenantId, changes));
}

async function updateSettingsIn(q: Queryable, tenantId: string, changes: Partial<PortalSettings>): Promise<PortalSettings> {
  const [row] = await q.select().from(portalTenantSettings).where(eq(portalTenantSettings.tenantId, tenantId));
  const merged = { ...((row?.settings ?? {}) as Partial<PortalSettings>), ...changes };
  await q
    .insert(portalTenantSettings)
    .values({ tenantId, settings: merged as Record<string, unknown> })
    .onConflictDoUpdate({ target: portalTenantSettings.tenantId, set: { settings: merged as Record<string, unknown>, updatedAt: sql`now()` } });
  return { ...DEFAULT_PORTAL_SETTINGS, ...merged };
}

export function languageFor(settings: PortalSettings, address: string): PortalLanguage {
  if (settings.language) return settings.language;
  const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
  return /\.(de|at|ch)$/.test(domain) ? 'de' : 'en';
}
