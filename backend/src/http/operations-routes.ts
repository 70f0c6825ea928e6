/** Probes and metrics for the platform that runs the gateway. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { sql } from 'drizzle-orm';
import { type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Database } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { problemAnsweringServer, sendProblem } from './problem-details.ts';

/**
 * Who may read /metrics. Metrics tell an outsider how busy the gateway is and how much it bounces, so they
 * are not public: with a token every request needs it; without one, the main listener answers only clients
 * on this machine, and a separate metrics listener answers whoever can reach the address it is bound to.
 */
export interface MetricsAccess {
  /** SEALPOST_METRICS_TOKEN: required as `Authorization: Bearer <token>` wherever /metrics is served. */
  token?: string;
  /** False when /metrics has its own listener (SEALPOST_METRICS_PORT): the main listener does not serve it. */
  onMainListener: boolean;
}

export interface OperationsRoutesOptions {
  db: Database;
  metrics: GatewayMetrics;
  isReady: () => boolean;
  metricsAccess?: MetricsAccess;
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

  const access = options.metricsAccess ?? { onMainListener: true };
  if (access.onMainListener) {
    await app.register(metricsRoute, { metrics: options.metrics, token: access.token, loopbackOnly: access.token === undefined });
  }
};

interface MetricsRouteOptions {
  metrics: GatewayMetrics;
  token?: string;
  /** Without a token on the main listener: only clients on this machine (a local Prometheus agent or sidecar). */
  loopbackOnly: boolean;
}

const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async (app, options) => {
  const expectedDigest = options.token === undefined ? undefined : digest(options.token);
  app.get('/metrics', async (request, reply) => {
    const refused = refusal(request, reply, expectedDigest, options.loopbackOnly);
    if (refused) return refused;
    reply.type(options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });
};

function refusal(request: FastifyRequest, reply: FastifyReply, expectedDigest: Buffer | undefined, loopbackOnly: boolean) {
  if (expectedDigest) {
    const header = request.headers.authorization ?? '';
    const presented = /^Bearer (\S{1,512})$/.exec(header)?.[1];
    // Both sides are hashed first, so the comparison takes the same time whatever the presented length.
    if (presented === undefined || !timingSafeEqual(digest(presented), expectedDigest)) {
      reply.header('www-authenticate', 'Bearer realm="sealpost-metrics"');
      return sendProblem(reply, {
        status: 401,
        title: 'The metrics need a token',
        detail: 'Send the token configured in SEALPOST_METRICS_TOKEN as "Authorization: Bearer <token>".',
      });
    }
    return undefined;
  }
  // The socket's own address, never X-Forwarded-For: a header is whatever the client wants it to be.
  if (loopbackOnly && !isLoopback(request.raw.socket.remoteAddress)) {
    return sendProblem(reply, {
      status: 403,
      title: 'The metrics are served to this machine only',
      detail:
        'Scrape /metrics from the gateway host, or set SEALPOST_METRICS_TOKEN (bearer token) or SEALPOST_METRICS_PORT (a separate listener).',
    });
  }
  return undefined;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return plain === '::1';
}

/** The separate metrics listener (SEALPOST_METRICS_PORT): /metrics and nothing else. */
export async function createMetricsApp(options: { logger: Logger; metrics: GatewayMetrics; token?: string }) {
  const app = problemAnsweringServer({ loggerInstance: options.logger.child({ component: 'metrics-http' }, { level: 'warn' }), bodyLimit: 1024 });
  await app.register(metricsRoute, { metrics: options.metrics, token: options.token, loopbackOnly: false });
  return app;
}
