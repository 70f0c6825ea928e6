/**
 * What the portal knows of each tenant: its settings and reply limits, its look (branding on pages,
 * in mails and in the links it sends), the session as shown to the browser, and its audit log.
 */
import {
  OPEN_LINK_BRAND_PARAM,
  OPEN_LINK_PATH,
  OPEN_LINK_PURPOSE_PARAM,
  OPEN_LINK_TOKEN_PARAM,
  type PortalBranding,
  type PortalLanguage,
  type PortalLimits,
  type PortalSession,
} from '../../../common/src/portal-api.ts';
import { appendAudit, readAudit, verifyAuditChain, type AuditEntry, type ChainVerification, type CheckpointSource } from '../audit/audit-log.ts';
import {
  AUDIT_JSON_CLOSING,
  auditCsvHeader,
  auditCsvRow,
  auditJsonEntry,
  auditJsonOpening,
  exportedEntry,
  type AuditExportFormat,
  type AuditExportHeading,
} from '../audit/audit-export.ts';
import { auditEntriesThrough, countAudit, newestAuditSeq, searchAudit, type AuditFilter, type AuditPage, type AuditPageRequest } from '../audit/audit-search.ts';
import { openAuditDetails } from '../audit/sealed-details.ts';
import type { Database, Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import type { TenantDirectory, TenantInfo } from '../tenants/tenant-directory.ts';
import { decodeLogo, type Logo, type TenantBranding } from '../tenants/branding.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import type { AuditKeys } from '../vault/audit-keys.ts';
import type { MailBranding } from './notification-mail.ts';
import { languageFor, loadPortalSettings, type PortalSettings } from './portal-settings.ts';
import type { PortalSessionInfo } from './sessions.ts';
import { changePortalSettings, type SettingsActor } from './settings-changes.ts';
import { ConsoleMembers } from './console-members.ts';
import { ConsoleApiTokens } from './console-api-tokens.ts';

export interface TenantPortalOptions {
  db: Database;
  vault: KeyVault;
  directory: TenantDirectory;
  publicUrl: string;
  /** The gateway's SMTP size limit: replies must fit through the tenant's mail server too. */
  maxMessageBytes: number;
  /** The signed checkpoints the audit chain is verified against (outside the database). */
  auditCheckpoints?: CheckpointSource;
}

export class TenantPortal {
  /** The organisation's members as the console manages them (console-members.ts). */
  readonly members: ConsoleMembers;
  /** The tenant's API tokens as the console manages them (console-api-tokens.ts). */
  readonly apiTokens: ConsoleApiTokens;

  constructor(private readonly options: TenantPortalOptions) {
    this.members = new ConsoleMembers(options.db, options.vault.auditKeys, options.directory);
    this.apiTokens = new ConsoleApiTokens(options.db, options.vault.auditKeys);
  }

  settings(tenantId: string, q: Queryable = this.options.db): Promise<PortalSettings> {
    return loadPortalSettings(q, tenantId);
  }

  /** Checks, applies and audits a change of the tenant's settings (settings-changes.ts). */
  changeSettings(actor: SettingsActor, change: Record<string, unknown>): ReturnType<typeof changePortalSettings> {
    const tenant = this.options.directory.tenantById(actor.tenantId);
    return changePortalSettings(this.options.db, this.options.vault.auditKeys, actor, tenant?.domains ?? [], change, { entraSignIn: tenant?.entra !== undefined });
  }

  async limitsFor(tenantId: string): Promise<PortalLimits> {
    const settings = await this.settings(tenantId);
    // A reply must fit through SMTP once encoded (base64 grows by a third).
    const smtpRoom = Math.floor((this.options.maxMessageBytes * 3) / 4) - 64 * 1024;
    const maxReplyBytes = Math.max(0, Math.min(settings.maxReplyBytes, smtpRoom));
    return {
      maxAttachmentBytes: Math.min(settings.maxAttachmentBytes, maxReplyBytes),
      maxReplyBytes,
      maxAttachments: settings.maxAttachments,
    };
  }

  get secureCookies(): boolean {
    return this.options.publicUrl.startsWith('https:');
  }

  /**
   * The magic link: the token, then the tenant's branding key (so the page shows the tenant's look before
   * anything is opened) and, for a member's sign-in link, its purpose (so the page speaks of signing in).
   */
  linkUrl(token: string, tenantId?: string, purpose?: 'sign-in'): string {
    const tenant = tenantId ? this.options.directory.tenantById(tenantId) : undefined;
    const brand = tenant && hasBranding(tenant.branding) ? `&${OPEN_LINK_BRAND_PARAM}=${tenant.brandingKey}` : '';
    const forSignIn = purpose ? `&${OPEN_LINK_PURPOSE_PARAM}=${purpose}` : '';
    return `${this.options.publicUrl}${OPEN_LINK_PATH}?${OPEN_LINK_TOKEN_PARAM}=${encodeURIComponent(token)}${brand}${forSignIn}`;
  }

  /** GET /api/portal/branding/:key: the look of the tenant whose links carry this key; {} for any other. */
  brandingByKey(key: string): PortalBranding {
    const tenant = this.options.directory.tenantByBrandingKey(key);
    return tenant ? portalBranding(tenant) : {};
  }

  /** The logo image of the tenant whose links carry this key. */
  logoByKey(key: string): Logo | undefined {
    const logo = this.options.directory.tenantByBrandingKey(key)?.branding.logo;
    return logo ? decodeLogo(logo) : undefined;
  }

  /** What the mails of a tenant show: its branding, else nothing of its own. */
  mailBranding(tenantId: string): MailBranding | undefined {
    const tenant = this.options.directory.tenantById(tenantId);
    if (!tenant || !hasBranding(tenant.branding)) return undefined;
    const { name, colour, logo } = tenant.branding;
    const decoded = logo ? decodeLogo(logo) : undefined;
    return { name: name ?? tenant.name, ...(colour ? { colour } : {}), ...(decoded ? { logo: decoded } : {}) };
  }

  /** GET session: the session as the browser sees it, in the tenant's language and look. */
  /** The audit chain's keys, for routes that record what members did outside the portal (the add-in). */
  get auditKeys(): AuditKeys {
    return this.options.vault.auditKeys;
  }

  async sessionView(session: PortalSessionInfo): Promise<PortalSession> {
    return this.describeSession(session, await this.settings(session.tenantId));
  }

  describeSession(session: PortalSessionInfo, settings: PortalSettings): PortalSession {
    const tenant = this.options.directory.tenantById(session.tenantId);
    const branding = tenant && hasBranding(tenant.branding) ? portalBranding(tenant) : undefined;
    return {
      address: session.address,
      tenantName: tenant?.name ?? '',
      ...(branding ? { branding } : {}),
      language: languageFor(settings, session.address) as PortalLanguage,
      ...(session.role ? { role: session.role } : {}),
      csrfToken: session.csrfToken,
      expiresAt: session.expiresAt.toISOString(),
      ...(session.factorVerified ? { secondFactor: 'verified' as const } : session.factorRequired ? { secondFactor: 'required' as const } : {}),
    };
  }

  /** The tenant's audit entries, newest first, with sealed details (such as attachment names) opened. */
  async readAudit(tenantId: string, options: { limit?: number; subjectId?: string } = {}): Promise<AuditEntry[]> {
    return this.openDetails(tenantId, await readAudit(this.options.db, tenantId, options));
  }

  /** One page of the tenant's audit entries that match the filter, newest first, sealed details opened. */
  async searchAudit(tenantId: string, filter: AuditFilter, page: AuditPageRequest): Promise<AuditPage> {
    const found = await searchAudit(this.options.db, tenantId, filter, page);
    return { ...found, entries: await this.openDetails(tenantId, found.entries) };
  }

  /**
   * The entries the filter finds, as a CSV or JSON file written while it is read: at most `cap` of them,
   * the newest, up to the newest entry when the export began. The heading (count, whether it was cut) is
   * known before the first byte, so the answer's headers can say it.
   */
  async exportAudit(reader: SettingsActor, filter: AuditFilter, format: AuditExportFormat, cap: number): Promise<{ heading: AuditExportHeading; body: AsyncGenerator<string> }> {
    const { tenantId } = reader;
    const throughSeq = await newestAuditSeq(this.options.db, tenantId);
    const matching = await countAudit(this.options.db, tenantId, filter, cap, throughSeq);
    const heading: AuditExportHeading = {
      exportedAt: new Date().toISOString(),
      filter,
      throughSeq,
      cap,
      count: Math.min(matching, cap),
      capped: matching > cap,
    };
    // The export is recorded before its first byte leaves; its own entry comes after throughSeq, so the copy
    // it describes does not contain it.
    await withTenants(this.options.db, tenantId, (tx) =>
      appendAudit(tx, this.options.vault.auditKeys, {
        tenantId,
        action: 'audit_exported',
        actorId: reader.actorId,
        actorAddress: reader.actorAddress,
        clientIp: reader.clientIp,
        details: { format, filter: { ...filter }, count: heading.count, capped: heading.capped, throughSeq },
      }),
    );
    const batches = auditEntriesThrough(this.options.db, tenantId, filter, { cap, throughSeq });
    const openDetails = (entries: AuditEntry[]) => this.openDetails(tenantId, entries);
    async function* body(): AsyncGenerator<string> {
      yield format === 'csv' ? auditCsvHeader() : auditJsonOpening(heading);
      let first = true;
      for await (const batch of batches) {
        const opened = await openDetails(batch);
        let chunk = '';
        for (const entry of opened) {
          chunk += format === 'csv' ? auditCsvRow(exportedEntry(entry)) : auditJsonEntry(exportedEntry(entry), first);
          first = false;
        }
        yield chunk;
      }
      if (format === 'json') yield AUDIT_JSON_CLOSING;
    }
    return { heading, body: body() };
  }

  private openDetails(tenantId: string, entries: AuditEntry[]): Promise<AuditEntry[]> {
    return Promise.all(entries.map(async (e) => ({ ...e, details: await openAuditDetails(this.options.vault, tenantId, e.details) })));
  }

  /** The tenant's audit chain: every entry's HMAC and link, and the signed checkpoints it must still reach. */
  verifyAudit(tenantId: string): Promise<ChainVerification> {
    return verifyAuditChain(this.options.db, this.options.vault.auditKeys, { tenantId, checkpoints: this.options.auditCheckpoints });
  }
}

function hasBranding(branding: TenantBranding): boolean {
  return Boolean(branding.name || branding.colour || branding.logo);
}

function portalBranding(tenant: TenantInfo): PortalBranding {
  const { name, colour, logo } = tenant.branding;
  if (!hasBranding(tenant.branding)) return {};
  return {
    name: name ?? tenant.name,
    ...(colour ? { colour } : {}),
    ...(logo ? { logoUrl: `/api/portal/branding/${tenant.brandingKey}/logo` } : {}),
  };
}
