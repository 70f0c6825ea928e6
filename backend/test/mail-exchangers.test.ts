import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import { resolveMailExchangers } from '../src/delivery/mail-exchangers.ts';

/** The zone the loopback DNS server answers from. */
type Answer = { type: 'MX'; preference: number; exchange: string } | { type: 'A'; address: string };
const zone: Record<string, { rcode?: number; answers: Answer[] }> = {
  'mx.test': { answers: [
    { type: 'MX', preference: 20, exchange: 'backup.mx.test' },
    { type: 'MX', preference: 10, exchange: 'primary.mx.test' },
  ] },
  'nullmx.test': { answers: [{ type: 'MX', preference: 0, exchange: '' }] },
  'nomx.test': { answers: [{ type: 'A', address: '192.0.2.25' }] },
  'empty.test': { answers: [] },
  'broken.test': { rcode: 2, answers: [] },
};

const TYPE = { A: 1, MX: 15, AAAA: 28 } as const;

function encodeName(name: string): Buffer {
  const labels = name ? name.split('.') : [];
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

function answer(query: Buffer): Buffer {
  let offset = 12;
  const labels: string[] = [];
  while (query[offset]) {
    const length = query[offset]!;
    labels.push(query.subarray(offset + 1, offset + 1 + length).toString());
    offset += length + 1;
  }
  const questionEnd = offset + 5;
  const name = labels.join('.').toLowerCase();
  const qtype = query.readUInt16BE(offset + 1);
  const entry = zone[name];
  const records = (entry?.answers ?? []).filter((a) => TYPE[a.type] === qtype);
  const rcode = entry ? (entry.rcode ?? 0) : 3;
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8180 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const answers = records.map((record) => {
    const data =
      record.type === 'MX'
        ? Buffer.concat([Buffer.from([record.preference >> 8, record.preference & 255]), encodeName(record.exchange)])
        : Buffer.from(record.address.split('.').map(Number));
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(TYPE[record.type], 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(60, 4);
    fixed.writeUInt16BE(data.length, 8);
    return Buffer.concat([Buffer.from([0xc0, 12]), fixed, data]);
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...answers]);
}

describe('finding the mail servers of a domain', () => {
  let server: Socket;
  let resolver: Resolver;

  before(async () => {
    server = createSocket('udp4');
    server.on('message', (message, remote) => server.send(answer(message), remote.port, remote.address));
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
    resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${server.address().port}`]);
  });

  after(() => server.close());

  test('MX hosts come in order of preference', async () => {
    assert.deepEqual(await resolveMailExchangers('mx.test', resolver), { hosts: ['primary.mx.test', 'backup.mx.test'] });
  });

  test('a null MX means the domain accepts no mail: a permanent failure', async () => {
    assert.deepEqual(await resolveMailExchangers('nullmx.test', resolver), {
      permanentError: 'the domain nullmx.test does not accept mail (null MX)',
      enhancedCode: '5.1.10',
    });
  });

  test('without MX the domain itself is the mail server when it has an address', async () => {
    assert.deepEqual(await resolveMailExchangers('nomx.test', resolver), { hosts: ['nomx.test'] });
  });

  test('a domain with neither MX nor address has no mail server', async () => {
    const lookup = await resolveMailExchangers('empty.test', resolver);
    assert.ok('permanentError' in lookup, JSON.stringify(lookup));
  });

  test('a domain that does not exist fails permanently with 5.1.2', async () => {
    const lookup = await resolveMailExchangers('nowhere.test', resolver);
    assert.deepEqual(lookup, { permanentError: 'the domain nowhere.test does not exist', enhancedCode: '5.1.2' });
  });

  test('a failing name server is a temporary failure, retried later', async () => {
    const lookup = await resolveMailExchangers('broken.test', resolver);
    assert.ok('temporaryError' in lookup, JSON.stringify(lookup));
  });

  test('an address literal needs no lookup', async () => {
    assert.deepEqual(await resolveMailExchangers('[192.0.2.7]', resolver), { hosts: ['192.0.2.7'] });
  });
});
