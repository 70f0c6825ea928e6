/**
 * Admin API authentication: a per-tenant API token (Bearer), from the tenant file or made in the admin
 * console. An expired token is refused with a 401 that says so; each token's last use is recorded, at
 * most once a minute, so a script calling many times a second costs one write a minute, not one a call.
 */
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../db/client.ts';
import { apiTokens } from '../db/schema.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { hashApiToken } from '../tenants/secrets.ts';
import { tenantForApiToken } from '../tenants/tenant-directory.ts';
import { sendProblem } from './problem-details.ts';

declare module 'fastify' {
  interface FastifyRequest {
    tenantId?: string;
  }
}

/** How often a token's last use is written at most. */
export const LAST_USE_INTERVAL_MS = 60_000;
/** Tokens whose expiry and last write this process remembers; beyond that the oldest is forgotten (and read again). */
const REMEMBERED_TOKENS = 1000;

interface KnownToken {
  tenantId: string;
  expiresAt: Date | null;
  /** When this process last wrote (or read) the token's last use. */
  lastUseWrittenAt: number;
}

/**
 * What this process knows of the tokens it has seen, by hash: a token's expiry never changes once it is
 * made, so it is read again only with the next record of its use. Whether the token still exists is asked on every request (tenantForApiToken),
 * so a revoked token is refused at once. One memory per database, shared by every route file that checks tokens.
 */
const knownTokens = new WeakMap<Database, Map<string, KnownToken>>();

function memoryOf(db: Database): Map<string, KnownToken> {
  let memory = knownTokens.get(db);
  if (!memory) {
    memory = new Map();
    knownTokens.set(db, memory);
  }
  return memory;
}

/** The token's expiry, and its last use recorded when this process's last record is a minute old. */
async function tokenUse(db: Database, tenantId: string, tokenHash: string): Promise<KnownToken | undefined> {
  const memory = memoryOf(db);
  const now = Date.now();
  const known = memory.get(tokenHash);
  if (known && known.tenantId === tenantId && now - known.lastUseWrittenAt < LAST_USE_INTERVAL_MS) return known;
  const current = await withTenants(db, tenantId, async (tx) => {
    const [row] = await tx.select({ expiresAt: apiTokens.expiresAt }).from(apiTokens).where(eq(apiTokens.tokenHash, tokenHash));
    if (row && !(row.expiresAt && row.expiresAt.getTime() <= now)) {
      // The condition on last_used_at keeps it at one write a minute across processes too.
      await tx
        .update(apiTokens)
        .set({ lastUsedAt: sql`now()` })
        .where(and(eq(apiTokens.tokenHash, tokenHash), or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, sql`now() - interval '1 minute'`))));
    }
    return row;
  });
  if (!current) return undefined;
  const remembered = { tenantId, expiresAt: current.expiresAt, lastUseWrittenAt: now };
  memory.delete(tokenHash);
  memory.set(tokenHash, remembered);
  if (memory.size > REMEMBERED_TOKENS) memory.delete(memory.keys().next().value!);
  return remembered;
}

export function requireApiToken(db: Database) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      reply.header('www-authenticate', 'Bearer realm="sealpost-admin"');
      return sendProblem(reply, {
        status: 401,
        title: 'Authentication required',
        detail: 'Send a tenant API token (from the tenant file or the admin console) as "Authorization: Bearer <token>".',
      });
    }
    const token = match[1]!;
    const tenantId = await tenantForApiToken(db, token);
    const use = tenantId ? await tokenUse(db, tenantId, hashApiToken(token)) : undefined;
    if (!tenantId || !use) {
      reply.header('www-authenticate', 'Bearer realm="sealpost-admin", error="invalid_token"');
      return sendProblem(reply, { status: 401, title: 'The API token is not valid' });
    }
    if (use.expiresAt && use.expiresAt.getTime() <= Date.now()) {
      reply.header('www-authenticate', 'Bearer realm="sealpost-admin", error="invalid_token", error_description="The token expired"');
      return sendProblem(reply, {
        status: 401,
        title: 'The API token has expired',
        detail: `This token expired on ${use.expiresAt.toISOString()}. Make a new one in the admin console (API tokens) and use it instead.`,
      });
    }
    request.tenantId = tenantId;
  };
}
