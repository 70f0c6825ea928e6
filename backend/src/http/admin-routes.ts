/**
 * Admin API: the messages of the admin's tenant and the trace of each, the tenant's signed audit checkpoints,
 * and a preview of how 'auto' would protect given recipients.
 */
import { and, desc, eq, lt } from 'drizzle-orm';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { AuditCheckpoint } from '../audit/audit-checkpoints.ts';
import type { CheckpointSource } from '../audit/audit-log.ts';
import type { Database } from '../db/client.ts';
import { deliveries, messages, recipients } from '../db/schema.ts';
import { readTrace } from '../messages/message-trace.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { releaseMessage, type MessageReleaseDeps } from '../delivery/message-release.ts';
import { checkAddressSyntax } from '../mail/address-syntax.ts';
import { FALLBACK_ORDER } from '../protect/fallback-order.ts';
import { resolveRecipientMethods, type MethodResolutionDeps } from '../protect/method-resolution.ts';
import { requireApiToken } from './api-token-auth.ts';
import { messageTraceRoutes } from './message-trace-routes.ts';
import { sendProblem } from './problem-details.ts';
import { deliverySchema, recipientMethodsSchema } from './shared-schemas.ts';

const messageSummary = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    direction: { type: 'string' },
    mailFrom: { type: 'string' },
    recipients: { type: 'array', items: { type: 'string' } },
    sizeBytes: { type: 'integer' },
    messageIdHeader: { type: ['string', 'null'] },
    state: { type: 'string' },
    tls: { type: 'boolean' },
    receivedAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'direction', 'mailFrom', 'recipients', 'state', 'receivedAt'],
} as const;

const traceEntry = {
  type: 'object',
  properties: {
    at: { type: 'string', format: 'date-time' },
    step: { type: 'string' },
    detail: { type: 'object', additionalProperties: true },
  },
} as const;

const checkpointSchema = {
  type: 'object',
  properties: {
    tenantId: { type: 'string' },
    seq: { type: 'integer' },
    hash: { type: 'string' },
    at: { type: 'string' },
    legacyThrough: { type: 'integer' },
    keyId: { type: 'string' },
    signature: { type: 'string' },
  },
  required: ['tenantId', 'seq', 'hash', 'at', 'legacyThrough', 'keyId', 'signature'],
} as const;

export interface AdminRoutesOptions {
  db: Database;
  /** Without it (an app built without the audit checkpoints) the checkpoint export answers 404. */
  auditCheckpoints?: CheckpointSource;
  /** What releasing a held or quarantined message needs; without it the release answers 404. */
  release?: MessageReleaseDeps;
  /** What the protection preview resolves with: the gateway's own directory, modes and key stores. */
  protection?: MethodResolutionDeps;
}

/** Most recipients one protection preview resolves. */
export const MAX_PROTECTION_PREVIEW_RECIPIENTS = 100;

const protectionPreviewResponse = {
  type: 'object',
  properties: {
    recipients: recipientMethodsSchema,
    fallbackOrder: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          mode: { type: 'string' },
          condition: { type: 'string' },
          reasonCode: { type: 'string' },
          reason: { type: 'string' },
          available: { type: 'boolean' },
          enabled: { type: 'boolean' },
        },
        required: ['mode', 'condition', 'reasonCode', 'reason', 'available', 'enabled'],
      },
    },
    availableModes: { type: 'array', items: { type: 'string' } },
  },
  required: ['recipients', 'fallbackOrder', 'availableModes'],
} as const;

export const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async (app, { db, auditCheckpoints, release, protection }) => {
  app.addHook('onRequest', requireApiToken(db));
  // The message trace's search and timelines (the same as the portal's admin console answers).
  await app.register(messageTraceRoutes, { prefix: '/message-search', db, authenticate: async (request) => request.tenantId! });

  /**
   * How 'auto' would protect each recipient (method, reason, reasonCode), with the fallback order it follows
   * and the modes this gateway has. The same order and resolution as the gateway and the add-in preview.
   */
  const previewProtection = async (tenantId: string, given: string[], reply: FastifyReply) => {
    if (!protection) {
      return sendProblem(reply, { status: 404, title: 'No protection preview', detail: 'This gateway does not resolve protection methods.' });
    }
    if (given.length === 0) {
      return sendProblem(reply, { status: 400, title: 'No recipients', detail: 'Name at least one recipient (recipient=address).' });
    }
    if (given.length > MAX_PROTECTION_PREVIEW_RECIPIENTS) {
      return sendProblem(reply, {
        status: 400,
        title: 'Too many recipients',
        detail: `At most ${MAX_PROTECTION_PREVIEW_RECIPIENTS} recipients per preview; ${given.length} were given.`,
      });
    }
    const addresses = [...new Set(given.map((r) => r.trim().toLowerCase()))];
    for (const address of addresses) {
      const syntax = checkAddressSyntax(address);
      if (!syntax.valid) {
        return sendProblem(reply, {
          status: 400,
          title: 'Not a valid recipient address',
          detail: `"${address}" is not a valid address: ${syntax.problem}.`,
        });
      }
    }
    const { protectionModes } = protection;
    const resolutions = await resolveRecipientMethods(protection, tenantId, addresses);
    return {
      recipients: resolutions.map((r) => ({ address: r.recipient, method: r.method, reasonCode: r.reasonCode, reason: r.reason })),
      fallbackOrder: FALLBACK_ORDER.map((step) => ({
        mode: step.mode,
        condition: step.when,
        reasonCode: step.reasonCode,
        reason: step.reason,
        available: protectionModes?.handlerFor(step.mode) !== undefined,
        // Whether the tenant's encryption policy lets 'auto' take this way at all.
        enabled: protection.directory.tenantById(tenantId)?.encryption.ways[step.mode] ?? true,
      })),
      availableModes: protectionModes?.available() ?? [],
    };
  };

  app.get<{ Querystring: { recipient?: string[] } }>(
    '/protection/preview',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { recipient: { type: 'array', items: { type: 'string', maxLength: 320 } } },
          additionalProperties: false,
        },
        response: { 200: protectionPreviewResponse },
      },
    },
    async (request, reply) => previewProtection(request.tenantId!, request.query.recipient ?? [], reply),
  );

  app.post<{ Body: { recipients: string[] } }>(
    '/protection/preview',
    {
      schema: {
        body: {
          type: 'object',
          properties: { recipients: { type: 'array', items: { type: 'string', maxLength: 320 } } },
          required: ['recipients'],
          additionalProperties: false,
        },
        response: { 200: protectionPreviewResponse },
      },
    },
    async (request, reply) => previewProtection(request.tenantId!, request.body.recipients, reply),
  );

  /**
   * The tenant's signed checkpoints in seq order, with the public key that verifies them, for an external log:
   * poll with afterSeq = the last seq received. Each is the JSON line of the checkpoint file, unchanged.
   */
  app.get<{ Querystring: { afterSeq?: number; limit?: number } }>(
    '/audit/checkpoints',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            afterSeq: { type: 'integer', minimum: 0, default: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              algorithm: { type: 'string' },
              keyId: { type: 'string' },
              publicKey: { type: 'string' },
              signedFields: { type: 'string' },
              checkpoints: { type: 'array', items: checkpointSchema },
            },
          },
        },
      },
    },
    async (request, reply) => {
      if (!auditCheckpoints) {
        return sendProblem(reply, { status: 404, title: 'No audit checkpoints', detail: 'This gateway does not sign audit checkpoints.' });
      }
      const tenantId = request.tenantId!;
      const afterSeq = request.query.afterSeq ?? 0;
      const limit = request.query.limit ?? 100;
      const found: AuditCheckpoint[] = [];
      for await (const line of auditCheckpoints.file.lines()) {
        const c = line.checkpoint;
        if (c && c.tenantId === tenantId && c.seq > afterSeq) found.push(c);
      }
      found.sort((a, b) => a.seq - b.seq || a.at.localeCompare(b.at));
      const { signingKey } = auditCheckpoints;
      return {
        algorithm: 'Ed25519',
        keyId: signingKey.keyId,
        publicKey: signingKey.publicKeyPem,
        signedFields: 'UTF-8 JSON of ["sealpost-audit-checkpoint-v1", tenantId, seq, hash, at, legacyThrough]',
        checkpoints: found.slice(0, limit),
      };
    },
  );

  app.get<{ Querystring: { limit?: number; before?: string; state?: string } }>(
    '/messages',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
            before: { type: 'string', format: 'date-time' },
            /** Only messages in this state, for example held or quarantined (what an operator may release). */
            state: { type: 'string', minLength: 1, maxLength: 40 },
          },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { messages: { type: 'array', items: messageSummary } } } },
      },
    },
    async (request) => {
      const tenantId = request.tenantId!;
      const where = and(
        eq(messages.tenantId, tenantId),
        request.query.before ? lt(messages.receivedAt, new Date(request.query.before)) : undefined,
        request.query.state ? eq(messages.state, request.query.state) : undefined,
      );
      const result = await withTenants(db, tenantId, async (tx) => {
        const rows = await tx
          .select({
            id: messages.id,
            direction: messages.direction,
            mailFrom: messages.mailFrom,
            sizeBytes: messages.sizeBytes,
            messageIdHeader: messages.messageIdHeader,
            state: messages.state,
            tls: messages.tls,
            receivedAt: messages.receivedAt,
          })
          .from(messages)
          .where(where)
          .orderBy(desc(messages.receivedAt))
          .limit(request.query.limit ?? 50);
        const listed = [];
        for (const row of rows) {
          const rcpts = await tx.select({ address: recipients.address }).from(recipients).where(eq(recipients.messageId, row.id));
          listed.push({ ...row, recipients: rcpts.map((r) => r.address) });
        }
        return listed;
      });
      return { messages: result };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/messages/:id/trace',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] },
        response: {
          200: {
            type: 'object',
            properties: {
              message: messageSummary,
              deliveries: { type: 'array', items: deliverySchema },
              trace: { type: 'array', items: traceEntry },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const found = await withTenants(db, request.tenantId!, async (tx) => {
        const [message] = await tx
          .select()
          .from(messages)
          .where(and(eq(messages.id, request.params.id), eq(messages.tenantId, request.tenantId!)));
        if (!message) return undefined;
        const rcpts = await tx.select({ address: recipients.address }).from(recipients).where(eq(recipients.messageId, message.id));
        // The trace first: a delivery's status and its trace step commit together, so deliveries read after the
        // trace are at least as new as it (read the other way round, a step could show before its status).
        const trace = await readTrace(tx, message.id);
        const deliveryRows = await tx.select().from(deliveries).where(eq(deliveries.messageId, message.id));
        return { message, rcpts, trace, deliveryRows };
      });
      if (!found) {
        return sendProblem(reply, { status: 404, title: 'No such message', detail: 'No message of your tenant has this id.' });
      }
      const { message, rcpts, trace, deliveryRows } = found;
      return {
        message: { ...message, recipients: rcpts.map((r) => r.address) },
        deliveries: deliveryRows,
        trace: trace.map(({ at, step, detail }) => ({ at, step, detail })),
      };
    },
  );

  /**
   * Releases a held or quarantined message: a message held by a failure a retry can cure goes through the
   * stages again; inbound mail goes to the tenant's mail server; outbound mail that cannot be protected goes
   * back to its sender. It is never sent unprotected.
   */
  app.post<{ Params: { id: string } }>(
    '/messages/:id/release',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] },
        response: {
          200: {
            type: 'object',
            properties: { action: { type: 'string' }, state: { type: 'string' }, detail: { type: 'string' } },
            required: ['action', 'state', 'detail'],
          },
        },
      },
    },
    async (request, reply) => {
      if (!release) {
        return sendProblem(reply, { status: 404, title: 'No release', detail: 'This gateway does not release messages.' });
      }
      const outcome = await releaseMessage(release, request.tenantId!, request.params.id, {
        actor: 'admin API token',
        clientIp: request.ip,
      });
      if (outcome.kind === 'not_found') {
        return sendProblem(reply, { status: 404, title: 'No such message', detail: 'No message of your tenant has this id.' });
      }
      if (outcome.kind === 'not_releasable') {
        return sendProblem(reply, { status: 409, title: 'Message not releasable', detail: outcome.reason });
      }
      return { action: outcome.action, state: outcome.state, detail: outcome.detail };
    },
  );
};
