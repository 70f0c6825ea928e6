import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import MailComposer from 'nodemailer/lib/mail-composer';
import { portalMessages } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { HeavyWorkLimiter } from '../src/portal/heavy-work-limiter.ts';
import { ParsedMessageCache, structureBytes, type ParsedStructure } from '../src/portal/parsed-message-cache.ts';
import { PortalProblemError } from '../src/portal/portal-problems.ts';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { PortalBrowser } from './support/portal-browser.ts';
import { tokenOf, waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
/** Larger than what the structure cache keeps of an attachment (512 KiB): decoded again per download. */
const LARGE_ATTACHMENT = randomBytes(1024 * 1024);
const LOGO = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

/** A release-when-told job that holds one of the portal's open slots, so requests queue behind it. */
function holdOpenSlot(gateway: Gateway): { release: () => void; done: Promise<void> } {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { release: () => release(), done: gateway.portal.opener.openLimiter.run(() => held) };
}

describe('portal reading under load', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;

  async function sendPortalMessage(to: string, subject: string) {
    const eml = await new MailComposer({
      from: 'Alice Lawyer <alice@acme.test>',
      to,
      subject,
      messageId: `<${Math.random().toString(36).slice(2)}@acme.test>`,
      text: `Plans for ${subject}.`,
      html: `<p>Plans for ${subject}.</p><img src="cid:logo@acme">`,
      headers: { 'X-Sealpost-Encrypt': 'portal' },
      attachments: [
        { filename: 'plans.bin', content: LARGE_ATTACHMENT, contentType: 'application/octet-stream' },
        { filename: 'logo.png', cid: 'logo@acme', content: LOGO, contentType: 'image/png' },
      ],
    })
      .compile()
      .build();
    const start = relay.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', [to], eml);
    await smtp.quit();
    assert.equal(result.final?.code, 250, `accepted: ${result.final?.text ?? result.mail.text}`);
    const messageId = result.final!.text.split('queued as ')[1]!;
    const notification = (await relay.waitForMessages(start + 1)).slice(start).find((m) => m.recipients.includes(to))!;
    const [row] = await ownerDb(gateway.database.db).select({ id: portalMessages.id }).from(portalMessages).where(eq(portalMessages.sourceMessageId, messageId));
    const browser = new PortalBrowser(gateway.httpPort);
    assert.equal((await browser.open(tokenOf(notification))).status, 200);
    // Opening the link read the message already (its answer carries it): the tests start from a gateway
    // that holds no parsed copy of it, as one that has just started.
    gateway.portal.opener.structureCache.clear();
    return { id: row!.id, browser };
  }

  /** Waits until `count` more requests joined an open already under way. */
  async function joined(before: number, count: number) {
    await waitFor(`${count} requests to join the open under way`, () =>
      gateway.portal.opener.readingStats.coalesced - before >= count ? true : undefined,
    );
  }

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port)], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
      SEALPOST_PORTAL_OPEN_CONCURRENCY: '1',
      SEALPOST_PORTAL_OPEN_QUEUE: '1',
    });
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  test('ten concurrent views of one message decrypt and parse it once; later views come from the cache', async () => {
    const { id, browser } = await sendPortalMessage('views@example.net', 'the harbour');
    const stats = gateway.portal.opener.readingStats;
    const before = { ...stats };
    const slot = holdOpenSlot(gateway);
    const views = Array.from({ length: 10 }, () => browser.request('GET', `/api/portal/messages/${id}`));
    await joined(before.coalesced, 9);
    slot.release();
    await slot.done;
    const answers = await Promise.all(views);
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(answer.json().integrity, 'verified');
      assert.match(answer.json().text, /Plans for the harbour/);
      const listed = answer.json().attachments.map((a: { filename: string; size: number }) => [a.filename, a.size]);
      assert.deepEqual(listed.sort(), [
        ['logo.png', LOGO.length],
        ['plans.bin', LARGE_ATTACHMENT.length],
      ]);
    }
    assert.equal(stats.decrypts - before.decrypts, 1, 'one decrypt for ten concurrent views');

    const later = await Promise.all(Array.from({ length: 5 }, () => browser.request('GET', `/api/portal/messages/${id}`)));
    assert.ok(later.every((a) => a.status === 200 && a.json().integrity === 'verified'));
    assert.equal(stats.decrypts - before.decrypts, 1, 'views after the first come from the cache');
    assert.equal(stats.cacheHits - before.cacheHits, 5);
  });

  test('concurrent downloads of a large attachment share one decrypt and each get the identical bytes', async () => {
    const { id, browser } = await sendPortalMessage('downloads@example.net', 'the bridge');
    const view = await browser.request('GET', `/api/portal/messages/${id}`);
    const large = view.json().attachments.find((a: { filename: string }) => a.filename === 'plans.bin');
    const logo = view.json().attachments.find((a: { filename: string }) => a.filename === 'logo.png');
    const stats = gateway.portal.opener.readingStats;
    const before = { ...stats };

    const slot = holdOpenSlot(gateway);
    const downloads = Array.from({ length: 5 }, () => browser.request('GET', `/api/portal/messages/${id}/attachments/${large.id}`));
    await joined(before.coalesced, 4);
    slot.release();
    await slot.done;
    for (const answer of await Promise.all(downloads)) {
      assert.equal(answer.status, 200);
      assert.equal(answer.body.length, LARGE_ATTACHMENT.length);
      assert.equal(sha256(answer.body), sha256(LARGE_ATTACHMENT));
    }
    assert.equal(stats.decrypts - before.decrypts, 1, 'a large part is not cached, but concurrent downloads share one decrypt');

    const inline = await browser.request('GET', `/api/portal/messages/${id}/inline/${logo.id}`);
    assert.equal(inline.status, 200);
    assert.deepEqual(inline.body, LOGO);
    assert.equal(stats.decrypts - before.decrypts, 1, 'a small part comes from the cache');
  });

  test('when opening messages is saturated the portal answers 503 busy with Retry-After as a problem document', async () => {
    const { id, browser } = await sendPortalMessage('busy@example.net', 'the tunnel');
    const running = holdOpenSlot(gateway);
    const waiting = holdOpenSlot(gateway);
    assert.equal(gateway.portal.opener.openLimiter.queued, 1, 'the only queue place is taken');

    const refused = await browser.request('GET', `/api/portal/messages/${id}`);
    assert.equal(refused.status, 503);
    assert.match(String(refused.headers['content-type']), /^application\/problem\+json/);
    assert.equal(refused.headers['retry-after'], '5');
    assert.equal(refused.json().type, 'urn:sealpost:problem:busy');
    assert.match(refused.json().detail, /try again in 5 seconds/);
    const download = await browser.request('GET', `/api/portal/messages/${id}/attachments/0`);
    assert.equal(download.status, 503);
    const metrics = (await browser.request('GET', '/metrics')).body.toString('utf8');
    assert.match(metrics, /^sealpost_portal_message_opens_total\{outcome="busy"\} 2$/m, 'operators see the refusals');

    running.release();
    waiting.release();
    await Promise.all([running.done, waiting.done]);
    const view = await browser.request('GET', `/api/portal/messages/${id}`);
    assert.equal(view.status, 200);
    assert.equal(view.json().integrity, 'verified');
  });
});

describe('portal reading limits', () => {
  const structure = (text: string): ParsedStructure => ({ text, attachments: [], tooComplex: false });

  test('the structure cache stays within its bytes, dropping the least recently used first, and forgets entries past their lifetime', () => {
    let now = 0;
    const entry = structureBytes(structure('x'.repeat(10_000)));
    const cache = new ParsedMessageCache({ maxBytes: entry * 4, ttlMs: 60_000, smallPartBytes: 1024 }, () => now);
    for (const key of ['a', 'b', 'c', 'd']) cache.set(key, structure('x'.repeat(10_000)));
    assert.equal(cache.size, 4);
    assert.ok(cache.get('a'), 'a is used again, so b is now the least recently used');
    cache.set('e', structure('x'.repeat(10_000)));
    assert.ok(cache.bytes <= entry * 4);
    assert.equal(cache.get('b'), undefined);
    assert.ok(cache.get('a') && cache.get('e'));

    cache.set('huge', structure('x'.repeat(entry * 2)));
    assert.equal(cache.get('huge'), undefined, 'one message may not take more than a quarter of the cache');

    now = 60_001;
    assert.equal(cache.get('a'), undefined, 'past its lifetime');
    cache.set('f', structure('fresh'));
    assert.equal(cache.size, 1, 'expired entries are dropped when something new comes');
  });

  test('the open limiter runs at most its concurrency, hands slots over in order, and refuses with busy beyond its queue', async () => {
    const limiter = new HeavyWorkLimiter({ concurrency: 2, maxQueued: 2, retryAfterSeconds: 7 });
    const releases: Array<() => void> = [];
    const started: number[] = [];
    let running = 0;
    let mostAtOnce = 0;
    const job = (n: number) =>
      limiter.run(async () => {
        started.push(n);
        running += 1;
        mostAtOnce = Math.max(mostAtOnce, running);
        await new Promise<void>((resolve) => releases.push(resolve));
        running -= 1;
        return n;
      });
    const jobs = [1, 2, 3, 4].map(job);
    await assert.rejects(job(5), (error: unknown) => {
      assert.ok(error instanceof PortalProblemError);
      assert.equal(error.problem.status, 503);
      assert.equal(error.headers['retry-after'], '7');
      return true;
    });
    assert.equal(limiter.refused, 1);
    assert.deepEqual([limiter.active, limiter.queued], [2, 2]);
    for (let i = 0; i < 4; i++) {
      await waitFor('a job to start', () => (releases[i] ? true : undefined));
      releases[i]!();
    }
    assert.deepEqual(await Promise.all(jobs), [1, 2, 3, 4]);
    assert.deepEqual(started, [1, 2, 3, 4], 'waiting jobs start in the order they came');
    assert.equal(mostAtOnce, 2);
    assert.deepEqual([limiter.active, limiter.queued], [0, 0]);
  });
});
