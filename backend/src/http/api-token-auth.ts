/** Admin API authentication for now: a per-tenant API token from the configuration file (Bearer). */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../db/client.ts';
import { tenantForApiToken } from '../tenants/tenant-directory.ts';
import { sendProblem } from './problem-details.ts';

declare module 'fastify' {
  interface FastifyRequest {
    tenantId?: string;
  }
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
        detail: 'Send the tenant API token from the configuration file as "Authorization: Bearer <token>".',
      });
    }
    const tenantId = await tenantForApiToken(db, match[1]!);
    if (!tenantId) {
      reply.header('www-authenticate', 'Bearer realm="sealpost-admin", error="invalid_token"');
      return sendProblem(reply, { status: 401, title: 'The API token is not valid' });
    }
    request.tenantId = tenantId;
  };
}
