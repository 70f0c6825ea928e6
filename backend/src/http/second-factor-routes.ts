/**
 * The recipient's second factor (portal/second-factor.ts), under /api/portal/second-factor: what is set
 * up, setting up an authenticator app or a passkey, proving one, recovery codes. These routes answer a
 * session that has not proved its factor yet; everything else in the portal waits until it has.
 * Owners and operators remove a recipient's factors under /api/portal/admin/second-factors.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { SecondFactors } from '../portal/second-factor.ts';
import type { PortalSessionInfo } from '../portal/sessions.ts';
import { problemSchema } from './shared-schemas.ts';

const resultSchema = {
  type: 'object',
  properties: { verified: { type: 'boolean' }, recoveryCodes: { type: 'array', items: { type: 'string' } } },
  required: ['verified'],
} as const;
const codeBody = { type: 'object', properties: { code: { type: 'string', maxLength: 40 } }, required: ['code'] } as const;
/** A WebAuthn answer as @simplewebauthn/browser sends it; the library checks every field of it. */
const credentialBody = {
  type: 'object',
  properties: {
    id: { type: 'string', maxLength: 1400 },
    rawId: { type: 'string', maxLength: 1400 },
    type: { type: 'string', enum: ['public-key'] },
    response: { type: 'object', additionalProperties: true },
    clientExtensionResults: { type: 'object', additionalProperties: true },
    authenticatorAttachment: { type: 'string' },
  },
  required: ['id', 'rawId', 'type', 'response'],
} as const;
/** WebAuthn options are passed on as the library made them. */
const webauthnOptionsSchema = { type: 'object', additionalProperties: true } as const;
const failures = { 400: problemSchema, 403: problemSchema, 429: problemSchema };

export interface SecondFactorRoutesOptions {
  factors: SecondFactors;
  authenticate: (request: FastifyRequest) => Promise<PortalSessionInfo>;
}

export const secondFactorRoutes: FastifyPluginAsync<SecondFactorRoutesOptions> = async (app, { factors, authenticate }) => {
  app.get(
    '/',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: {
              required: { type: 'boolean' },
              verified: { type: 'boolean' },
              canEnrol: { type: 'boolean' },
              totp: { type: 'boolean' },
              passkeys: { type: 'integer' },
              recoveryCodesLeft: { type: 'integer' },
            },
            required: ['required', 'verified', 'canEnrol', 'totp', 'passkeys', 'recoveryCodesLeft'],
          },
        },
      },
    },
    async (request) => factors.status(await authenticate(request)),
  );

  app.post(
    '/totp/start',
    {
      schema: {
        response: {
          200: { type: 'object', properties: { secret: { type: 'string' }, uri: { type: 'string' }, qrSvg: { type: 'string' } }, required: ['secret', 'uri', 'qrSvg'] },
          ...failures,
        },
      },
    },
    async (request) => factors.startTotp(await authenticate(request)),
  );

  app.post<{ Body: { code: string } }>(
    '/totp/confirm',
    { schema: { body: codeBody, response: { 200: resultSchema, ...failures } } },
    async (request) => factors.confirmTotp(await authenticate(request), request.body.code, request.ip),
  );

  app.post<{ Body: { code: string } }>(
    '/totp/verify',
    { schema: { body: codeBody, response: { 200: resultSchema, ...failures } } },
    async (request) => factors.verifyTotp(await authenticate(request), request.body.code, request.ip),
  );

  app.post(
    '/passkey/registration-options',
    { schema: { response: { 200: webauthnOptionsSchema, ...failures } } },
    async (request) => factors.passkeyRegistrationOptions(await authenticate(request)),
  );

  app.post<{ Body: RegistrationResponseJSON }>(
    '/passkey/register',
    { schema: { body: credentialBody, response: { 200: resultSchema, ...failures } } },
    async (request) => factors.registerPasskey(await authenticate(request), request.body, request.ip),
  );

  app.post(
    '/passkey/authentication-options',
    { schema: { response: { 200: webauthnOptionsSchema, ...failures } } },
    async (request) => factors.passkeyAuthenticationOptions(await authenticate(request)),
  );

  app.post<{ Body: AuthenticationResponseJSON }>(
    '/passkey/authenticate',
    { schema: { body: credentialBody, response: { 200: resultSchema, ...failures } } },
    async (request) => factors.authenticatePasskey(await authenticate(request), request.body, request.ip),
  );

  app.post<{ Body: { code: string } }>(
    '/recovery',
    { schema: { body: codeBody, response: { 200: resultSchema, ...failures } } },
    async (request) => factors.useRecoveryCode(await authenticate(request), request.body.code, request.ip),
  );

  app.post(
    '/recovery-codes',
    { schema: { response: { 200: { type: 'object', properties: { recoveryCodes: { type: 'array', items: { type: 'string' } } } }, ...failures } } },
    async (request) => ({ recoveryCodes: await factors.newRecoveryCodes(await authenticate(request), request.ip) }),
  );
};

export interface SecondFactorResetRoutesOptions {
  factors: SecondFactors;
  authenticate: (request: FastifyRequest) => Promise<{ tenantId: string; actor: string }>;
}

/** DELETE ?address=…: removes a recipient's factors and recovery codes, so their next link sets up anew. */
export const secondFactorResetRoutes: FastifyPluginAsync<SecondFactorResetRoutesOptions> = async (app, { factors, authenticate }) => {
  app.delete<{ Querystring: { address: string } }>(
    '/',
    {
      schema: {
        querystring: { type: 'object', properties: { address: { type: 'string', minLength: 3, maxLength: 320 } }, required: ['address'] },
        response: { 200: { type: 'object', properties: { removed: { type: 'integer' } }, required: ['removed'] }, 403: problemSchema },
      },
    },
    async (request) => {
      const admin = await authenticate(request);
      return { removed: await factors.reset(admin.tenantId, request.query.address, { actor: admin.actor, clientIp: request.ip }) };
    },
  );
};
