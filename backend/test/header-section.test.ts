import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatField, splitMessage } from '../src/mail/header-block.ts';
import { HeaderSectionScanner, scanHeaderSection, type HeaderLimits, type HeaderScan } from '../src/mail/header-section.ts';
import { isSealpostHeader } from '../../common/src/headers.ts';
import { prepareOutgoingMessage } from '../src/mail/outgoing-message.ts';
import { parsePortalMessage } from '../src/portal/message-parsing.ts';

const LIMITS: HeaderLimits = { maxHeaderBytes: 1000, maxLineBytes: 700, maxFields: 20 };

/** Feeds the message in chunks of every size from 1 byte up, so no boundary hides a finding. */
function scanInChunks(raw: Buffer, size: number, limits = LIMITS): HeaderScan {
  const scanner = new HeaderSectionScanner(limits);
  for (let at = 0; at < raw.length; at += size) scanner.push(raw.subarray(at, at + size));
  return scanner.finish();
}

function sameAtEveryChunkSize(raw: Buffer, limits = LIMITS): HeaderScan {
  const whole = scanHeaderSection(raw, limits);
  for (const size of [1, 2, 3, 7, 64, 999]) assert.deepEqual(scanInChunks(raw, size, limits), whole, `chunks of ${size} bytes`);
  return whole;
}

const field = (name: string, bytes: number) => `${name}: ${'a'.repeat(bytes - name.length - 4)}\r\n`;

describe('the header section scanner', () => {
  test('a header section within the limits ends at the blank line, whatever the chunking', () => {
    const raw = Buffer.from('Subject: hi\r\nX-A: b\r\n folded\r\n\r\nbody\r\n\r\nmore: not a header\r\n');
    assert.deepEqual(sameAtEveryChunkSize(raw), { outcome: 'complete', headerEnd: 30, fields: 2 });
  });

  test('a header section of exactly the limit is accepted and one byte more is refused with its real size', () => {
    const exact = Buffer.from(`${field('X-Filler', 500)}${field('X-Filler', 500)}\r\nbody\r\n`);
    assert.equal(sameAtEveryChunkSize(exact).outcome, 'complete');
    const over = Buffer.from(`${field('X-Filler', 500)}${field('X-Filler', 501)}${field('X-After', 100)}\r\nbody\r\n`);
    assert.deepEqual(sameAtEveryChunkSize(over), { outcome: 'header_too_large', bytes: 1101, limit: 1000, complete: true });
  });

  test('a header section that never ends is one header section, and refused when too large', () => {
    const endless = Buffer.from(field('X-Filler', 150).repeat(10));
    assert.deepEqual(sameAtEveryChunkSize(endless), { outcome: 'header_too_large', bytes: 1500, limit: 1000, complete: true });
    const small = Buffer.from(field('X-Filler', 150).repeat(3));
    assert.deepEqual(sameAtEveryChunkSize(small), { outcome: 'complete', headerEnd: 450, fields: 3 });
  });

  test('one line longer than the line limit is refused even when the section is small', () => {
    const raw = Buffer.from(`Subject: a\r\n${field('X-Long', 703)}\r\nbody\r\n`);
    assert.deepEqual(sameAtEveryChunkSize(raw), { outcome: 'header_line_too_long', line: 2, limit: 700 });
  });

  test('too many fields are refused; folded continuation lines do not count as fields', () => {
    assert.deepEqual(sameAtEveryChunkSize(Buffer.from(`${'A: b\r\n'.repeat(21)}\r\n`)), { outcome: 'too_many_header_fields', limit: 20 });
    const folded = Buffer.from(`A: b\r\n${' c\r\n'.repeat(100)}\r\n`);
    assert.equal(sameAtEveryChunkSize(folded).outcome, 'complete');
  });

  test('a NUL in the header section is refused with its offset; a NUL in the body is not the header’s business', () => {
    assert.deepEqual(sameAtEveryChunkSize(Buffer.from('Subject: a\r\nMessage-ID: <a\0b@x>\r\n\r\nbody')), { outcome: 'nul_in_header', offset: 26 });
    assert.equal(sameAtEveryChunkSize(Buffer.from('Subject: a\r\n\r\nbo\0dy')).outcome, 'complete');
  });
});

describe('splitting a message into fields', () => {
  test('control headers hidden behind a space before the colon or a fold are still named as control headers', () => {
    const raw = Buffer.from(
      'X-Sealpost-Encrypt : none\r\nX-Sealpost-Flag\r\n : no\r\n X-Sealpost-Options: otp\r\nX-Sealpost\r\n -Expires: 2030-01-01\r\n' +
        'X-Sealpost-Options otp\r\n\r\nbody',
    );
    const split = splitMessage(raw);
    assert.equal(split.outcome, 'split');
    if (split.outcome !== 'split') return;
    assert.deepEqual(split.fields.map((f) => f.name), ['X-Sealpost-Encrypt', 'X-Sealpost-Flag', 'X-Sealpost -Expires', 'X-Sealpost-Options']);
    assert.ok(split.fields.every((f) => isSealpostHeader(f.name)));
  });

  test('a header section over the limit is a refusal, never a shorter list of fields', () => {
    const raw = Buffer.from(`${field('X-Filler', 600)}${field('X-Filler', 600)}X-Sealpost-Encrypt: none\r\n\r\nbody`);
    const split = splitMessage(raw, LIMITS);
    assert.equal(split.outcome, 'header_too_large');
  });

  test('a field folded over thousands of lines is split in linear time', () => {
    const raw = Buffer.from(`X-Long: a\r\n${' b\r\n'.repeat(250_000)}\r\nbody`);
    const started = performance.now();
    const split = splitMessage(raw);
    const ms = performance.now() - started;
    assert.equal(split.outcome, 'split');
    assert.ok(ms < 1000, `split ${raw.length} bytes in ${ms.toFixed(0)} ms`);
  });
});

describe('a message leaving the gateway', () => {
  test('is refused, not sent with its control headers, when its header section cannot be read whole', () => {
    const raw = Buffer.from(`${'X-Filler: f\r\n'.repeat(2200)}X-Sealpost-Encrypt: none\r\n\r\nbody\r\n`);
    assert.deepEqual(prepareOutgoingMessage(raw, 'external', ['x@example.net'], []), {
      outcome: 'refused',
      reason: 'Message header section has too many fields: the limit is 2100',
    });
  });
});

describe('a header field the gateway writes', () => {
  test('carries no control character even when its value was decoded from mail', () => {
    assert.equal(formatField('Subject', 'a\0b\r\nc\x1bd\te').toString(), 'Subject: a b c d\te\r\n');
  });
});

describe('the portal reader', () => {
  test('a MIME part whose header section is over the stored-message limit gives a notice, not an error page', async () => {
    const partFiller = `X-Part-Filler: ${'p'.repeat(990)}\r\n`.repeat(1200); // about 1.2 MB in one part's header
    const eml = Buffer.from(
      'From: <a@acme.test>\r\nSubject: nested\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' +
        `--b\r\nContent-Type: text/plain\r\n${partFiller}\r\nhidden text\r\n--b--\r\n`,
    );
    const parsed = await parsePortalMessage(eml);
    assert.equal(parsed.tooComplex, true);
    assert.match(parsed.text, /could not be read for the portal/);
  });
});
