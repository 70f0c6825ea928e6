/**
 * The organisation sign-in (Entra ID, OpenID Connect with the authorization code flow and PKCE): the gateway
 * names the application and authority and signs a nonce (GET /api/portal/entra-sign-in); MSAL sends the
 * browser to Entra and, back on ENTRA_SIGN_IN_CALLBACK_PATH, redeems the code for the ID token, which the
 * gateway checks and turns into a portal session. MSAL is imported on demand: no other page loads it.
 */
import {
  ENTRA_SIGN_IN_CALLBACK_PATH,
  ENTRA_SIGN_IN_PATH,
  type EntraSignInRequest,
  type EntraSignInStart,
  type PortalSession,
} from '../../common/src/portal-api.ts';
import { api } from './api.ts';

/** Which application and authority the sign-in started with: the callback page needs the same to finish it. */
const STARTED_KEY = 'sealpost.portal.entra-sign-in';
const SCOPES = ['openid', 'profile', 'email'];

interface Started {
  applicationId: string;
  authority: string;
}

async function client(started: Started) {
  const msal = await import(/* webpackChunkName: "msal" */ '@azure/msal-browser');
  const pca = new msal.PublicClientApplication({
    auth: {
      clientId: started.applicationId,
      authority: started.authority,
      // The authority is named by the gateway: no instance discovery at Microsoft for it.
      knownAuthorities: [new URL(started.authority).host],
      redirectUri: `${window.location.origin}${ENTRA_SIGN_IN_CALLBACK_PATH}`,
    },
    // Only for the few seconds of the round trip; the portal's session is the gateway's cookie.
    cache: { cacheLocation: 'sessionStorage' },
  });
  await pca.initialize();
  return pca;
}

/** Asks the gateway how this address signs in and sends the browser to its organisation's Entra ID. */
export async function startEntraSignIn(address: string): Promise<void> {
  const start = await api.get<EntraSignInStart>(`${ENTRA_SIGN_IN_PATH}?address=${encodeURIComponent(address)}`, { quiet: true });
  const started: Started = { applicationId: start.applicationId, authority: start.authority };
  window.sessionStorage.setItem(STARTED_KEY, JSON.stringify(started));
  const pca = await client(started);
  // No prompt=select_account: with it MSAL leaves the login hint out (Entra refuses the two together), and
  // the member would pick or type at Entra the account just typed here.
  await pca.loginRedirect({ scopes: SCOPES, nonce: start.nonce, loginHint: start.loginHint });
}

/** Back from Entra: the ID token to the gateway, which answers with the new session. */
export async function finishEntraSignIn(): Promise<PortalSession> {
  const kept = window.sessionStorage.getItem(STARTED_KEY);
  if (!kept) throw new Error('no organisation sign-in was started in this tab');
  const pca = await client(JSON.parse(kept) as Started);
  // The answer is handled here, on the return page, not on the page the sign-in started from.
  const result = await pca.handleRedirectPromise({ navigateToLoginRequestUrl: false });
  window.sessionStorage.removeItem(STARTED_KEY);
  if (!result?.idToken) throw new Error('Entra ID returned no ID token');
  const body: EntraSignInRequest = { idToken: result.idToken };
  const answer = await api.post<{ session: PortalSession }>(ENTRA_SIGN_IN_PATH, body, { quiet: true });
  // MSAL's own copy of the account is of no further use; the gateway's session is what counts.
  await pca.clearCache().catch(() => undefined);
  return answer.session;
}
