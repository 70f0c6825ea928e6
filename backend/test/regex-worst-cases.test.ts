/**
 * Every function whose patterns see outside input, fed the inputs that make backtracking patterns explode:
 * long runs without the closing character, nested repetition, "a." × 5,000. Each call must finish within
 * LIMIT_MS and still give the right answer on ordinary input. The best of three timings is compared, so a
 * busy test machine does not fail the test, while a super-linear pattern (seconds on every run) does.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { withoutTrailingSlashes } from '../../common/src/trailing-slashes.ts';
import { matchSubjectTrigger, parseExpiry, parseSealpostHeaders } from '../../common/src/headers.ts';
import { fillPlaceholders } from '../../common/src/placeholders.ts';
import { checkSetupInput } from '../src/deployment/exchange-setup.ts';
import { sanitizeStyleAttribute, sanitizeStyleSheet } from '../src/portal/css-sanitizer.ts';
import { sanitizeMailHtml } from '../src/portal/html-sanitizer.ts';
import { contentDisposition, downloadContentType, withinStructureLimits } from '../src/portal/message-parsing.ts';
import { fillTemplate } from '../src/portal/notification-mail.ts';
import { normaliseSubject, referencedMessageIds } from '../src/portal/threads.ts';
import { checkAddressSyntax, isPlausibleAddress } from '../src/mail/address-syntax.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeGatewayForBlock } from './support/test-gateway.ts';

const LIMIT_MS = 50;

/** Runs fn three times and fails when even the fastest run took longer than the limit; returns its answer. */
function withinLimit<T>(what: string, fn: () => T, limitMs = LIMIT_MS): T {
  let best = Number.POSITIVE_INFINITY;
  let answer!: T;
  for (let run = 0; run < 3; run += 1) {
    const started = performance.now();
    answer = fn();
    best = Math.min(best, performance.now() - started);
  }
  assert.ok(best < limitMs, `${what}: ${best.toFixed(1)} ms (limit ${limitMs} ms)`);
  return answer;
}

/** The fastest of `runs` runs (three unless told), in milliseconds. */
function timeOf(fn: () => unknown, runs = 3): number {
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    fn();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

const repeat = (text: string, times: number) => text.repeat(times);
const css = { inlineUrlFor: (cid: string) => (cid === 'logo@acme' ? '/api/portal/messages/m/inline/1' : undefined), allowRemote: false };

describe('patterns that see outside input run in linear time', () => {
  test('envelope address syntax: "a." × 5,000, long runs and many @ are refused at once', () => {
    const hostile = [
      `${repeat('a.', 32)}a@x`,
      `${repeat('a.', 5_000)}a@x`,
      `${repeat('a.', 5_000)}a@acme.test`,
      `${repeat('a', 100_000)}@acme.test`,
      `alice@${repeat('a-', 50_000)}.test`,
      `alice@${repeat('a.', 50_000)}`,
      repeat('@', 100_000),
      `${repeat('%', 100_000)}@acme.test`,
      repeat('a.', 126) + 'a@x', // exactly within the path limit: every character is looked at
    ];
    for (const address of hostile) {
      const verdict = withinLimit(`checkAddressSyntax(${JSON.stringify(address.slice(0, 20))}…)`, () => checkAddressSyntax(address));
      assert.equal(verdict.valid, false, address.slice(0, 40));
    }
    assert.equal(checkAddressSyntax(`${repeat('a.', 30)}a@mail.acme.test`).valid, true, 'many dots in a normal-length local part are fine');
    assert.equal(checkAddressSyntax('alice@acme.test').valid, true);
  });

  test("the add-in's loose address check: long runs are answered at once", () => {
    for (const value of [`a@${repeat('.', 100_000)}`, repeat('a', 100_000), `${repeat('a', 100_000)}@b.c`, `a@${repeat('b', 100_000)}.c`]) {
      assert.equal(withinLimit('isPlausibleAddress', () => isPlausibleAddress(value)), false);
    }
    assert.equal(isPlausibleAddress('bob@example.org'), true);
    assert.equal(isPlausibleAddress('bob@example'), false);
  });

  test('CSS in style attributes: spaces after url(, nested brackets, comments and quotes are answered at once', () => {
    const hostile = [
      `background:url(${repeat(' ', 100_000)}`,
      `background:url(${repeat(' ', 4_000)}https://tracker.example/a.gif)`,
      `background:url("${repeat(' ', 100_000)}`,
      `background:${repeat('(', 10_000)}`,
      `background:${repeat('calc(', 3_000)}`,
      `width:${repeat('/*', 5_000)}`,
      `font-family:${repeat('"a",', 3_000)}`,
      `background:${repeat('url(', 3_000)}`,
      repeat(';', 16_000),
      repeat('a;', 8_000),
      repeat('x:(;', 4_000),
      `${repeat('color:red;', 99)}font-weight;${repeat('"', 15_000)}`,
      `color:${repeat('\\', 16_000)}`,
    ];
    for (const style of hostile) {
      const blocked = { remote: false };
      const out = withinLimit(`style="${style.slice(0, 20)}…"`, () => sanitizeStyleAttribute(style, css, blocked));
      assert.doesNotMatch(out, /tracker|url\(/);
    }
    const blocked = { remote: false };
    assert.equal(sanitizeStyleAttribute('color: red; background: url(cid:logo@acme)', css, blocked), 'color:red;background:url("/api/portal/messages/m/inline/1")');
  });

  test('CSS in style elements: deep nesting, long selectors and unclosed blocks are answered at once', () => {
    const hostile = [
      `p{background:url(${repeat(' ', 100_000)}}`,
      repeat('a{', 50_000),
      repeat('@media screen{', 20_000),
      `${repeat('a,', 50_000)}b{color:red}`,
      `${repeat(':not(', 20_000)}a{color:red}`,
      repeat('/*', 50_000),
      repeat('}', 100_000),
      `p{content:"${repeat('(', 100_000)}"}`,
      `${repeat('<!--', 25_000)}p{color:red}`,
    ];
    for (const sheet of hostile) {
      withinLimit(`<style>${sheet.slice(0, 20)}…`, () => sanitizeStyleSheet(sheet, css, { remote: false }));
    }
    // Valid CSS up to the size limit is real parsing work, not backtracking: it only has to grow linearly.
    const small = `p{${repeat('color:red;', 5_000)}}`;
    const large = `p{${repeat('color:red;', 20_000)}}`;
    withinLimit('200,000 characters of declarations', () => sanitizeStyleSheet(large, css, { remote: false }), 1_000);
    // The two sizes are timed in turn, best of seven each, so a collection or another test file's burst of
    // work that lands on one size's runs does not decide the ratio; quadratic growth would be 16 ×.
    let smallMs = Number.POSITIVE_INFINITY;
    let largeMs = Number.POSITIVE_INFINITY;
    for (let run = 0; run < 7; run += 1) {
      smallMs = Math.min(smallMs, timeOf(() => sanitizeStyleSheet(small, css, { remote: false }), 1));
      largeMs = Math.min(largeMs, timeOf(() => sanitizeStyleSheet(large, css, { remote: false }), 1));
    }
    // Below 150 ms the ratio says nothing: a collection of the parser's garbage, or a machine busy with other
    // work, moves a few tens of milliseconds, while backtracking over 200,000 characters takes seconds.
    assert.ok(
      largeMs < Math.max(8 * smallMs, 150),
      `4 × the CSS took more than 8 × the time (${smallMs.toFixed(1)} ms for 50,000 characters, ${largeMs.toFixed(1)} ms for 200,000)`,
    );
    assert.equal(sanitizeStyleSheet('@media print { p { color: red } }', css, { remote: false }), '@media print{p{color:red}}');
  });

  test('mail HTML: many unclosed <style> elements and long style attributes are answered at once', () => {
    const hostile = [
      repeat('<style>', 20_000),
      repeat('<style></style>', 10_000),
      `<p style="background:url(${repeat(' ', 100_000)}">x</p>`,
      `<style>${repeat('p{color:red}', 10_000)}</style>`,
      repeat('<p style="color:red">x</p>', 5_000),
      // 2 MiB of CSS, four times the per-message budget: the rest is dropped unparsed.
      repeat(`<style>p{${repeat('color:red;', 12_000)}}</style>`, 16),
      repeat(`<p style="${repeat('color:red;', 1_600)}">x</p>`, 128),
    ];
    for (const html of hostile) {
      withinLimit(`sanitizeMailHtml(${html.slice(0, 20)}…)`, () => sanitizeMailHtml(html, css), 1_500);
    }
    assert.equal(sanitizeMailHtml('<p style="color:red">x</p>', css).html, '<p style="color:red">x</p>');
  });

  test('subjects, Message-ID lists and file names: long runs are answered at once', () => {
    for (const subject of [repeat(' ', 100_000) + 'x', repeat('re:', 30_000), `re${repeat(' ', 100_000)}`, `[${repeat('[', 100_000)}`, repeat('re [1] ', 20_000)]) {
      withinLimit('normaliseSubject', () => normaliseSubject(subject));
    }
    assert.equal(normaliseSubject('[EXT] RE [2]:  AW: Contract   draft'), 'contract draft');
    for (const references of [repeat('<', 100_000), `<${repeat('a', 100_000)}`, repeat('<a@b> ', 20_000)]) {
      withinLimit('referencedMessageIds', () => referencedMessageIds(undefined, references));
    }
    assert.deepEqual(referencedMessageIds('<a@b>', '<c@d> <a@b>'), ['<a@b>', '<c@d>']);
    withinLimit('contentDisposition', () => contentDisposition('attachment', repeat('ä"%;', 25_000)));
    for (const type of [repeat('a', 100_000), `${repeat('a/', 50_000)}`, `text/${repeat('+', 100_000)}!`]) {
      assert.ok(withinLimit('downloadContentType', () => downloadContentType(type)) === 'application/octet-stream', type.slice(0, 20));
    }
    assert.equal(downloadContentType('application/pdf'), 'application/pdf');
    const eml = Buffer.from(`Content-Type:${repeat(' ', 100_000)}multipart/mixed\r\n${repeat('content-type: text/plain\r\n', 400)}`);
    assert.equal(withinLimit('withinStructureLimits', () => withinStructureLimits(eml)), true);
  });

  test('templates, placeholders and control headers: long runs are answered at once', () => {
    for (const template of [repeat('{{', 50_000), `{{${repeat(' ', 100_000)}`, `{{ name${repeat(' ', 100_000)}`, repeat('{{a}', 30_000)]) {
      withinLimit('fillTemplate', () => fillTemplate(template, { name: 'Ada' }, true));
    }
    assert.equal(fillTemplate('Hi {{ name }}', { name: '<Ada>' }, true), 'Hi &lt;Ada&gt;');
    for (const text of [repeat('{', 100_000), `{${repeat('a', 100_000)}`]) withinLimit('fillPlaceholders', () => fillPlaceholders(text, { a: 1 }));
    assert.equal(fillPlaceholders('{n} more', { n: 3 }), '3 more');
    const headers: Record<string, string> = {
      'x-sealpost-encrypt': repeat(' ', 100_000),
      'x-sealpost-expires': `2026-${repeat('0', 100_000)}`,
      'x-sealpost-options': repeat(',', 100_000),
    };
    withinLimit('parseSealpostHeaders', () => parseSealpostHeaders((name) => headers[name.toLowerCase()], repeat(' ', 100_000)));
    withinLimit('parseExpiry', () => parseExpiry(`${repeat('1', 100_000)}-01-01`));
    withinLimit('matchSubjectTrigger', () => matchSubjectTrigger(`${repeat(' ', 100_000)}[secure]`));
    assert.equal(matchSubjectTrigger('  [secure] Contract').subject, 'Contract');
  });

  test('configuration and setup values: trailing slashes and domain names are answered at once', () => {
    assert.equal(withinLimit('withoutTrailingSlashes', () => withoutTrailingSlashes(`${repeat('/', 100_000)}x`)).length, 100_001);
    assert.equal(withoutTrailingSlashes('https://login.example///'), 'https://login.example');
    for (const domain of [`${repeat('a-', 120)}.test`, `${repeat('a', 252)}!`, repeat('a.', 126), `${repeat('a', 100_000)}.test`]) {
      assert.throws(() =>
        withinLimit('checkSetupInput', () =>
          checkSetupInput({ tenantName: 'Acme', domains: [domain], gatewayHost: 'gw.acme.test', tlsCertificateName: 'gw.acme.test' }),
        ),
      /is not a domain name/);
    }
  });
});

describe('a crafted address cannot freeze the SMTP gateway', () => {
  const running = acmeGatewayForBlock();

  test('RCPT TO with 5,000 × "a." gets a 5xx at once, and another connection is answered meanwhile', async () => {
    const attacker = await SmtpConversation.open(running.gateway.smtpPort, { localAddress: '127.0.0.2' });
    const bystander = await SmtpConversation.open(running.gateway.smtpPort, { localAddress: '127.0.0.3' });
    await attacker.command('EHLO prober.example');
    await bystander.command('EHLO mail.example.org');
    await attacker.command('MAIL FROM:<prober@example.org>');

    for (const address of [`${repeat('a.', 5_000)}a@x`, `${repeat('a.', 32)}a@x`, `${repeat('a.', 100)}a@acme`]) {
      const started = performance.now();
      const crafted = attacker.command(`RCPT TO:<${address}>`);
      const meanwhile = bystander.command('NOOP');
      const [reply, noop] = await Promise.all([crafted, meanwhile]);
      const elapsed = performance.now() - started;
      assert.ok(reply.code >= 500 && reply.code < 600, `${address.length} characters: ${reply.code} ${reply.text}`);
      assert.equal(noop.code, 250, 'the other connection is answered');
      assert.ok(elapsed < 1_000, `both replies came within ${elapsed.toFixed(0)} ms`);
    }
    const shortEnough = await attacker.command(`RCPT TO:<${repeat('a.', 30)}a@x>`);
    assert.equal(shortEnough.code, 553, 'an address within the path limit reaches the gateway\'s own check');
    assert.match(shortEnough.text, /^5\.1\.3 Recipient address <a\.a\.a.*> is not a valid address: the domain needs at least two labels/);
    assert.equal((await attacker.command('RCPT TO:<alice@acme.test>')).code, 250, 'the same connection still works');
    await attacker.quit();
    await bystander.quit();
  });
});
