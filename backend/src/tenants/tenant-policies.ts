/**
 * The tenant file's inbound policies, written to the database at start-up with the rest of the tenant:
 * the settings directly under `guard:` become the `Default` policy, each of `guard.policies` a named one.
 * Policies the file wrote before and no longer names are removed; policies made through the admin API are
 * kept. The guard reads them back (guard/policy-store.ts).
 */
import { eq } from 'drizzle-orm';
import type { Queryable, Transaction } from '../db/client.ts';
import { guardPolicies } from '../db/schema.ts';
import { inTenantScope } from '../db/tenant-scope.ts';
import {
  DEFAULT_POLICY_NAME,
  namedPolicySchema,
  type GuardSettings,
  type NamedPolicySettings,
  type PolicySettings,
} from '../guard-policy-settings.ts';

export type StoredPolicyRow = typeof guardPolicies.$inferSelect;

/** Priority of the tenant file's default policy: after every named one. */
export const DEFAULT_POLICY_PRIORITY = 1_000_000;

/** A named policy's settings without its name, switch, priority and routing (which have their own columns). */
export function settingsKeys(settings: NamedPolicySettings): PolicySettings {
  const { name: _name, enabled: _enabled, priority: _priority, match: _match, ...rest } = settings;
  return rest;
}

/** A stored policy as one named policy's settings. */
export function storedSettings(row: StoredPolicyRow): NamedPolicySettings {
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
  await inTenantScope(q, tenantId, async (scoped) => {
    const tx = scoped as Transaction;
    const existing = await tx.select().from(guardPolicies).where(eq(guardPolicies.tenantId, tenantId));
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
        await tx.insert(guardPolicies).values({ tenantId, ...values });
      } else if (JSON.stringify(storedSettings(row)) !== JSON.stringify({ name: values.name, enabled: values.enabled, priority: values.priority, match: values.match, ...values.settings }) || row.source !== 'file') {
        // The file wins over an API policy of the same name: the file is what the operator deploys.
        await tx
          .update(guardPolicies)
          .set({ ...values, revision: row.revision + 1, updatedAt: new Date() })
          .where(eq(guardPolicies.id, row.id));
      }
    }
    for (const row of byName.values()) {
      if (row.source === 'file') await tx.delete(guardPolicies).where(eq(guardPolicies.id, row.id));
    }
  });
}
