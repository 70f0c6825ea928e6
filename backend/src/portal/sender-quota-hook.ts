/**
 * A full portal storage, told to the sender at SMTP time. When a message from a tenant's connector will be
 * stored in the portal for one or more recipients and a copy certainly does not fit the sender's (or the
 * organisation's) portal quota, the end of DATA is answered `552 5.2.2` with the reason, so the sender's
 * mail server returns it at once instead of the gateway accepting it and bouncing it later.
 *
 * It refuses only what is known before the 250; everything it cannot be sure of is accepted and checked
 * again when each copy is stored (recipient-copies.ts), as before:
 * - not at RCPT: whether a message goes through the portal depends on its header (X-Sealpost-Encrypt, the
 *   subject trigger, a reply to a portal conversation), which comes with DATA;
 * - which recipients go through the portal is decided as the route stage and the 'auto' handler decide it
 *   (message-router.ts, method-resolution.ts, with the certificate and key stores); an 'auto' recipient
 *   counts only where no LDAP directory could still supply an S/MIME certificate at protection time;
 * - the size counted is a lower bound of the stored copy (the message without its control headers, before
 *   the gateway's Received field is added);
 * - a hook that fails or overruns its time refuses nothing (smtp-hooks.ts);
 * - the settings and the storage used are read once a second per sender at most (a sender's mail server
 *   delivers many messages at once): a message that fits what was read a moment ago is accepted, as the
 *   copy is checked again when stored; one that does not fit is refused only after a fresh read agrees.
 * Refusing the whole message when one portal copy cannot be stored is deliberate: nothing has gone out,
 * so once the sender has made room, sending it again reaches every recipient once.
 */
import { LRUCache } from 'lru-cache';
import addressparser from 'nodemailer/lib/addressparser';
import { parseSealpostHeaders } from '../../../common/src/headers.ts';
import type { Database, Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { controlHeaderLookup, headerValue } from '../mail/header-block.ts';
import { prepareOutgoingMessage } from '../mail/outgoing-message.ts';
import { routeRecipients } from '../messages/message-router.ts';
import { repliesToPortalMessage } from '../messages/portal-replies.ts';
import { resolveRecipientMethods, type EncryptionRequirement, type RecipientKeyLookup } from '../protect/method-resolution.ts';
import type { ProtectionModes } from '../protect/protection-modes.ts';
import type { SmtpHook } from '../smtp/smtp-hooks.ts';
import type { TenantDirectory, TenantInfo } from '../tenants/tenant-directory.ts';
import { portalQuotaRefusal, portalStorageUsed, senderMemberAddress, type PortalStorageUsage } from './portal-quota.ts';
import type { PortalSettings } from './portal-settings.ts';

export interface SenderQuotaHookDeps {
  db: Database;
  directory: TenantDirectory;
  protectionModes: ProtectionModes;
  /** The certificate and key stores, as the route stage asks them (no directories). */
  storedKeys?: RecipientKeyLookup;
  settings(tenantId: string, q?: Queryable): Promise<PortalSettings>;
}

/** How long a read of a sender's settings and storage serves that sender's next messages. */
const SNAPSHOT_MS = 1000;

interface QuotaSnapshot {
  settings: PortalSettings;
  usage: PortalStorageUsage;
}

export function senderQuotaHook(deps: SenderQuotaHookDeps): SmtpHook {
  const snapshots = new LRUCache<string, QuotaSnapshot>({ max: 10_000, ttl: SNAPSHOT_MS });
  /** The tenant's settings and the storage it and the member use, read in one transaction. */
  const read = async (tenantId: string, member: string): Promise<QuotaSnapshot> => {
    const snapshot = await withTenants(deps.db, tenantId, async (tx) => {
      const settings = await deps.settings(tenantId, tx);
      const used = await portalStorageUsed(tx, tenantId, [member]);
      return { settings, usage: { tenantBytes: used.tenantBytes, memberBytes: used.memberBytes.get(member) ?? 0 } };
    });
    snapshots.set(`${tenantId}\n${member}`, snapshot);
    return snapshot;
  };
  return {
    name: 'portal-quota',
    async dataEnd(session, { raw, header }) {
      const tenant = session.tenantId ? deps.directory.tenantById(session.tenantId) : undefined;
      if (!tenant || session.mailFrom === undefined) return undefined;
      const lookup = (name: string) => headerValue(header.fields, name);
      const copies = await portalCopies(deps, tenant, [...session.recipients], header.fields, lookup);
      if (copies === 0) return undefined;

      const [from] = addressparser(lookup('from')?.slice(0, 2000) ?? '', { flatten: true });
      const member = senderMemberAddress(tenant, from?.address?.trim(), session.mailFrom);
      let snapshot = snapshots.get(`${tenant.id}\n${member}`);
      // The message as received is at least as large as the copy stored: when even that fits, so will the copy.
      if (snapshot && !portalQuotaRefusal(member, raw.length * copies, snapshot.usage, snapshot.settings)) return undefined;
      // Refused only on what the database says now (another message may have freed space since the last read).
      snapshot = await read(tenant.id, member);
      if (!portalQuotaRefusal(member, raw.length * copies, snapshot.usage, snapshot.settings)) return undefined;
      const prepared = prepareOutgoingMessage(raw, 'external', [], tenant.subjectTriggers);
      if (prepared.outcome !== 'ready') return undefined;
      const reason = portalQuotaRefusal(member, prepared.raw.length * copies, snapshot.usage, snapshot.settings);
      if (!reason) return undefined;
      return { refuse: { code: 552, enhanced: '5.2.2', message: `Message refused: ${reason}` } };
    },
  };
}

/** How many of the recipients will certainly get a portal copy, decided as the stages decide it. */
async function portalCopies(
  deps: SenderQuotaHookDeps,
  tenant: TenantInfo,
  recipients: string[],
  fields: Parameters<typeof controlHeaderLookup>[0],
  lookup: (name: string) => string | undefined,
): Promise<number> {
  const request = parseSealpostHeaders(controlHeaderLookup(fields), lookup('subject'), tenant.subjectTriggers);
  if (!request.mode && (await repliesToPortalMessage(deps.db, tenant.id, lookup('in-reply-to'), lookup('references')))) {
    Object.assign(request, { mode: 'portal', modeSource: 'header' });
  }
  const routes = routeRecipients('outbound', tenant, recipients, request, deps.directory);
  let copies = routes.filter((r) => r.protection === 'portal').length;
  // 'auto' may still find an S/MIME certificate in the tenant's LDAP directories when it protects.
  const directoriesMayAnswer = tenant.encryption.ways.smime && tenant.smimeDirectories.length > 0;
  if (directoriesMayAnswer) return copies;
  for (const requirement of ['allow', 'mandatory'] as EncryptionRequirement[]) {
    // Most mail to outsiders is merely allowed to be encrypted, where the portal serves only if the tenant
    // says so: then the stores need not be asked at all while the sender waits.
    const portalMayServe = tenant.encryption.ways.portal && (requirement === 'mandatory' || !tenant.encryption.onlyIfMandatory.portal);
    if (!portalMayServe) continue;
    const auto = routes.filter((r) => r.protection === 'auto' && (r.requirement ?? 'mandatory') === requirement).map((r) => r.recipient);
    if (auto.length === 0) continue;
    const resolved = await resolveRecipientMethods({ directory: deps.directory, protectionModes: deps.protectionModes, keys: deps.storedKeys }, tenant.id, auto, requirement);
    copies += resolved.filter((r) => r.method === 'portal').length;
  }
  return copies;
}
