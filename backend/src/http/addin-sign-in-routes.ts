/**
 * What the task pane needs before it can sign a sender in: the tenant's Entra application id and
 * authority. Public by nature (the same values are in the add-in's registration), so no token is asked;
 * it only answers for domains that have a tenant with Entra ID sign-in, and, while the demo's try page is on,
 * for the demo tenant with `evaluation` (addin-try-routes.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import { ADDIN_SIGN_IN_PATH, ADDIN_TRY_SIGN_IN_PATH, type AddinSignInConfig } from '../../../common/src/addin-api.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { sendProblem } from './problem-details.ts';
import { signInAddressQuery } from './shared-schemas.ts';

export interface AddinSignInRoutesOptions {
  directory: TenantDirectory;
  entraAuthority: string;
  publicUrl: string;
  /** Only while the demo's try page is on: the demo tenant's members sign in with the evaluation sign-in. */
  evaluationTenantId?: () => string | undefined;
}

/** The scope the add-in asks for: its API's URI on this gateway's host, as Office single sign-on expects. */
export function addinApiScope(publicUrl: string, applicationId: string): string {
  return `api://${new URL(publicUrl).host}/${applicationId}/access_as_user`;
}

export const addinSignInRoutes: FastifyPluginAsync<AddinSignInRoutesOptions> = async (app, { directory, entraAuthority, publicUrl, evaluationTenantId }) => {
  app.get<{ Querystring: { address: string } }>(
    ADDIN_SIGN_IN_PATH,
    {
      schema: {
        querystring: signInAddressQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              applicationId: { type: 'string' },
              authority: { type: 'string' },
              scopes: { type: 'array', items: { type: 'string' } },
              evaluation: { type: 'boolean' },
            },
            required: ['applicationId', 'authority', 'scopes'],
          },
        },
      },
    },
    async (request, reply): Promise<AddinSignInConfig | undefined> => {
      const tenant = directory.tenantForAddress(request.query.address.toLowerCase());
      reply.header('cache-control', 'no-store');
      if (tenant && !tenant.entra && evaluationTenantId && tenant.id === evaluationTenantId()) {
        return { applicationId: 'sealpost-evaluation', authority: `${publicUrl}${ADDIN_TRY_SIGN_IN_PATH}`, scopes: [], evaluation: true };
      }
      if (!tenant?.entra) {
        return sendProblem(reply, {
          status: 404,
          title: 'No Sealpost sign-in for this address',
          detail: `The domain of ${request.query.address} has no Sealpost tenant with Entra ID sign-in; ask your administrator to configure it.`,
        });
      }
      const { applicationId, tenantIds } = tenant.entra;
      return {
        applicationId,
        authority: `${entraAuthority}/${tenantIds.length === 1 ? tenantIds[0] : 'organizations'}`,
        scopes: [addinApiScope(publicUrl, applicationId)],
      };
    },
  );
};
