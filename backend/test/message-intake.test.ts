import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import type { HeaderLimits } from '../src/mail/header-section.ts';
import { readMessageData } from '../src/smtp/message-intake.ts';

function feed(chunks: string[], maxBytes = 1024, headerLimits?: HeaderLimits) {
  const stream = new PassThrough();
  const result = readMessageData(stream, maxBytes, headerLimits);
  for (const chunk of chunks) stream.write(Buffer.from(chunk, 'latin1'));
  stream.end();
  return result;
}

describe('reading message data', () => {
  test('a CRLF split across two chunks is a proper line ending', async () => {
    const result = await feed(['Subject: a\r', '\n\r\nbody\r', '\n']);
    assert.equal(result.outcome, 'complete');
    assert.equal(result.outcome === 'complete' && result.data.toString(), 'Subject: a\r\n\r\nbody\r\n');
  });

  test('a bare LF at the start of a chunk is found, with its offset', async () => {
    assert.deepEqual(await feed(['Subject: a\r\n', '\nbody\r\n']), { outcome: 'bare_line_ending', kind: 'LF', offset: 12 });
  });

  test('a CR at the end of one chunk not followed by LF in the next is a bare CR', async () => {
    assert.deepEqual(await feed(['Subject: a\r', 'x\r\n']), { outcome: 'bare_line_ending', kind: 'CR', offset: 10 });
  });

  test('data ending in a lone CR is refused', async () => {
    assert.deepEqual(await feed(['Subject: a\r\n\r\nbody\r']), { outcome: 'bare_line_ending', kind: 'CR', offset: 18 });
  });

  test('past the limit nothing is kept and the size is reported', async () => {
    const result = await feed(['x'.repeat(600) + '\r\n', 'y'.repeat(600) + '\r\n']);
    assert.deepEqual(result, { outcome: 'too_large', bytes: 1204 });
  });

  test('a header section over its limit is refused with its size, counted to the blank line across chunks', async () => {
    const limits = { maxHeaderBytes: 100, maxLineBytes: 80, maxFields: 10 };
    const result = await feed([`A: ${'a'.repeat(60)}\r\n`, `B: ${'b'.repeat(60)}\r`, '\n', `C: c\r\n\r`, '\nbody\r\n'], 1024, limits);
    assert.deepEqual(result, { outcome: 'header_refused', refusal: { outcome: 'header_too_large', bytes: 136, limit: 100, complete: true } });
  });

  test('a NUL in the header section is refused, a NUL in the body is kept for the body', async () => {
    assert.deepEqual(await feed(['Subject: a\0b\r\n\r\nbody\r\n']), { outcome: 'header_refused', refusal: { outcome: 'nul_in_header', offset: 10 } });
    const body = await feed(['Subject: a\r\n\r\nbo\0dy\r\n']);
    assert.equal(body.outcome, 'complete');
  });

  test('the size limit of the whole message is reported before a header refusal', async () => {
    const result = await feed(['Subject: a\0b\r\n', 'x'.repeat(2000), '\r\n'], 1024);
    assert.equal(result.outcome, 'too_large');
  });
});
