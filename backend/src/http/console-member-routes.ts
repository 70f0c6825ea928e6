/**
 * The admin console's members and API tokens, under /api/portal/admin/members and /api/portal/admin/tokens
 * (portal/console-members.ts and console-api-tokens.ts hold the rules). Every console role reads the
 * members, owners, operators and analysts the tokens; owners and operators change them. A wrong field is
 * answered as a problem document with `errors: [{ field, message, rule }]`, as the settings are.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { PortalRole } from '../../../common/src/portal-api.ts';
import { MAX_MEMBER_SEARCH_CHARS, type ConsoleActor } from '../portal/console-members.ts';
import { problems } from '../portal/portal-problems.ts';
import type { TenantPortal } from '../portal/tenant-portal.ts';
import { schemaFieldErrors } from './field-errors.ts';
import { problemSchema } from './shared-schemas.ts';

export interface ConsoleMemberRoutesOptions {
  tenants: TenantPortal;
  /** The signed-in session's tenant and who acts; refuses (401/403) a session whose role is not among `roles`. */
  authenticate: (request: FastifyRequest, roles: PortalRole[]) => Promise<ConsoleActor>;
  /** Who reads the list; owners and operators also change it. */
  readRoles: PortalRole[];
}

const WRITE_ROLES: PortalRole[] = ['owner', 'operator'];

/** A problem with the wrong fields, each next to its field on the page. */
const fieldProblemSchema = {
  type: 'object',
  properties: {
    ...problemSchema.properties,
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { field: { type: 'string' }, message: { type: 'string' }, rule: { type: 'string' }, limit: { type: ['string', 'integer'] } },
      },
    },
  },
} as const;

const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const;
/**
 * The schemas check types and a generous bound only: Fastify's validator stops at the first error, and the
 * page should see every wrong field at once, so the rules (length, role, address, domain) are the service's.
 * Unknown fields are dropped (Fastify's removeAdditional), so `source` or `email` in a change do nothing.
 */
const BODY_TEXT_BOUND = 1000;
const nullableText = { type: ['string', 'null'], maxLength: BODY_TEXT_BOUND } as const;
const roleSchema = { type: 'string', maxLength: 64 } as const;

const memberSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    name: { type: ['string', 'null'] },
    role: { type: 'string' },
    source: { type: 'string' },
    entraLinked: { type: 'boolean' },
    changedBy: { type: ['string', 'null'] },
    updatedAt: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
    editable: { type: 'boolean' },
  },
  required: ['id', 'email', 'name', 'role', 'source', 'entraLinked', 'changedBy', 'updatedAt', 'createdAt', 'editable'],
} as const;

const tokenSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    hint: { type: ['string', 'null'] },
    source: { type: 'string' },
    createdBy: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
    lastUsedAt: { type: ['string', 'null'] },
    expiresAt: { type: ['string', 'null'] },
    expired: { type: 'boolean' },
    editable: { type: 'boolean' },
  },
  required: ['id', 'name', 'hint', 'source', 'createdBy', 'createdAt', 'lastUsedAt', 'expiresAt', 'expired', 'editable'],
} as const;

/** Field errors of the body's schema, or nothing; read after the role check, so a reader learns nothing from them. */
function refuseInvalidBody(request: FastifyRequest): void {
  if (request.validationError) throw problems.invalidFields(schemaFieldErrors(request.validationError.validation), 'Nothing was changed');
}

export const consoleMemberRoutes: FastifyPluginAsync<ConsoleMemberRoutesOptions> = async (app, { tenants, authenticate, readRoles }) => {
  app.get<{ Querystring: { search?: string; after?: string; limit?: number } }>(
    '/',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            search: { type: 'string', maxLength: MAX_MEMBER_SEARCH_CHARS },
            after: { type: 'string', maxLength: 320 },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
          },
        },
        response: {
          200: { type: 'object', properties: { members: { type: 'array', items: memberSchema }, next: { type: 'string' } }, required: ['members'] },
          400: problemSchema,
        },
      },
    },
    async (request) => {
      const { tenantId } = await authenticate(request, readRoles);
      const { search, after, limit = 100 } = request.query;
      return tenants.members.list(tenantId, { search: search?.trim() || undefined, after: after || undefined, limit });
    },
  );

  app.post<{ Body: { email: string; name?: string | null; role: string } }>(
    '/',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { email: { type: 'string', maxLength: BODY_TEXT_BOUND }, name: nullableText, role: roleSchema },
          required: ['email', 'role'],
        },
        response: { 201: memberSchema, 400: fieldProblemSchema, 403: problemSchema },
      },
      attachValidation: true,
    },
    async (request, reply) => {
      const actor = await authenticate(request, WRITE_ROLES);
      refuseInvalidBody(request);
      return reply.code(201).send(await tenants.members.add(actor, request.body));
    },
  );

  app.patch<{ Params: { id: string }; Body: { name?: string | null; role?: string } }>(
    '/:id',
    {
      schema: {
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { name: nullableText, role: roleSchema },
        },
        response: { 200: memberSchema, 400: fieldProblemSchema, 403: problemSchema, 404: problemSchema, 409: problemSchema },
      },
      attachValidation: true,
    },
    async (request) => {
      const actor = await authenticate(request, WRITE_ROLES);
      refuseInvalidBody(request);
      return tenants.members.change(actor, request.params.id, request.body);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/:id',
    { schema: { params: idParams, response: { 403: problemSchema, 404: problemSchema, 409: problemSchema } } },
    async (request, reply) => {
      await tenants.members.remove(await authenticate(request, WRITE_ROLES), request.params.id);
      return reply.code(204).send();
    },
  );
};

export const consoleApiTokenRoutes: FastifyPluginAsync<ConsoleMemberRoutesOptions> = async (app, { tenants, authenticate, readRoles }) => {
  app.get(
    '/',
    { schema: { response: { 200: { type: 'object', properties: { tokens: { type: 'array', items: tokenSchema } }, required: ['tokens'] } } } },
    async (request) => ({ tokens: await tenants.apiTokens.list((await authenticate(request, readRoles)).tenantId) }),
  );

  app.post<{ Body: { name: string; expiresInDays?: number | null } }>(
    '/',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: 'string', maxLength: BODY_TEXT_BOUND },
            // A type list, not anyOf, so that null is never coerced to 0; the range is checked with the name.
            expiresInDays: { type: ['integer', 'null'] },
          },
          required: ['name'],
        },
        response: {
          201: { type: 'object', properties: { token: { type: 'string' }, apiToken: tokenSchema }, required: ['token', 'apiToken'] },
          400: fieldProblemSchema,
          403: problemSchema,
        },
      },
      attachValidation: true,
    },
    async (request, reply) => {
      const actor = await authenticate(request, WRITE_ROLES);
      refuseInvalidBody(request);
      const created = await tenants.apiTokens.create(actor, { name: request.body.name, expiresInDays: request.body.expiresInDays ?? null });
      return reply.code(201).send(created);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/:id',
    { schema: { params: idParams, response: { 403: problemSchema, 404: problemSchema, 409: problemSchema } } },
    async (request, reply) => {
      await tenants.apiTokens.revoke(await authenticate(request, WRITE_ROLES), request.params.id);
      return reply.code(204).send();
    },
  );
};
