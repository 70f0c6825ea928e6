/**
 * The add-in API client (common/src/addin-api.ts). Every call carries the Entra ID access token; a 401
 * is retried once with a fresh token. Failures become ApiError with the problem document's words.
 */
import type {
  AddinChangeExpiryRequest,
  AddinSentMessages,
  AddinSettings,
  PdfPasswordResponse,
  PreviewRequest,
  PreviewResponse,
} from '../../../common/src/addin-api.ts';
import type { ChangeExpiryResponse } from '../../../common/src/portal-api.ts';
import type { AccessTokens } from './auth.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined,
    readonly problemType: string | undefined,
  ) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiError';
  }
}

export class AddinApi {
  constructor(
    private readonly tokens: AccessTokens,
    private readonly baseUrl = '',
  ) {}

  settings(): Promise<AddinSettings> {
    return this.call('GET', '/api/addin/settings');
  }

  preview(request: PreviewRequest): Promise<PreviewResponse> {
    return this.call('POST', '/api/addin/preview', request);
  }

  /** A password for the sender to tell the recipients, with the sealed ticket for the draft. */
  pdfPassword(): Promise<PdfPasswordResponse> {
    return this.call('POST', '/api/addin/pdf-password');
  }

  sent(): Promise<AddinSentMessages> {
    return this.call('GET', '/api/addin/sent');
  }

  async revoke(messageId: string, recipient?: string): Promise<void> {
    await this.call('POST', `/api/addin/sent/${encodeURIComponent(messageId)}/revoke`, recipient ? { recipient } : {});
  }

  changeExpiry(messageId: string, request: AddinChangeExpiryRequest): Promise<ChangeExpiryResponse> {
    return this.call('PATCH', `/api/addin/sent/${encodeURIComponent(messageId)}`, request);
  }

  private async call<T>(method: string, path: string, body?: unknown, retried = false): Promise<T> {
    const token = await this.tokens.token(retried);
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (error) {
      throw new ApiError(0, 'Sealpost could not be reached', error instanceof Error ? error.message : String(error), 'urn:sealpost:addin:unreachable');
    }
    if (response.status === 401 && !retried) return this.call(method, path, body, true);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    if (!response.ok) {
      let problem: { title?: string; detail?: string; type?: string } = {};
      try {
        problem = JSON.parse(text);
      } catch {
        // not a problem document: the status line is all there is
      }
      throw new ApiError(response.status, problem.title ?? `HTTP ${response.status}`, problem.detail, problem.type);
    }
    return JSON.parse(text) as T;
  }
}
