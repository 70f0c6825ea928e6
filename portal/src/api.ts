/**
 * The one way the portal talks to the backend (common/src/portal-api.ts). Every failure becomes an
 * ApiProblem carrying the server's problem document, so pages decide by its `type`.
 */
import { CSRF_HEADER, type PortalProblem, type PortalProblemType } from '../../common/src/portal-api.ts';

/** A problem the portal itself notes when the server could not be reached or did not answer a problem. */
export type ClientProblemType = 'urn:sealpost:problem:unreachable' | 'urn:sealpost:problem:unexpected';

export interface ClientProblem extends Omit<PortalProblem, 'type'> {
  type: PortalProblemType | ClientProblemType;
  /** Seconds from Retry-After, when the server sent one (rate limiting). */
  retryAfterSeconds?: number;
}

export class ApiProblem extends Error {
  override name = 'ApiProblem';
  constructor(readonly problem: ClientProblem) {
    super(problem.title);
  }
  is(kind: string): boolean {
    return this.problem.type === `urn:sealpost:problem:${kind}`;
  }
}

let csrfToken = '';
/** Set from GET /api/portal/session; state-changing requests send it. */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

type SessionListener = (problem: ApiProblem) => void;
const sessionListeners = new Set<SessionListener>();
/** Called for every answer saying the session is missing, tied to another network, or must prove its second factor. */
export function onSessionProblem(listener: SessionListener): () => void {
  sessionListeners.add(listener);
  return () => sessionListeners.delete(listener);
}

export interface RequestOptions {
  /** Do not tell the session listeners (the caller handles a missing session itself). */
  quiet?: boolean;
  /** Extra request header fields (a PKCS#12 file's password). */
  headers?: Record<string, string>;
}

async function problemOf(response: Response): Promise<ApiProblem> {
  const retry = Number(response.headers.get('retry-after'));
  const extra = Number.isFinite(retry) && retry > 0 ? { retryAfterSeconds: retry } : {};
  if ((response.headers.get('content-type') ?? '').includes('json')) {
    try {
      const body = (await response.json()) as Partial<PortalProblem>;
      if (typeof body.type === 'string' && body.type.startsWith('urn:sealpost:problem:')) {
        return new ApiProblem({ ...(body as PortalProblem), status: response.status, ...extra });
      }
      // A plain problem document (MailGuard's routes): its detail says what was wrong, so it is kept.
      if (typeof body.detail === 'string' && response.status !== 429) {
        const title = typeof body.title === 'string' ? body.title : response.statusText;
        return new ApiProblem({ type: 'urn:sealpost:problem:unexpected', title, detail: body.detail, status: response.status, ...extra });
      }
    } catch {
      // fall through to the generic problem below
    }
  }
  const type: PortalProblemType | ClientProblemType =
    response.status === 429 ? 'urn:sealpost:problem:rate-limited' : 'urn:sealpost:problem:unexpected';
  return new ApiProblem({ type, title: response.statusText || 'Unexpected answer', status: response.status, ...extra });
}

export async function apiRequest<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (method !== 'GET' && csrfToken) headers[CSRF_HEADER] = csrfToken;
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body instanceof Blob) {
    // A file sent as it is (an .eml for the policy simulation), typed by the caller.
    headers['content-type'] = body.type || 'application/octet-stream';
    payload = body;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiProblem({ type: 'urn:sealpost:problem:unreachable', title: 'Unreachable', status: 0 });
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (!options.quiet && (problem.is('session-ip-changed') || problem.is('session-required') || problem.is('second-factor-required'))) {
      for (const listener of sessionListeners) listener(problem);
    }
    throw problem;
  }
  // Read the whole answer even when it is empty of meaning (202, 204): a body left unread is cut off when
  // the page moves on, which the browser reports as a failed request.
  const text = await response.text();
  if (response.status === 204 || response.status === 202) return undefined as T;
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A file the server makes (an export), read whole, with the answer's headers; failures as in apiRequest. */
export async function downloadFile(path: string): Promise<{ blob: Blob; headers: Headers }> {
  let response: Response;
  try {
    response = await fetch(path, { method: 'GET', credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiProblem({ type: 'urn:sealpost:problem:unreachable', title: 'Unreachable', status: 0 });
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (problem.is('session-ip-changed') || problem.is('session-required') || problem.is('second-factor-required')) {
      for (const listener of sessionListeners) listener(problem);
    }
    throw problem;
  }
  return { blob: await response.blob(), headers: response.headers };
}

export const api = {
  get: <T>(path: string, options?: RequestOptions) => apiRequest<T>('GET', path, undefined, options),
  post: <T>(path: string, body?: unknown, options?: RequestOptions) => apiRequest<T>('POST', path, body ?? {}, options),
  /** The file itself as the body, with the given type (`message/rfc822` for a message). */
  upload: <T>(path: string, file: Blob, type: string, headers?: Record<string, string>) =>
    apiRequest<T>('POST', path, new Blob([file], { type }), headers ? { headers } : {}),
  put: <T>(path: string, body: unknown) => apiRequest<T>('PUT', path, body),
  patch: <T>(path: string, body: unknown) => apiRequest<T>('PATCH', path, body),
  delete: (path: string, options?: RequestOptions) => apiRequest<void>('DELETE', path, undefined, options),
};
