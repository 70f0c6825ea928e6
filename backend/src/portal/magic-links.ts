/**
 * Magic links: 256 random bits, only the hash stored, single use, time-limited. Looking a link up never
 * consumes it (mail scanners fetch links); consuming is one atomic update, so a link opens one session.
 */
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { portalLinks, portalRateEvents } from '../db/schema.ts';
import { hashSecret, newSecret } from './tokens.ts';

export type LinkPurpose = 'message' | 'sign-in';

export interface IssueLinkInput {
  tenantId: string;
  address: string;
  purpose: LinkPurpose;
  threadId?: string;
  portalMessageId?: string;
  expiresAt: Date;
}

export type LinkRow = typeof portalLinks.$inferSelect;

export async function issueLink(q: Queryable, input: IssueLinkInput): Promise<{ token: string; id: string; expiresAt: Date }> {
  const token = newSecret();
  const [row] = await q
    .insert(portalLinks)
    .values({
      tenantId: input.tenantId,
      tokenHash: hashSecret(token),
      address: input.address,
      purpose: input.purpose,
      threadId: input.threadId ?? null,
      portalMessageId: input.portalMessageId ?? null,
      expiresAt: input.expiresAt,
    })
    .returning({ id: portalLinks.id });
  return { token, id: row!.id, expiresAt: input.expiresAt };
}

/** A fresh link token, for callers that must know it before the link is written (to put it in a mail). */
export function newLinkToken(): string {
  return newSecret();
}

/** Writes links whose tokens the caller made (newLinkToken), in one insert; only the tokens' hashes are stored. */
export async function issueLinks(q: Queryable, links: ReadonlyArray<IssueLinkInput & { token: string }>): Promise<void> {
  if (links.length === 0) return;
  await q.insert(portalLinks).values(
    links.map((input) => ({
      tenantId: input.tenantId,
      tokenHash: hashSecret(input.token),
      address: input.address,
      purpose: input.purpose,
      threadId: input.threadId ?? null,
      portalMessageId: input.portalMessageId ?? null,
      expiresAt: input.expiresAt,
    })),
  );
}

/**
 * The tenant whose link a token is, asked before any tenant is known: the database answers with the
 * tenant only (drizzle/0007_tenant_isolation.sql), and the link itself is then read in that tenant's scope.
 */
async function tenantOfLink(q: Queryable, token: string): Promise<string | undefined> {
  const [row] = await queryRows<{ tenant_id: string | null }>(q, sql`select sealpost_tenant_of_portal_link(${hashSecret(token)}) as tenant_id`);
  return row?.tenant_id ?? undefined;
}

/** The link a token names, in whatever state it is; undefined for a token that was never issued. */
export async function findLink(q: Queryable, token: string): Promise<LinkRow | undefined> {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return undefined;
  const tenantId = await tenantOfLink(q, token);
  if (!tenantId) return undefined;
  const [row] = await withTenants(q, tenantId, (tx) => tx.select().from(portalLinks).where(eq(portalLinks.tokenHash, hashSecret(token))));
  return row;
}

/**
 * Marks an unused, unexpired link used; undefined when it was used, expired or never issued. Given a
 * transaction, the caller scopes the rest of it to the link's tenant.
 */
export async function consumeLink(q: Queryable, token: string): Promise<LinkRow | undefined> {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return undefined;
  const tenantId = await tenantOfLink(q, token);
  if (!tenantId) return undefined;
  const [row] = await withTenants(q, tenantId, (tx) =>
    tx
      .update(portalLinks)
      .set({ usedAt: sql`now()` })
      .where(and(eq(portalLinks.tokenHash, hashSecret(token)), isNull(portalLinks.usedAt), gt(portalLinks.expiresAt, sql`now()`)))
      .returning(),
  );
  return row;
}

/**
 * Counts one event in a rate-limit bucket; answers how many seconds to wait when the bucket is full.
 * Buckets live in the database so that every gateway process sees the same counts.
 */
export async function takeRateToken(q: Queryable, bucket: string, max: number, windowSeconds: number): Promise<number | undefined> {
  const rows = (await q.execute(
    sql`select count(*)::int as count, min(at) as oldest from portal_rate_events
        where bucket = ${bucket} and at > now() - make_interval(secs => ${windowSeconds})`,
  )) as unknown as { rows: Array<{ count: number; oldest: Date | string | null }> };
  const row = rows.rows[0];
  if (row && Number(row.count) >= max) {
    const oldest = row.oldest ? new Date(row.oldest).getTime() : Date.now();
    return Math.max(1, Math.ceil((oldest + windowSeconds * 1000 - Date.now()) / 1000));
  }
  await q.insert(portalRateEvents).values({ bucket });
  return undefined;
}
