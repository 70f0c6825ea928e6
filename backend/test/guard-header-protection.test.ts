/**
 * Header protection (module `headers`): From names that impersonate a tenant's members, sender domains
 * that look like the tenant's or a partner's, and the Reply-To check as part of the same module.
 * Every case is a whole message run through the guard runner with the tenant as the directory knows it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { domainToASCII } from 'node:url';
import { eq } from 'drizzle-orm';
import { messages } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { HEADER_PROTECTION_SCORES, headerProtectionCheck } from '../src/guard/checks/header-protection.ts';
import { replyToDomainCheck } from '../src/guard/checks/reply-to-domain.ts';
import type { GuardFinding, GuardInput, GuardTenant } from '../src/guard/contract.ts';
import type { PolicySettings } from '../src/guard-policy-settings.ts';
import { DEFAULT_GUARD_POLICY, resolveGuardPolicy, type GuardPolicy } from '../src/guard/policy.ts';
import { createGuardRunner } from '../src/guard/runner.ts';
import { crlf, guardInput, headers } from './support/crafted-mail.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation, simpleMessage } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';
import { waitFor } from './support/portal-mail.ts';

const ACME: GuardTenant = {
  id: 'tenant-1',
  name: 'Acme',
  domains: ['acme.test', 'conbool.com'],
  members: [
    { email: 'anna.schmidt@acme.test', name: 'Anna Schmidt' },
    { email: 'jose@acme.test', name: 'José Müller-Lüdenscheidt' },
    { email: 'ceo@acme.test', name: 'Pat Boss' },
    { email: 'karl.weber@acme.test' },
    { email: 'info@acme.test' },
  ],
};

function runnerWith(policy: GuardPolicy) {
  return createGuardRunner({ checks: [replyToDomainCheck, headerProtectionCheck], policyFor: () => policy });
}

function message(fields: Array<[string, string]>): string {
  return crlf(`${headers([...fields, ['To', 'alice@acme.test'], ['Subject', 'Invoice'], ['Content-Type', 'text/plain']])}\nPlease pay today.\n`);
}

async function findingsOf(
  fields: Array<[string, string]>,
  options: { policy?: GuardPolicy; input?: Partial<GuardInput> } = {},
): Promise<GuardFinding[]> {
  const run = runnerWith(options.policy ?? DEFAULT_GUARD_POLICY);
  return (await run(guardInput(message(fields), { tenant: ACME, ...options.input }))).findings;
}

const symbols = (findings: GuardFinding[]) => findings.map((f) => f.symbol).sort();
const headersPolicy = (headers: NonNullable<NonNullable<PolicySettings['modules']>['headers']>) => resolveGuardPolicy({ modules: { headers } });

describe('display-name impersonation of a tenant member', () => {
  test('the configured name of a member on an outside address is FROM_NAME_IMPERSONATES_MEMBER naming the member', async () => {
    const findings = await findingsOf([['From', '"Anna Schmidt" <anna.schmidt.ceo@gmail.example>']]);
    assert.deepEqual(symbols(findings), ['FROM_NAME_IMPERSONATES_MEMBER']);
    assert.equal(findings[0]!.score, HEADER_PROTECTION_SCORES.FROM_NAME_IMPERSONATES_MEMBER);
    assert.match(findings[0]!.reason, /names the member anna\.schmidt@acme\.test/);
    assert.match(findings[0]!.reason, /the address anna\.schmidt\.ceo@gmail\.example is outside the tenant's domains$/);
  });

  test('"Last, First", titles, case, accents and an added word still name the member', async () => {
    for (const from of [
      '"Schmidt, Anna" <x@evil.example>',
      'Dr. ANNA SCHMIDT <x@evil.example>',
      '"Anna Schmidt (CEO)" <x@evil.example>',
      '=?utf-8?Q?Jos=C3=A9_M=C3=BCller-L=C3=BCdenscheidt?= <x@evil.example>',
      '"Jose Muller Ludenscheidt" <x@evil.example>',
      '"Müller-Lüdenscheidt, José" <x@evil.example>',
    ]) {
      const findings = await findingsOf([['From', from]]);
      assert.deepEqual(symbols(findings), ['FROM_NAME_IMPERSONATES_MEMBER'], from);
    }
  });

  test("a member's address written as the display name is impersonation, and the name-address trick is not counted twice", async () => {
    const findings = await findingsOf([['From', '"ceo@acme.test" <x@evil.example>']]);
    assert.deepEqual(symbols(findings), ['FROM_NAME_IMPERSONATES_MEMBER']);
    assert.match(findings[0]!.reason, /names the member ceo@acme\.test/);
  });

  test('a member without a configured name is known by the name in the local part of the address', async () => {
    const findings = await findingsOf([['From', 'Karl Weber <karl@evil.example>']]);
    assert.deepEqual(symbols(findings), ['FROM_NAME_IMPERSONATES_MEMBER']);
    assert.match(findings[0]!.reason, /karl\.weber@acme\.test/);
    // A role address (info@) gives no name: "Info" from outside is not impersonation.
    assert.deepEqual(await findingsOf([['From', 'Info <info@evil.example>']]), []);
  });

  test("the member's own address, another address in the tenant's domains or an unknown name is fine", async () => {
    assert.deepEqual(await findingsOf([['From', 'Anna Schmidt <anna.schmidt@acme.test>']]), []);
    assert.deepEqual(await findingsOf([['From', 'Anna Schmidt <anna@eu.acme.test>']]), []);
    assert.deepEqual(await findingsOf([['From', 'Anna Schmidt <anna@conbool.com>']]), []);
    assert.deepEqual(await findingsOf([['From', 'Anna Meier <anna@evil.example>']]), []);
    assert.deepEqual(await findingsOf([['From', 'Anna <anna@evil.example>']]), [], 'one of two names is not the member');
    assert.deepEqual(await findingsOf([['From', 'Anna Schmidt <x@evil.example>']], { input: { tenant: undefined } }), [], 'no tenant, no members');
  });

  test('an address in another domain inside the display name is FROM_NAME_HAS_ADDRESS', async () => {
    const findings = await findingsOf([['From', '"billing@bank.example" <x@evil.example>']]);
    assert.deepEqual(symbols(findings), ['FROM_NAME_HAS_ADDRESS']);
    assert.equal(findings[0]!.score, 2);
    assert.match(findings[0]!.reason, /shows the address billing@bank\.example, but the message is from x@evil\.example/);
    assert.deepEqual(await findingsOf([['From', '"x@evil.example" <x@evil.example>']]), [], 'its own address in the name is fine');
  });

  test('displayNameSpoofing: false finds neither', async () => {
    const policy = headersPolicy({ displayNameSpoofing: false });
    assert.deepEqual(await findingsOf([['From', '"Anna Schmidt" <x@evil.example>']], { policy }), []);
    assert.deepEqual(await findingsOf([['From', '"billing@bank.example" <x@evil.example>']], { policy }), []);
  });
});

describe('look-alike sender domains', () => {
  const cyrillic = domainToASCII('\u0441onbool.com'); // Cyrillic с (U+0441) for the Latin c

  test('a Cyrillic letter in a punycode From domain is a look-alike of the tenant domain, shown in Unicode, and mixes scripts', async () => {
    assert.match(cyrillic, /^xn--/);
    const findings = await findingsOf([['From', `Billing <billing@${cyrillic}>`]]);
    assert.deepEqual(symbols(findings), ['FROM_DOMAIN_LOOKALIKE', 'FROM_DOMAIN_MIXED_SCRIPT']);
    const lookalike = findings.find((f) => f.symbol === 'FROM_DOMAIN_LOOKALIKE')!;
    assert.equal(lookalike.score, 8);
    assert.equal(lookalike.reason, `the From domain \u0441onbool.com (${cyrillic}) looks like conbool.com, one of the tenant's domains (confusable letters)`);
    assert.match(findings.find((f) => f.symbol === 'FROM_DOMAIN_MIXED_SCRIPT')!.reason, /mixing Cyrillic and Latin letters/);
  });

  test('rn for m, 1 for l, 0 for o, vv for w and one-letter slips read like the tenant domain', async () => {
    const cases: Array<[string, RegExp]> = [
      ['acrne.test', /looks like acme\.test, one of the tenant's domains \(confusable letters\)/],
      ['c0nb00l.com', /looks like conbool\.com.*confusable letters/],
      ['conboo1.com', /confusable letters/],
      ['conbol.com', /a dropped letter/],
      ['accme.test', /a doubled letter/],
      ['cnobool.com', /two swapped letters/],
    ];
    for (const [domain, reason] of cases) {
      const findings = await findingsOf([['From', `x@${domain}`]]);
      assert.deepEqual(symbols(findings), ['FROM_DOMAIN_LOOKALIKE'], domain);
      assert.match(findings[0]!.reason, reason, domain);
    }
    const partner = headersPolicy({ partnerDomains: ['wavebank.example'] });
    const findings = await findingsOf([['From', 'x@vvavebank.example']], { policy: partner });
    assert.match(findings[0]!.reason, /looks like wavebank\.example, a partner domain \(confusable letters\)/);
  });

  test('a look-alike in Reply-To or the envelope sender gets its own symbol', async () => {
    const replyTo = await findingsOf([['From', 'anna.schmidt@acme.test'], ['Reply-To', 'anna.schmidt@acrne.test']]);
    assert.deepEqual(symbols(replyTo), ['REPLYTO_DOMAIN_DIFFERS', 'REPLYTO_DOMAIN_LOOKALIKE']);
    assert.match(replyTo.find((f) => f.symbol === 'REPLYTO_DOMAIN_LOOKALIKE')!.reason, /the Reply-To domain acrne\.test looks like acme\.test/);
    const envelope = await findingsOf([['From', 'x@example.org']], { input: { mailFrom: 'bounce@acrne.test' } });
    assert.deepEqual(symbols(envelope), ['ENVFROM_DOMAIN_LOOKALIKE']);
    assert.match(envelope[0]!.reason, /the envelope sender domain acrne\.test looks like acme\.test/);
  });

  test("a partner's look-alike is caught once the partner is listed", async () => {
    const from: Array<[string, string]> = [['From', 'Accounts <accounts@bigbannk.example>']];
    assert.deepEqual(await findingsOf(from), []);
    const findings = await findingsOf(from, { policy: headersPolicy({ partnerDomains: ['bigbank.example'] }) });
    assert.deepEqual(symbols(findings), ['FROM_DOMAIN_LOOKALIKE']);
    assert.match(findings[0]!.reason, /looks like bigbank\.example, a partner domain \(a doubled letter\)/);
  });

  test("the tenant's own domains and subdomains, partners themselves and unrelated domains are fine", async () => {
    const partners = headersPolicy({ partnerDomains: ['bigbank.example'] });
    for (const from of ['a@acme.test', 'a@eu.acme.test', 'a@mail.conbool.com', 'a@bigbank.example', 'a@login.bigbank.example', 'a@example.org', 'a@wikipedia.example']) {
      assert.deepEqual(await findingsOf([['From', from]], { policy: partners }), [], from);
    }
    // Decided: a word added with a hyphen is no letter slip; such domains belong to the network module's lists.
    assert.deepEqual(await findingsOf([['From', 'a@acme-test.com']]), []);
    assert.deepEqual(await findingsOf([['From', 'a@acme.example']]), [], 'the same name under another suffix is not compared');
    // A letter dropped from a four-letter name leaves a three-letter one (ace, acm): too many real names to call look-alikes.
    assert.deepEqual(await findingsOf([['From', 'a@ace.test']]), []);
    assert.deepEqual(await findingsOf([['From', 'a@acm.test']]), []);
    // A Japanese label mixing Latin and Kana is allowed by UTS #39, and is no look-alike.
    assert.deepEqual(await findingsOf([['From', 'a@sonyストア.example']]), []);
  });

  test('a label mixing scripts is found even for a tenant with no domains to imitate', async () => {
    const findings = await findingsOf([['From', `x@${domainToASCII('p\u0430ypal.example')}`]], { input: { tenant: undefined } });
    assert.deepEqual(symbols(findings), ['FROM_DOMAIN_MIXED_SCRIPT']);
    assert.match(findings[0]!.reason, /p\u0430ypal\.example \(xn--.*\) has a label "p\u0430ypal" mixing Latin and Cyrillic letters/);
  });

  test('lookalikeDomains: false finds none', async () => {
    const policy = headersPolicy({ lookalikeDomains: false });
    assert.deepEqual(await findingsOf([['From', `x@${cyrillic}`], ['Reply-To', `x@${cyrillic}`]], { policy, input: { mailFrom: `b@${cyrillic}` } }), []);
    assert.deepEqual(await findingsOf([['From', 'x@acrne.test']], { policy, input: { mailFrom: 'b@acrne.test' } }), []);
  });
});

describe("the tenant's names and domains as the directory holds them", () => {
  test('a fresh tenant object around the same lists gives the same answer, and a changed member list is seen', async () => {
    const from: Array<[string, string]> = [['From', 'Lena Vogel <lena@evil.example>']];
    const before = { ...ACME };
    assert.deepEqual(await findingsOf(from, { input: { tenant: before } }), []);
    assert.deepEqual(await findingsOf(from, { input: { tenant: { ...before } } }), []);
    const reloaded = { ...ACME, members: [...ACME.members, { email: 'lena.vogel@acme.test', name: 'Lena Vogel' }] };
    assert.deepEqual(symbols(await findingsOf(from, { input: { tenant: reloaded } })), ['FROM_NAME_IMPERSONATES_MEMBER']);
    const moreDomains = { ...ACME, domains: [...ACME.domains, 'evil.example'] };
    assert.deepEqual(await findingsOf([['From', 'Anna Schmidt <anna@evil.example>']], { input: { tenant: moreDomains } }), [], 'a domain added to the tenant is its own');
  });
});

describe('the headers module settings', () => {
  const impersonation: Array<[string, string]> = [['From', `"Anna Schmidt" <x@${domainToASCII('\u0441onbool.com')}>`]];

  test('scoreDelta replaces the scores and a forced action quarantines', async () => {
    const findings = await findingsOf(impersonation, { policy: headersPolicy({ scoreDelta: 1 }) });
    assert.deepEqual(symbols(findings), ['FROM_DOMAIN_LOOKALIKE', 'FROM_DOMAIN_MIXED_SCRIPT', 'FROM_NAME_IMPERSONATES_MEMBER']);
    assert.deepEqual(findings.map((f) => f.score), [1, 1, 1]);
    assert.equal(findings.find((f) => f.symbol === 'FROM_DOMAIN_LOOKALIKE')!.baseScore, 8);
    const run = runnerWith(headersPolicy({ action: 'quarantine', scoreDelta: 0.5 }));
    const verdict = await run(guardInput(message(impersonation), { tenant: ACME }));
    assert.equal(verdict.action, 'quarantine');
    assert.equal(verdict.forced, true);
  });

  test('by default the impersonating look-alike alone is enough to quarantine', async () => {
    const verdict = await runnerWith(DEFAULT_GUARD_POLICY)(guardInput(message(impersonation), { tenant: ACME }));
    assert.equal(verdict.score, 6 + 8 + 5);
    assert.notEqual(verdict.action, 'deliver');
  });

  test('enabled: false runs neither the header protection nor the Reply-To check', async () => {
    const fields: Array<[string, string]> = [...impersonation, ['Reply-To', 'x@evil.example']];
    assert.ok((await findingsOf(fields)).some((f) => f.symbol === 'REPLYTO_DOMAIN_DIFFERS'));
    assert.deepEqual(await findingsOf(fields, { policy: headersPolicy({ enabled: false }) }), []);
  });

  test('replyToMismatch: false silences REPLYTO_DOMAIN_DIFFERS but not missing or broken sender fields', async () => {
    const policy = headersPolicy({ replyToMismatch: false });
    assert.deepEqual(await findingsOf([['From', 'a@acme.test'], ['Reply-To', 'b@evil.example']], { policy }), []);
    assert.deepEqual(symbols(await findingsOf([['Reply-To', 'b@evil.example']], { policy })), ['FROM_MISSING']);
    assert.deepEqual(symbols(await findingsOf([['From', 'a@acme.test'], ['Reply-To', 'nobody']], { policy })), ['REPLYTO_UNREADABLE']);
  });
});

describe('bad input to header protection', () => {
  test('a 100,000-character From, 1,000 addresses, invalid UTF-8, xn--zz and an empty domain never throw', async () => {
    const started = performance.now();
    const longName = Array.from({ length: 7_700 }, () => 'Anna Schmidt').join('\n ');
    assert.ok(longName.length > 100_000);
    const huge = await findingsOf([['From', `"${longName}" <x@evil.example>`]]);
    assert.ok(huge.every((f) => !f.symbol.startsWith('GUARD_')), JSON.stringify(huge));
    const spoofs = ['acrne.test', 'accme.test', 'acmee.test', 'amce.test', 'unrelated.example'];
    const many = Array.from({ length: 1_000 }, (_, i) => `"Anna Schmidt ${i}" <a${i}@${spoofs[i % spoofs.length]}>`).join(',\n ');
    const manyFindings = await findingsOf([['From', many]]);
    assert.deepEqual(symbols(manyFindings), ['FROM_DOMAIN_LOOKALIKE', 'FROM_NAME_IMPERSONATES_MEMBER']);
    assert.match(manyFindings.find((f) => f.symbol === 'FROM_DOMAIN_LOOKALIKE')!.reason, /acrne\.test looks like acme\.test.* and 3 more such domains$/);
    assert.ok(performance.now() - started < 1000, 'bounded work');

    const invalidUtf8 = Buffer.concat([
      Buffer.from('From: "Anna \xff\xfe Schmidt', 'latin1'),
      Buffer.from([0xc3, 0x28, 0xe2, 0x82]),
      Buffer.from('" <x@evil.example>\r\nTo: alice@acme.test\r\nSubject: x\r\n\r\nbody\r\n'),
    ]);
    const verdict = await runnerWith(DEFAULT_GUARD_POLICY)(guardInput(invalidUtf8, { tenant: ACME }));
    assert.ok(verdict.findings.every((f) => !f.symbol.startsWith('GUARD_')), JSON.stringify(verdict.findings));

    for (const from of ['x@xn--zz.com', 'x@', 'x@.', '@', '"ceo@acme.test" <>', `x@${'a'.repeat(64)}.test`, `x@${'a.'.repeat(200)}test`, 'x@[192.0.2.1]']) {
      const findings = await findingsOf([['From', from], ['Reply-To', from]], { input: { mailFrom: from } });
      assert.ok(findings.every((f) => !f.symbol.startsWith('GUARD_')), `${from}: ${JSON.stringify(findings)}`);
    }
    const nameOnly = await findingsOf([['From', '"Pat Boss" <>']]);
    const impersonation = nameOnly.find((f) => f.symbol === 'FROM_NAME_IMPERSONATES_MEMBER');
    assert.match(impersonation?.reason ?? '', /names the member ceo@acme\.test, but the address is unreadable/, 'a member named over no address is still named');
  });

  test('reasons carry no control or direction-changing characters from the header', async () => {
    const findings = await findingsOf([['From', '"Anna Schmidt \u202e\u0007" <x@evil.example>']]);
    assert.deepEqual(symbols(findings), ['FROM_NAME_IMPERSONATES_MEMBER']);
    assert.doesNotMatch(findings[0]!.reason, /[\u202e\u0007]/);
  });
});

describe('header protection in the running gateway', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    gateway = await startTestGateway(database, [
      acmeTenant(tenantMailServer.port, { members: [{ email: 'alice@acme.test', role: 'owner', name: 'Alice Example' }] }),
    ]);
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await database.cleanup();
  });

  test("mail over SMTP that shows a member's configured name from a look-alike domain is scored with both findings", async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.2' });
    await smtp.command('EHLO mail.acrne.test');
    const data = simpleMessage({ from: 'alice@acrne.test', to: 'alice@acme.test', subject: 'Urgent transfer' }).replace(
      'From: <alice@acrne.test>',
      'From: "Example, Alice" <alice@acrne.test>',
    );
    const result = await smtp.sendMessage('bounce@acrne.test', ['alice@acme.test'], data);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    const id = result.final!.text.split('queued as ')[1]!;
    const guard = await waitFor('the guard verdict', async () => {
      const [row] = await ownerDb(gateway.database.db).select({ results: messages.stageResults }).from(messages).where(eq(messages.id, id));
      return (row?.results as { guard?: { findings: GuardFinding[]; action: string } } | undefined)?.guard;
    });
    // The header protection's findings; sender authentication adds its own (no DNS records here: all NA).
    assert.deepEqual(symbols(guard.findings.filter((f) => f.check === 'header-protection')), [
      'ENVFROM_DOMAIN_LOOKALIKE',
      'FROM_DOMAIN_LOOKALIKE',
      'FROM_NAME_IMPERSONATES_MEMBER',
    ]);
    assert.match(guard.findings.find((f) => f.symbol === 'FROM_NAME_IMPERSONATES_MEMBER')!.reason, /names the member alice@acme\.test/);
    assert.notEqual(guard.action, 'deliver');
  });
});
