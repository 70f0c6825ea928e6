/** A tenant's portal settings, with the product defaults for everything the tenant did not set. */
import { eq, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { inTenantScope } from '../db/tenant-scope.ts';
import { portalTenantSettings } from '../db/schema.ts';
import type { PortalLanguage, PortalSettings } from '../../../common/src/portal-api.ts';

export interface NotificationTemplate {
  /** Placeholders: {{sender}}, {{subject}}, {{link}}, {{expires}}. */
  subject: string;
  text: string;
  html: string;
}

/** The settings' shape is the portal's contract (common/src/portal-api.ts): the settings page reads the same. */
export type { DigestInterval, PortalSettings } from '../../../common/src/portal-api.ts';

export const DEFAULT_PORTAL_SETTINGS: PortalSettings = {
  notificationTemplates: {},
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
  unlistedAsContact: true,
  magicLinkForAdmins: true,
};

/** A change to the settings: `null` (or undefined) removes the tenant's own value, so the product default applies again. */
export type PortalSettingsChange = { [K in keyof PortalSettings]?: PortalSettings[K] | null };

export async function loadPortalSettings(q: Queryable, tenantId: string): Promise<PortalSettings> {
  const [row] = await inTenantScope(q, tenantId, (tx) => tx.select().from(portalTenantSettings).where(eq(portalTenantSettings.tenantId, tenantId)));
  return withDefaults((row?.settings ?? {}) as PortalSettingsChange);
}

/** Merges the given settings into the tenant's stored ones. */
export async function updatePortalSettings(db: Queryable, tenantId: string, changes: PortalSettingsChange): Promise<PortalSettings> {
  return inTenantScope(db, tenantId, (q) => updateSettingsIn(q, tenantId, changes));
}

/** The stored settings over the product defaults; a stored `null` counts as unset. */
function withDefaults(stored: PortalSettingsChange): PortalSettings {
  const settings: Record<string, unknown> = { ...DEFAULT_PORTAL_SETTINGS };
  for (const [key, value] of Object.entries(stored)) {
    if (value === null || value === undefined) delete settings[key];
    else settings[key] = value;
  }
  return settings as unknown as PortalSettings;
}

async function updateSettingsIn(q: Queryable, tenantId: string, changes: PortalSettingsChange): Promise<PortalSettings> {
  const [row] = await q.select().from(portalTenantSettings).where(eq(portalTenantSettings.tenantId, tenantId));
  const merged: Record<string, unknown> = { ...((row?.settings ?? {}) as Record<string, unknown>) };
  for (const [key, value] of Object.entries(changes)) {
    // A key given as null or undefined goes back to the product default (JSON would drop it anyway).
    if (value === null || value === undefined) delete merged[key];
    else merged[key] = value;
  }
  await q
    .insert(portalTenantSettings)
    .values({ tenantId, settings: merged as Record<string, unknown> })
    .onConflictDoUpdate({ target: portalTenantSettings.tenantId, set: { settings: merged as Record<string, unknown>, updatedAt: sql`now()` } });
  return withDefaults(merged as PortalSettingsChange);
}

export function languageFor(settings: PortalSettings, address: string): PortalLanguage {
  if (settings.language) return settings.language;
  const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
  return /\.(de|at|ch)$/.test(domain) ? 'de' : 'en';
}

const DAY_MS = 86_400_000;

/**
 * When a portal message sent at `sentAt` stops being readable: the sender's date if it is in the future,
 * else the tenant's default (if it set one), in both cases no later than the tenant's maximum (if it set
 * one). Undefined: the message does not expire and stays until it is deleted or the retention period ends.
 */
export function portalExpiry(requested: Date | undefined, sentAt: Date, settings: Pick<PortalSettings, 'defaultExpiryDays' | 'maxExpiryDays'>): Date | undefined {
  const asked = requested && requested.getTime() > sentAt.getTime() ? requested.getTime() : undefined;
  const byDefault = settings.defaultExpiryDays !== undefined ? sentAt.getTime() + settings.defaultExpiryDays * DAY_MS : undefined;
  const latest = settings.maxExpiryDays !== undefined ? sentAt.getTime() + settings.maxExpiryDays * DAY_MS : undefined;
  const wanted = asked ?? byDefault;
  if (wanted === undefined) return latest === undefined ? undefined : new Date(latest);
  return new Date(latest === undefined ? wanted : Math.min(wanted, latest));
}
