/**
 * The portal's HTTP API (common/src/portal-api.ts): links, sessions, reading, replying, what members
 * sent, and the audit routes for admins. Every route declares its schema; every answer is no-store.
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import {
  CSRF_HEADER,
  PORTAL_SESSION_COOKIE,
  type PortalRole,
} from '../../../common/src/portal-api.ts';
import { contentDisposition, downloadContentType, INLINE_IMAGE_TYPES } from '../portal/message-parsing.ts';
import { problems } from '../portal/portal-problems.ts';
import type { Portal } from '../portal/portal.ts';
import type { ReplyInput } from '../portal/portal-replies.ts';
import { DEFAULT_PORTAL_SETTINGS } from '../portal/portal-settings.ts';
import { endSession, resolveSession, type PortalSessionInfo } from '../portal/sessions.ts';
import { sameSecret } from '../portal/tokens.ts';
import { schemaFieldErrors } from './field-errors.ts';
import { problemErrorHandlerFor } from './problem-details.ts';
import { problemSchema, sentMessageSchema } from './shared-schemas.ts';
import { guardRoutes, type GuardRoutesOptions } from './guard-routes.ts';
import { certificateRoutes } from './certificate-routes.ts';
import { memberKeyRoutes } from './member-key-routes.ts';
import { memberPgpKeyRoutes, pgpKeyRoutes } from './pgp-key-routes.ts';
import type { PgpKeyStore } from '../certs/pgp-keys.ts';
import type { MemberPgpKeys } from '../certs/pgp-member-keys.ts';
import { setupRoutes, type SetupRoutesOptions } from './setup-routes.ts';
import { auditRoutes } from './audit-routes.ts';
import { consoleApiTokenRoutes, consoleMemberRoutes } from './console-member-routes.ts';
import { storageOverview } from '../portal/portal-storage.ts';
import { secondFactorResetRoutes, secondFactorRoutes } from './second-factor-routes.ts';
import { messageTraceRoutes } from './message-trace-routes.ts';
import { FlowInputError, mailFlow, type FlowRange } from '../portal/mail-flow.ts';
import type { CertificateStore } from '../certs/certificate-store.ts';
import type { MemberKeys } from '../certs/member-keys.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { EntraTokenValidator } from './entra-tokens.ts';
import { portalEntraSignInRoutes } from './portal-entra-sign-in-routes.ts';

/** The second, browser-held secret a session is bound to. */
export const PORTAL_BROWSER_COOKIE = 'sealpost_browser';
const COOKIE_PATH = '/api/portal';

declare module 'fastify' {
  interface FastifyRequest {
    portalSession?: PortalSessionInfo;
  }
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!(name in out)) out[name] = value;
  }
  return out;
}

/**
 * Answers 202 at once and runs the address-specific work once the answer is out, so the time to answer
 * does not tell a caller whether an address is known. A failure of that work is logged, never answered.
 */
function answerThenRun(reply: FastifyReply, work: () => Promise<void>): FastifyReply {
  const log = reply.log;
  reply.raw.once('close', () => {
    work().catch((error: unknown) => log.error({ err: error }, 'link request failed after answering'));
  });
  return reply.code(202).send({});
}

const ADMIN_ROLES: PortalRole[] = ['owner', 'operator'];
/** Who reads the portal's settings (owners and operators also change them). */
const SETTINGS_READ_ROLES: PortalRole[] = ['owner', 'operator', 'analyst', 'auditor'];
const AUDIT_ROLES: PortalRole[] = ['owner', 'operator', 'auditor'];
/** Who sees the portal's storage against its quotas: those who configure the portal, and analysts to read. */
const STORAGE_ROLES: PortalRole[] = ['owner', 'operator', 'analyst'];
/** Who sees the organisation's members: every console role (the reference's "view for all"); owners and operators change them. */
const MEMBER_READ_ROLES: PortalRole[] = ['owner', 'operator', 'analyst', 'auditor'];
/** Who sees the API tokens (never the tokens themselves): those who configure, and analysts to read. */
const TOKEN_READ_ROLES: PortalRole[] = ['owner', 'operator', 'analyst'];

const uuidParam = { type: 'string', maxLength: 64 } as const;
const brandingKeyParam = { type: 'string', maxLength: 64 } as const;
const brandingSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, colour: { type: 'string' }, logoUrl: { type: 'string' } },
} as const;
const threadSummarySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    subject: { type: 'string' },
    counterpart: { type: 'string' },
    messageCount: { type: 'integer' },
    unread: { type: 'integer' },
    lastMessageAt: { type: 'string' },
  },
  required: ['id', 'subject', 'counterpart', 'messageCount', 'unread', 'lastMessageAt'],
} as const;
const messageSummarySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    from: { type: 'string' },
    fromName: { type: 'string' },
    sentAt: { type: 'string' },
    subject: { type: 'string' },
    preview: { type: 'string' },
    read: { type: 'boolean' },
    direction: { type: 'string', enum: ['from-member', 'from-recipient'] },
  },
  required: ['id', 'from', 'sentAt', 'subject', 'preview', 'read', 'direction'],
} as const;
const attachmentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    filename: { type: 'string' },
    contentType: { type: 'string' },
    size: { type: 'integer' },
    contentId: { type: 'string' },
  },
  required: ['id', 'filename', 'contentType', 'size'],
} as const;
const messageViewSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    threadId: { type: 'string' },
    from: { type: 'string' },
    fromName: { type: 'string' },
    to: { type: 'array', items: { type: 'string' } },
    cc: { type: 'array', items: { type: 'string' } },
    subject: { type: 'string' },
    sentAt: { type: 'string' },
    expiresAt: { type: 'string' },
    text: { type: 'string' },
    html: { type: 'string' },
    hasBlockedRemoteContent: { type: 'boolean' },
    attachments: { type: 'array', items: attachmentSchema },
    integrity: { type: 'string', enum: ['verified', 'failed'] },
    canReply: { type: 'boolean' },
  },
  required: ['id', 'threadId', 'from', 'to', 'cc', 'subject', 'sentAt', 'text', 'hasBlockedRemoteContent', 'attachments', 'integrity', 'canReply'],
} as const;
const threadDetailSchema = {
  type: 'object',
  properties: {
    thread: threadSummarySchema,
    messages: { type: 'array', items: messageSummarySchema },
    maxMessages: { type: 'integer' },
    canReply: { type: 'boolean' },
  },
} as const;
const storageOverviewSchema = {
  type: 'object',
  properties: {
    usedBytes: { type: 'integer' },
    tenantQuotaBytes: { type: 'integer' },
    memberDefaultQuotaBytes: { type: 'integer' },
    messageCount: { type: 'integer' },
    members: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          address: { type: 'string' },
          usedBytes: { type: 'integer' },
          quotaBytes: { type: 'integer' },
          ownQuota: { type: 'boolean' },
          messageCount: { type: 'integer' },
        },
        required: ['address', 'usedBytes', 'quotaBytes', 'ownQuota', 'messageCount'],
      },
    },
    largestThreads: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          member: { type: 'string' },
          counterpart: { type: 'string' },
          bytes: { type: 'integer' },
          messageCount: { type: 'integer' },
          lastMessageAt: { type: 'string' },
        },
        required: ['id', 'member', 'counterpart', 'bytes', 'messageCount', 'lastMessageAt'],
      },
    },
  },
  required: ['usedBytes', 'memberDefaultQuotaBytes', 'messageCount', 'members', 'largestThreads'],
} as const;
const sessionSchema = {
  type: 'object',
  properties: {
    address: { type: 'string' },
    tenantName: { type: 'string' },
    language: { type: 'string', enum: ['en', 'de'] },
    role: { type: 'string' },
    csrfToken: { type: 'string' },
    expiresAt: { type: 'string' },
    branding: brandingSchema,
    secondFactor: { type: 'string', enum: ['required', 'verified'] },
  },
  required: ['address', 'tenantName', 'language', 'csrfToken', 'expiresAt'],
} as const;
// Each field may be null (the tenant's value taken away); a type list, not anyOf, so that null is never coerced to 0 or ''.
const integerOrNull = { type: ['integer', 'null'] } as const;
const textOrNull = { type: ['string', 'null'] } as const;
const oneOfOrNull = (values: string[]) => ({ type: ['string', 'null'], enum: [...values, null] }) as const;
/** PATCH /admin/settings: what may change. */
const settingsChangeSchema = {
  type: 'object',
  properties: {
    language: oneOfOrNull(['en', 'de']),
    notificationTemplates: {
      type: ['object', 'null'],
      additionalProperties: { type: ['object', 'null'], properties: { subject: textOrNull, text: textOrNull, html: textOrNull } },
    },
    defaultExpiryDays: integerOrNull,
    maxExpiryDays: integerOrNull,
    magicLinkTtlMinutes: integerOrNull,
    signInLinkTtlMinutes: integerOrNull,
    sessionTtlMinutes: integerOrNull,
    bindSessionToIp: { type: ['boolean', 'null'] },
    tenantQuotaBytes: integerOrNull,
    memberDefaultQuotaBytes: integerOrNull,
    memberQuotaBytes: { type: ['object', 'null'], additionalProperties: { type: 'integer' } },
    retentionDays: integerOrNull,
    digestInterval: oneOfOrNull(['never', 'hourly', 'daily', 'weekly']),
    digestTemplate: textOrNull,
    digestLanguage: oneOfOrNull(['en', 'de']),
    maxAttachmentBytes: integerOrNull,
    maxAttachments: integerOrNull,
    maxReplyBytes: integerOrNull,
    secondFactor: oneOfOrNull(['on-request', 'always']),
    unlistedAsContact: { type: ['boolean', 'null'] },
    magicLinkForAdmins: { type: ['boolean', 'null'] },
  },
} as const;

export interface PortalRoutesOptions {
  portal: Portal;
  /** When set, admins get the Exchange setup (scripts and DNS records) under /admin/setup. */
  setup?: Omit<SetupRoutesOptions, 'db' | 'authenticate'>;
  /** When set, members get MailGuard under /guard: their quarantine, and by role the policies and the whole quarantine. */
  guard?: Omit<GuardRoutesOptions, 'authenticate'>;
  /** When set, owners and operators manage S/MIME under /admin/certificates and /admin/member-keys. */
  certificates?: { store: CertificateStore; memberKeys?: MemberKeys; directory: TenantDirectory };
  /** When set, owners and operators manage OpenPGP under /admin/pgp-keys and /admin/member-pgp-keys. */
  pgp?: { store: PgpKeyStore; memberKeys: MemberPgpKeys; directory: TenantDirectory };
  /** When set (and the portal has its organisation sign-in), members sign in with Entra ID under /entra-sign-in. */
  entra?: { validator: EntraTokenValidator; directory: TenantDirectory };
}

/** Who reads, changes and simulates inbound policies, and who manages the whole tenant's quarantine. */
const POLICY_READ_ROLES: PortalRole[] = ['owner', 'operator', 'analyst', 'auditor'];
const POLICY_WRITE_ROLES: PortalRole[] = ['owner', 'operator'];
const QUARANTINE_ADMIN_ROLES: PortalRole[] = ['owner', 'operator', 'analyst'];

export const portalRoutes: FastifyPluginAsync<PortalRoutesOptions> = async (app, { portal, setup, guard, certificates, pgp, entra }) => {
  const db = portal.db;
  await app.register(multipart, { limits: { fields: 10, fieldSize: DEFAULT_PORTAL_SETTINGS.maxReplyBytes, parts: 100 } });

  // The app's one error handler, with the portal's typed problems for invalid and oversized requests.
  app.setErrorHandler(
    problemErrorHandlerFor({
      invalid: (detail) => problems.invalid(detail).problem,
      tooLarge: () => problems.tooLarge('The reply or one of its attachments is larger than allowed; see GET /api/portal/limits.').problem,
    }),
  );

  app.addHook('onSend', async (_request, reply) => {
    // A tenant's logo may be kept by the browser; every other answer is personal and never stored.
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
  });

  const cookieAttributes = (maxAgeSeconds: number) =>
    `Path=${COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${portal.tenants.secureCookies ? '; Secure' : ''}`;

  /**
   * Resolves the session; state-changing requests must carry the CSRF header. A session that must still
   * prove the recipient's second factor reaches only what `unverified` routes offer (the factor itself).
   */
  async function sessionOf(request: FastifyRequest, options: { roles?: PortalRole[]; unverified?: boolean } = {}): Promise<PortalSessionInfo> {
    const cookies = parseCookies(request.headers.cookie);
    const lookup = await resolveSession(db, cookies[PORTAL_SESSION_COOKIE], cookies[PORTAL_BROWSER_COOKIE], request.ip);
    if (lookup.kind === 'missing') throw problems.sessionRequired();
    if (lookup.kind === 'ip-changed') throw problems.sessionIpChanged();
    const session = lookup.session;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const header = request.headers[CSRF_HEADER.toLowerCase()];
      const value = Array.isArray(header) ? header[0] : header;
      if (!value || !sameSecret(value, session.csrfToken)) {
        throw problems.forbidden(`State-changing requests need the ${CSRF_HEADER} header from GET /api/portal/session.`);
      }
    }
    if (options.roles && (!session.role || !options.roles.includes(session.role))) throw problems.forbidden();
    if (session.factorRequired && !session.factorVerified && !options.unverified) throw problems.secondFactorRequired();
    request.portalSession = session;
    return session;
  }

  const actor = (request: FastifyRequest) => ({ clientIp: request.ip });

  /**
   * The thread and message a just opened link leads to, read with its new session. Nothing when the link
   * was a member's sign-in or the session must first prove a second factor; a part that cannot be read
   * here is left out, and the page asks for it as it would otherwise (and shows the error then).
   */
  async function readingFor(opened: Awaited<ReturnType<typeof portal.links.openLink>>, who: { clientIp: string }) {
    const session = opened.created.session;
    if (opened.purpose !== 'message' || !opened.threadId || (session.factorRequired && !session.factorVerified)) return {};
    const [thread, message] = await Promise.all([
      portal.mailbox.threadDetail(session, opened.threadId).catch(() => undefined),
      opened.messageId ? portal.mailbox.viewMessage(session, opened.messageId, false, who).catch(() => undefined) : undefined,
    ]);
    return { ...(thread ? { thread } : {}), ...(message ? { message } : {}) };
  }

  // --- Links and sessions ------------------------------------------------------------------------

  app.post<{ Body: { token: string } }>(
    '/links/open',
    {
      schema: {
        body: { type: 'object', properties: { token: { type: 'string', maxLength: 200 } }, required: ['token'] },
        response: {
          200: {
            type: 'object',
            properties: {
              threadId: { type: 'string' },
              messageId: { type: 'string' },
              purpose: { type: 'string' },
              session: sessionSchema,
              thread: threadDetailSchema,
              message: messageViewSchema,
            },
            required: ['threadId', 'session'],
          },
          410: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const opened = await portal.links.openLink(request.body.token, request.ip);
      const maxAge = Math.max(60, Math.floor((opened.created.session.expiresAt.getTime() - Date.now()) / 1000));
      reply.header('set-cookie', [
        `${PORTAL_SESSION_COOKIE}=${opened.created.sessionToken}; ${cookieAttributes(maxAge)}`,
        `${PORTAL_BROWSER_COOKIE}=${opened.created.browserSecret}; ${cookieAttributes(maxAge)}`,
      ]);
      // The session comes with the answer, and so do the thread and the message the link is for (as
      // GET /threads/:id and GET /messages/:id answer them, and counted as read as those count it): the
      // portal shows the message after this one request instead of asking for it after the answer.
      const reading = await readingFor(opened, actor(request));
      return {
        threadId: opened.threadId,
        ...(opened.messageId ? { messageId: opened.messageId } : {}),
        purpose: opened.purpose,
        session: opened.view,
        ...reading,
      };
    },
  );

  app.post<{ Body: { email?: string; token?: string } }>(
    '/links/request',
    {
      schema: {
        body: {
          type: 'object',
          properties: { email: { type: 'string', maxLength: 320 }, token: { type: 'string', maxLength: 200 } },
        },
        response: { 202: { type: 'object', properties: {} }, 429: problemSchema },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      let sessionAddress: { tenantId: string; address: string } | undefined;
      if (!body.email && !body.token) {
        // A session whose IP changed may ask for a fresh link to its own address.
        const cookies = parseCookies(request.headers.cookie);
        const lookup = await resolveSession(db, cookies[PORTAL_SESSION_COOKIE], cookies[PORTAL_BROWSER_COOKIE], request.ip);
        if (lookup.kind !== 'missing') sessionAddress = { tenantId: lookup.session.tenantId, address: lookup.session.address };
      }
      const work = await portal.links.requestLink({ email: body.email, token: body.token, sessionAddress }, request.ip);
      return answerThenRun(reply, work);
    },
  );

  app.post<{ Body: { email: string } }>(
    '/sign-in',
    {
      schema: {
        body: { type: 'object', properties: { email: { type: 'string', maxLength: 320 } }, required: ['email'] },
        response: { 202: { type: 'object', properties: {} }, 429: problemSchema },
      },
    },
    async (request, reply) => {
      return answerThenRun(reply, await portal.links.requestSignIn(request.body.email, request.ip));
    },
  );

  if (entra && portal.entraSignIn) {
    await app.register(portalEntraSignInRoutes, {
      signIn: portal.entraSignIn,
      validator: entra.validator,
      directory: entra.directory,
      parseCookies,
      cookieAttributes,
      sessionCookies: (created) => {
        const maxAge = Math.max(60, Math.floor((created.session.expiresAt.getTime() - Date.now()) / 1000));
        return [
          `${PORTAL_SESSION_COOKIE}=${created.sessionToken}; ${cookieAttributes(maxAge)}`,
          `${PORTAL_BROWSER_COOKIE}=${created.browserSecret}; ${cookieAttributes(maxAge)}`,
        ];
      },
      sessionSchema,
    });
  }

  app.get(
    '/session',
    {
      schema: {
        response: {
          200: sessionSchema,
        },
      },
    },
    async (request) => portal.tenants.sessionView(await sessionOf(request, { unverified: true })),
  );

  // The portal's first question on every page: answered 200 for anonymous visitors too, so a visit without
  // a session logs no failed request. It grants nothing; every other route still checks the session.
  app.get(
    '/session/state',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: {
              signedIn: { type: 'boolean' },
              ipChanged: { type: 'boolean' },
              session: sessionSchema,
            },
            required: ['signedIn'],
          },
        },
      },
    },
    async (request) => {
      const cookies = parseCookies(request.headers.cookie);
      const lookup = await resolveSession(db, cookies[PORTAL_SESSION_COOKIE], cookies[PORTAL_BROWSER_COOKIE], request.ip);
      if (lookup.kind === 'missing') return { signedIn: false };
      if (lookup.kind === 'ip-changed') return { signedIn: false, ipChanged: true };
      return { signedIn: true, session: await portal.tenants.sessionView(lookup.session) };
    },
  );

  app.get<{ Params: { key: string } }>(
    '/branding/:key',
    { schema: { params: { type: 'object', properties: { key: brandingKeyParam } }, response: { 200: brandingSchema } } },
    async (request) => portal.tenants.brandingByKey(request.params.key),
  );

  app.get<{ Params: { key: string } }>(
    '/branding/:key/logo',
    { schema: { params: { type: 'object', properties: { key: brandingKeyParam } } } },
    async (request, reply) => {
      const logo = portal.tenants.logoByKey(request.params.key);
      if (!logo) throw problems.notFound();
      // An SVG logo is shown as an image, where it runs nothing; opened on its own, this policy keeps its scripts off.
      return reply
        .header('content-security-policy', "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox")
        .header('cache-control', 'public, max-age=3600')
        .header('content-disposition', 'inline; filename="logo"')
        .type(logo.contentType)
        .send(logo.bytes);
    },
  );

  app.delete('/session', async (request, reply) => {
    const session = await sessionOf(request, { unverified: true });
    await endSession(db, session);
    reply.header('set-cookie', [
      `${PORTAL_SESSION_COOKIE}=; ${cookieAttributes(0)}`,
      `${PORTAL_BROWSER_COOKIE}=; ${cookieAttributes(0)}`,
    ]);
    return reply.code(204).send();
  });

  app.get('/limits', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: { maxAttachmentBytes: { type: 'integer' }, maxReplyBytes: { type: 'integer' }, maxAttachments: { type: 'integer' } },
        },
      },
    },
  }, async (request) => portal.tenants.limitsFor((await sessionOf(request)).tenantId));

  await app.register(secondFactorRoutes, {
    prefix: '/second-factor',
    factors: portal.factors,
    authenticate: (request) => sessionOf(request, { unverified: true }),
  });

  // --- Reading -----------------------------------------------------------------------------------

  app.get(
    '/threads',
    { schema: { response: { 200: { type: 'object', properties: { threads: { type: 'array', items: threadSummarySchema } } } } } },
    async (request) => ({ threads: await portal.mailbox.listThreads(await sessionOf(request)) }),
  );

  app.get<{ Params: { threadId: string } }>(
    '/threads/:threadId',
    {
      schema: {
        params: { type: 'object', properties: { threadId: uuidParam }, required: ['threadId'] },
        response: { 200: threadDetailSchema },
      },
    },
    async (request) => portal.mailbox.threadDetail(await sessionOf(request), request.params.threadId),
  );

  app.get<{ Params: { messageId: string }; Querystring: { remote?: string } }>(
    '/messages/:messageId',
    {
      schema: {
        params: { type: 'object', properties: { messageId: uuidParam }, required: ['messageId'] },
        querystring: { type: 'object', properties: { remote: { type: 'string', enum: ['allow', 'block'] } } },
        response: { 200: messageViewSchema },
      },
    },
    async (request) =>
      portal.mailbox.viewMessage(await sessionOf(request), request.params.messageId, request.query.remote === 'allow', actor(request)),
  );

  const download = (inline: boolean) => async (request: FastifyRequest<{ Params: { messageId: string; attachmentId: string } }>, reply: FastifyReply) => {
    const session = await sessionOf(request);
    const attachment = await portal.mailbox.attachment(session, request.params.messageId, request.params.attachmentId, inline, actor(request));
    if (inline && !INLINE_IMAGE_TYPES.test(attachment.contentType)) throw problems.notFound();
    return reply
      .header('content-type', inline ? attachment.contentType : downloadContentType(attachment.contentType))
      .header('content-disposition', contentDisposition(inline ? 'inline' : 'attachment', attachment.filename))
      .header('content-security-policy', "sandbox; default-src 'none'")
      .header('cross-origin-resource-policy', 'same-origin')
      .send(attachment.content);
  };
  const downloadSchema = {
    params: {
      type: 'object',
      properties: { messageId: uuidParam, attachmentId: { type: 'string', pattern: '^[0-9]{1,4}$' } },
      required: ['messageId', 'attachmentId'],
    },
  } as const;
  app.get('/messages/:messageId/attachments/:attachmentId', { schema: downloadSchema }, download(false));
  app.get('/messages/:messageId/inline/:attachmentId', { schema: downloadSchema }, download(true));

  app.delete<{ Params: { messageId: string } }>(
    '/messages/:messageId',
    { schema: { params: { type: 'object', properties: { messageId: uuidParam }, required: ['messageId'] } } },
    async (request, reply) => {
      await portal.mailbox.deleteForReader(await sessionOf(request), request.params.messageId, actor(request));
      return reply.code(204).send();
    },
  );

  // --- Replying ----------------------------------------------------------------------------------

  app.post<{ Params: { messageId: string } }>(
    '/messages/:messageId/replies',
    {
      schema: {
        params: { type: 'object', properties: { messageId: uuidParam }, required: ['messageId'] },
        response: { 201: { type: 'object', properties: { messageId: { type: 'string' }, threadId: { type: 'string' } } } },
      },
    },
    async (request, reply) => {
      const session = await sessionOf(request);
      await portal.replies.replyAllowed(session, request.params.messageId);
      if (!request.isMultipart()) throw problems.invalid('Send the reply as multipart/form-data with a "text" field.');
      const limits = await portal.tenants.limitsFor(session.tenantId);
      const input: ReplyInput = { text: '', attachments: [] };
      let sawText = false;
      let total = 0;
      for await (const part of request.parts({
        limits: { fileSize: limits.maxAttachmentBytes, files: limits.maxAttachments, fieldSize: limits.maxReplyBytes, fields: 10 },
      })) {
        if (part.type === 'file') {
          if (part.fieldname !== 'attachments') {
            part.file.resume();
            throw problems.invalid(`Unexpected file field "${part.fieldname}"; use "attachments".`);
          }
          const content = await part.toBuffer();
          total += content.length;
          if (total > limits.maxReplyBytes) throw problems.tooLarge('The reply with its attachments is larger than allowed; see GET /api/portal/limits.');
          input.attachments.push({ filename: part.filename || 'attachment', contentType: part.mimetype || 'application/octet-stream', content });
        } else if (part.fieldname === 'text') {
          input.text = String(part.value ?? '');
          sawText = true;
        } else if (part.fieldname === 'html') {
          input.html = String(part.value ?? '');
        }
      }
      if (!sawText) throw problems.invalid('The "text" field is required.');
      const created = await portal.replies.reply(session, request.params.messageId, input, actor(request));
      return reply.code(201).send(created);
    },
  );

  // --- Members: what they sent -------------------------------------------------------------------

  app.get(
    '/sent',
    { schema: { response: { 200: { type: 'object', properties: { messages: { type: 'array', items: sentMessageSchema } } } } } },
    async (request) => ({ messages: await portal.sent.listSent(await sessionOf(request)) }),
  );

  app.post<{ Params: { messageId: string }; Body: { recipient?: string } }>(
    '/sent/:messageId/revoke',
    {
      schema: {
        params: { type: 'object', properties: { messageId: uuidParam }, required: ['messageId'] },
        body: { type: ['object', 'null'], properties: { recipient: { type: 'string', maxLength: 320 } } },
      },
    },
    async (request, reply) => {
      await portal.sent.revoke(await sessionOf(request), request.params.messageId, request.body?.recipient, actor(request));
      return reply.code(204).send();
    },
  );

  app.patch<{ Params: { messageId: string }; Body: { expiresAt: string } }>(
    '/sent/:messageId',
    {
      schema: {
        params: { type: 'object', properties: { messageId: uuidParam }, required: ['messageId'] },
        body: { type: 'object', properties: { expiresAt: { type: 'string', maxLength: 40 } }, required: ['expiresAt'] },
        response: { 200: { type: 'object', properties: { expiresAt: { type: 'string' } } } },
      },
    },
    async (request) => {
      const expiresAt = await portal.sent.changeExpiry(await sessionOf(request), request.params.messageId, new Date(request.body.expiresAt), actor(request));
      return { expiresAt: expiresAt.toISOString() };
    },
  );

  // --- Admins ------------------------------------------------------------------------------------

  await app.register(async (admin: FastifyInstance) => {
    await admin.register(auditRoutes, {
      prefix: '/audit',
      tenants: portal.tenants,
      authenticate: async (request) => {
        const session = await sessionOf(request, { roles: AUDIT_ROLES });
        return { tenantId: session.tenantId, actorId: session.id, actorAddress: session.address, clientIp: request.ip };
      },
    });
    const consoleActor = async (request: FastifyRequest, roles: PortalRole[]) => {
      const session = await sessionOf(request, { roles });
      return { tenantId: session.tenantId, actorId: session.id, actorAddress: session.address, actorRole: session.role!, clientIp: request.ip };
    };
    await admin.register(consoleMemberRoutes, { prefix: '/members', tenants: portal.tenants, authenticate: consoleActor, readRoles: MEMBER_READ_ROLES });
    await admin.register(consoleApiTokenRoutes, { prefix: '/tokens', tenants: portal.tenants, authenticate: consoleActor, readRoles: TOKEN_READ_ROLES });
    admin.get(
      '/storage',
      { schema: { response: { 200: storageOverviewSchema } } },
      async (request) => {
        const { tenantId } = await sessionOf(request, { roles: STORAGE_ROLES });
        return storageOverview(db, tenantId, await portal.tenants.settings(tenantId));
      },
    );
    admin.get('/settings', async (request) => portal.tenants.settings((await sessionOf(request, { roles: SETTINGS_READ_ROLES })).tenantId));
    admin.patch<{ Body: Record<string, unknown> }>(
      '/settings',
      // Types here, rules (ranges, the link in templates, members' domains) in settings-changes.ts; both
      // answer with the field's name, so the settings page shows each message next to its field.
      { schema: { body: settingsChangeSchema }, attachValidation: true },
      async (request) => {
        const session = await sessionOf(request, { roles: ADMIN_ROLES });
        if (request.validationError) throw problems.invalidFields(schemaFieldErrors(request.validationError.validation));
        const result = await portal.tenants.changeSettings(
          { tenantId: session.tenantId, actorId: session.id, actorAddress: session.address, clientIp: request.ip },
          request.body,
        );
        if (!result.ok) throw problems.invalidFields(result.errors);
        return result.settings;
      },
    );
    // The overview's mail flow over time: every role of the console reads it.
    admin.get<{ Querystring: { range?: FlowRange; timeZone?: string } }>(
      '/overview',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { range: { type: 'string', enum: ['hours', 'days', 'weeks'] }, timeZone: { type: 'string', maxLength: 64 } },
          },
        },
      },
      async (request) => {
        const session = await sessionOf(request, { roles: POLICY_READ_ROLES });
        try {
          return await mailFlow(db, session.tenantId, request.query.range ?? 'days', request.query.timeZone ?? 'UTC');
        } catch (error) {
          if (error instanceof FlowInputError) throw problems.invalid(error.message);
          throw error;
        }
      },
    );
    // The message trace: every role of the console reads it (the reference's "view for all").
    await admin.register(messageTraceRoutes, {
      prefix: '/messages',
      db,
      authenticate: async (request) => (await sessionOf(request, { roles: POLICY_READ_ROLES })).tenantId,
    });
    await admin.register(secondFactorResetRoutes, {
      prefix: '/second-factors',
      factors: portal.factors,
      authenticate: async (request) => {
        const session = await sessionOf(request, { roles: ADMIN_ROLES });
        return { tenantId: session.tenantId, actor: session.address };
      },
    });
    if (setup) {
      await admin.register(setupRoutes, {
        prefix: '/setup',
        db,
        ...setup,
        authenticate: async (request) => (await sessionOf(request, { roles: ADMIN_ROLES })).tenantId,
      });
    }
    const keyAdmin = async (request: FastifyRequest) => {
      const session = await sessionOf(request, { roles: ADMIN_ROLES });
      return { tenantId: session.tenantId, actor: session.address, owner: session.role === 'owner' };
    };
    if (certificates) {
      await admin.register(certificateRoutes, { prefix: '/certificates', db, store: certificates.store, authenticate: keyAdmin });
      if (certificates.memberKeys) {
        await admin.register(memberKeyRoutes, { prefix: '/member-keys', db, keys: certificates.memberKeys, directory: certificates.directory, authenticate: keyAdmin });
      }
    }
    if (pgp) {
      await admin.register(pgpKeyRoutes, { prefix: '/pgp-keys', db, store: pgp.store, authenticate: keyAdmin });
      await admin.register(memberPgpKeyRoutes, { prefix: '/member-pgp-keys', db, keys: pgp.memberKeys, directory: pgp.directory, authenticate: keyAdmin });
    }
  }, { prefix: '/admin' });

  if (guard) {
    await app.register(guardRoutes, {
      prefix: '/guard',
      ...guard,
      authenticate: async (request) => {
        const session = await sessionOf(request);
        // Recipients outside the organisation have no quarantine here.
        if (!session.role) throw problems.forbidden('Quarantine and policies are for members of the organisation.');
        const role = session.role;
        return {
          tenantId: session.tenantId,
          actor: session.address,
          address: session.address,
          readPolicies: POLICY_READ_ROLES.includes(role),
          writePolicies: POLICY_WRITE_ROLES.includes(role),
          quarantineAdmin: QUARANTINE_ADMIN_ROLES.includes(role),
        };
      },
    });
  }
};
