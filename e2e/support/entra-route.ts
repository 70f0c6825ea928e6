/**
 * Entra ID for the browser tests: MSAL accepts only https authorities, so the browser is sent to a public
 * https name (SEALPOST_ENTRA_BROWSER_AUTHORITY) and every request to it is carried to the local issuer over
 * plain http on loopback, the way a reverse proxy would: with x-forwarded-proto and x-forwarded-host, so the
 * issuer names its public origin in what it tells the browser. Status, headers and body come back as sent,
 * a redirect included (the authorize endpoint's answer is one).
 */
import type { BrowserContext } from 'playwright-core';

const DROPPED_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive']);

export async function routeEntraToIssuer(context: BrowserContext, publicOrigin: string, issuerUrl: string): Promise<void> {
  const publicUrl = new URL(publicOrigin);
  await context.route(`${publicUrl.origin}/**`, async (route) => {
    const request = route.request();
    const target = new URL(request.url());
    const headers: Record<string, string> = { 'x-forwarded-proto': publicUrl.protocol.replace(':', ''), 'x-forwarded-host': publicUrl.host };
    for (const [name, value] of Object.entries(await request.allHeaders())) if (!DROPPED_HEADERS.has(name)) headers[name] = value;
    const body = request.postDataBuffer();
    const answer = await fetch(`${issuerUrl}${target.pathname}${target.search}`, {
      method: request.method(),
      headers,
      ...(body && request.method() !== 'GET' && request.method() !== 'HEAD' ? { body: new Uint8Array(body) } : {}),
      redirect: 'manual',
    });
    const answerHeaders: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      if (!DROPPED_HEADERS.has(name)) answerHeaders[name] = value;
    });
    await route.fulfill({ status: answer.status, headers: answerHeaders, body: Buffer.from(await answer.arrayBuffer()) });
  });
}
