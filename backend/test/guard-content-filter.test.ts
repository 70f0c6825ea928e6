/** The content filter finds the tenant's keywords and patterns in what a person reads of a message, and nothing else. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import iconv from 'iconv-lite';
import { loadConfig } from '../src/config.ts';
import { CONTENT_SCORES, contentFilterCheck, MAX_RULE_FINDINGS } from '../src/guard/checks/content-filter.ts';
import type { GuardFinding } from '../src/guard/contract.ts';
import { extractMessageText } from '../src/guard/message-text.ts';
import { resolveGuardPolicy } from '../src/guard/policy.ts';
import { compileRulePattern, type PolicySettings } from '../src/guard-policy-settings.ts';
import { createGuardRunner } from '../src/guard/runner.ts';
import { crlf, guardInput, headers, nested, split } from './support/crafted-mail.ts';

type ContentSettings = NonNullable<NonNullable<PolicySettings['modules']>['content']>;

const BASE = { From: 'Bob <bob@example.org>', To: 'alice@acme.test', 'Message-ID': '<1@example.org>', 'MIME-Version': '1.0' };

function message(fields: Record<string, string>, body: string): string {
  return crlf(`${headers({ ...BASE, Subject: 'Hello', 'Content-Type': 'text/plain; charset=utf-8', ...fields })}\n${body}`);
}

async function contentFindings(raw: string | Buffer, content: ContentSettings): Promise<GuardFinding[]> {
  const policy = resolveGuardPolicy({ modules: { content } });
  const run = createGuardRunner({ checks: [contentFilterCheck], policyFor: () => policy });
  const verdict = await run(guardInput(raw));
  return verdict.findings;
}

const reasons = (findings: GuardFinding[]) => findings.map((f) => `${f.symbol}: ${f.reason}`);

describe('keywords', () => {
  test('are found in a subject written as UTF-8 and ISO-8859-1 encoded words', async () => {
    const utf8Subject = `=?UTF-8?B?${Buffer.from('Ihre Überweisung ist fällig').toString('base64')}?=`;
    assert.deepEqual(reasons(await contentFindings(message({ Subject: utf8Subject }, 'nothing here\n'), { keywords: [{ text: 'überweisung' }] })), [
      'CONTENT_KEYWORD: keyword "überweisung" in the subject',
    ]);
    const latin1Subject = '=?ISO-8859-1?Q?Invoice_overdue:_=DCberweisung_heute?=';
    assert.deepEqual(
      reasons(await contentFindings(message({ Subject: latin1Subject }, 'nothing here\n'), { keywords: [{ text: 'Überweisung heute' }, { text: 'invoice overdue' }] })),
      ['CONTENT_KEYWORD: keyword "Überweisung heute" in the subject', 'CONTENT_KEYWORD: keyword "invoice overdue" in the subject'],
    );
  });

  test('are found in a quoted-printable text part, across a soft line break', async () => {
    const raw = message(
      { 'Content-Type': 'text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding': 'quoted-printable' },
      'Sehr geehrte Kundin,\nbitte best=E4tigen Sie die =DCberwei=\nsung bis morgen. Your invoice is ov=\nerdue.\n',
    );
    const findings = await contentFindings(raw, { keywords: [{ text: 'Überweisung' }, { text: 'invoice is overdue' }, { text: 'bestätigen' }] });
    assert.deepEqual(reasons(findings), [
      'CONTENT_KEYWORD: keyword "Überweisung" in the text body',
      'CONTENT_KEYWORD: keyword "invoice is overdue" in the text body',
      'CONTENT_KEYWORD: keyword "bestätigen" in the text body',
    ]);
    assert.ok(findings.every((f) => f.score === CONTENT_SCORES.CONTENT_KEYWORD));
  });

  test('are found in a base64 HTML part as the reader sees it, not in its markup or scripts', async () => {
    const html =
      '<html><head><style>.wire-transfer{}</style><script>var secret = "gift card";</script></head>' +
      '<body><p>Please send the <b>wire&nbsp;transfer</b> today.</p><p>Pass</p><p>word</p><a href="https://x.test/password">here</a></body></html>';
    const body = Buffer.from(html).toString('base64').replace(/.{76}/g, '$&\n');
    const raw = message({ 'Content-Type': 'text/html; charset=utf-8', 'Content-Transfer-Encoding': 'base64' }, `${body}\n`);
    const findings = await contentFindings(raw, { keywords: [{ text: 'wire transfer' }, { text: 'gift card' }, { text: 'password' }, { text: 'password' }] });
    assert.deepEqual(reasons(findings), ['CONTENT_KEYWORD: keyword "wire transfer" in the HTML body']);
  });

  test('match whole words only, case-insensitively, German umlauts included', async () => {
    const raw = message(
      { 'Content-Type': 'text/plain; charset=utf-8' },
      'We sent the invoices. Der Überweisungsauftrag liegt bei. URGENT: reply now. Straße gesperrt.\n',
    );
    const findings = await contentFindings(raw, {
      keywords: [{ text: 'invoice' }, { text: 'überweisung' }, { text: 'urgent' }, { text: 'straße' }, { text: 'ÜBERWEISUNGSAUFTRAG' }],
    });
    assert.deepEqual(reasons(findings), [
      'CONTENT_KEYWORD: keyword "urgent" in the text body',
      'CONTENT_KEYWORD: keyword "straße" in the text body',
      'CONTENT_KEYWORD: keyword "ÜBERWEISUNGSAUFTRAG" in the text body',
    ]);
  });

  test('are tried in the order of their positions, then patterns', async () => {
    const raw = message({ Subject: 'alpha beta gamma' }, 'nothing\n');
    const findings = await contentFindings(raw, {
      patterns: [{ pattern: 'gam+a' }],
      keywords: [{ text: 'beta', position: 2 }, { text: 'alpha', position: 1 }, { text: 'gamma' }],
    });
    assert.deepEqual(
      findings.map((f) => f.reason),
      ['keyword "alpha" in the subject', 'keyword "beta" in the subject', 'keyword "gamma" in the subject', 'pattern "gam+a" in the subject'],
    );
  });

  test('look only where the scope says', async () => {
    const raw = message({ Subject: 'Hello' }, 'the invoice is overdue\n');
    assert.equal((await contentFindings(raw, { keywords: [{ text: 'invoice' }], scope: ['subject', 'html'] })).length, 0);
    assert.equal((await contentFindings(raw, { keywords: [{ text: 'invoice' }], scope: ['text'] })).length, 1);
  });

  test('past the cap one summary finding counts the rest', async () => {
    const words = Array.from({ length: MAX_RULE_FINDINGS + 5 }, (_, i) => `word${i}`);
    const findings = await contentFindings(message({}, `${words.join(' ')}\n`), { keywords: words.map((text) => ({ text })) });
    assert.equal(findings.filter((f) => f.symbol === 'CONTENT_KEYWORD').length, MAX_RULE_FINDINGS);
    assert.deepEqual(reasons(findings.filter((f) => f.symbol === 'CONTENT_MORE_MATCHES')), [
      `CONTENT_MORE_MATCHES: 5 more content rules matched beyond the first ${MAX_RULE_FINDINGS}`,
    ]);
  });
});

describe('patterns', () => {
  test('the reference pattern finds brand names as words, case-insensitively by default', async () => {
    const rule = { pattern: '\\b(?:paypal|amazo[n])\\b', description: 'brand names' };
    assert.deepEqual(reasons(await contentFindings(message({}, 'Your AMAZON account is locked\n'), { patterns: [rule] })), [
      'CONTENT_PATTERN: pattern "\\b(?:paypal|amazo[n])\\b" (brand names) in the text body',
    ]);
    assert.equal((await contentFindings(message({}, 'amazonas rainforest, mypaypal\n'), { patterns: [rule] })).length, 0);
  });

  test('honour caseSensitive', async () => {
    const raw = message({}, 'log in to paypal now\n');
    assert.equal((await contentFindings(raw, { patterns: [{ pattern: 'PayPal', caseSensitive: true }] })).length, 0);
    assert.equal((await contentFindings(raw, { patterns: [{ pattern: 'PayPal' }] })).length, 1);
  });

  test('several patterns with their own case flags are each honoured', async () => {
    const raw = message({}, 'log in to paypal now, or to amazon\n');
    const findings = await contentFindings(raw, {
      patterns: [{ pattern: 'PayPal', caseSensitive: true }, { pattern: 'AMAZON' }, { pattern: 'ebay' }, { pattern: 'now$' }],
    });
    assert.deepEqual(findings.map((f) => f.reason), ['pattern "AMAZON" in the text body']);
  });
});

describe('cost', () => {
  test('a 30 kB text and HTML message with ten keywords and three patterns costs about a CPU-millisecond', () => {
    const paragraph = 'Sehr geehrte Damen und Herren, anbei die Quartalszahlen wie besprochen. Bitte prüfen Sie die Überweisung. ';
    const html = `<html><head><style>p{color:red}</style></head><body>${`<p style="margin:0">${paragraph} <a href="https://example.org/x">Link</a> &amp; mehr</p>`.repeat(100)}</body></html>`;
    const qp = (text: string) => text.replace(/.{70}/g, '$&=\n');
    const raw = crlf(
      `${headers({ ...BASE, Subject: '=?UTF-8?Q?Quartalszahlen_f=C3=BCr_Q3?=', 'Content-Type': 'multipart/alternative; boundary="b"' })}\n` +
        `--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n${qp(`${paragraph}\n`.repeat(100))}\n` +
        `--b\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n${qp(html)}\n--b--\n`,
    );
    assert.ok(raw.length > 30_000);
    const keywords = ['invoice overdue', 'gift card', 'wire transfer', 'password', 'bitcoin', 'überweisung', 'urgent', 'konto gesperrt', 'verify your account', 'lottery'];
    const policy = resolveGuardPolicy({
      modules: { content: { keywords: keywords.map((text) => ({ text })), patterns: [{ pattern: '\\b(?:paypal|amazo[n])\\b' }, { pattern: 'bit\\.ly/\\w+' }, { pattern: '[0-9]{4} ?[0-9]{4} ?[0-9]{4}' }] } },
    });
    const context = { ...guardInput(raw), truncated: false, totalBytes: raw.length, policy };
    const signal = new AbortController().signal;
    const findings = contentFilterCheck.run(context, signal) as GuardFinding[];
    assert.deepEqual(findings.map((f) => f.reason), ['keyword "überweisung" in the text body']);
    for (let i = 0; i < 50; i += 1) contentFilterCheck.run(context, signal);
    const runs = 200;
    const started = process.cpuUsage();
    for (let i = 0; i < runs; i += 1) contentFilterCheck.run(context, signal);
    const used = process.cpuUsage(started);
    const ms = (used.user + used.system) / 1000 / runs;
    console.log(`# content filter on a ${raw.length}-byte message: ${ms.toFixed(3)} CPU-ms`);
    assert.ok(ms < 5, `${ms} CPU-ms`);
  });
});

describe('the content module settings, applied by the runner', () => {
  const raw = message({ Subject: 'invoice overdue' }, 'nothing\n');
  const run = (content: ContentSettings) =>
    createGuardRunner({ checks: [contentFilterCheck], policyFor: () => resolveGuardPolicy({ modules: { content } }) })(guardInput(raw));

  test('scoreDelta replaces the finding score', async () => {
    const verdict = await run({ keywords: [{ text: 'invoice overdue' }], scoreDelta: 9 });
    assert.deepEqual(verdict.findings.map((f) => [f.symbol, f.score, f.baseScore]), [['CONTENT_KEYWORD', 9, CONTENT_SCORES.CONTENT_KEYWORD]]);
    assert.equal(verdict.score, 9);
  });

  test("action 'quarantine' forces quarantine whatever the score", async () => {
    const verdict = await run({ keywords: [{ text: 'invoice overdue' }], action: 'quarantine' });
    assert.equal(verdict.action, 'quarantine');
    assert.equal(verdict.forced, true);
  });

  test('enabled false skips the check', async () => {
    const verdict = await run({ keywords: [{ text: 'invoice overdue' }], enabled: false });
    assert.deepEqual(verdict.findings, []);
    assert.equal(verdict.action, 'deliver');
  });
});

describe('regex safety', () => {
  test('back-references and lookaround are refused with a message that says why', () => {
    for (const pattern of ['(a)\\1', 'foo(?=bar)', '(?<!x)y']) {
      const compiled = compileRulePattern(pattern);
      assert.ok('problem' in compiled, pattern);
      assert.match(compiled.problem, /back-references and lookaround are not supported/);
    }
  });

  test('a tenant file with a back-reference fails naming the pattern', () => {
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-content-config-'));
    try {
      const file = join(folder, 'tenants.yaml');
      writeFileSync(
        file,
        "tenants:\n  - name: Acme\n    domains: [acme.test]\n    guard:\n      modules:\n        content:\n          patterns:\n            - pattern: '(a)\\1'\n",
      );
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /tenants\.0\.guard\.modules\.content\.patterns\.0\.pattern: .*back-references/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('catastrophic patterns of backtracking engines run in linear time on 50 kB of hostile text', async () => {
    const hostile = `${'a'.repeat(50_000)}!`;
    for (const pattern of ['(a+)+$', '(a|aa)*b', '(.*a){20}']) {
      const compiled = compileRulePattern(pattern);
      assert.ok('regex' in compiled);
      const started = performance.now();
      compiled.regex.test(hostile);
      const ms = performance.now() - started;
      console.log(`# ${pattern} over ${hostile.length} characters: ${ms.toFixed(2)} ms`);
      assert.ok(ms < 50, `${pattern} took ${ms} ms`);
    }
    const started = performance.now();
    const findings = await contentFindings(message({}, `${'a'.repeat(50_000)}\n`), { patterns: [{ pattern: '(a+)+$' }, { pattern: '(a|aa)*b' }, { pattern: '(.*a){20}' }] });
    const ms = performance.now() - started;
    console.log(`# the whole check with the three patterns over a 50 kB body: ${ms.toFixed(2)} ms`);
    // The body ends with a line break, so "(a+)+$" (end of text, not of line) does not match; "(a|aa)*b" finds no b.
    assert.deepEqual(findings.map((f) => f.reason), ['pattern "(.*a){20}" in the text body']);
    assert.ok(ms < 150);
  });
});

describe('the message text', () => {
  test('an unknown charset and invalid UTF-8 are read, not thrown on', () => {
    const unknown = extractMessageText(split(message({ 'Content-Type': 'text/plain; charset=x-made-up' }, 'Hello Überweisung\n')), { maxParts: 200, maxDepth: 12 });
    assert.match(unknown.text, /Überweisung/);
    const latin1Body = Buffer.concat([
      Buffer.from(crlf(`${headers({ ...BASE, Subject: 'x', 'Content-Type': 'text/plain; charset=x-made-up' })}\n`)),
      iconv.encode('Bitte die Überweisung\r\n', 'latin1'),
    ]);
    assert.match(extractMessageText(split(latin1Body), { maxParts: 200, maxDepth: 12 }).text, /Überweisung/);
    const invalid = Buffer.concat([Buffer.from(message({}, 'before ')), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(' invoice\r\n')]);
    const text = extractMessageText(split(invalid), { maxParts: 200, maxDepth: 12 }).text;
    assert.match(text, /before \uFFFD+ invoice/);
  });

  test('a multipart/alternative gives its text and HTML parts apart and skips attachments', () => {
    const raw = crlf(
      `${headers({ ...BASE, Subject: '=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=', 'Content-Type': 'multipart/mixed; boundary="m"' })}\n` +
        '--m\nContent-Type: multipart/alternative; boundary="a"\n\n--a\nContent-Type: text/plain\n\nplain words\n' +
        '--a\nContent-Type: text/html\n\n<p>html&amp;words</p>\n--a--\n' +
        '--m\nContent-Type: text/plain\nContent-Disposition: attachment; filename=notes.txt\n\nattached words\n--m--\n',
    );
    const extracted = extractMessageText(split(raw), { maxParts: 200, maxDepth: 12 });
    assert.equal(extracted.subject, 'Grüße');
    assert.equal(extracted.text, 'plain words');
    assert.equal(extracted.html.trim(), 'html&words');
    assert.deepEqual(extracted.cut, []);
  });
});

describe('bad input is a finding or a clean pass, never a throw or a hang', () => {
  const keywords = { keywords: [{ text: 'invoice' }], patterns: [{ pattern: 'pay(pal)?' }] };
  const within = async (label: string, raw: string | Buffer, limitMs: number) => {
    const started = performance.now();
    const findings = await contentFindings(raw, keywords);
    const ms = performance.now() - started;
    console.log(`# ${label}: ${ms.toFixed(1)} ms, ${findings.map((f) => f.symbol).join(', ') || 'no findings'}`);
    assert.ok(ms < limitMs, `${label} took ${ms} ms`);
    assert.ok(!findings.some((f) => f.symbol.startsWith('GUARD_')), `${label}: ${reasons(findings).join('; ')}`);
    return findings;
  };

  test('a multipart without its closing boundary is read to its end', async () => {
    const raw = crlf(`${headers({ ...BASE, Subject: 'x', 'Content-Type': 'multipart/mixed; boundary="b"' })}\n--b\nContent-Type: text/plain\n\nthe invoice\n`);
    assert.deepEqual((await within('no closing boundary', raw, 200)).map((f) => f.symbol), ['CONTENT_KEYWORD']);
  });

  test('a 5 MB single-line body', async () => {
    const findings = await within('5 MB line', message({}, `${'x'.repeat(5 * 1024 * 1024)} invoice\n`), 1000);
    assert.deepEqual(findings.map((f) => f.symbol), ['CONTENT_NOT_FULLY_READ']);
    assert.match(findings[0]!.reason, /text past 1048576 characters/);
  });

  test('1,000 nested multiparts', async () => {
    const findings = await within('1,000 nested multiparts', nested(1000), 500);
    assert.deepEqual(findings.map((f) => f.symbol), ['CONTENT_NOT_FULLY_READ']);
    assert.match(findings[0]!.reason, /nested more than 12 deep/);
  });

  test('a header line of almost 100,000 characters (the longest the gateway accepts)', async () => {
    const findings = await within('99,200-character subject', message({ Subject: `${'invoice '.repeat(12_400)}` }, 'body\n'), 500);
    assert.deepEqual(findings.map((f) => f.symbol), ['CONTENT_NOT_FULLY_READ', 'CONTENT_KEYWORD']);
  });

  test('invalid UTF-8 and an unknown charset', async () => {
    const raw = Buffer.concat([Buffer.from(message({ 'Content-Type': 'text/plain; charset="x-bogus==;;"' }, 'x ')), Buffer.from([0xc3, 0x28, 0xa0]), Buffer.from(' paypal\r\n')]);
    assert.deepEqual((await within('invalid UTF-8, unknown charset', raw, 200)).map((f) => f.symbol), ['CONTENT_PATTERN']);
  });
});
