/**
 * Serves the built portal (dist/portal at /portal/) and add-in (dist/addin at /addin/). Portal routes
 * that are not files (such as /portal/open) get the portal's index page, which routes in the browser.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

export const distFolder = fileURLToPath(new URL('../../../dist', import.meta.url));

/**
 * The portal runs only its own scripts. Images may come from anywhere because a message frame (srcdoc)
 * inherits this policy on top of its own, and a reader may allow a message's remote images; the frame's
 * own policy keeps them blocked until then. Fluent UI injects its styles inline.
 */
function portalContentSecurityPolicy(connectSources: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: http: https:",
    "font-src 'self' data:",
    // The organisation sign-in (MSAL) reads the Entra authority's metadata and redeems its code there.
    ["connect-src 'self'", ...connectSources].join(' '),
    "frame-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Script files carry a hash of their content in their name (webpack's [contenthash]): a changed script
 * gets a new name, so a browser may keep them for a year without asking again. The index page names the
 * current scripts, so it is asked for again every time.
 */
const HASHED_SCRIPT = /\.[0-9a-f]{20}\.js(?:\.br|\.gz)?$/;
const SCRIPT = /\.js(?:\.br|\.gz)?$/;
const CACHE_HASHED = 'public, max-age=31536000, immutable';
const CACHE_REVALIDATE = 'no-cache';

const securityHeadersFor = (connectSources: readonly string[]) => ({
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': portalContentSecurityPolicy(connectSources),
});

export interface StaticPagesOptions {
  /** Serve the add-in's try page (dist/addin/try/); without it those files answer 404. */
  addinTry?: boolean;
  /** Origins the portal's scripts may call besides its own: the Entra authority of the organisation sign-in. */
  connectSources?: readonly string[];
}

/** The try page's files, below /addin/; only the demo with the try page on serves them. */
const ADDIN_TRY_FOLDER = '/try/';

export const staticPages: FastifyPluginAsync<StaticPagesOptions> = async (app, options) => {
  const portal = join(distFolder, 'portal');
  const addin = join(distFolder, 'addin');
  const securityHeaders = securityHeadersFor(options.connectSources ?? []);

  if (existsSync(addin)) {
    await app.register(fastifyStatic, {
      root: addin,
      prefix: '/addin/',
      decorateReply: false,
      allowedPath: (pathName) => options.addinTry === true || !pathName.startsWith(ADDIN_TRY_FOLDER),
      // Outlook shows the task pane in a frame: it must not be denied framing.
      setHeaders: (res) => {
        res.setHeader('x-content-type-options', 'nosniff');
        res.setHeader('referrer-policy', 'no-referrer');
      },
    });
  }

  if (existsSync(portal)) {
    await app.register(fastifyStatic, {
      root: portal,
      prefix: '/portal/',
      decorateReply: false,
      index: ['index.html'],
      // The build writes name.js.br and name.js.gz next to every script (webpack.config.ts).
      preCompressed: true,
      cacheControl: false,
      setHeaders: (res, path) => {
        for (const [name, value] of Object.entries(securityHeaders)) res.setHeader(name, value);
        res.setHeader('cache-control', HASHED_SCRIPT.test(path) ? CACHE_HASHED : CACHE_REVALIDATE);
        // `path` is the file sent: name.js, or its compressed copy name.js.br / name.js.gz.
        if (SCRIPT.test(path)) res.setHeader('vary', 'accept-encoding');
      },
    });
    const indexFile = join(portal, 'index.html');
    app.setNotFoundHandler((request, reply) => {
      if (request.method === 'GET' && request.url.startsWith('/portal/') && existsSync(indexFile)) {
        return reply
          .code(200)
          .headers(securityHeaders)
          .header('cache-control', CACHE_REVALIDATE)
          .type('text/html; charset=utf-8')
          .send(readFileSync(indexFile));
      }
      return reply
        .code(404)
        .type('application/problem+json')
        .send({ type: 'about:blank', title: 'Not found', status: 404, detail: `Nothing is served at ${request.url.split('?')[0]}` });
    });
  }
  app.get('/', async (_request, reply) => reply.redirect('/portal/'));
};
