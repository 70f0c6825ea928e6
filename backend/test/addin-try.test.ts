/**
 * The task pane's local try page: on for the embedded demo, where demo members sign in without Entra ID and
 * Send goes through the gateway from the demo's connector; absent (404) everywhere else, and refused at start
 * where it was asked for in a real deployment.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADDIN_TRY_CONNECTOR_ADDRESS, ADDIN_TRY_SENDER } from '../../common/src/addin-api.ts';
import { loadConfig } from '../src/config.ts';
import type { Gateway } from '../src/gateway.ts';
import { distFolder } from '../src/http/static-pages.ts';
import { DEMO_CONNECTOR_ADDRESS, DEMO_DOMAIN } from '../src/tenants/tenant-directory.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { freePort, GatewayProcess } from './support/gateway-process.ts';
import { LocalEntraIssuer } from './support/local-entra-issuer.ts';
import { MailPeer } from './support/mail-peer.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const ADDIN_BUILT = existsSync(join(distFolder, 'addin', 'try', 'index.html'));
const APP_ID = '6f1c2a9e-8d51-4b7a-9c33-0f2d7e5a1b10';
const ACME_ENTRA = '3b2f8c1d-4e5a-4f60-8a7b-9c0d1e2f3a4b';

async function call(base: string, method: string, path: string, token?: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) };
}

const baseOf = (gateway: Gateway) => `http://127.0.0.1:${gateway.httpPort}`;

describe('the task pane try page: configuration', () => {
  test('it is on for the embedded demo, off with a tenant file or NODE_ENV=production, and SEALPOST_ADDIN_TRY=off turns it off', () => {
    assert.equal(loadConfig({}).addinTry, true);
    assert.equal(loadConfig({ SEALPOST_ADDIN_TRY: 'off' }).addinTry, false);
    assert.equal(loadConfig({ SEALPOST_ADDIN_TRY: 'on' }).addinTry, true);
    assert.equal(loadConfig({ NODE_ENV: 'production' }).addinTry, false);
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-try-'));
    try {
      const file = join(folder, 'tenants.yaml');
      writeFileSync(file, 'tenants: []\n');
      assert.equal(loadConfig({ SEALPOST_CONFIG: file }).addinTry, false);
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file, SEALPOST_ADDIN_TRY: 'on' }), /SEALPOST_ADDIN_TRY: "on" is refused because SEALPOST_CONFIG is set/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
    assert.throws(() => loadConfig({ NODE_ENV: 'production', SEALPOST_ADDIN_TRY: 'on' }), /SEALPOST_ADDIN_TRY: "on" is refused because NODE_ENV is production/);
    assert.throws(() => loadConfig({ SEALPOST_ADDIN_TRY: 'yes' }), /SEALPOST_ADDIN_TRY: must be "on" or "off"/);
  });

  test('the try page names the demo member and connector address the demo has', () => {
    assert.equal(ADDIN_TRY_SENDER, `admin@${DEMO_DOMAIN}`);
    assert.equal(ADDIN_TRY_CONNECTOR_ADDRESS, DEMO_CONNECTOR_ADDRESS);
  });

  test('npm start refuses the try page with NODE_ENV=production and names the setting', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-try-start-'));
    try {
      const gateway = new GatewayProcess({
        SEALPOST_DATA_DIR: folder,
        SEALPOST_SMTP_PORT: String(await freePort()),
        SEALPOST_HTTP_PORT: String(await freePort()),
        SEALPOST_ADDIN_TRY: 'on',
        NODE_ENV: 'production',
      });
      await assert.rejects(gateway.start(120_000), /SEALPOST_ADDIN_TRY: "on" is refused because NODE_ENV is production/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('the task pane try page on the embedded demo', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let base: string;

  before(async () => {
    database = await createTestDatabase();
    gateway = await startTestGateway(database, undefined);
    base = baseOf(gateway);
  });

  after(async () => {
    await gateway?.stop();
    await database?.cleanup();
  });

  const signIn = async (address = ADDIN_TRY_SENDER) => call(base, 'POST', '/api/addin-try/sign-in', undefined, { address });

  test('the gateway offers the page and its URL only because the demo runs', () => {
    assert.ok(gateway.demo, 'the demo tenant runs');
    assert.equal(gateway.addinTryUrl, `${gateway.config.http.publicUrl}/addin/try/`);
  });

  test('a demo member signs in without Entra ID and the add-in API knows them', async () => {
    const config = await call(base, 'GET', `/api/addin-sign-in?address=${encodeURIComponent(ADDIN_TRY_SENDER)}`);
    assert.equal(config.status, 200);
    assert.equal(config.json().evaluation, true);

    const signedIn = await signIn('Admin@Demo.Sealpost.Test');
    assert.equal(signedIn.status, 200, signedIn.text);
    const { accessToken, address, expiresAt } = signedIn.json() as { accessToken: string; address: string; expiresAt: string };
    assert.equal(address, ADDIN_TRY_SENDER);
    assert.ok(Date.parse(expiresAt) > Date.now());
    const settings = await call(base, 'GET', '/api/addin/settings', accessToken);
    assert.equal(settings.status, 200, settings.text);
    assert.equal(settings.json().tenantName, 'Demo');
    const preview = await call(base, 'POST', '/api/addin/preview', accessToken, { recipients: [`alice@${DEMO_DOMAIN}`, 'client@example.org'], mode: 'portal' });
    assert.deepEqual(
      (preview.json() as { recipients: { address: string; method: string }[] }).recipients.map((r) => [r.address, r.method]),
      [[`alice@${DEMO_DOMAIN}`, 'relay'], ['client@example.org', 'portal']],
    );
  });

  test('the evaluation sign-in refuses addresses outside the demo tenant and demo addresses that are not members', async () => {
    const outsider = await signIn('someone@example.org');
    assert.equal(outsider.status, 403);
    assert.match(outsider.json().detail, /not an address of the demo tenant/);
    const notMember = await signIn(`alice@${DEMO_DOMAIN}`);
    assert.equal(notMember.status, 404);
    assert.match(notMember.json().detail, /not a member of the demo tenant/);
    assert.equal((await call(base, 'GET', '/api/addin/settings', 'sealpost-try.made-up')).status, 401, 'a token it never issued is not accepted');
  });

  test('the evaluation sign-in answers only clients on this machine', async () => {
    const response = await gateway.http.inject({
      method: 'POST',
      url: '/api/addin-try/sign-in',
      payload: { address: ADDIN_TRY_SENDER },
      remoteAddress: '192.0.2.10',
    });
    assert.equal(response.statusCode, 403);
    assert.match(response.json().title, /for this machine only/);
  });

  test('Send hands the draft to the gateway from the demo connector, with the add-in headers, and the trace shows the request', async () => {
    const { accessToken } = (await signIn()).json() as { accessToken: string };
    const sent = await call(base, 'POST', '/api/addin-try/send', accessToken, {
      to: ['client@example.org'],
      cc: [],
      subject: 'Contract',
      body: 'Please sign.',
      headers: { 'X-Sealpost-Encrypt': 'portal', 'X-Sealpost-Options': 'read-receipt' },
    });
    assert.equal(sent.status, 200, sent.text);
    const { messageIds, reply } = sent.json() as { messageIds: string[]; reply: string };
    assert.match(reply, /^250 /);
    assert.equal(messageIds.length, 1);

    const token = gateway.demo!.apiToken!;
    let trace: { message: { state: string }; trace: { step: string; detail: Record<string, unknown> }[] } | undefined;
    for (let i = 0; i < 100; i += 1) {
      trace = (await call(base, 'GET', `/api/admin/messages/${messageIds[0]}/trace`, token)).json();
      if (trace?.message.state === 'delivered') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(trace?.message.state, 'delivered', JSON.stringify(trace));
    const step = (name: string) => trace!.trace.find((s) => s.step === name)?.detail;
    assert.equal(step('received')?.client, DEMO_CONNECTOR_ADDRESS);
    assert.equal(step('received')?.connector, 'this-machine');
    assert.equal(step('received')?.mailFrom, ADDIN_TRY_SENDER);
    assert.equal(step('request')?.mode, 'portal');
    assert.deepEqual(step('request')?.options, ['read-receipt']);
    assert.equal(step('routed')?.protection, 'portal');
  });

  test('Send refuses a draft without a sign-in, without recipients, with a bad address or with headers the add-in does not set', async () => {
    const { accessToken } = (await signIn()).json() as { accessToken: string };
    const draft = { to: ['client@example.org'], cc: [], subject: 'S', body: 'B', headers: {} };
    assert.equal((await call(base, 'POST', '/api/addin-try/send', undefined, draft)).status, 401);
    assert.equal((await call(base, 'POST', '/api/addin-try/send', 'sealpost-try.made-up', draft)).status, 401);
    const empty = await call(base, 'POST', '/api/addin-try/send', accessToken, { ...draft, to: [] });
    assert.equal(empty.status, 400);
    assert.match(empty.json().title, /no recipient/);
    const bad = await call(base, 'POST', '/api/addin-try/send', accessToken, { ...draft, cc: ['not an address'] });
    assert.equal(bad.status, 400);
    assert.match(bad.json().detail, /not an address/);
    const foreign = await call(base, 'POST', '/api/addin-try/send', accessToken, { ...draft, headers: { 'X-Sealpost-Flag': 'YES' } });
    assert.equal(foreign.status, 400);
    assert.match(foreign.json().detail, /X-Sealpost-Flag/);
  });

  test('the page and the pane frame are served', { skip: !ADDIN_BUILT && 'the add-in is not built' }, async () => {
    assert.equal((await call(base, 'GET', '/addin/try/')).status, 200);
    const pane = await call(base, 'GET', '/addin/try/taskpane.html');
    assert.equal(pane.status, 200);
    assert.match(pane.text, /\/addin\/try\/office-host\.[0-9a-f]+\.js/);
    assert.doesNotMatch(pane.text, /appsforoffice\.microsoft\.com/, 'the local Outlook host, not Microsoft’s office.js');
  });
});

describe('the task pane try page elsewhere', () => {
  let database: TestDatabase;
  let issuer: LocalEntraIssuer;
  let tenantMailServer: MailPeer;
  const gateways: Gateway[] = [];

  before(async () => {
    database = await createTestDatabase();
    issuer = await LocalEntraIssuer.start();
    tenantMailServer = await MailPeer.start();
  });

  after(async () => {
    for (const gateway of gateways) await gateway.stop();
    await tenantMailServer?.close();
    await issuer?.close();
    await database?.cleanup();
  });

  async function assertAbsent(gateway: Gateway, address: string): Promise<void> {
    const base = baseOf(gateway);
    assert.equal(gateway.addinTryUrl, undefined);
    for (const path of ['/addin/try/', '/addin/try/index.html', '/addin/try/taskpane.html']) {
      assert.equal((await call(base, 'GET', path)).status, 404, path);
    }
    if (ADDIN_BUILT) assert.equal((await call(base, 'GET', '/addin/taskpane.html')).status, 200, 'the task pane itself is still served');
    assert.equal((await call(base, 'POST', '/api/addin-try/sign-in', undefined, { address })).status, 404);
    assert.equal((await call(base, 'POST', '/api/addin-try/send', undefined, { to: ['a@example.org'], cc: [], subject: '', body: '', headers: {} })).status, 404);
    const config = await call(base, 'GET', `/api/addin-sign-in?address=${encodeURIComponent(address)}`);
    assert.notEqual(config.status === 200 && config.json().evaluation, true, 'no evaluation sign-in is offered');
  }

  test('with a tenant file the routes answer 404 and the add-in signs in with Entra ID only', async () => {
    const gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port, { entra: { applicationId: APP_ID, tenantIds: [ACME_ENTRA] } })], {
      SEALPOST_ENTRA_AUTHORITY: issuer.url,
    });
    gateways.push(gateway);
    await assertAbsent(gateway, 'alice@acme.test');
    const config = await call(baseOf(gateway), 'GET', '/api/addin-sign-in?address=alice%40acme.test');
    assert.equal(config.json().applicationId, APP_ID);
  });

  test('on the demo with SEALPOST_ADDIN_TRY=off the routes answer 404', async () => {
    const offDatabase = await createTestDatabase();
    try {
      const gateway = await startTestGateway(offDatabase, undefined, { SEALPOST_ADDIN_TRY: 'off' });
      try {
        assert.ok(gateway.demo);
        await assertAbsent(gateway, ADDIN_TRY_SENDER);
      } finally {
        await gateway.stop();
      }
    } finally {
      await offDatabase.cleanup();
    }
  });
});
