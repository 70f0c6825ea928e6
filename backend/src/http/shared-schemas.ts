/** JSON schemas that more than one audience's routes answer with (common/src/portal-api.ts shapes). */

/** An RFC 9457 problem document. */
export const problemSchema = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;

/** A secure message a member sent, with each recipient's reading: the portal's and the add-in's lists. */
export const sentMessageSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    threadId: { type: 'string' },
    subject: { type: 'string' },
    sentAt: { type: 'string' },
    expiresAt: { type: 'string' },
    recipients: {
      type: 'array',
      items: {
        type: 'object',
        properties: { address: { type: 'string' }, firstReadAt: { type: 'string' }, revokedAt: { type: 'string' } },
        required: ['address'],
      },
    },
  },
  required: ['id', 'threadId', 'subject', 'sentAt', 'recipients'],
} as const;

/** How one recipient will be protected: the add-in's preview and the admin's preview of the fallback order. */
export const recipientMethodsSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: { address: { type: 'string' }, method: { type: 'string' }, reasonCode: { type: 'string' }, reason: { type: 'string' } },
    required: ['address', 'method', 'reasonCode', 'reason'],
  },
} as const;

/** Route parameters of a resource named by its id (a UUID). */
export const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] } as const;

/** A query that names one address, as the member key routes take it. */
export const addressQuery = {
  type: 'object',
  properties: { address: { type: 'string', minLength: 3, maxLength: 320 } },
  required: ['address'],
  additionalProperties: false,
} as const;

/** A sign-in's question for an address (the add-in's and the portal's organisation sign-in): one that reads as an address. */
export const signInAddressQuery = {
  type: 'object',
  properties: { address: { type: 'string', minLength: 3, maxLength: 320, pattern: '^[^\\s@]+@[^\\s@]+$' } },
  required: ['address'],
} as const;

/** One recipient's delivery of a message: the admin API's trace and the console's message timeline. */
export const deliverySchema = {
  type: 'object',
  properties: {
    recipient: { type: 'string' },
    route: { type: 'string' },
    protection: { type: 'string' },
    status: { type: 'string' },
    attempts: { type: 'integer' },
    lastReply: { type: ['string', 'null'] },
    lastRemote: { type: ['string', 'null'] },
    nextAttemptAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;
