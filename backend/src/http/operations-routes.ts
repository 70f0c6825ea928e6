/** Probes and metrics for the platform that runs the gateway. */
import { sql } from 'drizzle-orm';
import type { FastifyPluginAsync } from 'fastify';
import type { Database } from '../db/client.ts';
import type { GatewayMetrics } from '../metrics.ts';

export interface OperationsRoutesOptions {
  db: Database;
  metrics: GatewayMetrics;
  isReady: () => boolean;
}

const statusSchema = {
  type: 'object',
  properties: { status: { type: 'string' }, detail: { type: 'string' } },
  required: ['status'],
} as const;

export const operationsRoutes: FastifyPluginAsync<OperationsRoutesOptions> = async (app, options) => {
  app.get('/healthz', { schema: { response: { 200: statusSchema } } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { response: { 200: statusSchema, 503: statusSchema } } }, async (_request, reply) => {
    if (!options.isReady()) return reply.code(503).send({ status: 'starting' });
    try {
      await options.db.execute(sql`select 1`);
      return { status: 'ready' };
    } catch (error) {
      return reply.code(503).send({ status: 'database unavailable', detail: (error as Error).message });
    }
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });
};
