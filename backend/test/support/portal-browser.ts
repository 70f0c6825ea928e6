/**
 * A portal reader's browser for tests: keeps its
 * cookies and CSRF token, speaks HTTP to the gateway from a chosen loopback address.
 */
import { request as httpRequest } from 'node:http';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: () => any;
}

export class PortalBrowser {
  cookies = new Map<string, string>();
  csrf = '';
  constructor(
    private readonly port: number,
    public localAddress = '127.0.0.1',
  ) {}

  request(method: string, path: string, options: { json?: unknown; body?: Buffer; contentType?: string; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
    const payload = options.json !== undefined ? Buffer.from(JSON.stringify(options.json)) : options.body;
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (payload) {
      headers['content-type'] = options.json !== undefined ? 'application/json' : options.contentType!;
      headers['content-length'] = String(payload.length);
    }
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.csrf && method !== 'GET') headers['x-sealpost-csrf'] = this.csrf;
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: this.port, method, path, headers, localAddress: this.localAddress }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          for (const line of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) {
            const [pair] = line.split(';');
            const eq = pair!.indexOf('=');
            const value = pair!.slice(eq + 1);
            if (value) this.cookies.set(pair!.slice(0, eq), value);
            else this.cookies.delete(pair!.slice(0, eq));
          }
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
        });
      });
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** Opens a magic link and picks up the session's CSRF token; answers what the open answered. */
  async open(token: string): Promise<HttpAnswer> {
    const answer = await this.request('POST', '/api/portal/links/open', { json: { token } });
    if (answer.status === 200) {
      const session = await this.request('GET', '/api/portal/session');
      this.csrf = session.json().csrfToken;
    }
    return answer;
  }
}
