/** The sender authentication's DNS: answers and "no such name" are kept for a while, failures never. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDnsResolver } from '../src/guard/dns-resolver.ts';
import { startLocalDns } from './support/local-dns.ts';

test('answers and absent names are asked once, a failure is asked again, and a burst asks once', async () => {
  const dns = await startLocalDns({ 'sender.example': { TXT: ['v=spf1 -all'] } });
  try {
    const resolve = createDnsResolver({ servers: [dns.server], timeoutMs: 300 });
    assert.deepEqual(await resolve('sender.example', 'TXT'), [['v=spf1 -all']]);
    const afterFirst = dns.queries;
    assert.deepEqual(await resolve('SENDER.example', 'txt'), [['v=spf1 -all']]);
    assert.equal(dns.queries, afterFirst, 'the second question is answered from the cache');

    await assert.rejects(resolve('_dmarc.sender.example', 'TXT'), { code: 'ENOTFOUND' });
    const afterAbsent = dns.queries;
    await assert.rejects(resolve('_dmarc.sender.example', 'TXT'), { code: 'ENOTFOUND' });
    assert.equal(dns.queries, afterAbsent, '"no such name" is kept too');

    dns.silent.add('slow.example');
    await assert.rejects(resolve('slow.example', 'TXT'), { code: 'ETIMEOUT' });
    const afterTimeout = dns.queries;
    dns.silent.delete('slow.example');
    dns.zone['slow.example'] = { TXT: ['v=spf1 +all'] };
    assert.deepEqual(await resolve('slow.example', 'TXT'), [['v=spf1 +all']], 'a timeout is not kept: the next message asks again');
    assert.ok(dns.queries > afterTimeout);

    dns.zone['burst.example'] = { TXT: ['v=spf1 ~all'] };
    const beforeBurst = dns.queries;
    await Promise.all(Array.from({ length: 20 }, () => resolve('burst.example', 'TXT')));
    assert.equal(dns.queries - beforeBurst, 1, 'twenty messages at once ask once');
  } finally {
    await dns.close();
  }
});
