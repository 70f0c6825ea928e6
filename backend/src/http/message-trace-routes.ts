/**
 * The message trace for admins (messages/message-search.ts): `GET /` searches the tenant's messages, and
 * `GET /:id` answers one message's timeline. Served to the portal's admin console (by role) and to the
 * admin API (by token); the caller's authenticate names the tenant.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Queryable } from '../db/client.ts';
import { messageTimeline, SearchInputError, searchMessages } from '../messages/message-search.ts';
import { sendProblem } from './problem-details.ts';
import { deliverySchema, problemSchema } from './shared-schemas.ts';

const hitSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    direction: { type: 'string' },
    mailFrom: { type: 'string' },
    recipients: { type: 'array', items: { type: 'string' } },
    state: { type: 'string' },
    verdict: { type: 'string' },
    score: { type: 'number' },
    sizeBytes: { type: 'integer' },
    messageIdHeader: { type: ['string', 'null'] },
    receivedAt: { type: 'string' },
  },
  required: ['id', 'direction', 'mailFrom', 'recipients', 'state', 'sizeBytes', 'receivedAt'],
} as const;

/** What a search may ask; the enumerations are the values the gateway writes. */
const searchQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    sender: { type: 'string', minLength: 1, maxLength: 320 },
    recipient: { type: 'string', minLength: 1, maxLength: 320 },
    messageId: { type: 'string', minLength: 1, maxLength: 998 },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    direction: { type: 'string', enum: ['inbound', 'outbound', 'notification'] },
    state: { type: 'string', enum: ['received', 'routed', 'delivered', 'partly_delivered', 'bounced', 'held', 'quarantined', 'rejected'] },
    verdict: { type: 'string', enum: ['deliver', 'flag', 'quarantine', 'reject'] },
    after: { type: 'string', maxLength: 200 },
    limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
  },
} as const;

interface SearchQuerystring {
  sender?: string;
  recipient?: string;
  messageId?: string;
  from?: string;
  to?: string;
  direction?: string;
  state?: string;
  verdict?: string;
  after?: string;
  limit?: number;
}

export interface MessageTraceRoutesOptions {
  db: Queryable;
  /** The tenant whose messages the caller may see; throws (answers 401/403) for anyone else. */
  authenticate: (request: FastifyRequest) => Promise<string>;
}

export const messageTraceRoutes: FastifyPluginAsync<MessageTraceRoutesOptions> = async (app, { db, authenticate }) => {
  app.get<{ Querystring: SearchQuerystring }>(
    '/',
    {
      schema: {
        querystring: searchQuery,
        response: {
          200: { type: 'object', properties: { messages: { type: 'array', items: hitSchema }, next: { type: 'string' } }, required: ['messages'] },
          400: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const tenantId = await authenticate(request);
      const q = request.query;
      try {
        return await searchMessages(db, tenantId, {
          ...(q.sender ? { sender: q.sender } : {}),
          ...(q.recipient ? { recipient: q.recipient } : {}),
          ...(q.messageId ? { messageId: q.messageId } : {}),
          ...(q.from ? { from: new Date(q.from) } : {}),
          ...(q.to ? { to: new Date(q.to) } : {}),
          ...(q.direction ? { direction: q.direction } : {}),
          ...(q.state ? { state: q.state } : {}),
          ...(q.verdict ? { verdict: q.verdict } : {}),
          ...(q.after ? { after: q.after } : {}),
          limit: q.limit ?? 50,
        });
      } catch (error) {
        if (error instanceof SearchInputError) return sendProblem(reply, { status: 400, title: 'The search is not valid', detail: error.message });
        throw error;
      }
    },
  );

  app.get<{ Params: { id: string } }>(
    '/:id',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] },
        response: {
          200: {
            type: 'object',
            properties: {
              message: hitSchema,
              deliveries: { type: 'array', items: deliverySchema },
              trace: {
                type: 'array',
                items: { type: 'object', properties: { at: { type: 'string' }, step: { type: 'string' }, detail: { type: 'object', additionalProperties: true } } },
              },
            },
            required: ['message', 'deliveries', 'trace'],
          },
          404: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const tenantId = await authenticate(request);
      const timeline = await messageTimeline(db, tenantId, request.params.id);
      if (!timeline) return sendProblem(reply, { status: 404, title: 'No such message', detail: 'No message of your organisation has this id.' });
      return timeline;
    },
  );
};
