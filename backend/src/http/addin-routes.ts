/**
 * The Outlook add-in's API (common/src/addin-api.ts). Every request carries an Entra ID access token;
 * the Sealpost tenant is the one whose Entra tenant ids contain the token's tid, the token is validated
 * with that tenant's application id, and the sender must be one of the tenant's members (found by
 * object id, else by address, whose object id is then remembered). Previews come from the gateway's
 * own method resolution; sent messages, revocation and expiry go through the portal's sent copies. A
 * sender who tells a password PDF's password themselves gets it here with its sealed ticket.
 * While the demo's try page is on, a token from its evaluation sign-in stands for a demo member instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { and, eq, isNull } from 'drizzle-orm';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AddinSettings, PdfPasswordResponse, PdfPasswordWay, PreviewResponse, RecipientMethod, RecipientPreview } from '../../../common/src/addin-api.ts';
import { ADDIN_COMMANDS_SCRIPT_PATH, ADDIN_MANIFEST_PATH, ADDIN_ORIGIN_GLOBAL } from '../../../common/src/addin-api.ts';
import type { PortalRole } from '../../../common/src/portal-api.ts';
import type { Database, Transaction } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { appendAudit } from '../audit/audit-log.ts';
import { members } from '../db/schema.ts';
import type { Portal } from '../portal/portal.ts';
import type { PortalSessionInfo } from '../portal/sessions.ts';
import { isPlausibleAddress } from '../mail/address-syntax.ts';
import { resolveRecipientMethods, type RecipientKeyLookup } from '../protect/method-resolution.ts';
import { issuePasswordTicket } from '../protect/pdf-passwords.ts';
import type { ProtectionModes } from '../protect/protection-modes.ts';
import { PROTECTION_MODE_NAMES, SECURED_MODES, type SecuredMode } from '../../../common/src/headers.ts';
import type { TenantDirectory, TenantInfo } from '../tenants/tenant-directory.ts';
import { REPOSITORY_MANIFEST, readRepositoryManifest, renderAddinManifest, type RenderedAddinManifest } from './addin-manifest.ts';
import type { EvaluationSignIns } from './addin-try-routes.ts';
import { EntraTokenError, EntraTokenValidator, type EntraIdentity } from './entra-tokens.ts';
import { sendProblem } from './problem-details.ts';
import { problemSchema, recipientMethodsSchema, sentMessageSchema } from './shared-schemas.ts';
import { distFolder } from './static-pages.ts';

export const MAX_PREVIEW_RECIPIENTS = 500;
const MODE_ORDER = SECURED_MODES;
const MODE_NAMES = PROTECTION_MODE_NAMES;

export interface AddinRoutesOptions {
  db: Database;
  directory: TenantDirectory;
  portal: Portal;
  protectionModes: ProtectionModes;
  validator: EntraTokenValidator;
  keys?: RecipientKeyLookup;
  /** Seals the tickets of sender-told PDF passwords (protect/pdf-passwords.ts); without it none are issued. */
  pdfTicketKey?: Uint8Array;
  /** Only while the demo's try page is on: evaluation sign-ins stand in for Entra ID tokens (addin-try-routes.ts). */
  evaluationSignIns?: EvaluationSignIns;
}

interface AddinSender {
  tenant: TenantInfo;
  identity: EntraIdentity;
  /** The member as the portal knows members: its rules decide what they sent (portal/visibility.ts). */
  session: PortalSessionInfo;
}

declare module 'fastify' {
  interface FastifyRequest {
    addinSender?: AddinSender;
  }
}

const messageIdParams = {
  type: 'object',
  properties: { messageId: { type: 'string', maxLength: 64 } },
  required: ['messageId'],
} as const;
const errorResponses = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema, 503: problemSchema };

function unauthorized(reply: FastifyReply, title: string, detail: string, error?: string) {
  reply.header('www-authenticate', `Bearer realm="sealpost-addin"${error ? `, error="${error}"` : ''}`);
  return sendProblem(reply, { type: 'urn:sealpost:problem:sign-in-required', status: 401, title, detail });
}

export const addinRoutes: FastifyPluginAsync<AddinRoutesOptions> = async (app, options) => {
  const { db, directory, portal, protectionModes, validator } = options;

  // The server's own time for each answer, so the preview's budget can be measured from outside.
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('server-timing', `app;dur=${reply.elapsedTime.toFixed(2)}`);
    reply.header('cache-control', 'no-store');
    return payload;
  });

  app.addHook('onRequest', async (request, reply) => {
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    if (!match) {
      return unauthorized(reply, 'Sign-in required', 'Send the Entra ID access token of the signed-in Outlook user as "Authorization: Bearer <token>".');
    }
    const token = match[1]!;
    const evaluation = options.evaluationSignIns?.lookup(token);
    const evaluationTenant = evaluation ? directory.allTenants().find((t) => t.id === evaluation.tenantId) : undefined;
    if (evaluation && evaluationTenant) {
      request.addinSender = {
        tenant: evaluationTenant,
        identity: {
          objectId: `evaluation:${evaluation.address}`,
          tenantId: evaluationTenant.id,
          email: evaluation.address,
          scopes: [],
          audience: 'sealpost-evaluation',
          expiresAt: evaluation.expiresAt,
        },
        session: addinSession(`evaluation:${evaluation.address}`, evaluationTenant.id, evaluation.address, evaluation.role, evaluation.expiresAt, request.ip),
      };
      return;
    }
    const entraTenantId = EntraTokenValidator.unverifiedTenantId(token);
    if (!entraTenantId) return unauthorized(reply, 'The access token is not valid', 'The token is not an Entra ID access token.', 'invalid_token');
    const tenant = directory
      .allTenants()
      .find((t) => t.entra?.tenantIds.some((id) => id.toLowerCase() === entraTenantId));
    if (!tenant?.entra) {
      return sendProblem(reply, {
        type: 'urn:sealpost:problem:tenant-not-allowed',
        status: 403,
        title: 'Your organisation is not connected to Sealpost',
        detail: `The Entra tenant ${entraTenantId} is not on any Sealpost tenant's allow-list; ask your administrator to add it.`,
      });
    }
    let identity: EntraIdentity;
    try {
      identity = await validator.validate(token, { applicationIds: [tenant.entra.applicationId], allowedTenantIds: tenant.entra.tenantIds });
    } catch (error) {
      if (!(error instanceof EntraTokenError)) throw error;
      if (error.code === 'tenant_not_allowed') {
        return sendProblem(reply, { type: 'urn:sealpost:problem:tenant-not-allowed', status: 403, title: 'Your organisation is not connected to Sealpost', detail: error.message });
      }
      if (error.code === 'keys_unavailable') {
        request.log.warn({ err: error }, 'Entra ID keys unavailable');
        reply.header('retry-after', '30');
        return sendProblem(reply, { status: 503, title: 'Sign-in cannot be checked right now', detail: 'The Entra ID keys could not be fetched; please try again shortly.' });
      }
      return unauthorized(reply, 'The access token is not valid', `${error.code}: ${error.message}`, 'invalid_token');
    }
    const member = await findMember(db, tenant.id, identity);
    if (!member) {
      return sendProblem(reply, {
        type: 'urn:sealpost:problem:forbidden',
        status: 403,
        title: 'You are not a member of this organisation in Sealpost',
        detail: `No member of ${tenant.name} matches ${identity.email ?? `object id ${identity.objectId}`}; ask your administrator to add you.`,
      });
    }
    request.addinSender = {
      tenant,
      identity,
      session: addinSession(`entra:${identity.objectId}`, tenant.id, member.email, member.role, identity.expiresAt, request.ip),
    };
  });

  const senderOf = (request: FastifyRequest) => request.addinSender!;
  // The PDF is offered where this gateway can make it and the tenant keeps the way on.
  const pdfOffered = (tenant: TenantInfo) => protectionModes.handlerFor('pdf') !== undefined && tenant.encryption.ways.pdf;
  const pdfPasswordWays = (tenant: TenantInfo): PdfPasswordWay[] => [
    'portal',
    ...(tenant.pdf.password === 'sms' && tenant.pdf.sms ? (['sms'] as const) : []),
    ...(tenant.pdf.senderPassword && options.pdfTicketKey ? (['sender'] as const) : []),
  ];

  app.get(
    '/settings',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: {
              tenantName: { type: 'string' },
              allowedModes: { type: 'array', items: { type: 'string' } },
              defaultExpiryDays: { type: 'integer' },
              maxExpiryDays: { type: 'integer' },
              tenantDomains: { type: 'array', items: { type: 'string' } },
              smartAlert: {
                type: 'object',
                properties: { externalRecipientsWithAttachments: { type: 'boolean' }, keywords: { type: 'array', items: { type: 'string' } } },
                required: ['externalRecipientsWithAttachments', 'keywords'],
              },
              subjectTrigger: { type: 'string' },
              pdfPassword: {
                type: 'object',
                properties: { ways: { type: 'array', items: { type: 'string' } }, default: { type: 'string' } },
                required: ['ways', 'default'],
              },
            },
            required: ['tenantName', 'allowedModes', 'tenantDomains', 'smartAlert', 'subjectTrigger'],
          },
          ...errorResponses,
        },
      },
    },
    async (request): Promise<AddinSettings> => {
      const { tenant } = senderOf(request);
      const settings = await portal.tenants.settings(tenant.id);
      return {
        tenantName: tenant.name,
        // Only what this gateway can carry out (a mode without a handler would hold the message) and the
        // tenant has not switched off ('auto' takes the ways it keeps).
        allowedModes: MODE_ORDER.filter((mode) => protectionModes.handlerFor(mode) !== undefined && (mode === 'auto' || tenant.encryption.ways[mode])),
        ...(settings.defaultExpiryDays !== undefined ? { defaultExpiryDays: settings.defaultExpiryDays } : {}),
        ...(settings.maxExpiryDays !== undefined ? { maxExpiryDays: settings.maxExpiryDays } : {}),
        tenantDomains: [...tenant.domains].sort(),
        smartAlert: tenant.smartAlert,
        subjectTrigger: tenant.subjectTriggers[0] ?? '[secure]',
        ...(pdfOffered(tenant) ? { pdfPassword: { ways: pdfPasswordWays(tenant), default: tenant.pdf.password } } : {}),
      };
    },
  );

  app.post<{ Body: { recipients: string[]; mode: SecuredMode } }>(
    '/preview',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            recipients: { type: 'array', maxItems: MAX_PREVIEW_RECIPIENTS, items: { type: 'string', minLength: 1, maxLength: 320 } },
            mode: { type: 'string', enum: MODE_ORDER },
          },
          required: ['recipients', 'mode'],
        },
        response: {
          200: {
            type: 'object',
            properties: {
              recipients: recipientMethodsSchema,
            },
            required: ['recipients'],
          },
          ...errorResponses,
        },
      },
    },
    async (request): Promise<PreviewResponse> => {
      const { tenant } = senderOf(request);
      const { mode } = request.body;
      const addresses = [...new Set(request.body.recipients.map((r) => r.trim().toLowerCase()))];
      const valid = addresses.filter((a) => isPlausibleAddress(a));
      const resolutions = new Map(
        (await resolveRecipientMethods({ directory, protectionModes, keys: options.keys }, tenant.id, valid)).map((r) => [r.recipient, r]),
      );
      // An explicit OpenPGP request needs the recipient's key, whatever 'auto' would have chosen.
      const pgpKnown = mode === 'pgp' && options.keys ? await options.keys.pgpKeys(tenant.id, valid) : undefined;
      const recipients = addresses.map((address): RecipientPreview => {
        const resolution = resolutions.get(address);
        if (!resolution) return { address, method: 'held', reasonCode: 'invalid-address', reason: 'not a valid e-mail address' };
        // Internal recipients are handed to the tenant's mail server whatever the mode.
        if (resolution.method === 'relay' || mode === 'auto') {
          return { address, method: resolution.method, reasonCode: resolution.reasonCode, reason: resolution.reason };
        }
        // A way the tenant switched off is served by the ways it keeps, as the gateway does ('auto', mandatory).
        if (!tenant.encryption.ways[mode]) {
          return {
            address,
            method: resolution.method,
            reasonCode: resolution.reasonCode,
            reason: `${MODE_NAMES[mode]} is switched off for your organisation; instead: ${resolution.reason}`,
          };
        }
        if (!protectionModes.handlerFor(mode)) {
          return {
            address,
            method: 'held',
            reasonCode: 'mode-unavailable',
            reason: `${MODE_NAMES[mode]} is not available on this gateway: the message would be held, never sent unprotected`,
          };
        }
        // S/MIME needs the recipient's certificate: without one the message would wait for it (resolution
        // picks S/MIME exactly when the store knows a valid one).
        if (mode === 'smime' && resolution.method !== 'smime') {
          return {
            address,
            method: 'held',
            reasonCode: 'no-certificate',
            reason: 'no valid S/MIME certificate is known for this recipient: the message would be held, never sent unprotected',
          };
        }
        if (mode === 'pgp' && !pgpKnown?.has(address)) {
          return {
            address,
            method: 'held',
            reasonCode: 'no-pgp-key',
            reason: 'no OpenPGP key is stored for this recipient: unless their domain publishes one (Web Key Directory), the message would be held, never sent unprotected',
          };
        }
        return { address, method: mode as RecipientMethod, reasonCode: 'sender-chose', reason: `the sender chose ${MODE_NAMES[mode]}` };
      });
      return { recipients };
    },
  );

  app.post(
    '/pdf-password',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: { password: { type: 'string' }, ticket: { type: 'string' }, expiresAt: { type: 'string' } },
            required: ['password', 'ticket', 'expiresAt'],
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply): Promise<PdfPasswordResponse | FastifyReply> => {
      const { tenant, session } = senderOf(request);
      if (!options.pdfTicketKey || !pdfOffered(tenant) || !tenant.pdf.senderPassword) {
        return sendProblem(reply, {
          type: 'urn:sealpost:problem:forbidden',
          status: 403,
          title: 'Your organisation does not let senders tell the password',
          detail: `${tenant.name} sends the password PDF's password through ${tenant.pdf.password === 'sms' ? 'SMS or the portal' : 'the portal'}; an administrator can allow sender-told passwords (pdf.senderPassword).`,
        });
      }
      const issued = await issuePasswordTicket(options.pdfTicketKey, { tenantId: tenant.id, member: session.address });
      await withTenants(db, tenant.id, (tx) =>
        appendAudit(tx, portal.tenants.auditKeys, {
          tenantId: tenant.id,
          action: 'pdf_password_issued',
          actorAddress: session.address,
          clientIp: request.ip,
          details: { channel: 'addin', expiresAt: issued.expiresAt.toISOString() },
        }),
      );
      return { password: issued.password, ticket: issued.ticket, expiresAt: issued.expiresAt.toISOString() };
    },
  );

  app.get(
    '/sent',
    { schema: { response: { 200: { type: 'object', properties: { messages: { type: 'array', items: sentMessageSchema } }, required: ['messages'] }, ...errorResponses } } },
    async (request) => ({ messages: await portal.sent.listSent(senderOf(request).session) }),
  );

  app.post<{ Params: { messageId: string }; Body: { recipient?: string } | null }>(
    '/sent/:messageId/revoke',
    {
      schema: {
        params: messageIdParams,
        body: { type: ['object', 'null'], additionalProperties: false, properties: { recipient: { type: 'string', maxLength: 320 } } },
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      await portal.sent.revoke(senderOf(request).session, request.params.messageId, request.body?.recipient, { clientIp: request.ip });
      return reply.code(204).send();
    },
  );

  app.patch<{ Params: { messageId: string }; Body: { expiresAt: string } }>(
    '/sent/:messageId',
    {
      schema: {
        params: messageIdParams,
        body: { type: 'object', additionalProperties: false, properties: { expiresAt: { type: 'string', maxLength: 40 } }, required: ['expiresAt'] },
        response: { 200: { type: 'object', properties: { expiresAt: { type: 'string' } }, required: ['expiresAt'] }, ...errorResponses },
      },
    },
    async (request) => {
      const expiresAt = await portal.sent.changeExpiry(senderOf(request).session, request.params.messageId, new Date(request.body.expiresAt), { clientIp: request.ip });
      return { expiresAt: expiresAt.toISOString() };
    },
  );
};

/** The member by Entra object id, else by address; the object id is remembered on first sight. */
async function findMember(db: Database, tenantId: string, identity: EntraIdentity): Promise<{ email: string; role: string } | undefined> {
  return withTenants(db, tenantId, (tx) => findMemberIn(tx, tenantId, identity));
}

async function findMemberIn(db: Transaction, tenantId: string, identity: EntraIdentity): Promise<{ email: string; role: string } | undefined> {
  const [byObjectId] = await db
    .select({ email: members.email, role: members.role })
    .from(members)
    .where(and(eq(members.tenantId, tenantId), eq(members.entraObjectId, identity.objectId)));
  if (byObjectId) return byObjectId;
  if (!identity.email) return undefined;
  const [byAddress] = await db
    .select({ id: members.id, email: members.email, role: members.role, entraObjectId: members.entraObjectId })
    .from(members)
    .where(and(eq(members.tenantId, tenantId), eq(members.email, identity.email)));
  if (!byAddress) return undefined;
  // An address already bound to another Entra user (a reassigned mailbox) does not sign in a new one.
  if (byAddress.entraObjectId && byAddress.entraObjectId !== identity.objectId) return undefined;
  if (!byAddress.entraObjectId) {
    await db
      .update(members)
      .set({ entraObjectId: identity.objectId })
      .where(and(eq(members.id, byAddress.id), isNull(members.entraObjectId)));
  }
  return { email: byAddress.email, role: byAddress.role };
}

// --- The manifest ----------------------------------------------------------------------------------

export interface AddinManifestRoutesOptions {
  db: Database;
  publicUrl: string;
  /** The manifest to render; the repository's manifest.xml when not given. */
  readTemplate?: () => string;
}

/** GET /addin/manifest.xml: the manifest for this gateway's public URL, ahead of the static add-in files. */
export const addinManifestRoutes: FastifyPluginAsync<AddinManifestRoutesOptions> = async (app, options) => {
  const readTemplate = options.readTemplate ?? (() => (existsSync(REPOSITORY_MANIFEST) ? readRepositoryManifest() : undefined));
  // Rendered once per process; a failure (the database away) is not remembered, the next request tries again.
  let rendered: Promise<RenderedAddinManifest | undefined> | undefined;
  const render = async () => {
    const template = readTemplate();
    return template === undefined ? undefined : renderAddinManifest(options.db, template, options.publicUrl);
  };
  // The launch-event script with this gateway's origin first: classic Outlook runs it without a page.
  const commandsScript = join(distFolder, 'addin', 'commands.js');
  const originLine = `globalThis[${JSON.stringify(ADDIN_ORIGIN_GLOBAL)}] = ${JSON.stringify(new URL(options.publicUrl).origin)};\n`;
  app.get(ADDIN_COMMANDS_SCRIPT_PATH, async (_request, reply) => {
    if (!existsSync(commandsScript)) {
      return sendProblem(reply, { status: 404, title: 'The add-in is not built', detail: 'Run "npm run build" (npm start does it) to build the add-in.' });
    }
    return reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .send(originLine + readFileSync(commandsScript, 'utf8'));
  });

  app.get(ADDIN_MANIFEST_PATH, async (_request, reply) => {
    rendered ??= render().catch((error: unknown) => {
      rendered = undefined;
      throw error;
    });
    const manifest = await rendered;
    if (!manifest) {
      return sendProblem(reply, { status: 404, title: 'No add-in manifest', detail: 'This installation has no Outlook add-in manifest.' });
    }
    return reply
      .type('application/xml; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-disposition', 'attachment; filename="sealpost-outlook-manifest.xml"')
      .send(manifest.xml);
  });
};

/** The session the portal's services see for a sender signed in to the add-in (no cookie, so no CSRF token). */
function addinSession(id: string, tenantId: string, address: string, role: string, expiresAt: Date, clientIp: string): PortalSessionInfo {
  return { id, tenantId, address, role: role as PortalRole, csrfToken: '', expiresAt, clientIp, factorRequired: false, factorVerified: false };
}
