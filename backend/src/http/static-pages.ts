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

const securityHeaders = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export const staticPages: FastifyPluginAsync = async (app) => {
  const portal = join(distFolder, 'portal');
  const addin = join(distFolder, 'addin');

  if (existsSync(addin)) {
    await app.register(fastifyStatic, {
      root: addin,
      prefix: '/addin/',
      decorateReply: false,
      // Outlook shows the task pane in a frame: it must not be denied framing.
      setHeaders: (res) => {
        res.header('x-content-type-options', 'nosniff');
        res.header('referrer-policy', 'no-referrer');
      },
    });
  }

  if (existsSync(portal)) {
    await app.register(fastifyStatic, {
      root: portal,
      prefix: '/portal/',
      decorateReply: false,
      index: ['index.html'],
      setHeaders: (res) => {
        for (const [name, value] of Object.entries(securityHeaders)) res.header(name, value);
      },
    });
    const indexFile = join(portal, 'index.html');
    app.setNotFoundHandler((request, reply) => {
      if (request.method === 'GET' && request.url.startsWith('/portal/') && existsSync(indexFile)) {
        return reply.code(200).headers(securityHeaders).type('text/html; charset=utf-8').send(readFileSync(indexFile));
      }
      return reply
        .code(404)
        .type('application/problem+json')
        .send({ type: 'about:blank', title: 'Not found', status: 404, detail: `Nothing is served at ${request.url.split('?')[0]}` });
    });
  }
  app.get('/', async (_request, reply) => reply.redirect('/portal/'));
};
