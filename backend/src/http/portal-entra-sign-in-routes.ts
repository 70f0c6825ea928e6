/**
 * The portal's organisation sign-in (portal/entra-sign-in.ts): GET starts it (application, authority, a nonce
 * bound to this browser by a cookie), POST completes it with the ID token Entra gave the browser. Every
 * refusal is a problem document that says which check failed; where an address is known it is audited.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { EntraSignInRequest, EntraSignInStart, PortalSession } from '../../../common/src/portal-api.ts';
import type { PortalEntraSignIn } from '../portal/entra-sign-in.ts';
import { ENTRA_NONCE_TTL_SECONDS } from '../portal/entra-sign-in.ts';
import { PortalProblemError, problems } from '../portal/portal-problems.ts';
import type { NewSession } from '../portal/sessions.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { EntraTokenError, EntraTokenValidator, type EntraTokenErrorCode } from './entra-tokens.ts';
import { problemSchema, signInAddressQuery } from './shared-schemas.ts';

/** A refused sign-in names the check that failed. */
const signInProblemSchema = { ...problemSchema, properties: { ...problemSchema.properties, reason: { type: 'string' } } } as const;

/** The browser's half of a started sign-in's nonce. */
export const ENTRA_BINDING_COOKIE = 'sealpost_entra_binding';

export interface PortalEntraSignInRoutesOptions {
  signIn: PortalEntraSignIn;
  validator: EntraTokenValidator;
  directory: TenantDirectory;
  parseCookies: (header: string | undefined) => Record<string, string>;
  cookieAttributes: (maxAgeSeconds: number) => string;
  /** Sets the session's cookies (the same as a magic link's). */
  sessionCookies: (created: NewSession) => string[];
  sessionSchema: object;
}

/** What the validator's refusals say to the person signing in. */
const REFUSALS: Record<Exclude<EntraTokenErrorCode, 'tenant_not_allowed' | 'keys_unavailable'>, string> = {
  malformed: 'The answer from Microsoft was not a readable ID token',
  bad_signature: 'The ID token is not signed by your organisation\'s Entra ID',
  expired: 'The ID token has expired',
  not_yet_valid: 'The ID token is not valid yet; check the clock of this computer',
  wrong_audience: 'The ID token was issued for another application than your organisation\'s Sealpost',
  wrong_issuer: 'The ID token was issued by another authority than your organisation\'s Entra ID',
  nonce_mismatch: 'The sign-in did not start on this page',
  replayed: 'This sign-in was already used',
};

function problemFor(error: EntraTokenError): PortalProblemError {
  if (error.code === 'tenant_not_allowed') return problems.organisationNotAllowed(error.message);
  if (error.code === 'keys_unavailable') {
    return new PortalProblemError('busy', 503, 'The sign-in cannot be checked right now', 'The keys of Entra ID could not be fetched; please try again in a minute.', {
      'retry-after': '30',
    });
  }
  return problems.organisationSignInFailed(error.code, REFUSALS[error.code]);
}

export const portalEntraSignInRoutes: FastifyPluginAsync<PortalEntraSignInRoutesOptions> = async (app, options) => {
  const { signIn, validator, directory } = options;

  app.get<{ Querystring: { address: string } }>(
    '/entra-sign-in',
    {
      schema: {
        querystring: signInAddressQuery,
        response: {
          200: {
            type: 'object',
            properties: { applicationId: { type: 'string' }, authority: { type: 'string' }, nonce: { type: 'string' }, loginHint: { type: 'string' } },
            required: ['applicationId', 'authority', 'nonce', 'loginHint'],
          },
          403: problemSchema,
          429: problemSchema,
        },
      },
    },
    async (request, reply): Promise<EntraSignInStart> => {
      const { start, binding } = await signIn.start(request.query.address.trim().toLowerCase(), request.ip);
      reply.header('set-cookie', `${ENTRA_BINDING_COOKIE}=${binding}; ${options.cookieAttributes(ENTRA_NONCE_TTL_SECONDS)}`);
      return start;
    },
  );

  app.post<{ Body: EntraSignInRequest }>(
    '/entra-sign-in',
    {
      schema: {
        body: { type: 'object', properties: { idToken: { type: 'string', minLength: 1, maxLength: 16384 } }, required: ['idToken'] },
        response: {
          200: { type: 'object', properties: { session: options.sessionSchema }, required: ['session'] },
          401: signInProblemSchema,
          403: signInProblemSchema,
          429: problemSchema,
        },
      },
    },
    async (request, reply): Promise<{ session: PortalSession } | FastifyReply> => {
      await signIn.limitIp(request.ip);
      const { idToken } = request.body;
      const claimed = EntraTokenValidator.unverifiedSignIn(idToken);
      let tenantId: string | undefined;
      let address = claimed.address;
      let verified = false;
      try {
        const { tenant, nonceId } = await signIn.readNonce(claimed.nonce, options.parseCookies(request.headers.cookie)[ENTRA_BINDING_COOKIE]);
        tenantId = tenant.id;
        if (claimed.address) await signIn.limitAddress(claimed.address);
        const identity = await validator.validateIdToken(idToken, {
          applicationIds: [tenant.entra.applicationId],
          allowedTenantIds: tenant.entra.tenantIds,
          // Spent only once the token proved genuine, so a forged token cannot use up someone's sign-in.
          checkNonce: async (nonce) => {
            if (nonce !== claimed.nonce) throw new EntraTokenError('nonce_mismatch', 'the nonce changed');
            await signIn.spendNonce(nonceId);
          },
        });
        address = identity.email;
        verified = true;
        const done = await signIn.complete(tenant, identity, request.ip);
        reply.header('set-cookie', [...options.sessionCookies(done.created), `${ENTRA_BINDING_COOKIE}=; ${options.cookieAttributes(0)}`]);
        return { session: done.view };
      } catch (caught) {
        const error = caught instanceof EntraTokenError ? problemFor(caught) : caught;
        if (!(error instanceof PortalProblemError) || error.problem.status === 429 || error.problem.status >= 500) throw error;
        // Refusals are audited in the tenant the sign-in started for, or else the tenant of the address claimed.
        const auditTenant = tenantId ?? (address ? directory.tenantForAddress(address)?.id : undefined);
        if (auditTenant && address) {
          const reason = error.problem.reason ?? error.problem.type.replace('urn:sealpost:problem:', '');
          await signIn.recordFailure(auditTenant, address, request.ip, reason, verified);
        }
        throw error;
      }
    },
  );
};
