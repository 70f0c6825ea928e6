/**
 * Protected bytes are made once per (mode, group of recipients) in the protect stage and stored encrypted:
 * every delivery attempt sends exactly those bytes, the mode is never asked again, and a copy that cannot
 * be decrypted holds its deliveries instead of sending anything.
 */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { queryRows } from '../src/db/client.ts';
import { deliveries } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { openProtectedCopy } from '../src/protect/protected-copies.ts';
import type { GroupProtectionContext, ProtectionContext, ProtectionHandler, ProtectionOutcome } from '../src/protect/protection-modes.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const SECRET = 'Merger terms: 7.3 per share, board only';

/**
 * A mode that really protects: the message is encrypted with a fresh AES-256-GCM key under a fresh random
 * MIME boundary, so no two calls can give the same bytes.
 */
function encrypt(raw: Buffer, recipients: string[]): Buffer {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const sealed = Buffer.concat([iv, cipher.update(raw), cipher.final(), cipher.getAuthTag()]);
  const boundary = `sealed-${randomBytes(16).toString('hex')}`;
  const lines = sealed.toString('base64').match(/.{1,76}/g)!;
  return Buffer.from(
    [
      'From: <alice@acme.test>',
      `To: ${recipients.join(', ')}`,
      'Subject: Protected message',
      'MIME-Version: 1.0',
      `Content-Type: multipart/mixed; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      '',
      ...lines,
      `--${boundary}--`,
      '',
    ].join('\r\n'),
  );
}

interface Made {
  recipients: string[];
  raw: Buffer;
  input: Buffer;
}

/**
 * 'smime' protects once per group; 'pgp' once per recipient (no protectGroup); 'pdf' cannot serve anyone
 * until `pdfReady` is set, so the stages leave its routes held and the delivery worker protects them later.
 */
function recordingModes(made: Made[], pdfReady: { value: boolean; calls: number }): ProtectionHandler[] {
  const deliver = (raw: Buffer, recipients: string[]): ProtectionOutcome => {
    const out = encrypt(raw, recipients);
    made.push({ recipients, raw: out, input: raw });
    return { kind: 'deliver', raw: out, detail: { recipients: recipients.length } };
  };
  return [
    {
      mode: 'smime',
      protect: async (context: ProtectionContext) => deliver(context.raw, [context.recipient]),
      protectGroup: async (context: GroupProtectionContext) => deliver(context.raw, context.recipients),
    },
    {
      mode: 'pgp',
      protect: async (context: ProtectionContext) => deliver(context.raw, [context.recipient]),
    },
    {
      mode: 'pdf',
      protect: async (context: ProtectionContext) => {
        pdfReady.calls += 1;
        return pdfReady.value ? deliver(context.raw, [context.recipient]) : { kind: 'unavailable', reason: 'no password known yet' };
      },
    },
  ];
}

function draft(to: string[], mode: string): string {
  return [
    'From: Alice <alice@acme.test>',
    `To: ${to.join(', ')}`,
    'Subject: Terms',
    `Message-ID: <${randomBytes(6).toString('hex')}@acme.test>`,
    `X-Sealpost-Encrypt: ${mode}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    SECRET,
    '',
  ].join('\r\n');
}

async function send(gateway: Gateway, to: string[], mode: string): Promise<string> {
  const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
  await smtp.command('EHLO exchange.acme.test');
  const result = await smtp.sendMessage('alice@acme.test', to, draft(to, mode));
  await smtp.quit();
  assert.equal(result.final?.code, 250, result.final?.text);
  return result.final!.text.split('queued as ')[1]!;
}

interface CopyRow {
  id: string;
  tenant_id: string;
  mode: string;
  recipients: string[];
  content: Buffer | Uint8Array;
  size_bytes: number;
}

function copiesOf(gateway: Gateway, messageId: string): Promise<CopyRow[]> {
  return queryRows<CopyRow>(
    ownerDb(gateway.database.db),
    sql`select id, tenant_id, mode, recipients, content, size_bytes from protected_copies where message_id = ${messageId}::uuid order by created_at, id`,
  );
}

const unique = (name: string) => `${name}-${randomBytes(4).toString('hex')}@example.net`;

describe('protected copies', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  const made: Made[] = [];
  const pdfReady = { value: false, calls: 0 };

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      // The PDF way is off for a tenant until it turns it on.
      [acmeTenant(tenantMailServer.port, { encryption: { ways: { pdf: true } } })],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`, SEALPOST_HELD_RETRY_SECONDS: '1' },
      { protectionModes: recordingModes(made, pdfReady) },
    );
  });

  afterEach(() => {
    relay.answer = () => undefined;
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  test('a group of two recipients gets one copy, protected once, and the retry sends the stored bytes', async () => {
    const to = [unique('ceo'), unique('cfo')];
    // The destination refuses the first two attempts for a while, then accepts.
    relay.answer = (recipient, attempt) => (to.includes(recipient) && attempt <= 2 ? { code: 451, message: 'try again later' } : undefined);
    const before = made.length;
    const id = await send(gateway, to, 'smime');

    const [copy] = await waitFor('the stored copy', async () => {
      const rows = await copiesOf(gateway, id);
      return rows.length > 0 ? rows : undefined;
    });
    assert.ok(copy);
    assert.deepEqual(copy.recipients, to, 'one copy serves both recipients');
    assert.equal(copy.mode, 'smime');
    const stored = Buffer.from(copy.content);
    assert.ok(!stored.includes(SECRET), 'the stored row does not hold the message in the clear');
    assert.ok(!stored.includes('Protected message'), 'nor the protected copy in the clear');

    const opened = await openProtectedCopy(gateway.vault, gateway.database.db, copy.tenant_id, copy.id);
    assert.equal(opened.outcome, 'opened');
    assert.ok(opened.outcome === 'opened');
    assert.equal(made.length - before, 1, 'the mode ran once for the group');
    const protectedAtStage = made[before]!;
    assert.deepEqual(protectedAtStage.recipients, to);
    assert.ok(opened.raw.equals(protectedAtStage.raw), 'what is stored is what the mode made');
    assert.equal(copy.size_bytes, protectedAtStage.raw.length);
    assert.ok(!protectedAtStage.input.toString().includes('X-Sealpost-Encrypt'), 'the mode got the cleaned message');

    const mails = await relay.waitForMessages(1);
    await waitFor('the delivery after the refusals', () => mails.find((m) => m.recipients.includes(to[0]!)));
    const delivered = relay.received.filter((m) => m.recipients.some((r) => to.includes(r)));
    assert.equal(delivered.length, 1, 'one SMTP transaction for the group');
    assert.deepEqual(delivered[0]!.recipients, to);
    assert.ok(delivered[0]!.raw.equals(protectedAtStage.raw), 'the successful attempt sent exactly the stored bytes');
    assert.ok(!delivered[0]!.raw.includes(SECRET), 'nothing left in the clear');

    const rows = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.equal(row.protectedCopyId, copy.id);
      assert.ok(row.attempts >= 3, `refused twice, then delivered (attempts ${row.attempts})`);
    }
    await waitFor('both deliveries final', async () => {
      const now = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
      return now.every((d) => d.status === 'delivered') ? true : undefined;
    });
    assert.equal(made.length - before, 1, 'the retries never asked the mode again');
    await waitFor('the copy deleted once the deliveries are final', async () => ((await copiesOf(gateway, id)).length === 0 ? true : undefined));
  });

  test('a mode without group protection is asked once per recipient, each with its own copy', async () => {
    const to = [unique('ann'), unique('bob')];
    relay.answer = (recipient, attempt) => (to.includes(recipient) && attempt === 1 ? { code: 451, message: 'try again later' } : undefined);
    const before = made.length;
    const id = await send(gateway, to, 'pgp');
    const copies = await waitFor('two stored copies', async () => {
      const rows = await copiesOf(gateway, id);
      return rows.length === 2 ? rows : undefined;
    });
    assert.deepEqual(copies.map((c) => c.recipients).sort(), to.map((r) => [r]).sort());

    await waitFor('both delivered', () => {
      const got = relay.received.filter((m) => m.recipients.some((r) => to.includes(r)));
      return got.length === 2 ? got : undefined;
    });
    const got = relay.received.filter((m) => m.recipients.some((r) => to.includes(r)));
    const ours = made.slice(before);
    assert.equal(ours.length, 2, 'the mode ran once per recipient');
    for (const mail of got) {
      assert.equal(mail.recipients.length, 1);
      const mine = ours.find((m) => m.recipients[0] === mail.recipients[0]);
      assert.ok(mine && mail.raw.equals(mine.raw), `${mail.recipients[0]} got the bytes made for them`);
    }
    assert.ok(!ours[0]!.raw.equals(ours[1]!.raw), 'two calls never give the same bytes');
  });

  test('a route the stages left held is protected once at delivery, and its retries send the stored copy', async () => {
    const to = [unique('erin')];
    relay.answer = (recipient, attempt) => (to.includes(recipient) && attempt === 1 ? { code: 451, message: 'try again later' } : undefined);
    const before = made.length;
    const id = await send(gateway, to, 'pdf');
    await waitFor('the delivery held by the stages', async () => {
      const [row] = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
      return row?.status === 'held' ? row : undefined;
    });
    assert.equal(relay.received.filter((m) => m.recipients.includes(to[0]!)).length, 0, 'nothing sent while the mode cannot serve');
    pdfReady.value = true;
    const callsBefore = pdfReady.calls;

    const mail = await waitFor('the delivery after the refusal', () => relay.received.find((m) => m.recipients.includes(to[0]!)));
    const ours = made.slice(before);
    assert.equal(ours.length, 1, 'protected once');
    assert.ok(mail.raw.equals(ours[0]!.raw), 'the retry sent the bytes made at the first attempt');
    assert.ok(!ours[0]!.input.toString().includes('X-Sealpost-Encrypt'), 'the mode got the message without control headers');
    const [row] = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
    assert.ok(row?.protectedCopyId, 'the delivery names its stored copy');
    assert.ok(row.attempts >= 2);
    assert.equal(pdfReady.calls - callsBefore, 1, 'the mode was asked once after it became ready');
    await waitFor('the copy deleted once the delivery is final', async () => ((await copiesOf(gateway, id)).length === 0 ? true : undefined));
  });

  test('a stored copy that cannot be decrypted is held, never sent', async () => {
    const to = [unique('dana')];
    let tampered = false;
    // Refused until the copy has been tampered with, so no attempt can send it before.
    relay.answer = (recipient) => (to.includes(recipient) && !tampered ? { code: 451, message: 'try again later' } : undefined);
    const id = await send(gateway, to, 'smime');
    const [copy] = await waitFor('the stored copy', async () => {
      const rows = await copiesOf(gateway, id);
      return rows.length > 0 ? rows : undefined;
    });
    assert.ok(copy);
    // One bit of the ciphertext flipped: the integrity check fails.
    await ownerDb(gateway.database.db).execute(
      sql`update protected_copies set content = set_byte(content, 20, get_byte(content, 20) # 1) where id = ${copy.id}::uuid`,
    );
    tampered = true;
    const held = await waitFor('the delivery held', async () => {
      const [row] = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
      return row?.status === 'held' ? row : undefined;
    });
    assert.match(held.lastReply ?? '', /protected copy cannot be decrypted/);
    assert.match(held.lastReply ?? '', /will not be sent unprotected/);
    // It stays held on the retries, and nothing reached the recipient. (A retry in progress shows the
    // delivery as 'delivering' for a moment: it is read again once that attempt has ended.)
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const again = await waitFor('the delivery held again after its retries', async () => {
      const [row] = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
      assert.notEqual(row?.status, 'delivered');
      return row?.status === 'held' && row.attempts >= 2 ? row : undefined;
    });
    assert.match(again.lastReply ?? '', /protected copy cannot be decrypted/);
    assert.equal(relay.received.filter((m) => m.recipients.some((r) => to.includes(r))).length, 0);
  });
});
