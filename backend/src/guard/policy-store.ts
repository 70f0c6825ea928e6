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
import type { Database, Queryable, Transaction } from '../db/client.ts';
import { guardPolicies } from '../db/schema.ts';
import { inTenantScope, withTenants } from '../db/tenant-scope.ts';
import type { AuditKeys } from '../vault/audit-keys.ts';
import { DEFAULT_GUARD_POLICY, resolveGuardPolicy, selectPolicy, type GuardPolicy } from './policy.ts';
import {
  DEFAULT_POLICY_NAME,
  namedPolicySchema,
  type GuardSettings,
  type NamedPolicySettings,
  type PolicySettings,
} from './policy-settings.ts';

export type StoredPolicyRow = typeof guardPolicies.$inferSelect;

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

/** Priority of the tenant file's default policy: after every named one. */
export const DEFAULT_POLICY_PRIORITY = 1_000_000;

const settingsKeys = (settings: NamedPolicySettings): PolicySettings => {
  const { name: _name, enabled: _enabled, priority: _priority, match: _match, ...rest } = settings;
  return rest;
};

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

export class GuardPolicyStore {
  private readonly cache = new Map<string, { at: number; policies: Promise<ActivePolicy[]> }>();

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

  /** Forgets the cached policies of a tenant (after a change in this process). */
  invalidate(tenantId?: string): void {
    if (tenantId) this.cache.delete(tenantId);
    else this.cache.clear();
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

function storedSettings(row: StoredPolicyRow): NamedPolicySettings {
  return { name: row.name, enabled: row.enabled, priority: row.priority, match: row.match, ...row.settings };
}

/**
 * Writes the tenant file's policies for one tenant (in the caller's transaction, scoped to the tenant):
 * the settings directly under `guard:` become the `Default` policy, each of `guard.policies` a named one.
 * Policies the file wrote before and no longer names are removed; policies made through the API are kept.
 */
export async function applyFilePolicies(q: Queryable, tenantId: string, section: GuardSettings | undefined): Promise<void> {
  const wanted: NamedPolicySettings[] = [];
  if (section) {
    const { policies, ...defaults } = section;
    if (Object.keys(defaults).length > 0) wanted.push({ ...defaults, name: DEFAULT_POLICY_NAME, priority: DEFAULT_POLICY_PRIORITY });
    for (const policy of policies ?? []) wanted.push(namedPolicySchema.parse(policy));
  }
  await inTenantScope(q, tenantId, async (tx) => {
    const existing = await (tx as Transaction).select().from(guardPolicies).where(eq(guardPolicies.tenantId, tenantId));
    const byName = new Map(existing.map((row) => [row.name.toLowerCase(), row]));
    for (const policy of wanted) {
      const row = byName.get(policy.name.toLowerCase());
      byName.delete(policy.name.toLowerCase());
      const values = {
        name: policy.name,
        enabled: policy.enabled ?? true,
        priority: policy.priority ?? 100,
        match: policy.match ?? {},
        settings: settingsKeys(policy),
        source: 'file',
        updatedBy: 'tenant file',
      };
      if (!row) {
        await (tx as Transaction).insert(guardPolicies).values({ tenantId, ...values });
      } else if (JSON.stringify(storedSettings(row)) !== JSON.stringify({ name: values.name, enabled: values.enabled, priority: values.priority, match: values.match, ...values.settings }) || row.source !== 'file') {
        // The file wins over an API policy of the same name: the file is what the operator deploys.
        await (tx as Transaction)
          .update(guardPolicies)
          .set({ ...values, revision: row.revision + 1, updatedAt: new Date() })
          .where(eq(guardPolicies.id, row.id));
      }
    }
    for (const row of byName.values()) {
      if (row.source === 'file') await (tx as Transaction).delete(guardPolicies).where(eq(guardPolicies.id, row.id));
    }
  });
}
