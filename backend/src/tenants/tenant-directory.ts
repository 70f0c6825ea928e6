/**
 * Tenants, their domains and connectors. The configuration file is applied at start-up (create or update,
 * never delete); the SMTP listener reads an in-memory view that is refreshed periodically, so no
 * connection waits for the database to learn who is speaking.
 */
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { queryRows, type Database } from '../db/client.ts';
import { allTenantIds, scopeTransaction, withTenants } from '../db/tenant-scope.ts';
import { apiTokens, connectors, members, tenantDomains, tenants, type SmartAlertRule } from '../db/schema.ts';
import type { TenantDefinition } from '../config.ts';
import { applyFilePolicies } from './tenant-policies.ts';
import { DEFAULT_SUBJECT_TRIGGERS } from '../../../common/src/headers.ts';
import { apiTokenHint, generateApiToken, hashApiToken } from './secrets.ts';
import { brandingKey, type TenantBranding } from './branding.ts';
import { encryptionPolicy, type EncryptionPolicy } from './encryption-policy.ts';
import type { PortalRole } from '../../../common/src/portal-api.ts';

/** Portal roles from Entra ID claims: app role values (`roles`) and group object ids (`groups`), each to a role. */
export interface EntraPortalSignIn {
  appRoles?: Record<string, PortalRole>;
  groups?: Record<string, PortalRole>;
}

// The tenant file's `entra.portalSignIn`, kept in the tenants' settings column next to `entra` (a JSON column:
// no migration); declared here, beside the only code that writes and reads it.
declare module '../db/schema.ts' {
  interface TenantSettings {
    entraPortalSignIn?: EntraPortalSignIn;
  }
}

export interface TenantInfo {
  id: string;
  name: string;
  domains: string[];
  mailServer?: string;
  subjectTriggers: readonly string[];
  smartAlert: SmartAlertRule;
  /** Entra ID sign-in (add-in and portal); `portalSignIn` maps app roles and groups to portal roles. */
  entra?: { applicationId: string; tenantIds: string[]; portalSignIn: EntraPortalSignIn };
  /** Members by address, with the name mail shows for them when the tenant file gives one. */
  members: Array<{ email: string; name?: string; role: string }>;
  /** What recipients see; empty for Sealpost's own look. */
  branding: TenantBranding;
  /** The opaque id the portal asks for this tenant's branding by. */
  brandingKey: string;
  /** Whether signed inbound mail puts its sender's certificate into the store. */
  certificateAutoImport: boolean;
  /** How outbound S/MIME is signed: always or when the sender asks, detached or opaque, keys issued on demand. */
  smimeSigning: { sign: 'on-request' | 'always'; form: 'detached' | 'opaque'; autoIssue: boolean };
  /** Inbound S/MIME: whether mail to members with keys here is decrypted, and the roots (DER) that vouch for signers. */
  smimeInbound: { decrypt: boolean; trustAnchors: Buffer[] };
  /** Directories asked for a recipient's certificate when the store has none, in order. */
  smimeDirectories: Array<{ url: string; baseDn: string; bindDn?: string; bindPasswordEnv?: string; timeoutMs?: number }>;
  /**
   * The password PDF: how recipients get the password (the portal, or SMS through the provider), and
   * whether senders may tell it themselves instead (a password the add-in fetched, sealed in a ticket).
   */
  pdf: { password: 'portal' | 'sms'; senderPassword: boolean; sms?: { url: string; tokenEnv?: string; from?: string; timeoutMs?: number } };
  /** The encryption policy for outbound mail to outsiders (encryption-policy.ts reads it). */
  encryption: EncryptionPolicy;
  /** OpenPGP: auto-import, signing, key pairs on demand, inbound decryption, Web Key Directory look-up (time limit, or off). */
  pgp: { autoImport: boolean; sign: 'on-request' | 'always'; autoGenerate: boolean; decrypt: boolean; wkdTimeoutMs: number | false };
}

/** The DER certificates in PEM text. */
function pemCertificates(pem: string): Buffer[] {
  const found: Buffer[] = [];
  const begin = '-----BEGIN CERTIFICATE-----';
  const end = '-----END CERTIFICATE-----';
  for (let at = pem.indexOf(begin); at >= 0; at = pem.indexOf(begin, at + begin.length)) {
    const stop = pem.indexOf(end, at);
    if (stop < 0) break;
    found.push(Buffer.from(pem.slice(at + begin.length, stop).replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'));
  }
  return found;
}

/** The tenant file's OpenPGP settings with their defaults: auto-import and WKD on (3 s), signing on request. */
function pgpSettings(pgp: NonNullable<typeof tenants.$inferSelect.settings>['pgp']): TenantInfo['pgp'] {
  const wkd = pgp?.wkd ?? true;
  return {
    autoImport: pgp?.autoImport ?? true,
    sign: pgp?.sign ?? 'on-request',
    autoGenerate: pgp?.autoGenerate ?? false,
    decrypt: (pgp?.inbound ?? 'decrypt') === 'decrypt',
    wkdTimeoutMs: wkd === false ? false : wkd === true ? 3000 : wkd.timeoutMs,
  };
}

/**
 * The tenant file's password-PDF settings with their defaults: the password through the portal, and no
 * sender-told passwords unless the tenant allows them (they skip the recipient's proof of the address).
 */
function pdfSettings(pdf: NonNullable<typeof tenants.$inferSelect.settings>['pdf']): TenantInfo['pdf'] {
  return { password: pdf?.password ?? 'portal', senderPassword: pdf?.senderPassword ?? false, ...(pdf?.sms ? { sms: pdf.sms } : {}) };
}

/** A tenant without a rule of its own is asked about attachments to outsiders and two sensitivity words. */
export const DEFAULT_SMART_ALERT: SmartAlertRule = { externalRecipientsWithAttachments: true, keywords: ['confidential', 'vertraulich'] };

export interface ConnectorInfo {
  id: string;
  tenantId: string;
  name: string;
  allowedAddresses: BlockList;
  hasIpRule: boolean;
  smtpAuthUser?: string;
  smtpAuthPasswordHash?: string;
}

export class TenantDirectory {
  private byId = new Map<string, TenantInfo>();
  private byDomain = new Map<string, TenantInfo>();
  private connectorList: ConnectorInfo[] = [];

  constructor(private readonly db: Database) {}

  async refresh(): Promise<void> {
    const [tenantRows, domainRows, connectorRows, memberRows] = await Promise.all([
      this.db.select().from(tenants),
      this.db.select().from(tenantDomains),
      this.db.select().from(connectors),
      // Members are each tenant's own (row-level security): read in a scope of every tenant.
      allTenantIds(this.db).then((ids) =>
        ids.length === 0
          ? []
          : withTenants(this.db, ids, (tx) =>
              tx.select({ tenantId: members.tenantId, email: members.email, name: members.name, role: members.role }).from(members),
            ),
      ),
    ]);
    const byId = new Map<string, TenantInfo>();
    for (const row of tenantRows) {
      byId.set(row.id, {
        id: row.id,
        name: row.name,
        domains: [],
        mailServer: row.mailServer ?? undefined,
        subjectTriggers: row.settings.subjectTriggers ?? DEFAULT_SUBJECT_TRIGGERS,
        smartAlert: row.settings.smartAlert ?? DEFAULT_SMART_ALERT,
        entra: row.settings.entra ? { ...row.settings.entra, portalSignIn: row.settings.entraPortalSignIn ?? {} } : undefined,
        members: [],
        branding: row.settings.branding ?? {},
        brandingKey: brandingKey(row.id),
        certificateAutoImport: row.settings.smime?.autoImport ?? true,
        smimeSigning: {
          sign: row.settings.smime?.sign ?? 'on-request',
          form: row.settings.smime?.signatureForm ?? 'detached',
          autoIssue: row.settings.smime?.autoIssue ?? false,
        },
        smimeInbound: {
          decrypt: (row.settings.smime?.inbound ?? 'decrypt') === 'decrypt',
          trustAnchors: (row.settings.smime?.trustAnchors ?? []).flatMap(pemCertificates),
        },
        smimeDirectories: row.settings.smime?.directories ?? [],
        pgp: pgpSettings(row.settings.pgp),
        encryption: encryptionPolicy(row.settings.encryption),
        pdf: pdfSettings(row.settings.pdf),
      });
    }
    for (const row of memberRows) {
      byId.get(row.tenantId)?.members.push({ email: row.email, role: row.role, ...(row.name ? { name: row.name } : {}) });
    }
    const byDomain = new Map<string, TenantInfo>();
    for (const row of domainRows) {
      const tenant = byId.get(row.tenantId);
      if (!tenant) continue;
      tenant.domains.push(row.domain);
      byDomain.set(row.domain, tenant);
    }
    this.connectorList = connectorRows.map((row) => {
      const allowedAddresses = new BlockList();
      for (const rule of row.ips) addAddressRule(allowedAddresses, rule);
      return {
        id: row.id,
        tenantId: row.tenantId,
        name: row.name,
        allowedAddresses,
        hasIpRule: row.ips.length > 0,
        smtpAuthUser: row.smtpAuthUser ?? undefined,
        smtpAuthPasswordHash: row.smtpAuthPasswordHash ?? undefined,
      };
    });
    this.byId = byId;
    this.byDomain = byDomain;
  }

  /**
   * Reads one tenant's members again, at once: the console calls it after adding, changing or removing a
   * member, so this process's gateway and add-in know the member without waiting for refresh(). Other
   * processes (N gateways on one database) have no notification of it and learn the change at their next
   * periodic refresh (every 30 s, gateway.ts); roles that grant rights are read from the database anyway
   * (sign-in, sessions, the add-in), so what waits is only what the directory's copy serves (names for
   * impersonation checks and certificates, who gets expiry warnings).
   */
  async reloadMembers(tenantId: string): Promise<void> {
    const rows = await withTenants(this.db, tenantId, (tx) =>
      tx.select({ email: members.email, name: members.name, role: members.role }).from(members).where(eq(members.tenantId, tenantId)),
    );
    const tenant = this.byId.get(tenantId);
    // A new array, not a change in place: a reader iterating the old one (a guard check) finishes with it.
    if (tenant) tenant.members = rows.map((row) => ({ email: row.email, role: row.role, ...(row.name ? { name: row.name } : {}) }));
  }

  tenantById(id: string): TenantInfo | undefined {
    return this.byId.get(id);
  }

  tenantForDomain(domain: string): TenantInfo | undefined {
    return this.byDomain.get(domain.toLowerCase());
  }

  tenantForAddress(address: string): TenantInfo | undefined {
    const at = address.lastIndexOf('@');
    return at < 0 ? undefined : this.tenantForDomain(address.slice(at + 1));
  }

  connectorsForAddress(ip: string): ConnectorInfo[] {
    const plain = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
    const family = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
    return this.connectorList.filter((c) => c.hasIpRule && c.allowedAddresses.check(plain, family));
  }

  connectorForSmtpUser(user: string): ConnectorInfo | undefined {
    return this.connectorList.find((c) => c.smtpAuthUser === user);
  }

  get hasSmtpAuthConnectors(): boolean {
    return this.connectorList.some((c) => c.smtpAuthUser);
  }

  tenantByBrandingKey(key: string): TenantInfo | undefined {
    for (const tenant of this.byId.values()) if (tenant.brandingKey === key) return tenant;
    return undefined;
  }

  allTenants(): TenantInfo[] {
    return [...this.byId.values()];
  }
}

/** Accepts 192.0.2.1, 192.0.2.0/24, 2001:db8::/32 and ::1. */
export function addAddressRule(list: BlockList, rule: string): void {
  const [address, prefix] = rule.split('/');
  const family = isIP(address ?? '');
  if (!address || family === 0) throw new Error(`"${rule}" is not an IP address or CIDR range`);
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (prefix === undefined) {
    list.addAddress(address, type);
    return;
  }
  const bits = Number(prefix);
  if (!Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) {
    throw new Error(`"${rule}" has an invalid prefix length`);
  }
  list.addSubnet(address, bits, type);
}

/** Creates or updates the tenants of the configuration file. Nothing is deleted. */
export async function applyTenantDefinitions(db: Database, definitions: TenantDefinition[]): Promise<void> {
  for (const definition of definitions) {
    for (const connector of definition.connectors) {
      for (const rule of connector.ips) {
        try {
          addAddressRule(new BlockList(), rule);
        } catch (error) {
          throw new Error(`tenant ${definition.name}, connector ${connector.name}: ${(error as Error).message}`);
        }
      }
    }
  }
  await db.transaction(async (tx) => {
    for (const definition of definitions) {
      const settings = {
        ...(definition.subjectTriggers ? { subjectTriggers: definition.subjectTriggers } : {}),
        ...(definition.smartAlert ? { smartAlert: definition.smartAlert } : {}),
        ...(definition.entra ? { entra: { applicationId: definition.entra.applicationId, tenantIds: definition.entra.tenantIds } } : {}),
        ...(definition.entra?.portalSignIn ? { entraPortalSignIn: definition.entra.portalSignIn } : {}),
        ...(definition.branding ? { branding: definition.branding } : {}),
        ...(definition.smime ? { smime: definition.smime } : {}),
        ...(definition.pgp ? { pgp: definition.pgp } : {}),
        ...(definition.encryption ? { encryption: definition.encryption } : {}),
        ...(definition.pdf ? { pdf: definition.pdf } : {}),
      };
      // A tenant is created unscoped (it has no id yet); everything of it is then written in its scope.
      const [existingTenant] = await tx.select({ id: tenants.id }).from(tenants).where(eq(tenants.name, definition.name));
      if (existingTenant) await scopeTransaction(tx, existingTenant.id);
      const [tenant] = existingTenant
        ? await tx.update(tenants).set({ mailServer: definition.mailServer ?? null, settings }).where(eq(tenants.id, existingTenant.id)).returning()
        : await tx.insert(tenants).values({ name: definition.name, mailServer: definition.mailServer ?? null, settings }).returning();
      if (!tenant) throw new Error(`tenant ${definition.name} could not be saved`);
      await scopeTransaction(tx, tenant.id);

      for (const rawDomain of definition.domains) {
        const domain = rawDomain.toLowerCase();
        const [existing] = await tx.select().from(tenantDomains).where(eq(tenantDomains.domain, domain));
        if (existing && existing.tenantId !== tenant.id) {
          throw new Error(`domain ${domain} already belongs to another tenant`);
        }
        if (!existing) await tx.insert(tenantDomains).values({ domain, tenantId: tenant.id });
      }

      for (const connector of definition.connectors) {
        const values = {
          ips: connector.ips,
          smtpAuthUser: connector.smtpAuth?.user ?? null,
          smtpAuthPasswordHash: connector.smtpAuth?.passwordHash ?? null,
        };
        await tx
          .insert(connectors)
          .values({ tenantId: tenant.id, name: connector.name, ...values })
          .onConflictDoUpdate({ target: [connectors.tenantId, connectors.name], set: values });
      }

      for (const member of definition.members) {
        const email = member.email.toLowerCase();
        const name = member.name ?? null;
        await tx
          .insert(members)
          .values({ tenantId: tenant.id, email, role: member.role, name, source: 'file' })
          // The file wins over a member the console made with the same address: from now on the row is the file's.
          .onConflictDoUpdate({ target: [members.tenantId, members.email], set: { role: member.role, name, source: 'file' } });
      }

      await applyFilePolicies(tx, tenant.id, definition.guard);

      for (const token of definition.apiTokens) {
        const tokenHash = hashApiToken(token.token);
        const hint = apiTokenHint(token.token);
        await tx
          .insert(apiTokens)
          .values({ tenantId: tenant.id, name: token.name, tokenHash, hint, source: 'file' })
          .onConflictDoUpdate({ target: [apiTokens.tenantId, apiTokens.name], set: { tokenHash, hint, source: 'file', expiresAt: null } });
      }
    }
  });
}

export const DEMO_DOMAIN = 'demo.sealpost.test';

export interface DemoTenant {
  created: boolean;
  domain: string;
  mailboxFolder: string;
  /** Only known when the tenant was created now: it is stored hashed. */
  apiToken?: string;
}

/**
 * The demo's stand-in for the tenant's Exchange: a connection from 127.0.0.2 sends as the tenant (outbound);
 * any other address, 127.0.0.1 included, is the Internet, so a first `swaks` shows the inbound path.
 */
export const DEMO_CONNECTOR_ADDRESS = '127.0.0.2';

/** With no configuration at all, a demo tenant whose mail lands in a mailbox folder in the data folder. */
export async function ensureDemoTenant(db: Database, dataDir: string): Promise<DemoTenant> {
  const mailboxFolder = join(dataDir, 'mailbox');
  const definition = (tokens: Array<{ name: string; token: string }>) => ({
    name: 'Demo',
    domains: [DEMO_DOMAIN],
    connectors: [{ name: 'this-machine', ips: [`${DEMO_CONNECTOR_ADDRESS}/32`] }],
    mailServer: `mailbox:${mailboxFolder}`,
    members: [{ email: `admin@${DEMO_DOMAIN}`, role: 'owner' as const }],
    apiTokens: tokens,
  });
  const [existing] = await db.select().from(tenants).where(eq(tenants.name, 'Demo'));
  if (existing) {
    // Earlier demo folders trusted all of 127.0.0.0/8: bring them to today's demo, keeping their token.
    await applyTenantDefinitions(db, [definition([])]);
    return { created: false, domain: DEMO_DOMAIN, mailboxFolder };
  }
  const apiToken = generateApiToken();
  await applyTenantDefinitions(db, [definition([{ name: 'demo', token: apiToken }])]);
  return { created: true, domain: DEMO_DOMAIN, mailboxFolder, apiToken };
}

/** Whose token this is, asked before any tenant is known: the database answers with the tenant only. */
export async function tenantForApiToken(db: Database, token: string): Promise<string | undefined> {
  const [row] = await queryRows<{ tenant_id: string | null }>(db, sql`select sealpost_tenant_of_api_token(${hashApiToken(token)}) as tenant_id`);
  return row?.tenant_id ?? undefined;
}
