/**
 * A tenant's inbound policies in the database: read for every message through a short-lived cache (the
 * SMTP listener and the guard must not wait for the database per message), written by the tenant file at
 * start-up and by admins through the API, every change audited.
 *
 * Which policy decides: the first enabled one, by priority (lower first, then by name), whose routing
 * rules match the envelope; when none does, the tenant's `Default` policy if it has one, else the built-in
 * defaults (policy.ts).
 */
import { and, eq, sql } from 'drizzle-orm';
import { appendAudit } from '../audit/audit-log.ts';
import type { Database, Transaction } from '../db/client.ts';
import { guardAllowedSenders, guardPolicies } from '../db/schema.ts';
import { withTenants } from '../db/tenant-scope.ts';
import type { AuditKeys } from '../vault/audit-keys.ts';
import { settingsKeys, storedSettings, type StoredPolicyRow } from '../tenants/tenant-policies.ts';
import { DEFAULT_GUARD_POLICY, resolveGuardPolicy, selectPolicy, type GuardPolicy } from './policy.ts';
import { DEFAULT_POLICY_NAME, type NamedPolicySettings } from '../guard-policy-settings.ts';

export type { StoredPolicyRow };

/** A policy as the API shows it. */
export interface StoredPolicy extends NamedPolicySettings {
  id: string;
  enabled: boolean;
  priority: number;
  source: 'file' | 'admin';
  revision: number;
  updatedAt: string;
  updatedBy: string | null;
}

/** A resolved policy with its switch, as the cache holds it. */
export type ActivePolicy = GuardPolicy & { enabled: boolean };

export class PolicyProblem extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    readonly title: string,
    detail: string,
  ) {
    super(detail);
  }
}



export function storedPolicy(row: StoredPolicyRow): StoredPolicy {
  return {
    ...row.settings,
    id: row.id,
    name: row.name,
    enabled: row.enabled,
    priority: row.priority,
    match: row.match,
    source: row.source as StoredPolicy['source'],
    revision: row.revision,
    updatedAt: row.updatedAt.toISOString(),
    updatedBy: row.updatedBy,
  };
}

export function activePolicy(row: StoredPolicyRow): ActivePolicy {
  return {
    ...resolveGuardPolicy({ ...row.settings, name: row.name, priority: row.priority, match: row.match }, row.id),
    enabled: row.enabled,
  };
}

export interface PolicyActor {
  /** Who changed it: a member's address, or "admin API token". */
  actor: string;
  clientIp?: string;
}

export interface AllowedSender {
  address: string;
  addedBy: string;
  createdAt: Date;
}

export class GuardPolicyStore {
  private readonly cache = new Map<string, { at: number; policies: Promise<ActivePolicy[]> }>();
  private readonly allowedCache = new Map<string, { at: number; senders: Promise<Map<string, AllowedSender>> }>();

  constructor(
    private readonly db: Database,
    private readonly options: { auditKeys?: AuditKeys; cacheMs?: number } = {},
  ) {}

  /** The tenant's policies, resolved, from a cache at most cacheMs old (10 s by default). */
  policiesOf(tenantId: string): Promise<ActivePolicy[]> {
    const now = Date.now();
    const cached = this.cache.get(tenantId);
    if (cached && now - cached.at < (this.options.cacheMs ?? 10_000)) return cached.policies;
    const policies = withTenants(this.db, tenantId, (tx) => tx.select().from(guardPolicies).where(eq(guardPolicies.tenantId, tenantId))).then(
      (rows) => rows.map(activePolicy),
    );
    this.cache.set(tenantId, { at: now, policies });
    // A failed read is not kept: the next message asks again.
    policies.catch(() => this.cache.delete(tenantId));
    return policies;
  }

  /** The policy that decides a message with this envelope. */
  async policyFor(envelope: { tenantId: string; mailFrom: string; recipients: readonly string[] }): Promise<GuardPolicy> {
    const policies = await this.policiesOf(envelope.tenantId);
    const fallback = policies.find((p) => p.enabled && p.name === DEFAULT_POLICY_NAME && Object.keys(p.match).length === 0);
    return selectPolicy(policies, envelope.mailFrom, envelope.recipients, fallback ?? DEFAULT_GUARD_POLICY);
  }

  /**
   * The recipients of one message grouped by the policy that decides each of them, in the order they
   * came; one group when a single policy decides them all.
   */
  async recipientGroups(envelope: { tenantId: string; mailFrom: string; recipients: readonly string[] }): Promise<string[][]> {
    // By name: a tenant's policy names are unique, and the cached policy objects may be replaced meanwhile.
    const groups = new Map<string, string[]>();
    for (const recipient of envelope.recipients) {
      const policy = await this.policyFor({ tenantId: envelope.tenantId, mailFrom: envelope.mailFrom, recipients: [recipient] });
      const group = groups.get(policy.name) ?? [];
      group.push(recipient);
      groups.set(policy.name, group);
    }
    return [...groups.values()];
  }

  /** The senders the tenant's operators allowed from now on (released from quarantine with "allow"). */
  async allowedSender(tenantId: string, address: string): Promise<AllowedSender | undefined> {
    if (!address) return undefined;
    const now = Date.now();
    let cached = this.allowedCache.get(tenantId);
    if (!cached || now - cached.at >= (this.options.cacheMs ?? 10_000)) {
      const senders = withTenants(this.db, tenantId, (tx) => tx.select().from(guardAllowedSenders).where(eq(guardAllowedSenders.tenantId, tenantId))).then(
        (rows) => new Map(rows.map((r) => [r.address, { address: r.address, addedBy: r.addedBy, createdAt: r.createdAt }])),
      );
      cached = { at: now, senders };
      this.allowedCache.set(tenantId, cached);
      senders.catch(() => this.allowedCache.delete(tenantId));
    }
    return (await cached.senders).get(address.toLowerCase());
  }

  /** Forgets the cached policies and allowed senders of a tenant (after a change in this process). */
  invalidate(tenantId?: string): void {
    if (tenantId) {
      this.cache.delete(tenantId);
      this.allowedCache.delete(tenantId);
    } else {
      this.cache.clear();
      this.allowedCache.clear();
    }
  }

  async list(tenantId: string): Promise<StoredPolicy[]> {
    const rows = await withTenants(this.db, tenantId, (tx) =>
      tx.select().from(guardPolicies).where(eq(guardPolicies.tenantId, tenantId)).orderBy(guardPolicies.priority, guardPolicies.name),
    );
    return rows.map(storedPolicy);
  }

  async get(tenantId: string, id: string): Promise<StoredPolicy> {
    const [row] = await withTenants(this.db, tenantId, (tx) =>
      tx.select().from(guardPolicies).where(and(eq(guardPolicies.tenantId, tenantId), eq(guardPolicies.id, id))),
    );
    if (!row) throw new PolicyProblem(404, 'No such policy', 'No policy of your tenant has this id.');
    return storedPolicy(row);
  }

  /** Creates a policy from checked settings (namedPolicySchema). */
  async create(tenantId: string, settings: NamedPolicySettings, by: PolicyActor): Promise<StoredPolicy> {
    const row = await withTenants(this.db, tenantId, async (tx) => {
      await this.refuseDuplicateName(tx, tenantId, settings.name);
      const [created] = await tx
        .insert(guardPolicies)
        .values({
          tenantId,
          name: settings.name,
          enabled: settings.enabled ?? true,
          priority: settings.priority ?? 100,
          match: settings.match ?? {},
          settings: settingsKeys(settings),
          source: 'admin',
          updatedBy: by.actor,
        })
        .returning();
      await this.audit(tx, tenantId, 'policy_created', created!, by);
      return created!;
    });
    this.invalidate(tenantId);
    return storedPolicy(row);
  }

  /**
   * Replaces a policy's settings. `revision` is the one the editor read: a policy changed since is refused
   * (409), so two admins never overwrite each other unseen.
   */
  async update(tenantId: string, id: string, settings: NamedPolicySettings, revision: number | undefined, by: PolicyActor): Promise<StoredPolicy> {
    const row = await withTenants(this.db, tenantId, async (tx) => {
      const existing = await this.editable(tx, tenantId, id);
      if (revision !== undefined && revision !== existing.revision) {
        throw new PolicyProblem(409, 'Policy changed meanwhile', `The policy is at revision ${existing.revision}, not ${revision}: read it again and repeat the change.`);
      }
      if (settings.name.toLowerCase() !== existing.name.toLowerCase()) await this.refuseDuplicateName(tx, tenantId, settings.name);
      const [updated] = await tx
        .update(guardPolicies)
        .set({
          name: settings.name,
          enabled: settings.enabled ?? true,
          priority: settings.priority ?? existing.priority,
          match: settings.match ?? {},
          settings: settingsKeys(settings),
          revision: existing.revision + 1,
          updatedAt: new Date(),
          updatedBy: by.actor,
        })
        .where(eq(guardPolicies.id, id))
        .returning();
      await this.audit(tx, tenantId, 'policy_updated', updated!, by, { previous: storedSettings(existing) });
      return updated!;
    });
    this.invalidate(tenantId);
    return storedPolicy(row);
  }

  async remove(tenantId: string, id: string, by: PolicyActor): Promise<void> {
    await withTenants(this.db, tenantId, async (tx) => {
      const existing = await this.editable(tx, tenantId, id);
      await tx.delete(guardPolicies).where(eq(guardPolicies.id, id));
      await this.audit(tx, tenantId, 'policy_deleted', existing, by);
    });
    this.invalidate(tenantId);
  }

  private async editable(tx: Transaction, tenantId: string, id: string): Promise<StoredPolicyRow> {
    const [existing] = await tx
      .select()
      .from(guardPolicies)
      .where(and(eq(guardPolicies.tenantId, tenantId), eq(guardPolicies.id, id)))
      .for('update');
    if (!existing) throw new PolicyProblem(404, 'No such policy', 'No policy of your tenant has this id.');
    if (existing.source === 'file') {
      throw new PolicyProblem(409, 'Policy kept in the tenant file', `"${existing.name}" is written in the tenant file; change it there (it is applied at the next start).`);
    }
    return existing;
  }

  private async refuseDuplicateName(tx: Transaction, tenantId: string, name: string): Promise<void> {
    const [clash] = await tx
      .select({ id: guardPolicies.id })
      .from(guardPolicies)
      .where(and(eq(guardPolicies.tenantId, tenantId), sql`lower(${guardPolicies.name}) = ${name.toLowerCase()}`));
    if (clash) throw new PolicyProblem(409, 'Policy name taken', `Your tenant has a policy named "${name}" already.`);
  }

  private async audit(
    tx: Transaction,
    tenantId: string,
    action: 'policy_created' | 'policy_updated' | 'policy_deleted',
    row: StoredPolicyRow,
    by: PolicyActor,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    if (!this.options.auditKeys) return;
    await appendAudit(tx, this.options.auditKeys, {
      tenantId,
      action,
      actorAddress: by.actor,
      clientIp: by.clientIp,
      subjectId: row.id,
      details: { policy: row.name, revision: row.revision, settings: storedSettings(row), ...extra },
    });
  }
}
