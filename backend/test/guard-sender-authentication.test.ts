import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sealMessage } from 'mailauth';
import { dmarcSample, senderAuthenticationCheck } from '../src/guard/checks/sender-authentication.ts';
import type { GuardCheckContext, GuardFinding } from '../src/guard/contract.ts';
import { createDnsResolver } from '../src/guard/dns-resolver.ts';
import { DEFAULT_GUARD_POLICY, resolveGuardPolicy } from '../src/guard/policy.ts';
import { createGuardRunner } from '../src/guard/runner.ts';
import { crlf, guardInput, plainText } from './support/crafted-mail.ts';
import { dkimKey, signDkim, startLocalDns, type LocalDns } from './support/local-dns.ts';

const key = dkimKey();
let dns: LocalDns;
let check: ReturnType<typeof senderAuthenticationCheck>;

before(async () => {
  dns = await startLocalDns({
    'example.org': { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] },
    'soft.example': { TXT: ['v=spf1 ip4:192.0.2.0/24 ~all'] },
    'fail.example': { TXT: ['v=spf1 ip4:192.0.2.0/24 -all'] },
    'sel._domainkey.example.org': { TXT: [key.record] },
    'sel._domainkey.mail.example.org': { TXT: [key.record] },
    'arc._domainkey.relay.example': { TXT: [key.record] },
    '_dmarc.example.org': { TXT: ['v=DMARC1; p=reject'] },
    '_dmarc.fail.example': { TXT: ['v=DMARC1; p=reject'] },
    '_dmarc.soft.example': { TXT: ['v=DMARC1; p=quarantine'] },
    'half.example': { TXT: ['v=spf1 ip4:192.0.2.0/24 -all'] },
    '_dmarc.half.example': { TXT: ['v=DMARC1; p=reject; pct=50'] },
    'strict.example': { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] },
    'mail.strict.example': { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] },
    '_dmarc.strict.example': { TXT: ['v=DMARC1; p=reject; adkim=s; aspf=s'] },
    'sel._domainkey.mail.strict.example': { TXT: [key.record] },
  });
  check = senderAuthenticationCheck({ hostname: 'mx.acme.test', resolver: createDnsResolver({ servers: [dns.server], timeoutMs: 300 }), dnsTimeoutMs: 300 });
});
after(() => dns.close());

async function verify(raw: string, overrides: Partial<GuardCheckContext> = {}, policy = DEFAULT_GUARD_POLICY) {
  const input = guardInput(raw, { remoteAddress: '127.0.0.1', helo: 'client.example.org', ...overrides });
  const context = { ...input, truncated: false, totalBytes: input.raw.length, policy, ...overrides } as GuardCheckContext;
  const result = await check.run(context, new AbortController().signal);
  assert.ok(!Array.isArray(result));
  return result as { findings: GuardFinding[]; headers: Array<{ name: string; value: string }>; facts: { senderVerified: boolean; dmarc: string } };
}
const symbols = (findings: GuardFinding[]) => findings.map((f) => f.symbol);
const from = (address: string) => plainText({ From: `Bob <${address}>` });

describe('SPF', () => {
  test('pass from an allowed address', async () => {
    const r = await verify(from('bob@example.org'));
    assert.ok(symbols(r.findings).includes('R_SPF_ALLOW'));
  });
  test('fail and softfail', async () => {
    const fail = await verify(from('bob@fail.example'), { mailFrom: 'bob@fail.example' });
    const f = fail.findings.find((x) => x.symbol === 'R_SPF_FAIL');
    assert.ok(f && f.score > 0 && /127\.0\.0\.1 is not allowed to send for fail\.example/.test(f.reason), JSON.stringify(fail.findings));
    const soft = await verify(from('bob@soft.example'), { mailFrom: 'bob@soft.example' });
    assert.ok(symbols(soft.findings).includes('R_SPF_SOFTFAIL'));
  });
});

describe('DKIM and DMARC', () => {
  test('own signature passes, DMARC aligned, sender verified, Authentication-Results parses', async () => {
    const signed = await signDkim(from('bob@example.org'), key, 'example.org', 'sel');
    const r = await verify(signed);
    assert.ok(symbols(r.findings).includes('R_DKIM_ALLOW'), JSON.stringify(r.findings));
    assert.ok(symbols(r.findings).includes('DMARC_POLICY_ALLOW'));
    assert.equal(r.facts.senderVerified, true);
    const value = r.headers[0]!.value;
    assert.doesNotMatch(value, /[\r\n]/);
    const [authserv, ...methods] = value.split(';').map((s) => s.trim());
    assert.equal(authserv, 'mx.acme.test');
    const pairs = Object.fromEntries(methods.map((m) => m.split(' ')[0]!.split('=')));
    assert.deepEqual(pairs, { spf: 'pass', dkim: 'pass', dmarc: 'pass', arc: 'none' });
  });
  test('tampered body fails DKIM', async () => {
    const signed = await signDkim(from('bob@example.org'), key, 'example.org', 'sel');
    const r = await verify(signed.replace('see you tomorrow', 'send the money'));
    assert.ok(symbols(r.findings).includes('R_DKIM_REJECT'), JSON.stringify(r.findings));
  });
  test('DMARC fail with p=reject forces reject; honourDmarcPolicy:false leaves only the score', async () => {
    const r = await verify(from('bob@fail.example'), { mailFrom: 'bob@fail.example' });
    const d = r.findings.find((x) => x.symbol === 'DMARC_POLICY_REJECT');
    assert.equal(d?.action, 'reject');
    assert.equal(r.facts.senderVerified, false);
    const off = resolveGuardPolicy({ modules: { authentication: { honourDmarcPolicy: false } } } as never);
    const r2 = await verify(from('bob@fail.example'), { mailFrom: 'bob@fail.example' }, off);
    const d2 = r2.findings.find((x) => x.symbol === 'DMARC_POLICY_REJECT');
    assert.ok(d2 && d2.score > 0 && d2.action === undefined);
  });
  test('DMARC fail with p=quarantine forces quarantine', async () => {
    const r = await verify(from('bob@soft.example'), { mailFrom: 'bob@soft.example' });
    assert.equal(r.findings.find((x) => x.symbol === 'DMARC_POLICY_QUARANTINE')?.action, 'quarantine', JSON.stringify(r.findings));
  });
  test('strict alignment: adkim=s/aspf=s with d= and MAIL FROM in a subdomain fails DMARC', async () => {
    const signed = await signDkim(from('bob@strict.example'), key, 'mail.strict.example', 'sel');
    const r = await verify(signed, { mailFrom: 'bounce@mail.strict.example' });
    assert.ok(symbols(r.findings).includes('R_DKIM_ALLOW'));
    assert.ok(symbols(r.findings).includes('R_SPF_ALLOW'));
    assert.equal(r.facts.dmarc, 'fail', JSON.stringify(r.findings));
    assert.equal(r.findings.find((x) => x.symbol === 'DMARC_POLICY_REJECT')?.action, 'reject');
  });
});

describe('ARC', () => {
  test('a valid seal is ARC_ALLOW, a broken one ARC_REJECT', async () => {
    const raw = from('bob@example.org');
    const seal = await sealMessage(Buffer.from(raw), {
      signingDomain: 'relay.example', selector: 'arc', privateKey: key.privateKey, authResults: 'relay.example; spf=pass smtp.mailfrom=bob@example.org', cv: 'none',
    } as never);
    const sealed = seal.toString() + raw;
    const ok = await verify(sealed);
    assert.ok(symbols(ok.findings).includes('ARC_ALLOW'), JSON.stringify(ok.findings));
    const broken = await verify(sealed.replace('Subject: Hello', 'Subject: Changed'));
    assert.ok(symbols(broken.findings).includes('ARC_REJECT'), JSON.stringify(broken.findings));
  });
});

describe('DNS failure and bad input', () => {
  test('a DNS timeout gives temporary-error symbols with positive scores and no verified sender', async () => {
    dns.zone['slow.example'] = {};
    dns.silent.add('slow.example');
    dns.silent.add('_dmarc.slow.example');
    const r = await verify(from('bob@slow.example'), { mailFrom: 'bob@slow.example' });
    const spf = r.findings.find((x) => x.symbol === 'R_SPF_DNSFAIL');
    assert.ok(spf && spf.score > 0, JSON.stringify(r.findings));
    assert.ok(r.findings.find((x) => x.symbol === 'DMARC_DNSFAIL')!.score > 0);
    assert.equal(r.facts.senderVerified, false);
  });
  test('with every DNS server silent, the check still answers within its budget, with temporary errors', async () => {
    dns.zone['dead.example'] = {};
    for (const name of ['dead.example', '_dmarc.dead.example', 'sel._domainkey.dead.example']) dns.silent.add(name);
    const signed = await signDkim(from('bob@dead.example'), key, 'dead.example', 'sel');
    const started = performance.now();
    const r = await verify(signed, { mailFrom: 'bob@dead.example' });
    const took = performance.now() - started;
    // The resolver gives up after 300 ms and retries once; the check's budget is 3 × 300 ms.
    assert.ok(took < check.budget!.ms!, `took ${Math.round(took)} ms, over the budget of ${check.budget!.ms} ms`);
    assert.ok(symbols(r.findings).includes('R_SPF_DNSFAIL'), JSON.stringify(r.findings));
    assert.ok(symbols(r.findings).some((s) => s === 'R_DKIM_TEMPFAIL' || s === 'R_DKIM_PERMFAIL'), JSON.stringify(r.findings));
    assert.equal(r.facts.senderVerified, false);
  });
  test("a DMARC record's pct sampling follows the message, not chance: the same message gets the same verdict every time", async () => {
    const outcomes = new Map<string, string>();
    for (let i = 0; i < 12; i++) {
      const messageId = `<m${i}@half.example>`;
      const raw = plainText({ From: 'Bob <bob@half.example>', 'Message-ID': messageId });
      const first = await verify(raw, { mailFrom: 'bob@half.example' });
      const again = await verify(raw, { mailFrom: 'bob@half.example' });
      const dmarc = (r: typeof first) => symbols(r.findings).find((s) => s.startsWith('DMARC_'))!;
      assert.equal(dmarc(again), dmarc(first), `the same message, ${messageId}, the same verdict`);
      assert.equal(dmarc(first), dmarcSample(messageId) < 50 ? 'DMARC_POLICY_REJECT' : 'DMARC_POLICY_SOFTFAIL', messageId);
      outcomes.set(messageId, dmarc(first));
    }
    // Half the domain's mail is sampled: both outcomes occur among a dozen messages.
    assert.deepEqual(new Set(outcomes.values()), new Set(['DMARC_POLICY_REJECT', 'DMARC_POLICY_SOFTFAIL']));
  });
  test('broken messages become findings, never a throw', async () => {
    const cases = [
      crlf('To: a@acme.test\nSubject: no from\n\nbody\n'),
      crlf('From: a@example.org\nFrom: b@fail.example\nTo: a@acme.test\n\nbody\n'),
      crlf('DKIM-Signature: v=1; garbage;;; b=!!!\nFrom: a@example.org\n\nbody\n'),
    ];
    // The splitter refuses such a header before the guard; the check still must not throw on the raw bytes.
    const long = await verify(from('bob@example.org'), { raw: Buffer.from(crlf(`From: a@example.org\nX-Long: ${'x'.repeat(100_000)}\n\nbody\n`)) });
    assert.ok(long.findings.length > 0);
    for (const raw of cases) {
      const r = await verify(raw);
      assert.ok(r.findings.length > 0);
    }
    const r = await verify(from('bob@example.org'), { remoteAddress: 'not an ip' });
    assert.ok(symbols(r.findings).includes('R_SPF_NA'));
  });
});

describe('through the runner', () => {
  test('module scoreDelta, action and enabled apply', async () => {
    const input = guardInput(from('bob@fail.example'), { mailFrom: 'bob@fail.example', remoteAddress: '127.0.0.1' });
    const off = createGuardRunner({ checks: [check], policyFor: () => resolveGuardPolicy({ modules: { authentication: { enabled: false } } } as never) });
    assert.ok(!(await off(input)).findings.some((f) => f.symbol.startsWith('R_SPF')));
    const scored = createGuardRunner({ checks: [check], policyFor: () => resolveGuardPolicy({ modules: { authentication: { scoreDelta: 9, honourDmarcPolicy: false } } } as never) });
    const verdict = await scored(input);
    assert.equal(verdict.findings.find((f) => f.symbol === 'R_SPF_FAIL')?.score, 9);
    assert.notEqual(verdict.action, 'deliver');
  });
  test('CPU per 30 kB DKIM-signed message', async () => {
    const body = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n'.repeat(530);
    const signed = await signDkim(plainText({}, body), key, 'example.org', 'sel');
    await verify(signed);
    const start = process.cpuUsage();
    const n = 20;
    for (let i = 0; i < n; i++) await verify(signed);
    const used = process.cpuUsage(start);
    console.log(`sender-authentication: ${((used.user + used.system) / 1000 / n).toFixed(2)} CPU-ms per ${signed.length}-byte message (loopback DNS)`);
  });
});
