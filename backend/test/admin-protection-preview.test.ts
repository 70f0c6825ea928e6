/**
 * The admin's preview of how 'auto' protects recipients: per recipient the method, reason and reasonCode,
 * the fallback order itself and the modes this gateway has, over real HTTP with the admin API token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../src/gateway.ts';
import { FALLBACK_ORDER } from '../src/protect/fallback-order.ts';
import { resolveRecipientMethods } from '../src/protect/method-resolution.ts';
import type { ProtectionHandler } from '../src/protect/protection-modes.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { ACME_API_TOKEN, acmeTenant, startTestGateway } from './support/test-gateway.ts';

const GLOBEX_TOKEN = 'globex-preview-token-abcdefghijklmn';

interface Preview {
  recipients: Array<{ address: string; method: string; reasonCode: string; reason: string }>;
  fallbackOrder: Array<{ mode: string; condition: string; reasonCode: string; reason: string; available: boolean }>;
  availableModes: string[];
}

/** An S/MIME mode is registered, so the preview shows it available; OpenPGP and PDF are not. */
const smime: ProtectionHandler = { mode: 'smime', protect: async () => ({ kind: 'unavailable', reason: 'no certificate' }) };

describe('the admin protection preview', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let peer: MailPeer;
  const url = (query = '') => `http://127.0.0.1:${gateway.httpPort}/api/admin/protection/preview${query}`;
  const get = (query: string, token: string | null = ACME_API_TOKEN) =>
    fetch(url(query), token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const post = (body: unknown, token = ACME_API_TOKEN) =>
    fetch(url(), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  before(async () => {
    database = await createTestDatabase();
    peer = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(peer.port),
        { name: 'Globex', domains: ['globex.test'], connectors: [], members: [], apiTokens: [{ name: 'ops', token: GLOBEX_TOKEN }], mailServer: `smtp://127.0.0.1:${peer.port}` },
      ],
      {},
      { protectionModes: [smime] },
    );
  });

  after(async () => {
    await gateway.stop();
    await peer.close();
    await database.cleanup();
  });

  test('answers per recipient what auto would choose, with the fallback order and the available modes', async () => {
    const response = await get('?recipient=Client@Example.net&recipient=bob@acme.test');
    assert.equal(response.status, 200);
    const body = (await response.json()) as Preview;
    assert.deepEqual(body.recipients, [
      { address: 'client@example.net', method: 'portal', reasonCode: 'nothing-known', reason: 'no certificate or key known' },
      { address: 'bob@acme.test', method: 'relay', reasonCode: 'internal', reason: 'internal recipient: delivered to the tenant mail server' },
    ]);
    // The order is the gateway's own list, step by step.
    assert.deepEqual(
      body.fallbackOrder.map(({ mode, condition, reasonCode, reason }) => ({ mode, when: condition, reasonCode, reason })),
      FALLBACK_ORDER.map(({ mode, when, reasonCode, reason }) => ({ mode, when, reasonCode, reason })),
    );
    assert.deepEqual(
      Object.fromEntries(body.fallbackOrder.map((s) => [s.mode, s.available])),
      { smime: true, pgp: true, pdf: true, portal: true },
    );
    assert.deepEqual([...body.availableModes].sort(), ['auto', 'pdf', 'pgp', 'portal', 'smime']);
  });

  test('gives what the gateway resolution gives, for the tenant of the token', async () => {
    const recipients = ['alice@acme.test', 'someone@globex.test', 'x@example.org'];
    const response = await post({ recipients }, GLOBEX_TOKEN);
    assert.equal(response.status, 200);
    const body = (await response.json()) as Preview;
    const globex = gateway.directory.tenantForAddress('someone@globex.test')!;
    const expected = await resolveRecipientMethods({ directory: gateway.directory }, globex.id, recipients);
    assert.deepEqual(
      body.recipients,
      expected.map((r) => ({ address: r.recipient, method: r.method, reasonCode: r.reasonCode, reason: r.reason })),
    );
    // For Globex, Acme's addresses are external.
    assert.equal(body.recipients[0]!.method, 'portal');
    assert.equal(body.recipients[1]!.method, 'relay');
  });

  test('a single recipient in the query and the same list posted as JSON give the same answer', async () => {
    const one = await get('?recipient=client@example.net');
    assert.equal(one.status, 200);
    const posted = await post({ recipients: ['client@example.net'] });
    assert.equal(posted.status, 200);
    assert.deepEqual(await one.json(), await posted.json());
  });

  test('a bad address is refused with a problem naming it', async () => {
    const response = await get(`?recipient=ok@example.net&recipient=${encodeURIComponent('not-an-address')}`);
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    const problem = (await response.json()) as { status: number; title: string; detail: string };
    assert.equal(problem.status, 400);
    assert.match(problem.detail, /"not-an-address" is not a valid address/);

    const posted = await post({ recipients: ['a@b@example.net'] });
    assert.equal(posted.status, 400);
    assert.match(((await posted.json()) as { detail: string }).detail, /"a@b@example\.net"/);
  });

  test('more than 100 recipients, or none, are refused', async () => {
    const many = Array.from({ length: 101 }, (_, i) => `r${i}@example.net`);
    const tooMany = await post({ recipients: many });
    assert.equal(tooMany.status, 400);
    assert.match(((await tooMany.json()) as { detail: string }).detail, /At most 100 recipients/);
    const hundred = await post({ recipients: many.slice(0, 100) });
    assert.equal(hundred.status, 200);
    assert.equal(((await hundred.json()) as Preview).recipients.length, 100);

    const none = await get('');
    assert.equal(none.status, 400);
    assert.equal((await post({ recipients: [] })).status, 400);
  });

  test('needs the admin API token', async () => {
    assert.equal((await get('?recipient=client@example.net', null)).status, 401);
    assert.equal((await get('?recipient=client@example.net', 'wrong-token-0123456789abcdef')).status, 401);
  });
});
