import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { readMessageData } from '../src/smtp/message-intake.ts';

function feed(chunks: string[], maxBytes = 1024) {
  const stream = new PassThrough();
  const result = readMessageData(stream, maxBytes);
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
});
