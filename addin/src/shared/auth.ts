/**
 * Signs the Outlook user in to Sealpost's add-in API. The sender's address tells the gateway which
 * organisation's Entra application to use (GET /api/addin-sign-in); the token then comes from MSAL nested
 * app authentication where Outlook supports it (NestedAppAuth 1.1), else from Office single sign-on.
 * MSAL is imported on demand, so a pane without nested app authentication never downloads it. On the demo's
 * local try page the gateway answers `evaluation` instead, and the page's own Outlook host signs in.
 */
import { ADDIN_SIGN_IN_PATH, type AddinSignInConfig } from '../../../common/src/addin-api.ts';
import { isSetSupported, office, senderAddress } from './office.ts';

export type SignInErrorKind = 'no-address' | 'no-tenant' | 'unreachable' | 'naa' | 'sso' | 'no-office-auth';

export class SignInError extends Error {
  constructor(
    readonly kind: SignInErrorKind,
    message: string,
    readonly details: { address?: string; code?: string | number } = {},
  ) {
    super(message);
    this.name = 'SignInError';
  }
}

export interface AccessTokens {
  /** A current access token for the add-in API; `fresh` skips the cached one (after a 401). */
  token(fresh?: boolean): Promise<string>;
}

/** Seconds before its expiry a cached token is no longer handed out. */
const EXPIRY_MARGIN_SECONDS = 120;

function expiryOf(token: string): number | undefined {
  try {
    const payload = token.split('.')[1];
    if (!payload) return undefined;
    const json = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
    return typeof json.exp === 'number' ? json.exp : undefined;
  } catch {
    return undefined;
  }
}

export async function fetchSignInConfig(address: string, baseUrl = ''): Promise<AddinSignInConfig> {
  let response: Response;
  try {
    response = await fetch(`${baseUrl}${ADDIN_SIGN_IN_PATH}?address=${encodeURIComponent(address)}`, { headers: { accept: 'application/json' } });
  } catch (error) {
    throw new SignInError('unreachable', error instanceof Error ? error.message : String(error));
  }
  if (response.status === 404 || response.status === 400) {
    const problem = (await response.json().catch(() => ({}))) as { detail?: string };
    throw new SignInError('no-tenant', problem.detail ?? `no sign-in for ${address}`, { address });
  }
  if (!response.ok) throw new SignInError('unreachable', `HTTP ${response.status}`);
  return (await response.json()) as AddinSignInConfig;
}

type TokenGetter = () => Promise<string>;

async function nestedAppAuthentication(config: AddinSignInConfig): Promise<TokenGetter> {
  const msal = await import(/* webpackChunkName: "msal" */ '@azure/msal-browser');
  let pca: Awaited<ReturnType<typeof msal.createNestablePublicClientApplication>>;
  try {
    pca = await msal.createNestablePublicClientApplication({ auth: { clientId: config.applicationId, authority: config.authority } });
  } catch (error) {
    throw new SignInError('naa', error instanceof Error ? error.message : String(error));
  }
  return async () => {
    const request = { scopes: config.scopes };
    try {
      const result = await pca.acquireTokenSilent(request);
      return result.accessToken;
    } catch (error) {
      if (!(error instanceof msal.InteractionRequiredAuthError)) {
        throw new SignInError('naa', error instanceof Error ? error.message : String(error));
      }
    }
    try {
      return (await pca.acquireTokenPopup(request)).accessToken;
    } catch (error) {
      throw new SignInError('naa', error instanceof Error ? error.message : String(error));
    }
  };
}

function officeSingleSignOn(): TokenGetter {
  return async () => {
    const auth = office()?.auth;
    if (!auth) throw new SignInError('no-office-auth', 'Office.auth is not available');
    try {
      return await auth.getAccessToken({ allowSignInPrompt: true, allowConsentPrompt: true, forMSGraphAccess: false });
    } catch (error) {
      const { code, message } = (error ?? {}) as { code?: number; message?: string };
      throw new SignInError('sso', message ?? String(error), { code: code ?? '?' });
    }
  };
}

/** Finds the sender's sign-in settings and returns a source of access tokens that caches until near expiry. */
export async function signIn(baseUrl = ''): Promise<AccessTokens> {
  const address = senderAddress();
  if (!address) throw new SignInError('no-address', 'Office.context.mailbox.userProfile.emailAddress is empty');
  const config = await fetchSignInConfig(address, baseUrl);
  // The demo's try page (no Entra ID) hands its evaluation sign-in over as Office's access token.
  const getter = !config.evaluation && isSetSupported('NestedAppAuth', '1.1') ? await nestedAppAuthentication(config) : officeSingleSignOn();
  let cached: { token: string; expiresAt: number } | undefined;
  return {
    async token(fresh = false) {
      const now = Date.now() / 1000;
      if (!fresh && cached && cached.expiresAt - EXPIRY_MARGIN_SECONDS > now) return cached.token;
      const token = await getter();
      cached = { token, expiresAt: expiryOf(token) ?? now + 300 };
      return token;
    },
  };
}
