/**
 * The tenant's API tokens as the admin console manages them (/api/portal/admin/tokens): listed, made and
 * revoked by owners and operators. A new token is answered once and stored only as its SHA-256 hash with
 * its first characters as a hint; the audit entry names the token, never holds it. Tokens of the tenant
 * file are written again at every start, so the console lists them and revokes none of them.
 */
import { and, asc, eq } from 'drizzle-orm';
import type { ConsoleApiToken, CreatedApiToken, PortalFieldError } from '../../../common/src/portal-api.ts';
import { appendAudit } from '../audit/audit-log.ts';
import type { Database } from '../db/client.ts';
import { apiTokens } from '../db/schema.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { apiTokenHint, generateApiToken, hashApiToken } from '../tenants/secrets.ts';
import type { AuditKeys } from '../vault/audit-keys.ts';
import type { ConsoleActor } from './console-members.ts';
import { problems } from './portal-problems.ts';

export const MAX_TOKEN_NAME_CHARS = 100;
/** The longest expiry a console token may get; "none" is for tokens that should live as long as their use. */
export const MAX_TOKEN_EXPIRY_DAYS = 3650;
/** A tenant's tokens are few (one per script or integration); the list is cut here rather than paged. */
export const MAX_LISTED_TOKENS = 500;

const NOT_CHANGED = 'No token was made';
const DAY_MS = 24 * 60 * 60 * 1000;

function view(row: typeof apiTokens.$inferSelect, now = new Date()): ConsoleApiToken {
  const source = row.source === 'console' ? 'console' : 'file';
  return {
    id: row.id,
    name: row.name,
    hint: row.hint,
    source,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    expired: row.expiresAt !== null && row.expiresAt <= now,
    editable: source === 'console',
  };
}

const fieldError = (field: string, rule: PortalFieldError['rule'], text: string, limit?: string | number): PortalFieldError => ({
  field,
  message: `${field}: ${text}`,
  rule,
  ...(limit === undefined ? {} : { limit }),
});

export class ConsoleApiTokens {
  constructor(
    private readonly db: Database,
    private readonly auditKeys: AuditKeys,
  ) {}

  async list(tenantId: string): Promise<ConsoleApiToken[]> {
    const rows = await withTenants(this.db, tenantId, (tx) =>
      tx.select().from(apiTokens).where(eq(apiTokens.tenantId, tenantId)).orderBy(asc(apiTokens.name)).limit(MAX_LISTED_TOKENS),
    );
    const now = new Date();
    return rows.map((row) => view(row, now));
  }

  /** Makes a token; `expiresInDays` null for none. The answer holds the token, the only time it is seen. */
  async create(actor: ConsoleActor, input: { name: string; expiresInDays: number | null }): Promise<CreatedApiToken> {
    const name = input.name.trim();
    const errors: PortalFieldError[] = [];
    if (name === '') errors.push(fieldError('name', 'required', 'give the token a name that says what uses it'));
    else if (name.length > MAX_TOKEN_NAME_CHARS) errors.push(fieldError('name', 'too-long', `must be at most ${MAX_TOKEN_NAME_CHARS} characters`, MAX_TOKEN_NAME_CHARS));
    const days = input.expiresInDays;
    if (days !== null) {
      if (!Number.isInteger(days)) errors.push(fieldError('expiresInDays', 'type', 'must be a whole number of days, or null for none'));
      else if (days < 1) errors.push(fieldError('expiresInDays', 'minimum', 'must be at least 1', 1));
      else if (days > MAX_TOKEN_EXPIRY_DAYS) errors.push(fieldError('expiresInDays', 'maximum', `must be at most ${MAX_TOKEN_EXPIRY_DAYS}`, MAX_TOKEN_EXPIRY_DAYS));
    }
    if (errors.length) throw problems.invalidFields(errors, NOT_CHANGED);

    const token = generateApiToken();
    const expiresAt = days === null ? null : new Date(Date.now() + days * DAY_MS);
    const row = await withTenants(this.db, actor.tenantId, async (tx) => {
      const [created] = await tx
        .insert(apiTokens)
        .values({
          tenantId: actor.tenantId,
          name,
          tokenHash: hashApiToken(token),
          hint: apiTokenHint(token),
          source: 'console',
          createdBy: actor.actorAddress,
          expiresAt,
        })
        .onConflictDoNothing({ target: [apiTokens.tenantId, apiTokens.name] })
        .returning();
      if (!created) throw problems.invalidFields([fieldError('name', 'duplicate', `a token named "${name}" exists already`, name)], NOT_CHANGED);
      await appendAudit(tx, this.auditKeys, {
        tenantId: actor.tenantId,
        actorId: actor.actorId,
        actorAddress: actor.actorAddress,
        clientIp: actor.clientIp,
        subjectId: created.id,
        action: 'api_token_created',
        details: { name, hint: created.hint, expiresAt: expiresAt?.toISOString() ?? null },
      });
      return created;
    });
    return { token, apiToken: view(row) };
  }

  /** Deletes a console token: the next request with it is refused. */
  async revoke(actor: ConsoleActor, id: string): Promise<void> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw problems.notFound();
    await withTenants(this.db, actor.tenantId, async (tx) => {
      const [row] = await tx.select().from(apiTokens).where(and(eq(apiTokens.tenantId, actor.tenantId), eq(apiTokens.id, id)));
      if (!row) throw problems.notFound();
      if (row.source !== 'console') {
        throw problems.conflict('This token comes from the tenant file, which is applied again at every start; remove it there.');
      }
      await tx.delete(apiTokens).where(eq(apiTokens.id, row.id));
      await appendAudit(tx, this.auditKeys, {
        tenantId: actor.tenantId,
        actorId: actor.actorId,
        actorAddress: actor.actorAddress,
        clientIp: actor.clientIp,
        subjectId: row.id,
        action: 'api_token_revoked',
        details: { name: row.name, hint: row.hint },
      });
    });
  }
}
