/**
 * The portal's housekeeping: physically deletes messages past their expiry or the tenant's retention
 * period (and threads left empty), clears old links, sessions and rate-limit events, and sends digests.
 *
 * Every piece of work is a short transaction that first takes a transaction-scoped advisory lock without
 * waiting; when another gateway process holds it, this process leaves the rest of the run to that one.
 * Deletions go in batches claimed with FOR UPDATE SKIP LOCKED, so a large backlog never holds a long lock,
 * and each batch is deleted and audited in the same transaction.
 */
import { expireQuarantine } from '../delivery/quarantine.ts';
import { desc, inArray, sql } from 'drizzle-orm';
import type { PortalLanguage } from '../../../common/src/portal-api.ts';
import { appendAudit, type AuditEntryInput } from '../audit/audit-log.ts';
import { queryRows, type Database, type Queryable } from '../db/client.ts';
import { allTenantIds, withTenants } from '../db/tenant-scope.ts';
import { portalMessages } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import type { TenantDirectory, TenantInfo } from '../tenants/tenant-directory.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { WorkerLoop } from '../work-signal.ts';
import { warnOfExpiringCertificates } from './certificate-expiry.ts';
import { buildDigestMail, type DigestEntry } from './digest-mail.ts';
import { issueLink } from './magic-links.ts';
import { spoolPortalMail } from './portal-outbox.ts';
import { loadPortalSettings, type DigestInterval, type PortalSettings } from './portal-settings.ts';
import { openMeta, portalMessageHeadColumns, type PortalMessageHead } from './portal-store.ts';
import type { TenantPortal } from './tenant-portal.ts';
import { waitingUnread } from './visibility.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Used and expired links are kept this long, so an old link still leads to "ask for a new one". */
const STALE_LINK_DAYS = 30;
/** Longer than any link-request rate window. */
const RATE_EVENT_DAYS = 2;
/** Most messages listed in one digest; the rest are counted and the start page is linked. */
const MAX_DIGEST_ENTRIES = 100;
/** Most recipients one run sends digests to; the rest follow in the next run. */
const MAX_DIGESTS_PER_RUN = 1000;
/** The audit log's actor for what the gateway does on its own. */
export const SYSTEM_ACTOR = 'system';

const LOCK_KEY = 'sealpost:portal-housekeeping';

export const DIGEST_INTERVAL_MS: Record<Exclude<DigestInterval, 'never'>, number> = {
  hourly: HOUR_MS,
  daily: DAY_MS,
  weekly: 7 * DAY_MS,
};

export interface HousekeepingOptions {
  db: Database;
  vault: KeyVault;
  directory: TenantDirectory;
  /** The tenants' links and mail branding. */
  tenants: TenantPortal;
  logger: Logger;
  /** The public address of the portal, for the start page linked in digests. */
  publicUrl: string;
  hostname: string;
  /** Called after mail was spooled, so the pipeline routes it at once. */
  onSpooled: () => void;
  /** Rows per delete statement. */
  batchSize?: number;
  /** Asked between transactions; false ends the run early (the process is stopping). */
  keepGoing?: () => boolean;
}

export interface HousekeepingReport {
  /** False when another process held the housekeeping lock and this run left the work to it. */
  completed: boolean;
  deleted: { expired: number; retention: number };
  threadsDeleted: number;
  linksDeleted: number;
  sessionsDeleted: number;
  rateEventsDeleted: number;
  /** Quarantined inbound messages deleted at the end of their policy's retention. */
  quarantineExpired: number;
  digests: Array<{ tenantId: string; address: string; messages: number }>;
  /** S/MIME certificates and member keys the owners and operators were told expire soon, per tenant. */
  certificateWarnings: Array<{ tenantId: string; certificates: number }>;
}

class LockHeldElsewhere extends Error {}

/** One housekeeping run. `now` is the moment expiry, retention and digest intervals are measured from. */
export async function runHousekeeping(options: HousekeepingOptions, now: Date = new Date()): Promise<HousekeepingReport> {
  const report: HousekeepingReport = {
    completed: true,
    deleted: { expired: 0, retention: 0 },
    threadsDeleted: 0,
    linksDeleted: 0,
    sessionsDeleted: 0,
    rateEventsDeleted: 0,
    quarantineExpired: 0,
    digests: [],
    certificateWarnings: [],
  };
  // Housekeeping serves every tenant: sweeps across them name them all; work for one tenant names that one.
  const everyone = await allTenantIds(options.db);
  const sweeper = new Sweeper(options, now, report, everyone);
  try {
    await sweeper.deleteMessages('expired', sql`expires_at <= ${iso(now)}::timestamptz`, everyone);
    for (const { tenantId, days } of await tenantsWithRetention(options.db, everyone)) {
      const cutoff = new Date(now.getTime() - days * DAY_MS);
      await sweeper.deleteMessages('retention', sql`tenant_id = ${tenantId}::uuid and sent_at < ${iso(cutoff)}::timestamptz`, tenantId);
    }
    await sweeper.deleteShortLived();
    report.quarantineExpired = await expireQuarantine(options.db, now);
    await sweeper.sendDigests();
    await sweeper.warnOfExpiringCertificates();
  } catch (error) {
    if (!(error instanceof LockHeldElsewhere)) throw error;
    report.completed = false;
  }
  if (sweeper.stopped()) report.completed = false;
  return report;
}

class Sweeper {
  private readonly batchSize: number;

  constructor(
    private readonly options: HousekeepingOptions,
    private readonly now: Date,
    private readonly report: HousekeepingReport,
    private readonly everyone: string[],
  ) {
    this.batchSize = options.batchSize ?? 500;
  }

  stopped(): boolean {
    return this.options.keepGoing ? !this.options.keepGoing() : false;
  }

  /** A transaction that holds the housekeeping lock; throws LockHeldElsewhere when another process has it. */
  private async locked<T>(tenants: string | string[], work: (tx: Queryable) => Promise<T>): Promise<T> {
    return withTenants(this.options.db, tenants, async (tx) => {
      const [row] = await queryRows<{ got: boolean }>(tx, sql`select pg_try_advisory_xact_lock(hashtextextended(${LOCK_KEY}, 0)) as got`);
      if (!row?.got) throw new LockHeldElsewhere();
      return work(tx);
    });
  }

  /** Deletes matching portal messages batch by batch, each batch with its empty threads and audit entries. */
  async deleteMessages(reason: 'expired' | 'retention', condition: ReturnType<typeof sql>, tenants: string | string[]): Promise<void> {
    for (;;) {
      if (this.stopped()) return;
      const count = await this.locked(tenants, async (tx) => {
        const gone = await queryRows<{ id: string; tenant_id: string; thread_id: string }>(
          tx,
          sql`delete from portal_messages
              where id in (select id from portal_messages where ${condition} limit ${this.batchSize} for update skip locked)
              returning id, tenant_id, thread_id`,
        );
        if (gone.length === 0) return 0;
        const threadIds = [...new Set(gone.map((m) => m.thread_id))].sort();
        // The thread rows are locked first, so a reply taking a slot in one of them either commits before
        // the emptiness check sees it, or finds the thread gone and fails on its own.
        const threadList = sql.join(threadIds.map((id) => sql`${id}::uuid`), sql`, `);
        await tx.execute(sql`select id from portal_threads where id in (${threadList}) order by id for update`);
        const emptied = await queryRows<{ id: string }>(
          tx,
          sql`delete from portal_threads t
              where t.id in (${threadList}) and not exists (select 1 from portal_messages m where m.thread_id = t.id)
              returning t.id`,
        );
        this.report.threadsDeleted += emptied.length;
        await appendAudit(
          tx,
          this.options.vault.auditKeys,
          gone.map(
            (m): AuditEntryInput => ({
              tenantId: m.tenant_id,
              action: 'deleted',
              actorId: SYSTEM_ACTOR,
              subjectId: m.id,
              details: { reason, physically: true, channel: 'housekeeping' },
            }),
          ),
        );
        return gone.length;
      });
      this.report.deleted[reason] += count;
      if (count < this.batchSize) return;
    }
  }

  /** Links, sessions and rate-limit events that no longer do anything. */
  async deleteShortLived(): Promise<void> {
    const staleLinks = iso(new Date(this.now.getTime() - STALE_LINK_DAYS * DAY_MS));
    const oldRates = iso(new Date(this.now.getTime() - RATE_EVENT_DAYS * DAY_MS));
    const now = iso(this.now);
    const tables: Array<{ key: 'linksDeleted' | 'sessionsDeleted' | 'rateEventsDeleted'; table: string; condition: ReturnType<typeof sql> }> = [
      {
        key: 'linksDeleted',
        table: 'portal_links',
        condition: sql`used_at < ${staleLinks}::timestamptz or expires_at < ${staleLinks}::timestamptz`,
      },
      {
        key: 'sessionsDeleted',
        table: 'portal_sessions',
        condition: sql`expires_at <= ${now}::timestamptz or ended_at <= ${now}::timestamptz`,
      },
      { key: 'rateEventsDeleted', table: 'portal_rate_events', condition: sql`at < ${oldRates}::timestamptz` },
    ];
    for (const { key, table, condition } of tables) {
      for (;;) {
        if (this.stopped()) return;
        const count = await this.locked(this.everyone, async (tx) => {
          const rows = await queryRows<{ n: number }>(
            tx,
            sql`with gone as (
                  delete from ${sql.identifier(table)}
                  where id in (select id from ${sql.identifier(table)} where ${condition} limit ${this.batchSize} for update skip locked)
                  returning 1)
                select count(*)::int as n from gone`,
          );
          return Number(rows[0]?.n ?? 0);
        });
        this.report[key] += count;
        if (count < this.batchSize) break;
      }
    }
  }

  /** At most one digest per external address and interval, listing what arrived unread since the last one. */
  async sendDigests(): Promise<void> {
    for (const tenant of this.options.directory.allTenants()) {
      if (this.stopped()) return;
      const settings = await loadPortalSettings(this.options.db, tenant.id);
      const intervalMs = settings.digestInterval === 'never' ? undefined : DIGEST_INTERVAL_MS[settings.digestInterval];
      if (!intervalMs) continue;
      const dueBefore = iso(new Date(this.now.getTime() - intervalMs));
      const due = await withTenants(this.options.db, tenant.id, (tx) =>
        queryRows<{ address: string }>(
        tx,
        sql`select m.to_address as address
            from portal_messages m
            left join portal_digests d on d.tenant_id = m.tenant_id and d.address = m.to_address
            where m.tenant_id = ${tenant.id}::uuid and ${waitingUnread(this.now)}
              and (d.last_sent_at is null or (d.last_sent_at <= ${dueBefore}::timestamptz and m.sent_at > d.last_sent_at))
            group by m.to_address
            order by m.to_address
            limit ${MAX_DIGESTS_PER_RUN}`,
        ),
      );
      for (const { address } of due) {
        if (this.stopped()) return;
        let sent = 0;
        try {
          sent = await this.locked(tenant.id, (tx) => this.sendDigest(tx, tenant, settings, address, intervalMs));
        } catch (error) {
          if (error instanceof LockHeldElsewhere) throw error;
          // One recipient's failure must not hold back everyone else's digest; it is tried again next run.
          this.options.logger.error({ err: error, tenantId: tenant.id }, 'a portal digest could not be sent');
        }
        if (sent) {
          this.report.digests.push({ tenantId: tenant.id, address, messages: sent });
          this.options.onSpooled();
        }
      }
    }
  }

  async warnOfExpiringCertificates(): Promise<void> {
    for (const tenant of this.options.directory.allTenants()) {
      if (this.stopped()) return;
      const settings = await loadPortalSettings(this.options.db, tenant.id);
      const { vault, tenants, hostname } = this.options;
      const listed = await this.locked(tenant.id, (tx) => warnOfExpiringCertificates(tx, { vault, tenants, hostname }, tenant, settings.language ?? 'en', this.now));
      if (listed > 0) {
        this.report.certificateWarnings.push({ tenantId: tenant.id, certificates: listed });
        this.options.onSpooled();
      }
    }
  }

  /** Sends one digest inside the transaction; answers how many messages it listed (0: none sent). */
  private async sendDigest(tx: Queryable, tenant: TenantInfo, settings: PortalSettings, address: string, intervalMs: number): Promise<number> {
    const { vault, tenants } = this.options;
    const [previous] = await queryRows<{ last_sent_at: Date | string }>(
      tx,
      sql`select last_sent_at from portal_digests where tenant_id = ${tenant.id}::uuid and address = ${address} for update`,
    );
    const lastSentAt = previous ? new Date(previous.last_sent_at) : undefined;
    if (lastSentAt && lastSentAt.getTime() > this.now.getTime() - intervalMs) return 0;
    const since = lastSentAt ? sql`and m.sent_at > ${iso(lastSentAt)}::timestamptz` : sql``;
    const [counted] = await queryRows<{ n: number }>(
      tx,
      sql`select count(*)::int as n from portal_messages m
          where m.tenant_id = ${tenant.id}::uuid and m.to_address = ${address} and ${waitingUnread(this.now)} ${since}`,
    );
    const total = Number(counted?.n ?? 0);
    if (total === 0) return 0;
    const ids = await queryRows<{ id: string }>(
      tx,
      sql`select m.id from portal_messages m
          where m.tenant_id = ${tenant.id}::uuid and m.to_address = ${address} and ${waitingUnread(this.now)} ${since}
          order by m.sent_at desc
          limit ${MAX_DIGEST_ENTRIES}`,
    );
    // Not the sealed EML: a digest needs only the metadata, and a row's EML may be tens of megabytes.
    const rows: PortalMessageHead[] = await tx
      .select(portalMessageHeadColumns)
      .from(portalMessages)
      .where(inArray(portalMessages.id, ids.map((r) => r.id)))
      .orderBy(desc(portalMessages.sentAt));

    const language: PortalLanguage = settings.digestLanguage ?? settings.language ?? 'en';
    const entries: DigestEntry[] = [];
    const audit: AuditEntryInput[] = [];
    for (const row of rows) {
      const linkExpiresAt = new Date(Math.min(this.now.getTime() + settings.magicLinkTtlMinutes * 60_000, row.expiresAt?.getTime() ?? Infinity));
      const link = await issueLink(tx, {
        tenantId: tenant.id,
        address,
        purpose: 'message',
        threadId: row.threadId,
        portalMessageId: row.id,
        expiresAt: linkExpiresAt,
      });
      const meta = await openMeta(vault, row, tx);
      entries.push({
        sender: { name: meta.fromName, address: row.fromAddress },
        subject: meta.subject,
        sentAt: row.sentAt,
        ...(row.expiresAt ? { expiresAt: row.expiresAt } : {}),
        link: tenants.linkUrl(link.token, tenant.id),
      });
      audit.push({
        tenantId: tenant.id,
        action: 'link_issued',
        actorId: SYSTEM_ACTOR,
        actorAddress: address,
        subjectId: row.id,
        details: { channel: 'digest', recipient: address, expiresAt: linkExpiresAt.toISOString() },
      });
    }

    const domain = tenant.domains[0] ?? this.options.hostname;
    const mail = await buildDigestMail({
      language,
      template: settings.digestTemplate,
      domain,
      // The tenant's own name when it has branding: the recipient knows the sender's organisation, not Sealpost.
      from: { name: tenants.mailBranding(tenant.id)?.name ?? 'Sealpost', address: `no-reply@${domain}` },
      to: address,
      entries,
      total,
      startPage: `${this.options.publicUrl}/portal/`,
      hostname: this.options.hostname,
    });
    await spoolPortalMail(tx, vault, tenant.id, '', address, mail, { portalDigest: true, listed: entries.length, waiting: total });
    await tx.execute(
      sql`insert into portal_digests (tenant_id, address, last_sent_at) values (${tenant.id}::uuid, ${address}, ${iso(this.now)}::timestamptz)
          on conflict (tenant_id, address) do update set last_sent_at = excluded.last_sent_at`,
    );
    await appendAudit(tx, this.options.vault.auditKeys, audit);
    return entries.length;
  }
}

/** Tenants that set a retention period, with the period in days. */
async function tenantsWithRetention(db: Database, everyone: string[]): Promise<Array<{ tenantId: string; days: number }>> {
  const rows = await withTenants(db, everyone, (tx) =>
    queryRows<{ tenant_id: string; days: unknown }>(
      tx,
      sql`select tenant_id, settings -> 'retentionDays' as days from portal_tenant_settings where settings -> 'retentionDays' is not null`,
    ),
  );
  return rows
    .map((r) => ({ tenantId: r.tenant_id, days: Number(r.days) }))
    .filter((r) => Number.isInteger(r.days) && r.days > 0);
}

function iso(date: Date): string {
  return date.toISOString();
}

export interface HousekeepingWorkerOptions extends HousekeepingOptions {
  intervalMs: number;
  /** The first run comes this soon after start. */
  firstRunDelayMs: number;
}

/** Runs the housekeeping at an interval in the background of a gateway process. */
export class HousekeepingWorker extends WorkerLoop {
  constructor(private readonly options: HousekeepingWorkerOptions) {
    super();
  }

  /** One run now, with this process's lock discipline; for callers that need not wait for the interval. */
  runOnce(now: Date = new Date()): Promise<HousekeepingReport> {
    return runHousekeeping(this.options, now);
  }

  protected async run(): Promise<void> {
    const { logger } = this.options;
    await this.signal.wait(this.options.firstRunDelayMs);
    while (this.running) {
      try {
        const report = await runHousekeeping({ ...this.options, keepGoing: () => this.running });
        const { deleted, digests } = report;
        if (deleted.expired + deleted.retention + digests.length + report.threadsDeleted + report.quarantineExpired > 0) {
          logger.info(
            {
              expired: deleted.expired,
              retention: deleted.retention,
              threads: report.threadsDeleted,
              digests: digests.length,
              quarantineExpired: report.quarantineExpired,
            },
            'portal housekeeping: messages deleted, digests sent',
          );
        }
      } catch (error) {
        logger.error({ err: error }, 'portal housekeeping failed; it runs again at the next interval');
      }
      if (this.running) await this.signal.wait(this.options.intervalMs);
    }
  }
}
