import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../src/gateway.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { startTestGateway } from './support/test-gateway.ts';

const METRICS_TOKEN = 'metrics-scraper-token-0123456789abcdef';
const OUTSIDER = '203.0.113.7';

/** A scrape from another machine, without sending anything off loopback: Fastify's in-process injection. */
const scrapeFrom = (gateway: Gateway, remoteAddress: string, headers: Record<string, string> = {}) =>
  gateway.http.inject({ method: 'GET', url: '/metrics', remoteAddress, headers });

describe('who may read the Prometheus metrics', () => {
  let database: TestDatabase;
  let gateway: Gateway | undefined;

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await gateway?.stop();
    await database.cleanup();
  });

  /** One gateway at a time on the file's database, each with its own metrics settings. */
  async function restart(env: Record<string, string>): Promise<Gateway> {
    await gateway?.stop();
    gateway = await startTestGateway(database, undefined, env);
    return gateway;
  }

  test('without a token or a metrics port, /metrics answers loopback clients only, whatever X-Forwarded-For says', async () => {
    const g = await restart({});
    const local = await fetch(`http://127.0.0.1:${g.httpPort}/metrics`);
    assert.equal(local.status, 200);
    assert.match(await local.text(), /^# TYPE sealpost_queue_depth gauge/m);
    assert.equal((await scrapeFrom(g, '::1')).statusCode, 200);
    assert.equal((await scrapeFrom(g, '::ffff:127.0.0.1')).statusCode, 200);

    const outside = await scrapeFrom(g, OUTSIDER);
    assert.equal(outside.statusCode, 403);
    assert.equal(outside.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.match(outside.json<{ detail: string }>().detail, /SEALPOST_METRICS_TOKEN/);
    assert.doesNotMatch(outside.body, /sealpost_queue_depth/);
    assert.equal((await scrapeFrom(g, OUTSIDER, { 'x-forwarded-for': '127.0.0.1' })).statusCode, 403);
    assert.equal((await scrapeFrom(g, '::ffff:10.0.0.1')).statusCode, 403);
    // The probes stay open to the platform's health checks.
    assert.equal((await g.http.inject({ method: 'GET', url: '/healthz', remoteAddress: OUTSIDER })).statusCode, 200);
  });

  test('with SEALPOST_METRICS_TOKEN every scrape needs the bearer token, from loopback too', async () => {
    const g = await restart({ SEALPOST_METRICS_TOKEN: METRICS_TOKEN });
    const bare = await fetch(`http://127.0.0.1:${g.httpPort}/metrics`);
    assert.equal(bare.status, 401);
    assert.match(bare.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.match(((await bare.json()) as { detail: string }).detail, /Authorization: Bearer/);
    assert.equal((await scrapeFrom(g, '127.0.0.1', { authorization: `Bearer ${METRICS_TOKEN}x` })).statusCode, 401);
    assert.equal((await scrapeFrom(g, '127.0.0.1', { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}` })).statusCode, 401);
    assert.equal((await scrapeFrom(g, '127.0.0.1', { authorization: METRICS_TOKEN })).statusCode, 401);

    const remote = await scrapeFrom(g, OUTSIDER, { authorization: `Bearer ${METRICS_TOKEN}` });
    assert.equal(remote.statusCode, 200);
    assert.match(remote.body, /^# TYPE sealpost_queue_depth gauge/m);
  });

  test('with SEALPOST_METRICS_PORT /metrics moves to its own loopback listener and leaves the main one', async () => {
    const g = await restart({ SEALPOST_METRICS_PORT: '0', SEALPOST_METRICS_TOKEN: METRICS_TOKEN });
    assert.ok(g.metricsPort && g.metricsPort !== g.httpPort);
    assert.equal(g.config.metrics.host, '127.0.0.1', 'the separate listener is bound to loopback unless configured otherwise');
    assert.equal((await fetch(`http://127.0.0.1:${g.httpPort}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status, 404);
    const separate = `http://127.0.0.1:${g.metricsPort}`;
    assert.equal((await fetch(`${separate}/metrics`)).status, 401);
    const scraped = await fetch(`${separate}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(scraped.status, 200);
    assert.match(await scraped.text(), /^# TYPE sealpost_queue_depth gauge/m);
    assert.equal((await fetch(`${separate}/healthz`)).status, 404, 'the metrics listener serves nothing else');
  });
});
