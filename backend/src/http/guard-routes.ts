/**
 * MailGuard's admin API: the tenant's inbound policies (list, read, create, change, delete), policy
 * simulation (an uploaded .eml, or a policy change tried on the last days of stored mail) and the
 * quarantine. Mounted twice: behind the tenant's admin API token (/api/admin/guard, full access), and in the
 * portal for signed-in members (/api/portal/admin/guard), where owners and operators change policies,
 * analysts and auditors read them, and owners, operators and analysts manage the whole quarantine.
 *
 * Policies are validated with the tenant file's schema: every error names the field
 * (`modules.content.patterns.0.pattern: is not a pattern the filter can run …`).
 */
import type { GuardModuleStatus } from '../../../common/src/guard-api.ts';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { describeIssues } from '../config.ts';
import type { Database } from '../db/client.ts';
import { Quarantine, QuarantineProblem, type QuarantineViewer } from '../delivery/quarantine.ts';
import type { MessageReleaseDeps } from '../delivery/message-release.ts';
import type { GuardRunner, GuardServices, GuardTenant } from '../guard/contract.ts';
import { PolicyProblem, type GuardPolicyStore } from '../guard/policy-store.ts';
import { geoIpStatus } from '../guard/geoip.ts';
import { resolveGuardPolicy } from '../guard/policy.ts';
import { replayPolicyChange, simulateMessage, SimulationInputError, MAX_SIMULATED_BYTES } from '../guard/simulation.ts';
import { namedPolicySchema } from '../guard-policy-settings.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { requireApiToken } from './api-token-auth.ts';
import { sendProblem } from './problem-details.ts';
import { idParams } from './shared-schemas.ts';

/** What a caller may do, decided by the mount's authentication. */
export interface GuardCaller {
  tenantId: string;
  /** As the audit log names them. */
  actor: string;
  /** The member's address (portal), for their own quarantine. */
  address?: string;
  readPolicies: boolean;
  writePolicies: boolean;
  /** The whole tenant's quarantine. */
  quarantineAdmin: boolean;
}

export interface GuardRoutesOptions {
  db: Database;
  directory: TenantDirectory;
  policies: GuardPolicyStore;
  guard: GuardRunner;
  services: Pick<GuardServices, 'geoip' | 'resolver'>;
  release: MessageReleaseDeps;
  /** Who is asking; throws a problem when they may not. Without it, the tenant's admin API token (full access). */
  authenticate?: (request: FastifyRequest) => Promise<GuardCaller>;
}

declare module 'fastify' {
  interface FastifyRequest {
    guardCaller?: GuardCaller;
  }
}


export const guardRoutes: FastifyPluginAsync<GuardRoutesOptions> = async (app, options) => {
  const { db, directory, policies, guard, services, release, authenticate } = options;
  const quarantine = new Quarantine(release);

  if (authenticate) {
    app.addHook('onRequest', async (request) => {
      request.guardCaller = await authenticate(request);
    });
  } else {
    const token = requireApiToken(db);
    app.addHook('onRequest', async (request, reply) => {
      await token(request, reply);
      if (reply.sent || !request.tenantId) return;
      request.guardCaller = {
        tenantId: request.tenantId,
        actor: 'admin API token',
        readPolicies: true,
        writePolicies: true,
        quarantineAdmin: true,
      };
    });
  }
  // An .eml upload for the simulation, read as bytes.
  app.addContentTypeParser(['message/rfc822', 'application/octet-stream'], { parseAs: 'buffer', bodyLimit: MAX_SIMULATED_BYTES }, (_request, body, done) =>
    done(null, body),
  );
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof PolicyProblem || error instanceof QuarantineProblem) {
      return sendProblem(reply, { status: error.status, title: error.title, detail: error.message });
    }
    if (error instanceof SimulationInputError) return sendProblem(reply, { status: 400, title: 'Not a message to simulate', detail: error.message });
    throw error;
  });

  const caller = (request: FastifyRequest) => request.guardCaller!;
  const forbidden = (reply: FastifyReply, detail: string) => sendProblem(reply, { status: 403, title: 'Not allowed', detail });
  const tenantOf = (tenantId: string): GuardTenant => {
    const tenant = directory.tenantById(tenantId);
    if (!tenant) throw new PolicyProblem(404, 'Unknown tenant', 'This gateway process does not know your tenant yet; try again in a minute.');
    return { id: tenant.id, name: tenant.name, domains: tenant.domains, members: tenant.members };
  };
  /** The body as a policy, or a 400 naming every field that is wrong. */
  const policyBody = (body: unknown, reply: FastifyReply) => {
    const { revision: _revision, id: _id, source: _source, updatedAt: _updatedAt, updatedBy: _updatedBy, ...settings } = (body ?? {}) as Record<string, unknown>;
    const parsed = namedPolicySchema.safeParse(settings);
    if (!parsed.success) {
      void sendProblem(reply, { status: 400, title: 'Invalid policy', detail: describeIssues('', parsed.error.issues, namedPolicySchema) });
      return undefined;
    }
    return parsed.data;
  };
  const moduleStatus = (): GuardModuleStatus => ({
    countryRules: geoIpStatus(services),
    senderAuthentication: services.resolver ? { active: true } : { active: false, reason: 'no DNS resolver for sender authentication' },
  });

  // --- Policies ------------------------------------------------------------------------------------

  app.get('/policies', async (request, reply) => {
    if (!caller(request).readPolicies) return forbidden(reply, 'Your role does not allow reading policies.');
    const list = await policies.list(caller(request).tenantId);
    return { policies: list, status: moduleStatus(), defaults: effectiveView(resolveGuardPolicy({})) };
  });

  app.get<{ Params: { id: string } }>('/policies/:id', { schema: { params: idParams } }, async (request, reply) => {
    if (!caller(request).readPolicies) return forbidden(reply, 'Your role does not allow reading policies.');
    const stored = await policies.get(caller(request).tenantId, request.params.id);
    const { id: _id, source: _source, revision: _revision, updatedAt: _updatedAt, updatedBy: _updatedBy, ...settings } = stored;
    return { policy: stored, effective: effectiveView(resolveGuardPolicy(settings, stored.id)), status: moduleStatus() };
  });

  app.post('/policies', async (request, reply) => {
    const who = caller(request);
    if (!who.writePolicies) return forbidden(reply, 'Only owners and operators change policies.');
    const settings = policyBody(request.body, reply);
    if (!settings) return reply;
    const created = await policies.create(who.tenantId, settings, { actor: who.actor, clientIp: request.ip });
    return reply.code(201).send({ policy: created });
  });

  app.put<{ Params: { id: string } }>('/policies/:id', { schema: { params: idParams } }, async (request, reply) => {
    const who = caller(request);
    if (!who.writePolicies) return forbidden(reply, 'Only owners and operators change policies.');
    const settings = policyBody(request.body, reply);
    if (!settings) return reply;
    const revision = (request.body as { revision?: unknown }).revision;
    const updated = await policies.update(who.tenantId, request.params.id, settings, typeof revision === 'number' ? revision : undefined, {
      actor: who.actor,
      clientIp: request.ip,
    });
    return { policy: updated };
  });

  app.delete<{ Params: { id: string } }>('/policies/:id', { schema: { params: idParams } }, async (request, reply) => {
    const who = caller(request);
    if (!who.writePolicies) return forbidden(reply, 'Only owners and operators change policies.');
    await policies.remove(who.tenantId, request.params.id, { actor: who.actor, clientIp: request.ip });
    return reply.code(204).send();
  });

  // --- Simulation ----------------------------------------------------------------------------------

  /**
   * POST /simulate with the message as the body (Content-Type: message/rfc822) and the envelope in the
   * query (mailFrom, rcpt (repeatable), ip, helo, policy=<id> to try a stored policy whatever its routing).
   */
  app.post<{ Querystring: { mailFrom?: string; rcpt?: string | string[]; ip?: string; helo?: string; policy?: string } }>(
    '/simulate',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            mailFrom: { type: 'string', maxLength: 320 },
            rcpt: { anyOf: [{ type: 'string', maxLength: 320 }, { type: 'array', items: { type: 'string', maxLength: 320 }, maxItems: 100 }] },
            ip: { type: 'string', maxLength: 64 },
            helo: { type: 'string', maxLength: 255 },
            policy: { type: 'string', format: 'uuid' },
          },
        },
      },
    },
    async (request, reply) => {
      const who = caller(request);
      if (!who.readPolicies) return forbidden(reply, 'Your role does not allow simulating policies.');
      if (!Buffer.isBuffer(request.body)) {
        return sendProblem(reply, { status: 415, title: 'Send the message itself', detail: 'POST the .eml file with Content-Type: message/rfc822.' });
      }
      const q = request.query;
      let policy;
      if (q.policy) {
        const stored = await policies.get(who.tenantId, q.policy);
        const { id: _id, source: _source, revision: _revision, updatedAt: _updatedAt, updatedBy: _updatedBy, ...settings } = stored;
        policy = resolveGuardPolicy(settings, stored.id);
      }
      return simulateMessage(guard, {
        tenant: tenantOf(who.tenantId),
        raw: request.body,
        mailFrom: q.mailFrom,
        recipients: q.rcpt === undefined ? undefined : Array.isArray(q.rcpt) ? q.rcpt : [q.rcpt],
        remoteAddress: q.ip,
        helo: q.helo,
        policy,
        recipientGroups: (envelope) => policies.recipientGroups(envelope),
      });
    },
  );

  /** A policy change tried on stored inbound mail: { policy: <settings>, id?: <policy it replaces>, days }. */
  app.post<{ Body: { policy?: unknown; id?: string; days?: number } }>(
    '/simulate/replay',
    {
      schema: {
        body: {
          type: 'object',
          required: ['policy'],
          properties: { policy: { type: 'object' }, id: { type: 'string', format: 'uuid' }, days: { type: 'integer', minimum: 1, maximum: 90 } },
        },
      },
    },
    async (request, reply) => {
      const who = caller(request);
      if (!who.readPolicies) return forbidden(reply, 'Your role does not allow simulating policies.');
      const settings = policyBody(request.body.policy, reply);
      if (!settings) return reply;
      if (request.body.id) await policies.get(who.tenantId, request.body.id);
      policies.invalidate(who.tenantId);
      const current = await policies.policiesOf(who.tenantId);
      return replayPolicyChange({ db, vault: release.vault, guard }, tenantOf(who.tenantId), current, { id: request.body.id, settings }, request.body.days ?? 7);
    },
  );

  // --- Quarantine ----------------------------------------------------------------------------------

  const viewer = (request: FastifyRequest): QuarantineViewer => {
    const who = caller(request);
    return { tenantId: who.tenantId, actor: who.actor, clientIp: request.ip, address: who.address, admin: who.quarantineAdmin };
  };

  app.get<{ Querystring: { limit?: number; before?: string } }>(
    '/quarantine',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 200 }, before: { type: 'string', format: 'date-time' } },
        },
      },
    },
    async (request) => ({
      messages: await quarantine.list(viewer(request), {
        limit: request.query.limit,
        before: request.query.before ? new Date(request.query.before) : undefined,
      }),
      admin: caller(request).quarantineAdmin,
    }),
  );

  app.get<{ Params: { id: string } }>('/quarantine/:id', { schema: { params: idParams } }, async (request) => ({
    message: await quarantine.view(viewer(request), request.params.id),
    admin: caller(request).quarantineAdmin,
  }));

  app.post<{ Params: { id: string }; Body: { allowSender?: boolean } | undefined }>(
    '/quarantine/:id/release',
    { schema: { params: idParams, body: { type: ['object', 'null'], additionalProperties: false, properties: { allowSender: { type: 'boolean' } } } } },
    async (request) => {
      const outcome = await quarantine.release(viewer(request), request.params.id, { allowSender: request.body?.allowSender });
      if (outcome.allowedSender) policies.invalidate(caller(request).tenantId);
      return outcome;
    },
  );

  app.delete<{ Params: { id: string } }>('/quarantine/:id', { schema: { params: idParams } }, async (request, reply) => {
    await quarantine.remove(viewer(request), request.params.id);
    return reply.code(204).send();
  });
};

/** A resolved policy as JSON (its sets as lists). */
function effectiveView(policy: ReturnType<typeof resolveGuardPolicy>) {
  return { ...policy, disabledChecks: [...policy.disabledChecks] };
}
