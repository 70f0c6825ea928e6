/**
 * The task pane's local try page (README "Try the task pane locally"): the evaluation sign-in and the page's
 * Send. Registered only while the embedded demo runs with the try page on (see config.ts addinTryWanted), so
 * in any other deployment these routes do not exist (404).
 *
 * - The evaluation sign-in hands out an access token for /api/addin to a member of the demo tenant only,
 *   and answers only clients on this machine (the socket's address): the demo listens on all interfaces.
 * - Send submits the draft over SMTP to this gateway's own listener from the demo connector's address
 *   (127.0.0.2), as the demo's Exchange would: the gateway receives, traces and protects it like any other.
 */
import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import nodemailer from 'nodemailer';
import {
  ADDIN_TRY_SEND_PATH,
  ADDIN_TRY_SIGN_IN_PATH,
  type AddinTrySendRequest,
  type AddinTrySendResponse,
  type AddinTrySignInResponse,
} from '../../../common/src/addin-api.ts';
import { HEADER_ENCRYPT, HEADER_EXPIRES, HEADER_OPTIONS, HEADER_PDF_PASSWORD, HEADER_SMS, MAX_PDF_PASSWORD_TICKET_LENGTH } from '../../../common/src/headers.ts';
import type { Database } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { members } from '../db/schema.ts';
import { isPlausibleAddress } from '../mail/address-syntax.ts';
import { DEMO_CONNECTOR_ADDRESS, DEMO_DOMAIN, type TenantDirectory, type TenantInfo } from '../tenants/tenant-directory.ts';
import { isLoopback } from './operations-routes.ts';
import { sendProblem } from './problem-details.ts';
import { problemSchema } from './shared-schemas.ts';

/** How long an evaluation sign-in lasts; the pane asks again after it, as it does after an Entra token. */
const EVALUATION_SIGN_IN_MINUTES = 60;
/** Sign-ins kept at once; the oldest goes first. The try page is for one person on one machine. */
const MAX_EVALUATION_SIGN_INS = 1000;
const TOKEN_PREFIX = 'sealpost-try.';
const QUEUED_AS = 'queued as ';
const MAX_TRY_RECIPIENTS = 50;
const SENDER_HEADERS = [HEADER_ENCRYPT, HEADER_EXPIRES, HEADER_OPTIONS, HEADER_SMS, HEADER_PDF_PASSWORD].map((name) => name.toLowerCase());

export interface EvaluationSender {
  tenantId: string;
  address: string;
  role: string;
  expiresAt: Date;
}

/** Evaluation sign-ins, in this process's memory only: the demo runs as one process. */
export class EvaluationSignIns {
  private readonly byToken = new Map<string, EvaluationSender>();

  issue(sender: Omit<EvaluationSender, 'expiresAt'>, now = new Date()): { token: string; expiresAt: Date } {
    for (const [token, held] of this.byToken) if (held.expiresAt <= now) this.byToken.delete(token);
    while (this.byToken.size >= MAX_EVALUATION_SIGN_INS) this.byToken.delete(this.byToken.keys().next().value!);
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const expiresAt = new Date(now.getTime() + EVALUATION_SIGN_IN_MINUTES * 60_000);
    this.byToken.set(token, { ...sender, expiresAt });
    return { token, expiresAt };
  }

  /** The sender a token was issued to, while it lasts; undefined for anything else (an Entra token, say). */
  lookup(token: string, now = new Date()): EvaluationSender | undefined {
    if (!token.startsWith(TOKEN_PREFIX)) return undefined;
    const sender = this.byToken.get(token);
    if (!sender) return undefined;
    if (sender.expiresAt <= now) {
      this.byToken.delete(token);
      return undefined;
    }
    return sender;
  }
}

/** The demo tenant as the directory knows it; never a tenant with Entra ID sign-in. */
export function demoTenant(directory: TenantDirectory): TenantInfo | undefined {
  const tenant = directory.tenantForDomain(DEMO_DOMAIN);
  return tenant && tenant.name === 'Demo' && !tenant.entra ? tenant : undefined;
}

export interface AddinTryRoutesOptions {
  db: Database;
  directory: TenantDirectory;
  signIns: EvaluationSignIns;
  /** Where this gateway's SMTP listener is reached from this machine (known once it listens). */
  smtpTarget: () => { host: string; port: number };
}

const addressList = { type: 'array', maxItems: MAX_TRY_RECIPIENTS, items: { type: 'string', minLength: 1, maxLength: 320 } } as const;

export const addinTryRoutes: FastifyPluginAsync<AddinTryRoutesOptions> = async (app, options) => {
  const { db, directory, signIns } = options;

  // The socket's own address, never X-Forwarded-For.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    if (!isLoopback(request.raw.socket.remoteAddress)) {
      return sendProblem(reply, {
        status: 403,
        title: 'The evaluation sign-in is for this machine only',
        detail: 'Open the try page on the machine that runs Sealpost (http://127.0.0.1:<port>/addin/try/), or reach it through an SSH tunnel.',
      });
    }
  });

  app.post<{ Body: { address: string } }>(
    ADDIN_TRY_SIGN_IN_PATH,
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { address: { type: 'string', minLength: 3, maxLength: 320 } },
          required: ['address'],
        },
        response: {
          200: {
            type: 'object',
            properties: { accessToken: { type: 'string' }, expiresAt: { type: 'string' }, address: { type: 'string' } },
            required: ['accessToken', 'expiresAt', 'address'],
          },
          403: problemSchema,
          404: problemSchema,
        },
      },
    },
    async (request, reply): Promise<AddinTrySignInResponse | undefined> => {
      const address = request.body.address.trim().toLowerCase();
      const tenant = demoTenant(directory);
      if (!tenant || directory.tenantForAddress(address)?.id !== tenant.id) {
        return sendProblem(reply, {
          status: 403,
          title: 'The evaluation sign-in is for the demo tenant only',
          detail: `${address} is not an address of the demo tenant (${DEMO_DOMAIN}); other organisations sign in with Entra ID.`,
        });
      }
      const [member] = await withTenants(db, tenant.id, (tx) =>
        tx
          .select({ email: members.email, role: members.role })
          .from(members)
          .where(and(eq(members.tenantId, tenant.id), eq(members.email, address))),
      );
      if (!member) {
        return sendProblem(reply, {
          status: 404,
          title: 'No such demo member',
          detail: `${address} is not a member of the demo tenant; sign in as admin@${DEMO_DOMAIN}.`,
        });
      }
      const { token, expiresAt } = signIns.issue({ tenantId: tenant.id, address: member.email, role: member.role });
      return { accessToken: token, expiresAt: expiresAt.toISOString(), address: member.email };
    },
  );

  app.post<{ Body: AddinTrySendRequest }>(
    ADDIN_TRY_SEND_PATH,
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            to: addressList,
            cc: addressList,
            subject: { type: 'string', maxLength: 998 },
            body: { type: 'string', maxLength: 100_000 },
            // A password ticket is the longest value the pane writes (SMS numbers for many recipients come close).
            headers: { type: 'object', maxProperties: 10, additionalProperties: { type: 'string', maxLength: MAX_PDF_PASSWORD_TICKET_LENGTH } },
          },
          required: ['to', 'cc', 'subject', 'body', 'headers'],
        },
        response: {
          200: {
            type: 'object',
            properties: { messageIds: { type: 'array', items: { type: 'string' } }, reply: { type: 'string' } },
            required: ['messageIds', 'reply'],
          },
          400: problemSchema,
          401: problemSchema,
          502: problemSchema,
        },
      },
    },
    async (request, reply): Promise<AddinTrySendResponse | undefined> => {
      const sender = signedIn(request, signIns);
      if (!sender) return signInRequired(reply);
      const { to, cc, subject, body, headers } = request.body;
      const recipients = [...to, ...cc].map((r) => r.trim());
      const invalid = recipients.filter((r) => !isPlausibleAddress(r));
      if (recipients.length === 0 || invalid.length > 0) {
        return sendProblem(reply, {
          status: 400,
          title: recipients.length === 0 ? 'The message has no recipient' : 'A recipient is not an e-mail address',
          detail: recipients.length === 0 ? 'Add at least one address in To or Cc.' : `Not e-mail addresses: ${invalid.join(', ')}`,
        });
      }
      const foreign = Object.keys(headers).filter((name) => !SENDER_HEADERS.includes(name.toLowerCase()));
      if (foreign.length > 0) {
        return sendProblem(reply, {
          status: 400,
          title: 'Only the add-in’s headers can be set',
          detail: `Not a header the add-in sets: ${foreign.join(', ')} (allowed: ${HEADER_ENCRYPT}, ${HEADER_EXPIRES}, ${HEADER_OPTIONS}).`,
        });
      }
      const target = options.smtpTarget();
      const transport = nodemailer.createTransport({
        host: target.host,
        port: target.port,
        secure: false,
        // Loopback to this very gateway: no certificate to check, nothing on the wire.
        ignoreTLS: true,
        localAddress: DEMO_CONNECTOR_ADDRESS,
        name: `exchange.${DEMO_DOMAIN}`,
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 30_000,
      });
      try {
        const info = await transport.sendMail({
          from: sender.address,
          to: to.map((r) => r.trim()),
          cc: cc.map((r) => r.trim()),
          subject,
          text: body,
          headers,
        });
        const response = String(info.response ?? '');
        return { messageIds: queuedIds(response), reply: response };
      } catch (error) {
        const { response, message } = error as { response?: string; message?: string };
        request.log.warn({ err: error }, 'the try page could not hand its message to the gateway');
        return sendProblem(reply, {
          status: 502,
          title: 'The gateway did not take the message',
          detail: response ?? message ?? String(error),
        });
      } finally {
        transport.close();
      }
    },
  );
};

function signedIn(request: FastifyRequest, signIns: EvaluationSignIns): EvaluationSender | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  return match ? signIns.lookup(match[1]!) : undefined;
}

function signInRequired(reply: FastifyReply) {
  reply.header('www-authenticate', 'Bearer realm="sealpost-addin-try"');
  return sendProblem(reply, {
    type: 'urn:sealpost:problem:sign-in-required',
    status: 401,
    title: 'Sign-in required',
    detail: 'Send the token from the evaluation sign-in as "Authorization: Bearer <token>".',
  });
}

/** The message ids in this gateway's answer to DATA ("250 2.6.0 Ok: queued as <id>, <id>"). */
function queuedIds(response: string): string[] {
  const at = response.indexOf(QUEUED_AS);
  if (at < 0) return [];
  return response
    .slice(at + QUEUED_AS.length)
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id.length > 0 && id.length <= 64 && /^[\w-]+$/.test(id));
}
