/**
 * Network & geo: the connecting address, its country and the sender's domains against a policy's lists,
 * on real messages; the GeoIP database read from a real mmdb file (built by the test writer); the
 * SMTP-time hook refusing at RCPT and end of DATA only when the policy would reject; bad input.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Reader } from 'maxmind';
import { NETWORK_GEO_SCORES, networkGeoCheck, networkGeoHook } from '../src/guard/checks/network-geo.ts';
import type { GeoIpLookup, GuardCheckContext, GuardFinding, GuardServices, SmtpHookSession } from '../src/guard/contract.ts';
import { geoIpStatus, openGeoIpDatabase } from '../src/guard/geoip.ts';
import { resolveGuardPolicy, type GuardPolicy } from '../src/guard/policy.ts';
import type { PolicySettings } from '../src/guard-policy-settings.ts';
import { createGuardRunner } from '../src/guard/runner.ts';
import { createLogger } from '../src/logger.ts';
import { crlf, guardInput, headers, split } from './support/crafted-mail.ts';
import { buildMmdb } from './support/mmdb-writer.ts';

const logger = createLogger('silent');
const directory = mkdtempSync(join(tmpdir(), 'sealpost-geoip-'));
const mmdbPath = join(directory, 'test-country.mmdb');
writeFileSync(
  mmdbPath,
  buildMmdb([
    { cidr: '198.51.100.0/24', country: 'RU' },
    { cidr: '203.0.113.0/24', country: 'DE' },
    { cidr: '2001:db8:77::/48', country: 'KP' },
    { cidr: '192.0.2.0/24', country: 'FR', registeredOnly: true },
  ]),
);

const message = (fields: Record<string, string> = {}) =>
  crlf(`${headers({ From: 'Bob <bob@example.org>', To: 'alice@acme.test', Subject: 'Quarterly figures', Date: 'Thu, 3 Dec 2026 07:00:00 +0000', 'Message-ID': '<q1@example.org>', ...fields })}\nHello Alice,\nthe figures are attached.\n`);

function policy(network: NonNullable<PolicySettings['modules']>['network'], extra: Partial<PolicySettings> = {}): GuardPolicy {
  return resolveGuardPolicy({ modules: { network }, ...extra } as PolicySettings);
}

async function findingsOf(p: GuardPolicy, overrides: Parameters<typeof guardInput>[1] = {}, raw = message(), geoip?: GeoIpLookup) {
  const input = guardInput(raw, overrides);
  const context: GuardCheckContext = { ...input, truncated: false, totalBytes: input.raw.length, policy: p };
  const result = await networkGeoCheck({ geoip }).run(context, new AbortController().signal);
  return Array.isArray(result) ? { findings: result, facts: undefined } : result;
}
const symbols = (findings: GuardFinding[]) => findings.map((f) => f.symbol).sort();

describe('the network & geo check', () => {
  test('blocks single IPv4 and IPv6 addresses and CIDR ranges, IPv4-mapped addresses included, naming the rule', async () => {
    const p = policy({ ipBlockList: ['192.0.2.7', '198.51.100.0/24', '2001:db8::/32', '2001:db8:ffff::1'] });
    for (const address of ['192.0.2.7', '::ffff:192.0.2.7', '198.51.100.200', '2001:db8:1::5', '2001:db8:ffff::1']) {
      const { findings } = await findingsOf(p, { remoteAddress: address });
      assert.deepEqual(symbols(findings), ['NET_IP_BLOCKED'], address);
      assert.equal(findings[0]!.score, NETWORK_GEO_SCORES.NET_IP_BLOCKED);
    }
    const { findings } = await findingsOf(p, { remoteAddress: '::ffff:198.51.100.9' });
    assert.match(findings[0]!.reason, /198\.51\.100\.9 is on the policy's IP block list \(198\.51\.100\.0\/24\)/);
    for (const address of ['192.0.2.8', '198.51.101.1', '2001:db9::1', '203.0.113.4']) {
      assert.deepEqual((await findingsOf(p, { remoteAddress: address })).findings, [], address);
    }
  });

  test('an allow list lets only its ranges in', async () => {
    const p = policy({ ipAllowList: ['203.0.113.0/24', '2001:db8:5::/48'] });
    assert.deepEqual((await findingsOf(p, { remoteAddress: '203.0.113.9' })).findings, []);
    assert.deepEqual((await findingsOf(p, { remoteAddress: '2001:db8:5::9' })).findings, []);
    const { findings } = await findingsOf(p, { remoteAddress: '198.51.100.1' });
    assert.deepEqual(symbols(findings), ['NET_IP_NOT_ALLOWED']);
    assert.match(findings[0]!.reason, /198\.51\.100\.1 is outside the policy's IP allow list/);
  });

  test('blocks a domain in the scope the rule names, subdomains included', async () => {
    const p = policy({
      domainBlockList: [
        { domain: 'spam.example', scope: 'sender' },
        { domain: 'forged.example', scope: 'from' },
        { domain: 'collect.example', scope: 'replyTo' },
      ],
    });
    const sender = await findingsOf(p, { mailFrom: 'x@mx.spam.example' });
    assert.deepEqual(symbols(sender.findings), ['NET_DOMAIN_BLOCKED']);
    assert.match(sender.findings[0]!.reason, /envelope sender domain mx\.spam\.example .*\(spam\.example\)/);
    const from = await findingsOf(p, {}, message({ From: 'CEO <ceo@forged.example>' }));
    assert.match(from.findings[0]!.reason, /From domain forged\.example/);
    const replyTo = await findingsOf(p, {}, message({ 'Reply-To': 'pay@eu.collect.example' }));
    assert.match(replyTo.findings[0]!.reason, /Reply-To domain eu\.collect\.example/);
    // A domain is judged only in its rule's scope, and a look-alike suffix is no subdomain.
    assert.deepEqual((await findingsOf(p, { mailFrom: 'x@forged.example' }, message({ From: 'a@spam.example' }))).findings, []);
    assert.deepEqual((await findingsOf(p, { mailFrom: 'x@notspam.example' })).findings, []);
  });

  test('blocks countries from the GeoIP database and records the country', async () => {
    const geoip = await openGeoIpDatabase(mmdbPath, logger);
    assert.match(geoip.description, /test-country\.mmdb \(Sealpost-Test-Country, built 2026-11-28\)/);
    assert.deepEqual(geoIpStatus({ geoip }), { active: true, description: geoip.description });
    const p = policy({ countryBlockList: ['RU', 'KP'] });
    const russia = await findingsOf(p, { remoteAddress: '::ffff:198.51.100.3' }, message(), geoip);
    assert.deepEqual(symbols(russia.findings), ['NET_COUNTRY_BLOCKED']);
    assert.match(russia.findings[0]!.reason, /198\.51\.100\.3 is in RU/);
    assert.equal(russia.facts?.country, 'RU');
    assert.deepEqual(symbols((await findingsOf(p, { remoteAddress: '2001:db8:77::1' }, message(), geoip)).findings), ['NET_COUNTRY_BLOCKED']);
    const germany = await findingsOf(p, { remoteAddress: '203.0.113.3' }, message(), geoip);
    assert.deepEqual(germany.findings, []);
    assert.equal(germany.facts?.country, 'DE');
    assert.equal(geoip.country('192.0.2.1'), 'FR', 'registered_country is the fallback');
    const unknown = await findingsOf(p, { remoteAddress: '10.1.2.3' }, message(), geoip);
    assert.deepEqual(symbols(unknown.findings), ['NET_COUNTRY_UNKNOWN']);
    assert.equal(unknown.findings[0]!.score, 0);
  });

  test('country rules without a GeoIP database say they were not applied', async () => {
    const { findings } = await findingsOf(policy({ countryBlockList: ['RU'] }), { remoteAddress: '198.51.100.3' });
    assert.deepEqual(symbols(findings), ['NET_GEOIP_INACTIVE']);
    assert.equal(findings[0]!.score, 0);
    assert.match(findings[0]!.reason, /SEALPOST_GEOIP_DB/);
    assert.deepEqual(geoIpStatus({}), { active: false, reason: 'no GeoIP database configured (SEALPOST_GEOIP_DB)' });
    assert.deepEqual((await findingsOf(policy({}), { remoteAddress: '198.51.100.3' })).findings, []);
  });

  test("the module's switch, scoreDelta and action apply through the runner", async () => {
    const check = networkGeoCheck({});
    const input = guardInput(message(), { remoteAddress: '198.51.100.3' });
    const verdict = (p: GuardPolicy) => createGuardRunner({ checks: [check], policyFor: () => p })(input);
    const blocked = await verdict(policy({ ipBlockList: ['198.51.100.0/24'] }));
    assert.equal(blocked.action, 'quarantine');
    const delta = await verdict(policy({ ipBlockList: ['198.51.100.0/24'], scoreDelta: 3 }));
    assert.equal(delta.score, 3);
    assert.equal(delta.action, 'deliver');
    const forced = await verdict(policy({ ipBlockList: ['198.51.100.0/24'], scoreDelta: 3, action: 'reject' }));
    assert.equal(forced.action, 'reject');
    const off = await verdict(policy({ ipBlockList: ['198.51.100.0/24'], enabled: false }));
    assert.ok(!off.findings.some((f) => f.symbol === 'NET_IP_BLOCKED'));
  });

  test('a message larger than the policy allows is found and takes the block action', async () => {
    const p = policy({}, { maxMessageSizeMb: 0.001, onBlock: 'reject' });
    const { findings } = await findingsOf(p, {}, message() + 'x'.repeat(2000));
    assert.deepEqual(symbols(findings), ['SIZE_EXCEEDS_POLICY']);
    assert.equal(findings[0]!.action, 'reject');
    assert.deepEqual((await findingsOf(p)).findings, []);
  });
});

describe('the network & geo SMTP hook', () => {
  const reject = policy({ ipBlockList: ['127.0.0.64/26'], domainBlockList: [{ domain: 'forged.example', scope: 'from' }] }, { onBlock: 'reject', maxMessageSizeMb: 0.01 });
  const quarantine = policy({ ipBlockList: ['127.0.0.64/26'] }, { onBlock: 'quarantine' });
  const services = (p: GuardPolicy): GuardServices => ({
    hostname: 'gateway.test',
    directory: { tenantForAddress: (a) => (a.endsWith('@acme.test') ? { id: 'acme' } : undefined) },
    policies: { policyFor: async () => p },
  });
  const session = (over: Partial<SmtpHookSession> = {}): SmtpHookSession => ({ id: 's1', remoteAddress: '127.0.0.70', tls: false, mailFrom: 'bob@example.org', recipients: [], ...over });

  test('refuses a blocked address at RCPT with 550 5.7.1 when the policy rejects, and not when it quarantines', async () => {
    const refused = await networkGeoHook(services(reject)).rcptTo!(session(), 'alice@acme.test');
    assert.equal(refused && 'refuse' in refused && `${refused.refuse.code} ${refused.refuse.enhanced}`, '550 5.7.1');
    assert.equal(await networkGeoHook(services(quarantine)).rcptTo!(session(), 'alice@acme.test'), undefined);
    assert.equal(await networkGeoHook(services(reject)).rcptTo!(session({ remoteAddress: '127.0.0.2' }), 'alice@acme.test'), undefined);
    assert.equal(await networkGeoHook(services(reject)).rcptTo!(session({ remoteAddress: 'not-an-address' }), 'alice@acme.test'), undefined);
  });

  test('refuses a declared and an actual size over the limit with 552 5.3.4, and a blocked From at end of DATA', async () => {
    const hook = networkGeoHook(services(reject));
    const declared = await hook.rcptTo!(session({ remoteAddress: '127.0.0.2', declaredSize: 50_000 }), 'alice@acme.test');
    assert.equal(declared && 'refuse' in declared && `${declared.refuse.code} ${declared.refuse.enhanced}`, '552 5.3.4');
    const big = Buffer.from(message() + 'x'.repeat(20_000));
    const actual = await hook.dataEnd!(session({ remoteAddress: '127.0.0.2', recipients: ['alice@acme.test'] }), { raw: big, header: split(big) });
    assert.equal(actual && 'refuse' in actual && actual.refuse.code, 552);
    const forged = Buffer.from(message({ From: 'ceo@forged.example' }));
    const from = await hook.dataEnd!(session({ remoteAddress: '127.0.0.2', recipients: ['alice@acme.test'] }), { raw: forged, header: split(forged) });
    assert.equal(from && 'refuse' in from && from.refuse.code, 550);
    const fine = Buffer.from(message());
    assert.equal(await hook.dataEnd!(session({ remoteAddress: '127.0.0.2', recipients: ['alice@acme.test'] }), { raw: fine, header: split(fine) }), undefined);
  });
});

describe('network & geo on bad input', () => {
  test('a garbage client address is a finding, not a crash', async () => {
    const { findings } = await findingsOf(policy({ ipBlockList: ['192.0.2.0/24'] }), { remoteAddress: '999.1.2.3; DROP' });
    assert.deepEqual(symbols(findings), ['NET_ADDRESS_UNREADABLE']);
  });

  test('a truncated or missing mmdb file is a start-up error naming SEALPOST_GEOIP_DB', async () => {
    const whole = buildMmdb([{ cidr: '198.51.100.0/24', country: 'RU' }]);
    const truncated = join(directory, 'truncated.mmdb');
    writeFileSync(truncated, whole.subarray(0, 40));
    await assert.rejects(openGeoIpDatabase(truncated, logger), /SEALPOST_GEOIP_DB: the GeoIP database .*truncated\.mmdb cannot be read/);
    await assert.rejects(openGeoIpDatabase(join(directory, 'absent.mmdb'), logger), /SEALPOST_GEOIP_DB/);
    assert.ok(new Reader(whole).get('198.51.100.1'));
  });

  test('10,000 CIDR rules compile once and lookups stay fast', async () => {
    const rules = Array.from({ length: 10_000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.0/24`);
    const p = policy({ ipBlockList: rules });
    const check = networkGeoCheck({});
    const context = (remoteAddress: string): GuardCheckContext => {
      const input = guardInput(message(), { remoteAddress });
      return { ...input, truncated: false, totalBytes: input.raw.length, policy: p };
    };
    const signal = new AbortController().signal;
    const first = performance.now();
    check.run(context('192.0.2.1'), signal);
    const compile = performance.now() - first;
    const start = performance.now();
    for (let i = 0; i < 200; i++) check.run(context(`172.16.${i}.1`), signal);
    const perLookup = (performance.now() - start) / 200;
    assert.ok(perLookup < 1, `a lookup took ${perLookup.toFixed(3)} ms (compile ${compile.toFixed(1)} ms)`);
    const blocked = check.run(context('10.39.15.1'), signal) as { findings: GuardFinding[] };
    assert.deepEqual(symbols(blocked.findings), ['NET_IP_BLOCKED']);
  });
});
