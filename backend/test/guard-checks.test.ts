import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { absurdStructureHook, messageStructureCheck } from '../src/guard/checks/message-structure.ts';
import { replyToDomainCheck } from '../src/guard/checks/reply-to-domain.ts';
import type { GuardFinding } from '../src/guard/contract.ts';
import { DEFAULT_GUARD_POLICY, resolveGuardPolicy } from '../src/guard/policy.ts';
import { createGuardRunner } from '../src/guard/runner.ts';
import { GUARD_CHECKS } from '../src/guard/tenant-guard.ts';
import { scanMimeStructure } from '../src/mail/mime-structure.ts';
import {
  alternativeHtml,
  crlf,
  guardInput,
  headers,
  manyParts,
  nested,
  plainText,
  split,
  withAttachments,
} from './support/crafted-mail.ts';

const NO_LIMITS = { maxParts: 100_000, maxDepth: 1000, maxBodyBytes: Number.MAX_SAFE_INTEGER };
const run = createGuardRunner({ checks: GUARD_CHECKS, policyFor: () => DEFAULT_GUARD_POLICY });
const symbols = (findings: GuardFinding[]) => findings.map((f) => f.symbol).sort();

describe('the MIME structure scan', () => {
  test('counts parts and nesting of ordinary mail and names each part type', () => {
    const plain = scanMimeStructure(split(plainText()), NO_LIMITS);
    assert.equal(plain.parts, 1);
    assert.equal(plain.depth, 0);
    assert.deepEqual(plain.partList.map((p) => p.contentType), ['text/plain']);
    const alternative = scanMimeStructure(split(alternativeHtml()), NO_LIMITS);
    assert.deepEqual(alternative.partList.map((p) => [p.depth, p.contentType]), [[0, 'multipart/alternative'], [1, 'text/plain'], [1, 'text/html']]);
    const attached = scanMimeStructure(split(withAttachments(3, 100 * 1024)), NO_LIMITS);
    assert.equal(attached.parts, 7);
    assert.equal(attached.depth, 2);
    const pdfs = attached.partList.filter((p) => p.contentType === 'application/pdf');
    assert.equal(pdfs.length, 3);
    for (const pdf of pdfs) assert.ok(pdf.bodyBytes! > 136_000 && pdf.bodyBytes! < 142_000, `base64 of 100 KiB with line breaks: ${pdf.bodyBytes}`);
    assert.deepEqual(attached.problems, []);
    assert.equal(attached.limitReached, undefined);
  });

  test('counts a forwarded message/rfc822 as one level deeper, with its own parts', () => {
    const forwarded = crlf(
      `${headers({ From: 'a@example.org', 'Content-Type': 'multipart/mixed; boundary=m' })}\n--m\nContent-Type: text/plain\n\nsee below\n` +
        `--m\nContent-Type: message/rfc822\n\nFrom: z@example.net\nSubject: inner\nContent-Type: multipart/alternative; boundary=i\n\n` +
        `--i\n\nno header at all\n--i\nContent-Type: text/html\n\n<b>x</b>\n--i--\n--m--\n`,
    );
    const structure = scanMimeStructure(split(forwarded), NO_LIMITS);
    assert.deepEqual(
      structure.partList.map((p) => [p.depth, p.contentType]),
      [[0, 'multipart/mixed'], [1, 'text/plain'], [1, 'message/rfc822'], [2, 'multipart/alternative'], [3, 'text/plain'], [3, 'text/html']],
    );
    assert.deepEqual(structure.problems, []);
  });

  test('stops at the part limit, the depth limit and the byte limit, and says which', () => {
    const parts = scanMimeStructure(split(manyParts(500)), { ...NO_LIMITS, maxParts: 50 });
    assert.equal(parts.limitReached, 'parts');
    assert.equal(parts.parts, 51);
    assert.equal(parts.partList.length, 50);
    const deep = scanMimeStructure(split(nested(60)), { ...NO_LIMITS, maxDepth: 10 });
    assert.equal(deep.limitReached, 'depth');
    assert.ok(deep.partList.length <= 11);
    const message = split(withAttachments(2, 50_000));
    const bytes = scanMimeStructure(message, { ...NO_LIMITS, maxBodyBytes: 2000 });
    assert.equal(bytes.limitReached, 'bytes');
    assert.equal(bytes.scannedBodyBytes, 2000);
    assert.equal(bytes.bodyBytes, message.body.length);
  });

  test('reports broken structure as problems instead of failing', () => {
    const noBoundary = scanMimeStructure(split(crlf(`${headers({ 'Content-Type': 'multipart/mixed' })}\nhello\n`)), NO_LIMITS);
    assert.match(noBoundary.problems.join(), /multipart\/mixed without a boundary/);
    const unclosed = scanMimeStructure(split(crlf(`${headers({ 'Content-Type': 'multipart/mixed; boundary=b' })}\n--b\n\ntext\n`)), NO_LIMITS);
    assert.match(unclosed.problems.join(), /1 multipart was not closed by the end of the message/);
    const garbageType = scanMimeStructure(split(crlf(`${headers({ 'Content-Type': ';;;="' })}\nx\n`)), NO_LIMITS);
    assert.equal(garbageType.partList[0]!.contentType, 'text/plain');
    const empty = scanMimeStructure(split('Subject: only a header\r\n'), NO_LIMITS);
    assert.equal(empty.parts, 1);
  });

  test('a boundary that merely starts like another is not taken for it; transport padding is', () => {
    const message = crlf(
      `${headers({ 'Content-Type': 'multipart/mixed; boundary=ab' })}\n--ab\nContent-Type: text/plain\n\n--abc is not a delimiter\n` +
        `--ab  \nContent-Type: text/html\n\n<p>x</p>\n--ab--\n`,
    );
    const structure = scanMimeStructure(split(message), NO_LIMITS);
    assert.deepEqual(structure.partList.map((p) => p.contentType), ['multipart/mixed', 'text/plain', 'text/html']);
  });
});

describe('the MIME structure scan on crafted worst cases', () => {
  /** The fastest of three runs, so a busy machine does not fail the test while super-linear work (seconds) does. */
  const fastest = (fn: () => unknown): number => {
    let best = Number.POSITIVE_INFINITY;
    for (let run = 0; run < 3; run += 1) {
      const started = performance.now();
      fn();
      best = Math.min(best, performance.now() - started);
    }
    return best;
  };

  test('40 nested boundaries sharing a long prefix and 4 MB of near-miss delimiter lines cost one pass', () => {
    const prefix = 'p'.repeat(60);
    let open = '';
    for (let d = 1; d <= 40; d += 1) open += `--${prefix}${d}\nContent-Type: multipart/mixed; boundary="${prefix}${d + 1}"\n\n`;
    const nearMiss = `--${prefix}zz\n`.repeat(Math.ceil((4 * 1024 * 1024) / (prefix.length + 5)));
    const raw = crlf(`${headers({ 'Content-Type': `multipart/mixed; boundary="${prefix}1"` })}\n${open}${nearMiss}`);
    const message = split(raw);
    let structure!: ReturnType<typeof scanMimeStructure>;
    const ms = fastest(() => {
      structure = scanMimeStructure(message, { maxParts: 5000, maxDepth: 50, maxBodyBytes: Number.MAX_SAFE_INTEGER });
    });
    assert.equal(structure.depth, 40);
    assert.ok(ms < 400, `${ms.toFixed(1)} ms for ${message.body.length} bytes`);
  });

  test('delimiters followed by headers that never end stop the scan at the first unreadable part header', () => {
    const raw = crlf(`${headers({ 'Content-Type': 'multipart/mixed; boundary=b' })}\n${'--b\nX-Filler: y\n'.repeat(300_000)}`);
    const message = split(raw);
    let structure!: ReturnType<typeof scanMimeStructure>;
    const ms = fastest(() => {
      structure = scanMimeStructure(message, { maxParts: 5000, maxDepth: 40, maxBodyBytes: Number.MAX_SAFE_INTEGER });
    });
    assert.match(structure.problems.join(), /part 2 has an unreadable header section; the rest was not read/);
    assert.ok(ms < 100, `${ms.toFixed(1)} ms for ${message.body.length} bytes`);
  });

  test('thousands of empty parts stop at the part limit', () => {
    const message = split(crlf(`${headers({ 'Content-Type': 'multipart/mixed; boundary=b' })}\n${'--b\n\n'.repeat(200_000)}--b--\n`));
    let structure!: ReturnType<typeof scanMimeStructure>;
    const ms = fastest(() => {
      structure = scanMimeStructure(message, { maxParts: 5000, maxDepth: 40, maxBodyBytes: Number.MAX_SAFE_INTEGER });
    });
    assert.equal(structure.limitReached, 'parts');
    assert.ok(ms < 100, `${ms.toFixed(1)} ms`);
  });
});

describe('the message-structure check', () => {
  test('ordinary mail has no structure findings', async () => {
    for (const raw of [plainText(), alternativeHtml(), withAttachments(3, 100 * 1024)]) {
      const verdict = await run(guardInput(raw));
      assert.deepEqual(verdict.findings, []);
      assert.equal(verdict.action, 'deliver');
    }
  });

  test('a message with too many parts gets MIME_TOO_MANY_PARTS naming the limit', async () => {
    const verdict = await run(guardInput(manyParts(300)));
    const found = verdict.findings.find((f) => f.symbol === 'MIME_TOO_MANY_PARTS');
    assert.ok(found, JSON.stringify(verdict.findings));
    assert.match(found.reason, /more than 200 MIME parts \(the limit is 200\)/);
    assert.equal(found.score, 5);
    assert.equal(verdict.action, 'flag');
  });

  test('deep nesting gets MIME_NESTING_TOO_DEEP; the tenant policy moves the limit', async () => {
    const verdict = await run(guardInput(nested(20)));
    const found = verdict.findings.find((f) => f.symbol === 'MIME_NESTING_TOO_DEEP');
    assert.ok(found);
    assert.match(found.reason, /nested more than 12 deep \(the limit is 12\)/);
    assert.equal(verdict.action, 'flag');
    assert.deepEqual(symbols((await run(guardInput(nested(12)))).findings), []);
    const strict = createGuardRunner({ checks: [messageStructureCheck], policyFor: () => resolveGuardPolicy({ limits: { maxNestingDepth: 3 } }) });
    assert.deepEqual(symbols((await strict(guardInput(nested(5)))).findings), ['MIME_NESTING_TOO_DEEP']);
  });

  test('a 10,000-character header line gets HEADER_LINE_TOO_LONG naming the field and its length', async () => {
    const raw = plainText({ Subject: 'x'.repeat(10_000) });
    const verdict = await run(guardInput(raw));
    const found = verdict.findings.find((f) => f.symbol === 'HEADER_LINE_TOO_LONG');
    assert.ok(found);
    assert.match(found.reason, /a 10009-byte line in the Subject field in the message header \(the limit is 998 bytes\)/);
    const inPart = crlf(`${headers({ From: 'b@example.org', 'Content-Type': 'multipart/mixed; boundary=b' })}\n--b\nContent-Type: text/plain; name="${'n'.repeat(3000)}"\n\nx\n--b--\n`);
    assert.match((await run(guardInput(inPart))).findings.find((f) => f.symbol === 'HEADER_LINE_TOO_LONG')!.reason, /in the header of MIME part 2/);
    const relaxed = createGuardRunner({ checks: [messageStructureCheck], policyFor: () => resolveGuardPolicy({ limits: { maxHeaderLineBytes: 20_000 } }) });
    assert.deepEqual((await relaxed(guardInput(raw))).findings, []);
  });

  test('a multipart that does not hold together gets MIME_MALFORMED with the problem', async () => {
    const raw = crlf(`${headers({ From: 'b@example.org', 'Content-Type': 'multipart/mixed' })}\nhello\n`);
    const verdict = await run(guardInput(raw));
    assert.match(verdict.findings.find((f) => f.symbol === 'MIME_MALFORMED')!.reason, /multipart\/mixed without a boundary/);
  });
});

describe('the end-of-DATA structure hook', () => {
  const session = { id: 's1', remoteAddress: '192.0.2.1', tls: false, recipients: ['alice@acme.test'] };
  const dataEnd = (raw: string) => absurdStructureHook().dataEnd!(session, { raw: Buffer.from(raw), header: split(raw) });

  test('refuses absurd nesting and absurd part counts with 554 5.6.0, and lets ordinary mail and merely deep mail pass', () => {
    assert.deepEqual(dataEnd(nested(41)), {
      refuse: { code: 554, enhanced: '5.6.0', message: 'Message refused: MIME parts nested more than 40 deep; no mail program writes that' },
    });
    assert.match((dataEnd(manyParts(5001)) as { refuse: { message: string } }).refuse.message, /more than 5000 MIME parts/);
    assert.equal(dataEnd(nested(40)), undefined);
    assert.equal(dataEnd(manyParts(4999)), undefined);
    assert.equal(dataEnd(withAttachments(3, 100 * 1024)), undefined);
  });

  test('reads only the first 8 MiB while the client waits; the message check still sees what lies beyond', async () => {
    // 90 parts of 100 KiB of text lines, then a part nested 45 deep.
    const filler = `--outer\nContent-Type: text/plain\n\n${`${'x'.repeat(76)}\n`.repeat(1350)}`.repeat(90);
    const deepAfterFiller = crlf(`${headers({ From: 'a@example.org', 'Content-Type': 'multipart/mixed; boundary=outer' })}\n`) +
      crlf(filler) + nested(45).slice(nested(45).indexOf('\r\n\r\n') + 4).replace(/^/, '--outer\r\nContent-Type: multipart/mixed; boundary="n1"\r\n\r\n');
    assert.equal(dataEnd(deepAfterFiller), undefined);
    const verdict = await run(guardInput(deepAfterFiller));
    assert.deepEqual(symbols(verdict.findings), ['MIME_NESTING_TOO_DEEP']);
  });
});

describe('the reply-to-domain check', () => {
  const check = async (fields: Array<[string, string]>) => {
    const raw = crlf(`${headers([...fields, ['Subject', 'Invoice'], ['Content-Type', 'text/plain']])}\nPlease pay.\n`);
    return (await run(guardInput(raw))).findings;
  };

  test('a Reply-To in another domain than From gets REPLYTO_DOMAIN_DIFFERS naming both domains', async () => {
    const findings = await check([['From', '"CEO" <ceo@acme.test>'], ['Reply-To', 'ceo <ceo@acme-payments.example>']]);
    assert.deepEqual(symbols(findings), ['REPLYTO_DOMAIN_DIFFERS']);
    assert.equal(findings[0]!.reason, 'reply-to domain acme-payments.example differs from the from-domain acme.test');
    assert.equal(findings[0]!.score, 4);
  });

  test('the same domain, a subdomain or a parent domain is fine, in any case and IDN spelling', async () => {
    assert.deepEqual(await check([['From', 'a@acme.test'], ['Reply-To', 'b@ACME.test']]), []);
    assert.deepEqual(await check([['From', 'a@acme.test'], ['Reply-To', 'b@support.acme.test']]), []);
    assert.deepEqual(await check([['From', 'a@news.acme.test'], ['Reply-To', 'b@acme.test']]), []);
    assert.deepEqual(await check([['From', 'a@bücher.example'], ['Reply-To', 'b@xn--bcher-kva.example']]), []);
    assert.deepEqual(await check([['From', 'a@acme.test']]), [], 'no Reply-To, nothing to compare');
    // An encoded comma in a display name is not a second address.
    assert.deepEqual(await check([['From', 'a@acme.test'], ['Reply-To', '=?utf-8?Q?Doe=2C_John?= <j@acme.test>']]), []);
  });

  test('any foreign address among several Reply-To addresses counts; a look-alike suffix is not a subdomain', async () => {
    const findings = await check([['From', 'a@acme.test'], ['Reply-To', 'b@acme.test, c@evil.test, Group: d@other.test;']]);
    assert.equal(findings.find((f) => f.symbol === 'REPLYTO_DOMAIN_DIFFERS')!.reason, 'reply-to domain evil.test, other.test differs from the from-domain acme.test');
    assert.deepEqual(symbols(await check([['From', 'a@acme.test'], ['Reply-To', 'b@notacme.test']])), ['REPLYTO_DOMAIN_DIFFERS']);
  });

  test('missing, repeated and garbage From or Reply-To fields are findings, never exceptions', async () => {
    assert.deepEqual(symbols(await check([['Reply-To', 'b@evil.test']])), ['FROM_MISSING']);
    assert.deepEqual(symbols(await check([['From', 'a@acme.test'], ['From', 'b@evil.test']])), ['FROM_MULTIPLE']);
    const garbageFrom = await check([['From', '<<<>>>@@@ ;;; "'], ['Reply-To', 'b@evil.test']]);
    assert.deepEqual(symbols(garbageFrom), ['FROM_UNREADABLE']);
    assert.match(garbageFrom[0]!.reason, /the From field holds no readable address/);
    const garbageReplyTo = await check([['From', 'a@acme.test'], ['Reply-To', '\u0001\u0007 not an address']]);
    assert.deepEqual(symbols(garbageReplyTo), ['REPLYTO_UNREADABLE']);
    assert.deepEqual(symbols(await check([['From', 'a@acme.test'], ['Reply-To', 'b@acme.test'], ['Reply-To', 'c@acme.test']])), ['REPLYTO_MULTIPLE']);
    assert.deepEqual(symbols(await check([['From', 'a@acme.test'], ['Reply-To', 'b@acme.test, nobody']])), ['REPLYTO_UNREADABLE']);
    assert.deepEqual(symbols(await check([['From', ''], ['Reply-To', '']])), ['FROM_UNREADABLE', 'REPLYTO_UNREADABLE']);
  });

  test('a huge address field is read only so far, quickly', async () => {
    const long = Array.from({ length: 5000 }, (_, i) => `user${i}@evil${i}.test`).join(',\n ');
    const started = performance.now();
    const findings = await check([['From', 'a@acme.test'], ['Reply-To', long]]);
    assert.ok(performance.now() - started < 200);
    assert.ok(findings.some((f) => f.symbol === 'REPLYTO_DOMAIN_DIFFERS'));
    assert.ok(findings.find((f) => f.symbol === 'REPLYTO_DOMAIN_DIFFERS')!.reason.length < 300, 'the reason names a few domains, not thousands');
  });

  test('only the header is read, so a truncated view changes nothing', async () => {
    const raw = withAttachments(1, 50_000, { 'Reply-To': 'x@evil.test' });
    const small = createGuardRunner({ checks: [replyToDomainCheck], policyFor: () => DEFAULT_GUARD_POLICY, budgets: { bytes: 2048 } });
    assert.deepEqual(symbols((await small(guardInput(raw))).findings), ['GUARD_TRUNCATED_REPLY_TO_DOMAIN', 'REPLYTO_DOMAIN_DIFFERS']);
  });
});
