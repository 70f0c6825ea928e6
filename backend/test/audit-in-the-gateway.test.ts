import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { appendAudit } from '../src/audit/audit-log.ts';
import MailComposer from 'nodemailer/lib/mail-composer';
import { queryRows } from '../src/db/client.ts';
import type { Gateway } from '../src/gateway.ts';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { tokenOf } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { ACME_API_TOKEN, acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

const SECRET_FILE = 'Secret-Merger-Plan.pdf';

/** A recipient's browser, reduced to what these tests need: it keeps the portal's cookies. */
class RecipientBrowser {
  private readonly cookies = new Map<string, string>();
  constructor(private readonly port: number) {}

  async request(method: string, path: string, json?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (json !== undefined) headers['content-type'] = 'application/json';
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    return response;
  }
}

describe('the audit log in a running gateway', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let globexMailServer: MailPeer;
  let relay: MailPeer;
  let acmeId: string;
  let portalMessageId: string;

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    globexMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port), globexTenant(globexMailServer.port)], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
    });
    acmeId = gateway.directory.tenantForDomain('acme.test')!.id;
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await globexMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  test(`after a recipient downloads "${SECRET_FILE}", no audit row holds that name in clear, and an authorised read still shows it`, async () => {
    const eml = await new MailComposer({
      from: 'Alice Lawyer <alice@acme.test>',
      to: 'bob@example.net',
      subject: 'Project Falcon',
      text: 'The plan is attached.',
      headers: { 'X-Sealpost-Encrypt': 'portal' },
      attachments: [{ filename: SECRET_FILE, content: Buffer.from('%PDF-1.4 merger terms'), contentType: 'application/pdf' }],
    })
      .compile()
      .build();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const sent = await smtp.sendMessage('alice@acme.test', ['bob@example.net'], eml);
    await smtp.quit();
    assert.equal(sent.final?.code, 250);
    const [notification] = await relay.waitForMessages(1);

    const browser = new RecipientBrowser(gateway.httpPort);
    const opened = await browser.request('POST', '/api/portal/links/open', { token: tokenOf(notification!) });
    assert.equal(opened.status, 200);
    portalMessageId = ((await opened.json()) as { messageId: string }).messageId;
    const view = (await (await browser.request('GET', `/api/portal/messages/${portalMessageId}`)).json()) as { attachments: Array<{ id: string; filename: string }> };
    const attachment = view.attachments.find((a) => a.filename === SECRET_FILE)!;
    const download = await browser.request('GET', `/api/portal/messages/${portalMessageId}/attachments/${attachment.id}`);
    assert.equal(download.status, 200);
    assert.equal(Buffer.from(await download.arrayBuffer()).toString(), '%PDF-1.4 merger terms');

    const rows = await queryRows<{ action: string; details: string; whole: string }>(
      ownerDb(gateway.database.db),
      sql`select action, details::text as details, t::text as whole from audit_log t where tenant_id = ${acmeId}::uuid`,
    );
    assert.ok(rows.some((r) => r.action === 'attachment_downloaded'), 'the download was audited');
    for (const row of rows) {
      assert.ok(!row.details.includes('Secret-Merger-Plan'), `${row.action}: ${row.details}`);
      assert.ok(!row.whole.includes('Secret-Merger-Plan'), `${row.action}: ${row.whole}`);
    }
    const downloaded = rows.find((r) => r.action === 'attachment_downloaded')!;
    assert.match(downloaded.details, /"sizeBytes": 21/);
    assert.match(downloaded.details, new RegExp(`"attachmentId": "${attachment.id}"`));

    const [entry] = await gateway.portal.tenants.readAudit(acmeId, { subjectId: portalMessageId, limit: 1 });
    assert.equal(entry?.action, 'attachment_downloaded');
    assert.equal(entry?.details.filename, SECRET_FILE, 'the tenant key opens the name for an authorised reader');
    assert.equal(entry?.details.sealed, undefined);
    assert.equal((await gateway.portal.tenants.verifyAudit(acmeId)).ok, true, 'the chain covers the sealed details');
  });

  test("the admin API exports the tenant's signed checkpoints with the public key that verifies them, and no other tenant's", async () => {
    // Whichever run wrote it (this one or the background's), the newest checkpoint must reach the newest entry.
    assert.deepEqual((await gateway.auditCheckpointer.checkpoint()).refused, []);
    const response = await fetch(`http://127.0.0.1:${gateway.httpPort}/api/admin/audit/checkpoints`, { headers: { authorization: `Bearer ${ACME_API_TOKEN}` } });
    assert.equal(response.status, 200);
    const exported = (await response.json()) as {
      algorithm: string;
      keyId: string;
      publicKey: string;
      checkpoints: Array<{ tenantId: string; seq: number; hash: string; at: string; legacyThrough: number; signature: string }>;
    };
    assert.equal(exported.algorithm, 'Ed25519');
    assert.ok(exported.checkpoints.length > 0);
    assert.ok(exported.checkpoints.every((c) => c.tenantId === acmeId));
    // An outside log can check each one with nothing but the public key and the documented field order.
    const publicKey = createPublicKey(exported.publicKey);
    for (const c of exported.checkpoints) {
      const signed = Buffer.from(JSON.stringify(['sealpost-audit-checkpoint-v1', c.tenantId, c.seq, c.hash, c.at, c.legacyThrough]));
      assert.ok(verify(null, signed, publicKey, Buffer.from(c.signature, 'base64')), `checkpoint ${c.seq} verifies`);
    }
    const newest = exported.checkpoints.at(-1)!;
    const [head] = await queryRows<{ seq: number; hash: string }>(
      ownerDb(gateway.database.db),
      sql`select seq, hash from audit_log where tenant_id = ${acmeId}::uuid order by seq desc limit 1`,
    );
    assert.deepEqual({ seq: newest.seq, hash: newest.hash }, { seq: Number(head!.seq), hash: head!.hash });

    const later = await fetch(`http://127.0.0.1:${gateway.httpPort}/api/admin/audit/checkpoints?afterSeq=${newest.seq}`, {
      headers: { authorization: `Bearer ${ACME_API_TOKEN}` },
    });
    assert.deepEqual(((await later.json()) as { checkpoints: unknown[] }).checkpoints, [], 'polling after the newest seq gives nothing new');
    assert.equal((await fetch(`http://127.0.0.1:${gateway.httpPort}/api/admin/audit/checkpoints`)).status, 401);
  });

  test('entries written just before the gateway stops get their checkpoint as it stops', async () => {
    await appendAudit(gateway.database.db, gateway.vault.auditKeys, { tenantId: acmeId, action: 'signed_in', actorId: 'last-session' });
    const [head] = await queryRows<{ seq: number; hash: string }>(
      ownerDb(gateway.database.db),
      sql`select seq, hash from audit_log where tenant_id = ${acmeId}::uuid order by seq desc limit 1`,
    );
    await gateway.stop();
    const lines = readFileSync(gateway.config.audit.checkpointFile, 'utf8').trim().split('\n');
    const newest = lines.map((l) => JSON.parse(l) as { tenantId: string; seq: number; hash: string }).filter((c) => c.tenantId === acmeId).at(-1);
    assert.deepEqual({ seq: newest?.seq, hash: newest?.hash }, { seq: Number(head!.seq), hash: head!.hash });
    assert.equal(gateway.auditCheckpoints.signingKey.problemWith(JSON.parse(lines.at(-1)!)), undefined);
  });
});
