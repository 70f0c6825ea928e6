import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { auditLog, members, portalSessions } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { LocalEntraIssuer } from './support/local-entra-issuer.ts';
import { MailPeer } from './support/mail-peer.ts';
import { PortalBrowser } from './support/portal-browser.ts';
import { tokenOf } from './support/portal-mail.ts';
import { acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

const APP_ID = '6f1c2a9e-8d51-4b7a-9c33-0f2d7e5a1b10';
const ACME_ENTRA = '3b2f8c1d-4e5a-4f60-8a7b-9c0d1e2f3a4b';
const FOREIGN_ENTRA = 'aa11bb22-cc33-4d44-8e55-ff6677889900';
const ANALYSTS_GROUP = '5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c';
const SIGN_IN = '/api/portal/entra-sign-in';

describe('portal sign-in with the organisation account (Entra ID)', () => {
  let database: TestDatabase;
  let issuer: LocalEntraIssuer;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let acmeId: string;
  /** Each test signs in from its own loopback address, so the per-IP limits of one do not touch another. */
  let nextIp = 10;
  const oids = new Map<string, string>();
  const oidOf = (address: string) => {
    if (!oids.has(address)) oids.set(address, randomUUID());
    return oids.get(address)!;
  };

  const browser = () => new PortalBrowser(gateway.httpPort, `127.0.0.${nextIp++}`);

  /** Starts a sign-in in this browser: the nonce the gateway signed (its binding cookie stays in the browser). */
  async function start(b: PortalBrowser, address: string): Promise<string> {
    const answer = await b.request('GET', `${SIGN_IN}?address=${encodeURIComponent(address)}`);
    assert.equal(answer.status, 200, answer.body.toString());
    const body = answer.json();
    assert.equal(body.applicationId, APP_ID);
    assert.equal(body.authority, `${issuer.url}/${ACME_ENTRA}`);
    return body.nonce;
  }

  function idToken(address: string, nonce: string, overrides: Record<string, unknown> = {}, options: Parameters<LocalEntraIssuer['sign']>[1] = {}): string {
    const claims = issuer.claims({ tid: ACME_ENTRA, oid: oidOf(address), aud: APP_ID, email: address }, { nonce, name: address, ...overrides });
    delete claims.scp;
    return issuer.sign(claims, options);
  }

  async function complete(b: PortalBrowser, token: string) {
    const answer = await b.request('POST', SIGN_IN, { json: { idToken: token } });
    if (answer.status === 200) b.csrf = answer.json().session.csrfToken;
    return answer;
  }

  /** A whole sign-in: start, token, completion. */
  async function signIn(address: string, overrides: Record<string, unknown> = {}) {
    const b = browser();
    const nonce = await start(b, address);
    const answer = await complete(b, idToken(address, nonce, overrides));
    return { b, answer };
  }

  async function failures(address: string) {
    return ownerDb(gateway.database.db)
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, acmeId), eq(auditLog.action, 'sign_in_failed'), eq(auditLog.actorAddress, address)));
  }

  let admin: PortalBrowser | undefined;
  /** Changes the settings as the owner, signed in once with Entra ID. */
  async function changeSettings(change: Record<string, unknown>) {
    if (!admin) {
      const { b, answer } = await signIn('alice@acme.test');
      assert.equal(answer.status, 200);
      admin = b;
    }
    return admin.request('PATCH', '/api/portal/admin/settings', { json: change });
  }

  before(async () => {
    database = await createTestDatabase();
    issuer = await LocalEntraIssuer.start();
    tenantMailServer = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(tenantMailServer.port, {
          members: [
            { email: 'alice@acme.test', role: 'owner' },
            { email: 'anna@acme.test', role: 'analyst' },
            { email: 'audrey@acme.test', role: 'auditor' },
            { email: 'carol@acme.test', role: 'contact' },
          ],
          entra: {
            applicationId: APP_ID,
            tenantIds: [ACME_ENTRA],
            portalSignIn: {
              appRoles: { 'Sealpost.Operator': 'operator', 'Sealpost.Auditor': 'auditor' },
              groups: { [ANALYSTS_GROUP]: 'analyst' },
            },
          },
        }),
        globexTenant(tenantMailServer.port),
      ],
      { SEALPOST_ENTRA_AUTHORITY: issuer.url },
    );
    acmeId = gateway.directory.allTenants().find((t) => t.name === 'Acme')!.id;
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await issuer.close();
    await database.cleanup();
  });

  test('an owner signs in with Entra ID and the session works for the console, recorded as an Entra sign-in', async () => {
    const { b, answer } = await signIn('alice@acme.test');
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(answer.json().session.role, 'owner');
    assert.equal(answer.json().session.address, 'alice@acme.test');
    const cookies = ([] as string[]).concat(answer.headers['set-cookie'] ?? []);
    assert.ok(cookies.some((c) => c.startsWith('sealpost_session=') && /HttpOnly; SameSite=Strict/.test(c)), 'the same session cookie as a magic link');
    assert.ok(!b.cookies.has('sealpost_entra_binding'), 'the sign-in binding is cleared');

    const audit = await b.request('GET', '/api/portal/admin/audit/verify');
    assert.equal(audit.status, 200, 'an owner reads the audit log');
    const settings = await b.request('PATCH', '/api/portal/admin/settings', { json: { sessionTtlMinutes: 480 } });
    assert.equal(settings.status, 200, 'and changes settings with the CSRF token of the session');

    const [session] = await ownerDb(gateway.database.db).select().from(portalSessions).where(eq(portalSessions.csrfToken, b.csrf));
    assert.equal(session?.signInMethod, 'entra');
    const [member] = await ownerDb(gateway.database.db).select().from(members).where(eq(members.email, 'alice@acme.test'));
    assert.equal(member?.entraObjectId, oidOf('alice@acme.test'), 'the member is remembered by object id');
    const [entry] = await ownerDb(gateway.database.db)
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, acmeId), eq(auditLog.action, 'signed_in'), eq(auditLog.actorId, session!.id)));
    assert.equal((entry?.details as { channel?: string }).channel, 'entra');
  });

  test('roles come from the member list when Entra gives none: an analyst and an auditor see what their role allows', async () => {
    const analyst = await signIn('anna@acme.test');
    assert.equal(analyst.answer.json().session.role, 'analyst');
    assert.equal((await analyst.b.request('GET', '/api/portal/admin/storage')).status, 200, 'analysts see storage');
    assert.equal((await analyst.b.request('GET', '/api/portal/admin/audit/verify')).status, 403, 'but not the audit log');
    const auditor = await signIn('audrey@acme.test');
    assert.equal(auditor.answer.json().session.role, 'auditor');
    assert.equal((await auditor.b.request('GET', '/api/portal/admin/audit/verify')).status, 200);
    assert.equal((await auditor.b.request('PATCH', '/api/portal/admin/settings', { json: { sessionTtlMinutes: 60 } })).status, 403, 'auditors change nothing');
  });

  test('an app role decides the role for that sign-in, the highest of several wins, and a group maps too', async () => {
    const operator = await signIn('carol@acme.test', { roles: ['Sealpost.Auditor', 'Sealpost.Operator', 'Unmapped'] });
    assert.equal(operator.answer.json().session.role, 'operator', 'the contact in the list is an operator by app role');
    const grouped = await signIn('audrey@acme.test', { groups: [ANALYSTS_GROUP.toUpperCase(), randomUUID()] });
    assert.equal(grouped.answer.json().session.role, 'analyst', 'the group decides over the member list');
  });

  test('an address not in the member list that gets a role from Entra joins the list as an Entra member, audited', async () => {
    const { answer } = await signIn('olga@acme.test', { roles: ['Sealpost.Operator'] });
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(answer.json().session.role, 'operator');
    const [member] = await ownerDb(gateway.database.db).select().from(members).where(eq(members.email, 'olga@acme.test'));
    assert.equal(member?.source, 'entra');
    assert.equal(member?.role, 'operator');
    const added = await ownerDb(gateway.database.db)
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, acmeId), eq(auditLog.action, 'member_added')));
    assert.ok(added.some((e) => (e.details as { address?: string }).address === 'olga@acme.test'));
  });

  test('an address of the domains that is no member signs in as Contact, and not at all once unlistedAsContact is off', async () => {
    const contact = await signIn('zoe@acme.test');
    assert.equal(contact.answer.json().session.role, 'contact');
    assert.equal((await contact.b.request('GET', '/api/portal/admin/storage')).status, 403, 'a contact has no console');
    const [member] = await ownerDb(gateway.database.db).select().from(members).where(eq(members.email, 'zoe@acme.test'));
    assert.equal(member, undefined, 'a contact without a role from Entra is not added');

    assert.equal((await changeSettings({ unlistedAsContact: false })).status, 200);
    try {
      const refused = await signIn('zack@acme.test');
      assert.equal(refused.answer.status, 403);
      assert.equal(refused.answer.json().type, 'urn:sealpost:problem:not-a-member');
      assert.equal((await failures('zack@acme.test')).length, 1, 'the refusal is audited');
      const member = await signIn('carol@acme.test');
      assert.equal(member.answer.json().session.role, 'contact', 'a listed contact still signs in');
    } finally {
      assert.equal((await changeSettings({ unlistedAsContact: null })).status, 200);
    }
  });

  test('a forged signature, another audience, another Entra tenant, an expired token and a wrong issuer are each refused and audited', async () => {
    const cases: Array<{ name: string; address: string; make: (nonce: string) => string; status: number; type: string; reason?: string }> = [
      { name: 'forged', address: 'alice@acme.test', make: (n) => idToken('alice@acme.test', n, {}, { foreignKey: true }), status: 401, type: 'organisation-sign-in-failed', reason: 'bad_signature' },
      { name: 'hmac', address: 'alice@acme.test', make: (n) => idToken('alice@acme.test', n, {}, { alg: 'HS256' }), status: 401, type: 'organisation-sign-in-failed', reason: 'bad_signature' },
      { name: 'audience', address: 'anna@acme.test', make: (n) => idToken('anna@acme.test', n, { aud: randomUUID() }), status: 401, type: 'organisation-sign-in-failed', reason: 'wrong_audience' },
      {
        name: 'access token audience',
        address: 'anna@acme.test',
        make: (n) => idToken('anna@acme.test', n, { aud: `api://${APP_ID}` }),
        status: 401,
        type: 'organisation-sign-in-failed',
        reason: 'wrong_audience',
      },
      {
        name: 'foreign tenant',
        address: 'audrey@acme.test',
        make: (n) => issuer.sign(issuer.claims({ tid: FOREIGN_ENTRA, oid: randomUUID(), aud: APP_ID, email: 'audrey@acme.test' }, { nonce: n })),
        status: 403,
        type: 'organisation-not-allowed',
      },
      {
        name: 'expired',
        address: 'carol@acme.test',
        make: (n) => idToken('carol@acme.test', n, { exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200, nbf: Math.floor(Date.now() / 1000) - 7200 }),
        status: 401,
        type: 'organisation-sign-in-failed',
        reason: 'expired',
      },
      { name: 'issuer', address: 'carol@acme.test', make: (n) => idToken('carol@acme.test', n, { iss: `https://evil.test/${ACME_ENTRA}/v2.0` }), status: 401, type: 'organisation-sign-in-failed', reason: 'wrong_issuer' },
      { name: 'no iat', address: 'carol@acme.test', make: (n) => idToken('carol@acme.test', n, { iat: undefined }), status: 401, type: 'organisation-sign-in-failed', reason: 'malformed' },
    ];
    for (const c of cases) {
      const before = (await failures(c.address)).length;
      const b = browser();
      const answer = await complete(b, c.make(await start(b, c.address)));
      assert.equal(answer.status, c.status, `${c.name}: ${answer.body.toString()}`);
      assert.equal(answer.headers['content-type'], 'application/problem+json; charset=utf-8', c.name);
      const problem = answer.json();
      assert.equal(problem.type, `urn:sealpost:problem:${c.type}`, c.name);
      if (c.reason) assert.equal(problem.reason, c.reason, c.name);
      assert.ok(problem.detail, `${c.name}: the problem says what to do`);
      assert.equal((await failures(c.address)).length, before + 1, `${c.name}: audited as a failed sign-in`);
      assert.equal(b.cookies.get('sealpost_session'), undefined, `${c.name}: no session`);
    }
  });

  test('a nonce from another browser, a changed nonce, a forged nonce and a replayed token are refused', async () => {
    // Started in one browser, completed in another: the binding cookie is missing.
    const first = browser();
    const nonce = await start(first, 'alice@acme.test');
    const other = browser();
    const stolen = await complete(other, idToken('alice@acme.test', nonce));
    assert.equal(stolen.status, 401);
    assert.equal(stolen.json().reason, 'nonce_mismatch');

    // A nonce this gateway never signed.
    const forged = await complete(first, idToken('alice@acme.test', `${nonce.slice(0, -4)}AAAA`));
    assert.equal(forged.json().reason, 'nonce_mismatch');
    const none = await complete(first, idToken('alice@acme.test', ''));
    assert.equal(none.json().reason, 'nonce_mismatch');

    // The genuine token once, then again.
    const token = idToken('alice@acme.test', nonce);
    assert.equal((await complete(first, token)).status, 200);
    // The binding cookie is cleared by a success; put back, as by someone who copied it, the token still counts once.
    const replayBrowser = browser();
    const replayNonce = await start(replayBrowser, 'anna@acme.test');
    const replayToken = idToken('anna@acme.test', replayNonce);
    const binding = replayBrowser.cookies.get('sealpost_entra_binding')!;
    assert.equal((await complete(replayBrowser, replayToken)).status, 200);
    replayBrowser.cookies.set('sealpost_entra_binding', binding);
    const replayed = await complete(replayBrowser, replayToken);
    assert.equal(replayed.status, 401);
    assert.equal(replayed.json().reason, 'replayed');
    assert.ok((await failures('anna@acme.test')).some((e) => (e.details as { reason?: string }).reason === 'replayed'), 'the replay is audited');
  });

  test('an account outside the organisation\'s domains is refused, and so is an address bound to another Entra account', async () => {
    const b = browser();
    const nonce = await start(b, 'alice@acme.test');
    const outside = await complete(b, idToken('mallory@evil.test', nonce));
    assert.equal(outside.status, 403);
    assert.equal(outside.json().type, 'urn:sealpost:problem:not-a-member');
    assert.match(outside.json().detail, /acme\.test/);

    await signIn('alice@acme.test');
    const c = browser();
    const impostorNonce = await start(c, 'alice@acme.test');
    oids.set('impostor', randomUUID());
    const impostor = issuer.sign(issuer.claims({ tid: ACME_ENTRA, oid: oids.get('impostor')!, aud: APP_ID, email: 'alice@acme.test' }, { nonce: impostorNonce }));
    const refused = await complete(c, impostor);
    assert.equal(refused.status, 403);
    assert.equal(refused.json().type, 'urn:sealpost:problem:not-a-member');
  });

  test('a tenant without Entra ID offers no organisation sign-in', async () => {
    const answer = await browser().request('GET', `${SIGN_IN}?address=gina@globex.test`);
    assert.equal(answer.status, 403);
    assert.equal(answer.json().type, 'urn:sealpost:problem:organisation-sign-in-unavailable');
    const unknown = await browser().request('GET', `${SIGN_IN}?address=someone@nowhere.test`);
    assert.equal(unknown.status, 403);
    const malformed = await browser().request('GET', `${SIGN_IN}?address=not-an-address`);
    assert.equal(malformed.status, 400);
    const garbage = await browser().request('POST', SIGN_IN, { json: { idToken: 'not.a.token' } });
    assert.equal(garbage.status, 401);
  });

  test('starting sign-ins is rate-limited per client IP', async () => {
    const b = browser();
    const statuses: number[] = [];
    for (let i = 0; i < 62; i += 1) statuses.push((await b.request('GET', `${SIGN_IN}?address=alice@acme.test`)).status);
    assert.deepEqual([...new Set(statuses.slice(0, 60))], [200]);
    assert.equal(statuses[61], 429);
  });

  test('magicLinkForAdmins needs Entra ID, and once off a sign-in link no longer opens the console for an admin', async () => {
    // Globex has no Entra ID: the setting cannot be turned off there.
    const ginaStart = tenantMailServer.received.length;
    const gina = new PortalBrowser(gateway.httpPort, `127.0.0.${nextIp++}`);
    await gina.request('POST', '/api/portal/sign-in', { json: { email: 'gina@globex.test' } });
    const ginaMail = (await tenantMailServer.waitForMessages(ginaStart + 1)).slice(ginaStart).find((m) => m.recipients.includes('gina@globex.test'))!;
    assert.equal((await gina.open(tokenOf(ginaMail))).status, 200);
    const refused = await gina.request('PATCH', '/api/portal/admin/settings', { json: { magicLinkForAdmins: false } });
    assert.equal(refused.status, 400);
    assert.deepEqual(
      refused.json().errors.map((e: { field: string; rule: string }) => [e.field, e.rule]),
      [['magicLinkForAdmins', 'needs-organisation-sign-in']],
    );

    assert.equal((await changeSettings({ magicLinkForAdmins: false })).status, 200);
    try {
      const linkFor = async (address: string) => {
        const startCount = tenantMailServer.received.length;
        const b = new PortalBrowser(gateway.httpPort, `127.0.0.${nextIp++}`);
        assert.equal((await b.request('POST', '/api/portal/sign-in', { json: { email: address } })).status, 202);
        const mail = (await tenantMailServer.waitForMessages(startCount + 1)).slice(startCount).find((m) => m.recipients.includes(address))!;
        return { b, answer: await b.open(tokenOf(mail)) };
      };
      const admin = await linkFor('alice@acme.test');
      assert.equal(admin.answer.status, 403);
      assert.equal(admin.answer.json().type, 'urn:sealpost:problem:organisation-sign-in-required');
      assert.match(admin.answer.json().detail, /organisation account/);
      assert.ok((await failures('alice@acme.test')).some((e) => (e.details as { channel?: string }).channel === 'magic-link'));
      const contact = await linkFor('carol@acme.test');
      assert.equal(contact.answer.status, 200, 'a contact still signs in with a link');
      const entra = await signIn('alice@acme.test');
      assert.equal(entra.answer.json().session.role, 'owner', 'the organisation sign-in is the way to the console');
    } finally {
      assert.equal((await changeSettings({ magicLinkForAdmins: null })).status, 200);
    }
    const settingsAudit = await ownerDb(gateway.database.db)
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, acmeId), eq(auditLog.action, 'portal_settings_changed')));
    assert.ok(
      settingsAudit.some((e) => (e.details as { changes: Array<{ field: string; to: unknown }> }).changes.some((c) => c.field === 'magicLinkForAdmins' && c.to === false)),
      'the change is audited',
    );
  });

  test('the settings are read with their defaults and refuse a value that is not true or false', async () => {
    const { b, answer } = await signIn('audrey@acme.test');
    assert.equal(answer.status, 200, answer.body.toString());
    const settings = (await b.request('GET', '/api/portal/admin/settings')).json();
    assert.equal(settings.unlistedAsContact, true);
    assert.equal(settings.magicLinkForAdmins, true);
    const wrong = await changeSettings({ unlistedAsContact: 'no' });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json().errors[0].field, 'unlistedAsContact');
  });
});
