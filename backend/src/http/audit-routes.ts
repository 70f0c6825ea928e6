/**
 * The tenant's audit log for its admins (owner, operator, auditor), under /api/portal/admin/audit:
 * the entries a filter finds a page at a time, the same as a CSV or JSON download, and the chain's check.
 * Every read is of the signed-in admin's own tenant.
 */
import { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { AUDIT_EXPORT_CAP, AUDIT_EXPORT_CAPPED_HEADER, AUDIT_EXPORT_COUNT_HEADER } from '../../../common/src/portal-api.ts';
import { AUDIT_ACTIONS } from '../audit/audit-log.ts';
import type { AuditExportFormat } from '../audit/audit-export.ts';
import { MAX_ACTOR_FILTER, auditFilterProblem, isAuditAction, type AuditFilter } from '../audit/audit-search.ts';
import { problems } from '../portal/portal-problems.ts';
import type { TenantPortal } from '../portal/tenant-portal.ts';
import { problemSchema } from './shared-schemas.ts';

export interface AuditRoutesOptions {
  tenants: TenantPortal;
  /** The signed-in admin (tenant and who they are); refuses everyone whose role may not read the audit log. */
  authenticate: (request: FastifyRequest) => Promise<AuditReader>;
  /** The most entries one export holds. */
  exportCap?: number;
}

export interface AuditReader {
  tenantId: string;
  actorId: string;
  actorAddress: string;
  clientIp: string;
}

interface FilterQuery {
  action?: string;
  actor?: string;
  subjectId?: string;
  from?: string;
  to?: string;
}

const filterProperties = {
  // Checked against the known actions in the handler, so a wrong one is answered with the list.
  action: { type: 'string', maxLength: 64 },
  actor: { type: 'string', minLength: 1, maxLength: MAX_ACTOR_FILTER },
  subjectId: { type: 'string', minLength: 1, maxLength: 100 },
  from: { type: 'string', format: 'date-time' },
  to: { type: 'string', format: 'date-time' },
} as const;

const auditEntrySchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    at: { type: 'string' },
    action: { type: 'string' },
    actorId: { type: ['string', 'null'] },
    actorAddress: { type: ['string', 'null'] },
    clientIp: { type: ['string', 'null'] },
    subjectId: { type: ['string', 'null'] },
    details: { type: 'object', additionalProperties: true },
    prevHash: { type: 'string' },
    hash: { type: 'string' },
  },
} as const;

const verificationSchema = {
  type: 'object',
  properties: {
    ok: { type: 'boolean' },
    checked: { type: 'integer' },
    tenants: { type: 'integer' },
    checkpoints: { type: 'integer' },
    firstBroken: {
      type: 'object',
      properties: { tenantId: { type: 'string' }, seq: { type: 'integer' }, id: { type: ['integer', 'null'] }, reason: { type: 'string' } },
    },
    problems: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          kind: { type: 'string' },
          tenantId: { type: ['string', 'null'] },
          seq: { type: ['integer', 'null'] },
          id: { type: ['integer', 'null'] },
          reason: { type: 'string' },
        },
      },
    },
  },
  required: ['ok', 'checked'],
} as const;

/** The filter of a request, or the 400 that says what is wrong with it. */
function filterOf(query: FilterQuery): AuditFilter {
  const filter: AuditFilter = {};
  if (query.action !== undefined && query.action !== '') {
    if (!isAuditAction(query.action)) throw problems.invalid(`Unknown action "${query.action}"; use one of: ${AUDIT_ACTIONS.join(', ')}.`);
    filter.action = query.action;
  }
  if (query.actor) filter.actor = query.actor;
  if (query.subjectId) filter.subjectId = query.subjectId;
  if (query.from) filter.from = new Date(query.from);
  if (query.to) filter.to = new Date(query.to);
  const problem = auditFilterProblem(filter);
  if (problem) throw problems.invalid(problem);
  return filter;
}

const exportFileName = (format: AuditExportFormat, at: Date) => `audit-log-${at.toISOString().slice(0, 10)}.${format}`;

export const auditRoutes: FastifyPluginAsync<AuditRoutesOptions> = async (app, { tenants, authenticate, exportCap = AUDIT_EXPORT_CAP }) => {
  app.get(
    '/verify',
    { schema: { response: { 200: verificationSchema } } },
    async (request) => tenants.verifyAudit((await authenticate(request)).tenantId),
  );

  app.get<{ Querystring: FilterQuery & { limit?: number; before?: number; after?: number } }>(
    '/',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...filterProperties,
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
            before: { type: 'integer', minimum: 1 },
            after: { type: 'integer', minimum: 0 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              entries: { type: 'array', items: auditEntrySchema },
              hasOlder: { type: 'boolean' },
              hasNewer: { type: 'boolean' },
              actions: { type: 'array', items: { type: 'string' } },
            },
            required: ['entries', 'hasOlder', 'hasNewer', 'actions'],
          },
          400: problemSchema,
        },
      },
    },
    async (request) => {
      const { tenantId } = await authenticate(request);
      const { limit = 100, before, after } = request.query;
      if (before !== undefined && after !== undefined) throw problems.invalid('Give before (older entries) or after (newer entries), not both.');
      const page = await tenants.searchAudit(tenantId, filterOf(request.query), { limit, before, after });
      return {
        entries: page.entries.map((e) => ({ ...e, at: e.at.toISOString() })),
        hasOlder: page.hasOlder,
        hasNewer: page.hasNewer,
        actions: [...AUDIT_ACTIONS],
      };
    },
  );

  app.get<{ Querystring: FilterQuery & { format: AuditExportFormat } }>(
    '/export',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...filterProperties, format: { type: 'string', enum: ['csv', 'json'] } },
          required: ['format'],
        },
        response: { 400: problemSchema },
      },
    },
    async (request, reply) => {
      const reader = await authenticate(request);
      const { format } = request.query;
      const filter = filterOf(request.query);
      // Who took a copy of the log, of what and how much, is itself recorded (before the copy is made).
      const { heading, body } = await tenants.exportAudit(reader, filter, format, exportCap);
      return reply
        .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
        .header('content-disposition', `attachment; filename="${exportFileName(format, new Date(heading.exportedAt))}"`)
        .header(AUDIT_EXPORT_COUNT_HEADER, String(heading.count))
        .header(AUDIT_EXPORT_CAPPED_HEADER, String(heading.capped))
        .send(Readable.from(body));
    },
  );
};
