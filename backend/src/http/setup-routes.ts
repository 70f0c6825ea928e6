/**
 * Admin API: what an admin needs to connect the tenant's Exchange to the gateway, generated for this
 * tenant and this gateway (backend/src/deployment/exchange-setup.ts). Behind the admin API token.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../db/client.ts';
import {
  checkSetupInput,
  dnsRecordsToPublish,
  exchangeOnlineSetupScript,
  exchangeOnPremisesSetupScript,
  formatDnsRecords,
  SetupInputError,
  type ExchangeSetupInput,
} from '../deployment/exchange-setup.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { requireApiToken } from './api-token-auth.ts';
import { sendProblem } from './problem-details.ts';

export interface SetupRoutesOptions {
  db: Database;
  directory: TenantDirectory;
  /** The gateway's SMTP host name: smart host, MX target and TLS certificate name. */
  gatewayHost: string;
  /**
   * Who is asking, as a tenant id; throws when they may not. Without it, the tenant's admin API token
   * (the admin API); the portal passes its own check (a signed-in owner or operator).
   */
  authenticate?: (request: FastifyRequest) => Promise<string>;
}

interface SetupQuery {
  gatewayIps?: string;
  /** The gateway's public host name, when the configured one is not what Exchange should use. */
  gatewayHost?: string;
  platform?: 'exchange-online' | 'exchange-onprem';
}

const querystring = {
  type: 'object',
  additionalProperties: false,
  properties: {
    gatewayIps: { type: 'string', maxLength: 600 },
    gatewayHost: { type: 'string', maxLength: 253 },
    platform: { type: 'string', enum: ['exchange-online', 'exchange-onprem'] },
  },
} as const;

export const setupRoutes: FastifyPluginAsync<SetupRoutesOptions> = async (app, { db, directory, gatewayHost, authenticate }) => {
  if (authenticate) {
    app.addHook('onRequest', async (request) => {
      request.tenantId = await authenticate(request);
    });
  } else {
    app.addHook('onRequest', requireApiToken(db));
  }

  function inputFor(request: FastifyRequest<{ Querystring: SetupQuery }>): ExchangeSetupInput | undefined {
    const tenant = directory.tenantById(request.tenantId!);
    if (!tenant) return undefined;
    const gatewayIps = (request.query.gatewayIps ?? '').split(',').map((ip) => ip.trim()).filter(Boolean);
    const host = request.query.gatewayHost?.trim() || gatewayHost;
    return checkSetupInput({ tenantName: tenant.name, domains: tenant.domains, gatewayHost: host, gatewayIps, tlsCertificateName: host });
  }

  async function answer(request: FastifyRequest<{ Querystring: SetupQuery }>, reply: FastifyReply, produce: (input: ExchangeSetupInput) => unknown) {
    let input: ExchangeSetupInput | undefined;
    try {
      input = inputFor(request);
    } catch (error) {
      if (error instanceof SetupInputError) {
        return sendProblem(reply, {
          type: `urn:sealpost:problem:setup-${error.field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
          status: 400,
          title: 'The setup cannot be generated',
          detail: error.message,
        });
      }
      throw error;
    }
    if (!input) return sendProblem(reply, { status: 404, title: 'Unknown tenant', detail: 'The tenant of this API token is not loaded yet; try again in a minute.' });
    return produce(input);
  }

  const script = (render: (input: ExchangeSetupInput) => string) => async (request: FastifyRequest<{ Querystring: SetupQuery }>, reply: FastifyReply) =>
    answer(request, reply, (input) =>
      reply
        .type('text/plain; charset=utf-8')
        .header('content-disposition', 'attachment; filename="connect-sealpost.ps1"')
        .header('cache-control', 'no-store')
        // The byte order mark makes Windows PowerShell 5.1 read the file as UTF-8 (names with umlauts).
        .send(`\uFEFF${render(input)}`),
    );

  app.get<{ Querystring: SetupQuery }>('/exchange-online.ps1', { schema: { querystring } }, script(exchangeOnlineSetupScript));
  app.get<{ Querystring: SetupQuery }>('/exchange-onprem.ps1', { schema: { querystring } }, script(exchangeOnPremisesSetupScript));

  app.get<{ Querystring: SetupQuery }>(
    '/dns-records',
    {
      schema: {
        querystring,
        response: {
          200: {
            type: 'object',
            properties: {
              records: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    type: { type: 'string' },
                    name: { type: 'string' },
                    value: { type: 'string' },
                    priority: { type: 'integer' },
                    ttl: { type: 'integer' },
                    purpose: { type: 'string' },
                  },
                  required: ['type', 'name', 'value', 'ttl', 'purpose'],
                },
              },
              zone: { type: 'string' },
            },
            required: ['records', 'zone'],
          },
        },
      },
    },
    async (request, reply) =>
      answer(request, reply, (input) => {
        const records = dnsRecordsToPublish(input, request.query.platform ?? 'exchange-online');
        return { records, zone: formatDnsRecords(records) };
      }),
  );
};
