/**
 * The admin console's members and API tokens against a real gateway over HTTP: who may read and change
 * what, the owner rules, tenant-file rows read-only, field errors, audit entries, a member added in the
 * console signing in with their role (and the directory knowing them at once), a demoted member's open
 * session losing its rights at once, tokens shown once and used against the admin API, expired tokens
 * refused, last use recorded once a minute, and nothing of another tenant reachable.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { apiTokens, members } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { hashApiToken } from '../src/tenants/secrets.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { PortalBrowser, type HttpAnswer } from './support/portal-browser.ts';
import { tokenOf, waitFor } from './support/portal-mail.ts';
import { ACME_API_TOKEN, acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

const FILE_MEMBERS = [
  { email: 'alice@acme.test', role: 'owner' },
  { email: 'otto@acme.test', role: 'operator' },
  { email: 'ann@acme.test', role: 'auditor' },
  { email: 'andy@acme.test', role: 'analyst' },
  { email: 'carol@acme.test', role: 'contact' },
] as const;

interface Member {
  id: string;
  email: string;
  name: string | null;
  role: string;
  source: string;
  entraLinked: boolean;
  changedBy: string | null;
  updatedAt: string | null;
  editable: boolean;
}

describe('admin console: members and API tokens', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let acmeMail: MailPeer;
  let globexMail: MailPeer;
  let acmeId: string;
  const browsers = new Map<string, PortalBrowser>();

  async function signedIn(address: string, options: { mailServer?: MailPeer } = {}): Promise<PortalBrowser> {
    const known = browsers.get(address);
    if (known) return known;
    const mailServer = options.mailServer ?? acmeMail;
    // Each browser from its own loopback address: sign-in links are rate-limited per client address.
    const browser = new PortalBrowser(gateway.httpPort, `127.0.0.${30 + browsers.size}`);
    const start = mailServer.received.length;
    assert.equal((await browser.request('POST', '/api/portal/sign-in', { json: { email: address } })).status, 202);
    const mail = await waitFor(`the sign-in mail to ${address}`, () => mailServer.received.slice(start).find((m) => m.recipients.includes(address)));
    assert.equal((await browser.open(tokenOf(mail))).status, 200);
    browsers.set(address, browser);
    return browser;
  }

  const ok = (answer: HttpAnswer, status = 200) => {
    assert.equal(answer.status, status, answer.body.toString());
    return answer;
  };
  const listMembers = async (browser: PortalBrowser, query = '') => ok(await browser.request('GET', `/api/portal/admin/members${query}`)).json() as { members: Member[]; next?: string };
  const memberOf = async (email: string) => (await listMembers(await signedIn('alice@acme.test'), `?search=${encodeURIComponent(email)}`)).members.find((m) => m.email === email);
  const addMember = (browser: PortalBrowser, body: Record<string, unknown>) => browser.request('POST', '/api/portal/admin/members', { json: body });
  const auditOf = async (action: string) => {
    const answer = ok(await (await signedIn('alice@acme.test')).request('GET', `/api/portal/admin/audit?action=${action}&limit=1000`));
    return (answer.json() as { entries: Array<{ actorAddress: string | null; subjectId: string | null; details: Record<string, unknown> }> }).entries;
  };
  const adminApi = (token: string) => new PortalBrowser(gateway.httpPort).request('GET', '/api/admin/messages?limit=1', { headers: { authorization: `Bearer ${token}` } });

  before(async () => {
    database = await createTestDatabase();
    acmeMail = await MailPeer.start();
    globexMail = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(acmeMail.port, { members: FILE_MEMBERS.map((m) => ({ ...m })) }), globexTenant(globexMail.port)]);
    acmeId = gateway.directory.tenantForDomain('acme.test')!.id;
  });

  after(async () => {
    await gateway.stop();
    await acmeMail.close();
    await globexMail.close();
    await database.cleanup();
  });

  test('every console role reads the member list, by address, with where each member comes from; contacts and strangers do not', async () => {
    for (const address of ['alice@acme.test', 'otto@acme.test', 'ann@acme.test', 'andy@acme.test']) {
      const { members: listed } = await listMembers(await signedIn(address));
      assert.deepEqual(listed.map((m) => m.email), [...FILE_MEMBERS.map((m) => m.email)].sort(), address);
      for (const member of listed) {
        assert.equal(member.source, 'file');
        assert.equal(member.editable, false, 'tenant-file rows are read-only in the console');
        assert.equal(member.entraLinked, false);
      }
    }
    assert.equal((await (await signedIn('carol@acme.test')).request('GET', '/api/portal/admin/members')).status, 403);
    assert.equal((await new PortalBrowser(gateway.httpPort).request('GET', '/api/portal/admin/members')).status, 401);
  });

  test('an operator adds a member; the address is checked for syntax and domain, all wrong fields at once', async () => {
    const operator = await signedIn('otto@acme.test');
    const refused = await addMember(operator, { email: 'nobody@elsewhere.example', role: 'boss', name: 'x'.repeat(201) });
    assert.equal(refused.status, 400);
    const problem = refused.json();
    assert.deepEqual(
      problem.errors.map((e: { field: string; rule: string }) => [e.field, e.rule]),
      [['email', 'foreign-domain'], ['name', 'too-long'], ['role', 'one-of']],
      'every wrong field at once',
    );
    assert.equal(problem.title, 'The member was not changed');
    const foreign = (await addMember(operator, { email: 'nobody@elsewhere.example', role: 'analyst' })).json();
    assert.deepEqual(foreign.errors.map((e: { field: string; rule: string; limit: string }) => [e.field, e.rule, e.limit]), [['email', 'foreign-domain', 'acme.test']]);
    const badSyntax = (await addMember(operator, { email: 'two@@acme.test', role: 'analyst' })).json();
    assert.equal(badSyntax.errors[0].rule, 'address');
    assert.match(badSyntax.errors[0].message, /more than one @/);
    const routed = (await addMember(operator, { email: 'a%b@acme.test', role: 'analyst' })).json();
    assert.equal(routed.errors[0].rule, 'address');
    assert.equal((await addMember(operator, { role: 'analyst' })).json().errors[0].field, 'email');
    assert.equal((await addMember(operator, { email: { at: 'acme.test' }, role: 'analyst' })).json().errors[0].rule, 'type');
    const sneaky = ok(await addMember(operator, { email: 'sneaky@acme.test', role: 'contact', source: 'file' }), 201).json() as Member;
    assert.deepEqual([sneaky.source, sneaky.editable], ['console', true], 'a console member is the console\'s, whatever the request says');

    const added = ok(await addMember(operator, { email: '  Nora@ACME.test ', name: 'Nora North', role: 'analyst' }), 201).json() as Member;
    assert.deepEqual(
      [added.email, added.name, added.role, added.source, added.editable, added.changedBy],
      ['nora@acme.test', 'Nora North', 'analyst', 'console', true, 'otto@acme.test'],
    );
    const twice = (await addMember(operator, { email: 'nora@acme.test', role: 'contact' })).json();
    assert.deepEqual(twice.errors.map((e: { field: string; rule: string }) => [e.field, e.rule]), [['email', 'duplicate']]);
    const fileTwice = (await addMember(operator, { email: 'alice@acme.test', role: 'contact' })).json();
    assert.equal(fileTwice.errors[0].rule, 'duplicate', 'a file member is not added again');

    const [entry] = await auditOf('member_added');
    assert.equal(entry!.actorAddress, 'otto@acme.test');
    assert.equal(entry!.subjectId, added.id);
    assert.deepEqual(entry!.details, { email: 'nora@acme.test', role: 'analyst', name: 'Nora North' });
  });

  test('a member added in the console is in the directory at once, signs in with the role, and reads what the role reads', async () => {
    const tenant = () => gateway.directory.tenantById(acmeId)!;
    assert.deepEqual(
      tenant().members.find((m) => m.email === 'nora@acme.test'),
      { email: 'nora@acme.test', role: 'analyst', name: 'Nora North' },
      'no restart and no periodic refresh needed',
    );
    const nora = await signedIn('nora@acme.test');
    assert.equal(ok(await nora.request('GET', '/api/portal/session')).json().role, 'analyst');
    assert.equal((await nora.request('GET', '/api/portal/admin/storage')).status, 200);
    assert.equal((await nora.request('GET', '/api/portal/admin/members')).status, 200);
    assert.equal((await nora.request('GET', '/api/portal/admin/tokens')).status, 200);
    assert.equal((await addMember(nora, { email: 'x@acme.test', role: 'contact' })).status, 403, 'analysts only read');
  });

  test('changing a role is audited old → new, reaches the directory and the member\'s open session at once', async () => {
    const alice = await signedIn('alice@acme.test');
    const nora = (await memberOf('nora@acme.test'))!;
    const changed = ok(await alice.request('PATCH', `/api/portal/admin/members/${nora.id}`, { json: { role: 'operator', name: 'Nora N.' } })).json() as Member;
    assert.deepEqual([changed.role, changed.name, changed.changedBy], ['operator', 'Nora N.', 'alice@acme.test']);
    assert.ok(changed.updatedAt);
    assert.equal(gateway.directory.tenantById(acmeId)!.members.find((m) => m.email === 'nora@acme.test')!.role, 'operator');
    const noraBrowser = await signedIn('nora@acme.test');
    assert.equal(ok(await noraBrowser.request('GET', '/api/portal/session')).json().role, 'operator', 'the open session has the new role');
    const [entry] = await auditOf('member_changed');
    assert.deepEqual(entry!.details, { email: 'nora@acme.test', changes: { role: { from: 'analyst', to: 'operator' }, name: { from: 'Nora North', to: 'Nora N.' } } });

    // Demoted, her open session loses the right to change members with the next request.
    ok(await alice.request('PATCH', `/api/portal/admin/members/${nora.id}`, { json: { role: 'contact' } }));
    assert.equal((await addMember(noraBrowser, { email: 'y@acme.test', role: 'contact' })).status, 403);
    ok(await alice.request('PATCH', `/api/portal/admin/members/${nora.id}`, { json: { role: 'operator' } }));
  });

  test('only an owner makes, changes or removes an owner; nobody changes their own role; the last owner stays', async () => {
    const alice = await signedIn('alice@acme.test');
    const operator = await signedIn('otto@acme.test');
    const nora = (await memberOf('nora@acme.test'))!;

    const byOperator = await addMember(operator, { email: 'olga@acme.test', role: 'owner' });
    assert.equal(byOperator.status, 403);
    assert.match(byOperator.json().detail, /Only an owner may make someone an owner/);
    assert.equal((await operator.request('PATCH', `/api/portal/admin/members/${nora.id}`, { json: { role: 'owner' } })).status, 403);

    // Olga, an owner made in the console by the file's owner.
    const olga = ok(await addMember(alice, { email: 'olga@acme.test', role: 'owner' }), 201).json() as Member;
    assert.equal((await operator.request('PATCH', `/api/portal/admin/members/${olga.id}`, { json: { name: 'Olga' } })).status, 403, 'an operator changes no owner');
    assert.equal((await operator.request('DELETE', `/api/portal/admin/members/${olga.id}`)).status, 403, 'an operator removes no owner');

    const olgaBrowser = await signedIn('olga@acme.test');
    const self = await olgaBrowser.request('PATCH', `/api/portal/admin/members/${olga.id}`, { json: { role: 'operator' } });
    assert.equal(self.status, 403);
    assert.match(self.json().detail, /own role/);
    assert.equal((await olgaBrowser.request('DELETE', `/api/portal/admin/members/${olga.id}`)).status, 403, 'nobody removes themselves');
    ok(await olgaBrowser.request('PATCH', `/api/portal/admin/members/${olga.id}`, { json: { name: 'Olga Owner' } }), 200);

    // Two owners demoting each other at the same moment: Olga demotes Peter while Peter's request, which
    // read his session as an owner's before her change, demotes her. The member lock takes them one after
    // the other, and the second finds Olga the last owner (with alice's file row out of the way).
    const owner = ownerDb(gateway.database.db);
    const memberRole = (email: string, role: string) =>
      owner.update(members).set({ role }).where(sql`${members.tenantId} = ${acmeId} and ${members.email} = ${email}`);
    await memberRole('alice@acme.test', 'operator');
    try {
      const peter = ok(await addMember(olgaBrowser, { email: 'peter@acme.test', role: 'owner' }), 201).json() as Member;
      const peterBrowser = await signedIn('peter@acme.test');
      ok(await olgaBrowser.request('PATCH', `/api/portal/admin/members/${peter.id}`, { json: { role: 'operator' } }));
      assert.equal((await peterBrowser.request('PATCH', `/api/portal/admin/members/${olga.id}`, { json: { role: 'operator' } })).status, 403, 'his session is an operator\'s now');
      await owner.execute(sql`update portal_sessions set role = 'owner' where tenant_id = ${acmeId} and address = 'peter@acme.test'`);
      const lastDemotion = await peterBrowser.request('PATCH', `/api/portal/admin/members/${olga.id}`, { json: { role: 'operator' } });
      assert.equal(lastDemotion.status, 409);
      assert.match(lastDemotion.json().detail, /last owner/);
      assert.equal((await peterBrowser.request('DELETE', `/api/portal/admin/members/${olga.id}`)).status, 409);
      assert.equal((await memberOf('olga@acme.test'))!.role, 'owner');
    } finally {
      await memberRole('alice@acme.test', 'owner');
    }
  });

  test('members and tokens of the tenant file cannot be changed or removed in the console, and say so', async () => {
    const alice = await signedIn('alice@acme.test');
    const andy = (await memberOf('andy@acme.test'))!;
    for (const [method, body] of [['PATCH', { role: 'operator' }], ['PATCH', { name: 'Andy' }], ['DELETE', undefined]] as const) {
      const answer = await alice.request(method, `/api/portal/admin/members/${andy.id}`, body ? { json: body } : {});
      assert.equal(answer.status, 409, `${method} ${JSON.stringify(body)}`);
      assert.match(answer.json().detail, /tenant file/);
    }
    const { tokens } = ok(await alice.request('GET', '/api/portal/admin/tokens')).json();
    const fileToken = tokens.find((t: { name: string }) => t.name === 'tests');
    assert.deepEqual([fileToken.source, fileToken.editable, fileToken.hint], ['file', false, ACME_API_TOKEN.slice(0, 8)]);
    const revoke = await alice.request('DELETE', `/api/portal/admin/tokens/${fileToken.id}`);
    assert.equal(revoke.status, 409);
    assert.match(revoke.json().detail, /tenant file/);
    assert.equal((await adminApi(ACME_API_TOKEN)).status, 200, 'and it still works');
  });

  test('removing a member is audited, takes the console from their open session and drops them from the directory', async () => {
    const alice = await signedIn('alice@acme.test');
    const nora = (await memberOf('nora@acme.test'))!;
    const noraBrowser = await signedIn('nora@acme.test');
    assert.equal((await noraBrowser.request('GET', '/api/portal/admin/members')).status, 200);
    assert.equal((await alice.request('DELETE', `/api/portal/admin/members/${nora.id}`)).status, 204);
    assert.equal(await memberOf('nora@acme.test'), undefined);
    assert.equal(gateway.directory.tenantById(acmeId)!.members.some((m) => m.email === 'nora@acme.test'), false);
    assert.equal((await noraBrowser.request('GET', '/api/portal/admin/members')).status, 403, 'her session is a contact\'s now');
    assert.equal((await alice.request('DELETE', `/api/portal/admin/members/${nora.id}`)).status, 404);
    assert.equal((await alice.request('DELETE', '/api/portal/admin/members/not-a-uuid')).status, 404);
    const [entry] = await auditOf('member_removed');
    assert.deepEqual([entry!.subjectId, entry!.details.email, entry!.details.role], [nora.id, 'nora@acme.test', 'operator']);
  });

  test('the member list is searched by address or name and paged by address', async () => {
    const alice = await signedIn('alice@acme.test');
    for (let i = 0; i < 7; i += 1) ok(await addMember(alice, { email: `pager${i}@acme.test`, name: i === 3 ? 'Percy 100%' : null, role: 'contact' }), 201);
    const first = await listMembers(alice, '?search=PAGER&limit=3');
    assert.deepEqual(first.members.map((m) => m.email), ['pager0@acme.test', 'pager1@acme.test', 'pager2@acme.test']);
    const second = await listMembers(alice, `?search=pager&limit=3&after=${encodeURIComponent(first.next!)}`);
    const third = await listMembers(alice, `?search=pager&limit=3&after=${encodeURIComponent(second.next!)}`);
    assert.deepEqual(second.members.map((m) => m.email), ['pager3@acme.test', 'pager4@acme.test', 'pager5@acme.test']);
    assert.deepEqual(third.members.map((m) => m.email), ['pager6@acme.test']);
    assert.equal(third.next, undefined);
    assert.deepEqual((await listMembers(alice, '?search=percy')).members.map((m) => m.email), ['pager3@acme.test'], 'by name too');
    assert.deepEqual((await listMembers(alice, `?search=${encodeURIComponent('100%')}`)).members.length, 1);
    assert.deepEqual((await listMembers(alice, `?search=${encodeURIComponent('%')}`)).members.length, 1, '% is a character, not a pattern');
  });

  test('a token is made, shown once, stored hashed, used against the admin API, its use recorded once a minute, and revoked', async () => {
    const operator = await signedIn('otto@acme.test');
    const badName = (await operator.request('POST', '/api/portal/admin/tokens', { json: { name: '  ', expiresInDays: 0 } })).json();
    assert.deepEqual(badName.errors.map((e: { field: string; rule: string }) => [e.field, e.rule]), [['name', 'required'], ['expiresInDays', 'minimum']]);
    const badType = (await operator.request('POST', '/api/portal/admin/tokens', { json: { name: 'x', expiresInDays: 'soon' } })).json();
    assert.deepEqual(badType.errors.map((e: { field: string; rule: string }) => [e.field, e.rule]), [['expiresInDays', 'type']]);
    assert.equal((await operator.request('POST', '/api/portal/admin/tokens', { json: { name: 'tests' } })).json().errors[0].rule, 'duplicate');

    const created = ok(await operator.request('POST', '/api/portal/admin/tokens', { json: { name: 'Backup script', expiresInDays: 30 } }), 201).json();
    assert.match(created.token, /^spk_[A-Za-z0-9_-]{32}$/);
    assert.equal(created.apiToken.hint, created.token.slice(0, 8));
    assert.deepEqual([created.apiToken.source, created.apiToken.createdBy, created.apiToken.lastUsedAt, created.apiToken.expired], ['console', 'otto@acme.test', null, false]);
    const expiresIn = Date.parse(created.apiToken.expiresAt) - Date.now();
    assert.ok(Math.abs(expiresIn - 30 * 24 * 3600_000) < 60_000, 'thirty days from now');

    const [stored] = await ownerDb(gateway.database.db).select().from(apiTokens).where(eq(apiTokens.id, created.apiToken.id));
    assert.equal(stored!.tokenHash, hashApiToken(created.token));
    const listedText = (await operator.request('GET', '/api/portal/admin/tokens')).body.toString();
    assert.ok(!listedText.includes(created.token), 'the list never holds the token');
    const auditText = JSON.stringify(await auditOf('api_token_created'));
    assert.ok(auditText.includes('Backup script') && !auditText.includes(created.token), 'the audit names the token, never holds it');

    assert.equal((await adminApi(created.token)).status, 200);
    const listed = () => operator.request('GET', '/api/portal/admin/tokens').then((a) => a.json().tokens.find((t: { id: string }) => t.id === created.apiToken.id));
    const firstUse = (await listed()).lastUsedAt;
    assert.ok(firstUse, 'the first use is recorded');
    assert.equal((await adminApi(created.token)).status, 200);
    assert.equal((await listed()).lastUsedAt, firstUse, 'a second use within the minute writes nothing');

    assert.equal((await operator.request('DELETE', `/api/portal/admin/tokens/${created.apiToken.id}`)).status, 204);
    const refused = await adminApi(created.token);
    assert.equal(refused.status, 401, 'a revoked token is refused at once');
    assert.equal(refused.json().title, 'The API token is not valid');
    const [revoked] = await auditOf('api_token_revoked');
    assert.deepEqual([revoked!.actorAddress, revoked!.details.name, revoked!.details.hint], ['otto@acme.test', 'Backup script', created.apiToken.hint]);
    assert.ok(!JSON.stringify(revoked).includes(created.token));
  });

  test('an expired token is refused with a 401 that says it expired, and its use is not recorded', async () => {
    const alice = await signedIn('alice@acme.test');
    const created = ok(await alice.request('POST', '/api/portal/admin/tokens', { json: { name: 'Short-lived', expiresInDays: 1 } }), 201).json();
    // A day is long for a test: the expiry is moved to a second ago.
    await ownerDb(gateway.database.db).update(apiTokens).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(apiTokens.id, created.apiToken.id));
    for (let i = 0; i < 2; i += 1) {
      const answer = await adminApi(created.token);
      assert.equal(answer.status, 401);
      assert.equal(answer.json().title, 'The API token has expired');
      assert.match(answer.json().detail, /expired on \d{4}-\d{2}-\d{2}T.*Make a new one in the admin console/);
      assert.match(String(answer.headers['www-authenticate']), /error="invalid_token"/);
    }
    const listed = ok(await alice.request('GET', '/api/portal/admin/tokens')).json().tokens.find((t: { id: string }) => t.id === created.apiToken.id);
    assert.deepEqual([listed.expired, listed.lastUsedAt], [true, null], 'the console marks it expired; a refused use is no use');
  });

  test('analysts read the token list, auditors and contacts do not; only owners and operators make or revoke tokens', async () => {
    const expectations: Array<[string, number, number]> = [
      ['alice@acme.test', 200, 201],
      ['otto@acme.test', 200, 201],
      ['andy@acme.test', 200, 403],
      ['ann@acme.test', 403, 403],
      ['carol@acme.test', 403, 403],
    ];
    for (const [address, read, create] of expectations) {
      const browser = await signedIn(address);
      assert.equal((await browser.request('GET', '/api/portal/admin/tokens')).status, read, `${address} reads`);
      assert.equal((await browser.request('POST', '/api/portal/admin/tokens', { json: { name: `by ${address}` } })).status, create, `${address} makes`);
    }
    const alice = await signedIn('alice@acme.test');
    const withoutCsrf = new PortalBrowser(gateway.httpPort, alice.localAddress);
    withoutCsrf.cookies = new Map(alice.cookies);
    assert.equal((await withoutCsrf.request('POST', '/api/portal/admin/tokens', { json: { name: 'no csrf' } })).status, 403, 'state changes need the CSRF header');
  });

  test("another tenant's owner reaches none of this tenant's members or tokens", async () => {
    const gina = await signedIn('gina@globex.test', { mailServer: globexMail });
    assert.deepEqual((await listMembers(gina)).members.map((m) => m.email), ['gina@globex.test']);
    const acmeMember = (await memberOf('otto@acme.test'))!;
    const acmeTokens = ok(await (await signedIn('alice@acme.test')).request('GET', '/api/portal/admin/tokens')).json().tokens as Array<{ id: string; source: string }>;
    const consoleToken = acmeTokens.find((t) => t.source === 'console')!;
    assert.equal((await gina.request('PATCH', `/api/portal/admin/members/${acmeMember.id}`, { json: { name: 'Hijacked' } })).status, 404);
    assert.equal((await gina.request('DELETE', `/api/portal/admin/members/${acmeMember.id}`)).status, 404);
    assert.equal((await gina.request('DELETE', `/api/portal/admin/tokens/${consoleToken.id}`)).status, 404);
    assert.deepEqual(ok(await gina.request('GET', '/api/portal/admin/tokens')).json().tokens, []);
    const foreign = (await addMember(gina, { email: 'intruder@acme.test', role: 'owner' })).json();
    assert.equal(foreign.errors[0].rule, 'foreign-domain', 'nobody adds members to a domain of another tenant');
    assert.equal((await memberOf('otto@acme.test'))!.name, null);
  });
});
