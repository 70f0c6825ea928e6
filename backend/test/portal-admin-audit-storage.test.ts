/**
 * The admin console's audit log and storage routes against a real gateway: filters, keyset paging, the
 * CSV and JSON exports read back, the chain check, who may see what, and storage figures compared with the
 * portal messages the gateway actually stored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import MailComposer from 'nodemailer/lib/mail-composer';
import { appendAudit, type AuditEntryInput } from '../src/audit/audit-log.ts';
import { portalMessages } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { PortalBrowser } from './support/portal-browser.ts';
import { tokenOf, waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

/** A CSV reader written from RFC 4180 for the test, independent of the writer: quoted fields, doubled quotes, CRLF. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 1;
    } else {
      field += c;
    }
  }
  assert.equal(quoted, false, 'no field is left open');
  if (field || row.length) rows.push([...row, field]);
  return rows;
}

const MEMBERS = [
  { email: 'alice@acme.test', role: 'owner' },
  { email: 'otto@acme.test', role: 'operator' },
  { email: 'ann@acme.test', role: 'auditor' },
  { email: 'andy@acme.test', role: 'analyst' },
  { email: 'carol@acme.test', role: 'contact' },
] as const;

describe('admin console: audit log and storage', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let acmeMail: MailPeer;
  let globexMail: MailPeer;
  let relay: MailPeer;
  let acmeId: string;
  const browsers = new Map<string, PortalBrowser>();

  async function signedIn(address: string, mailServer = acmeMail): Promise<PortalBrowser> {
    const known = browsers.get(address);
    if (known) return known;
    // Each browser from its own loopback address: sign-in links are rate-limited per client address.
    const browser = new PortalBrowser(gateway.httpPort, `127.0.0.${20 + browsers.size}`);
    const start = mailServer.received.length;
    assert.equal((await browser.request('POST', '/api/portal/sign-in', { json: { email: address } })).status, 202);
    const mail = await waitFor(`the sign-in mail to ${address}`, () => mailServer.received.slice(start).find((m) => m.recipients.includes(address)));
    assert.equal((await browser.open(tokenOf(mail))).status, 200);
    browsers.set(address, browser);
    return browser;
  }

  async function sendSecure(from: string, to: string, subject: string, body: string): Promise<void> {
    const raw = await new MailComposer({ from, to, subject, text: body, headers: { 'X-Sealpost-Encrypt': 'portal' } }).compile().build();
    const start = relay.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage(from, [to], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250);
    await relay.waitForMessages(start + 1);
  }

  const append = (entries: Array<Omit<AuditEntryInput, 'tenantId'>>) =>
    appendAudit(gateway.database.db, gateway.vault.auditKeys, entries.map((e) => ({ tenantId: acmeId, ...e })));

  const audit = async (browser: PortalBrowser, query: string) => {
    const answer = await browser.request('GET', `/api/portal/admin/audit?${query}`);
    assert.equal(answer.status, 200, answer.body.toString());
    return answer.json() as { entries: Array<{ seq: number; at: string; action: string; actorAddress: string | null; subjectId: string | null; details: Record<string, unknown> }>; hasOlder: boolean; hasNewer: boolean; actions: string[] };
  };

  before(async () => {
    database = await createTestDatabase();
    acmeMail = await MailPeer.start();
    globexMail = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(acmeMail.port, { members: MEMBERS.map((m) => ({ ...m })) }), globexTenant(globexMail.port)], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
    });
    acmeId = gateway.directory.tenantForDomain('acme.test')!.id;
  });

  after(async () => {
    await gateway.stop();
    await acmeMail.close();
    await globexMail.close();
    await relay.close();
    await database.cleanup();
  });

  test('the audit log is filtered by action, actor, subject and time range, and the filters combine', async () => {
    const owner = await signedIn('alice@acme.test');
    await append([
      { action: 'pdf_password_issued', actorAddress: 'Filter.One@Partner.example', subjectId: 'subject-a', clientIp: '192.0.2.1' },
      { action: 'revoked', actorAddress: 'filter.one@partner.example', subjectId: 'subject-b' },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const middle = new Date();
    await new Promise((resolve) => setTimeout(resolve, 30));
    await append([{ action: 'pdf_password_issued', actorAddress: 'filter.two@partner.example', subjectId: 'subject-a' }]);
    const end = new Date(Date.now() + 1000);

    const byAction = await audit(owner, 'action=pdf_password_issued&limit=1000');
    assert.deepEqual(byAction.entries.map((e) => e.actorAddress), ['filter.two@partner.example', 'Filter.One@Partner.example'], 'newest first, only that action');
    assert.ok(byAction.actions.includes('pdf_password_issued') && byAction.actions.includes('second_factor_reset'), 'the known actions come with the list');

    const byActor = await audit(owner, `actor=${encodeURIComponent('FILTER.ONE@')}`);
    assert.deepEqual(byActor.entries.map((e) => e.action), ['revoked', 'pdf_password_issued'], 'a part of the address, any case');
    assert.equal((await audit(owner, `actor=${encodeURIComponent('%')}`)).entries.length, 0, 'a % in the term is a character, not a pattern');

    const bySubject = await audit(owner, 'subjectId=subject-a');
    assert.equal(bySubject.entries.length, 2);
    const combined = await audit(owner, 'subjectId=subject-a&actor=filter.two');
    assert.deepEqual(combined.entries.map((e) => e.actorAddress), ['filter.two@partner.example']);

    const since = await audit(owner, `from=${middle.toISOString()}&to=${end.toISOString()}&actor=partner.example`);
    assert.deepEqual(since.entries.map((e) => e.actorAddress), ['filter.two@partner.example'], 'from is inclusive, entries before it are left out');
    const until = await audit(owner, `to=${middle.toISOString()}&actor=partner.example`);
    assert.deepEqual(until.entries.map((e) => e.action), ['revoked', 'pdf_password_issued']);
  });

  test('bad filters are refused with a 400 that says what to change', async () => {
    const owner = await signedIn('alice@acme.test');
    const unknown = await owner.request('GET', '/api/portal/admin/audit?action=drop_tables');
    assert.equal(unknown.status, 400);
    assert.match(unknown.json().detail, /Unknown action "drop_tables"; use one of: sent, read/);
    const inverted = await owner.request('GET', '/api/portal/admin/audit?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z');
    assert.equal(inverted.status, 400);
    assert.match(inverted.json().detail, /from .* must be before to/);
    assert.equal((await owner.request('GET', '/api/portal/admin/audit?from=yesterday')).status, 400);
    assert.equal((await owner.request('GET', '/api/portal/admin/audit?before=5&after=2')).status, 400);
    assert.equal((await owner.request('GET', '/api/portal/admin/audit?limit=0')).status, 400);
    const badExport = await owner.request('GET', '/api/portal/admin/audit/export?format=xlsx');
    assert.equal(badExport.status, 400);
    assert.equal((await owner.request('GET', '/api/portal/admin/audit/export?format=csv&action=nope')).status, 400);
  });

  test('pages are cut by seq: older and newer pages meet without gaps or repeats, even while entries are written', async () => {
    const owner = await signedIn('alice@acme.test');
    await append(Array.from({ length: 25 }, (_, i) => ({ action: 'quarantine_viewed' as const, actorAddress: 'pager@acme.test', subjectId: `page-${i}` })));
    const filter = 'actor=pager%40acme.test&limit=10';
    const first = await audit(owner, filter);
    assert.equal(first.entries.length, 10);
    assert.deepEqual([first.hasNewer, first.hasOlder], [false, true]);
    assert.equal(first.entries[0]!.subjectId, 'page-24', 'newest first');

    // Entries written meanwhile do not shift the next page.
    await append([{ action: 'quarantine_viewed', actorAddress: 'pager@acme.test', subjectId: 'page-late' }]);
    const second = await audit(owner, `${filter}&before=${first.entries.at(-1)!.seq}`);
    const third = await audit(owner, `${filter}&before=${second.entries.at(-1)!.seq}`);
    assert.deepEqual([second.entries.length, second.hasNewer, second.hasOlder], [10, true, true]);
    assert.deepEqual([third.entries.length, third.hasNewer, third.hasOlder], [5, true, false]);
    const seen = [...first.entries, ...second.entries, ...third.entries].map((e) => e.subjectId);
    assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => `page-${24 - i}`));

    const back = await audit(owner, `${filter}&after=${second.entries[0]!.seq}`);
    assert.deepEqual(back.entries.map((e) => e.subjectId), first.entries.map((e) => e.subjectId), 'newer than the second page is the first page again');
    assert.deepEqual([back.hasNewer, back.hasOlder], [true, true], 'and the entry written meanwhile is newer still');
  });

  test('the CSV export holds what the filter finds, quoted so it reads back, with formula cells made inert', async () => {
    const owner = await signedIn('alice@acme.test');
    const hostile = [
      { actorAddress: '=HYPERLINK("http://evil.example","x")', subjectId: '+SUM(1,2)' },
      { actorAddress: '-2+3', subjectId: '@cmd' },
      { actorAddress: 'plain@export.example', subjectId: 'line\r\nbreak, "quoted"' },
    ];
    await append(hostile.map((h, i) => ({ action: 'certificate_added' as const, ...h, clientIp: '198.51.100.7', details: { note: `row ${i}, with "quotes"\nand a line`, n: i } })));
    const answer = await owner.request('GET', '/api/portal/admin/audit/export?format=csv&action=certificate_added');
    assert.equal(answer.status, 200);
    assert.match(String(answer.headers['content-type']), /^text\/csv; charset=utf-8/);
    assert.match(String(answer.headers['content-disposition']), /^attachment; filename="audit-log-\d{4}-\d{2}-\d{2}\.csv"$/);
    assert.equal(answer.headers['x-sealpost-export-count'], '3');
    assert.equal(answer.headers['x-sealpost-export-capped'], 'false');
    assert.equal(answer.headers['cache-control'], 'no-store');

    const text = answer.body.toString('utf8');
    assert.ok(text.startsWith('\uFEFF'), 'a byte-order mark tells spreadsheets it is UTF-8');
    const [header, ...rows] = parseCsv(text.slice(1));
    assert.deepEqual(header, ['seq', 'at', 'action', 'actor_address', 'actor_id', 'client_ip', 'subject_id', 'details', 'hash', 'prev_hash']);
    assert.equal(rows.length, 3);
    const column = (name: string) => header!.indexOf(name);
    const newestFirst = [...hostile].reverse();
    rows.forEach((row, i) => {
      assert.equal(row.length, header!.length, 'every row has every column');
      assert.equal(row[column('action')], 'certificate_added');
      assert.equal(row[column('client_ip')], '198.51.100.7');
      assert.deepEqual(JSON.parse(row[column('details')]!), { note: `row ${2 - i}, with "quotes"\nand a line`, n: 2 - i });
      for (const cell of row) assert.doesNotMatch(cell, /^[=+\-@\t\r]/, `no cell starts a formula: ${cell}`);
      const expected = newestFirst[i]!;
      const inert = (value: string) => (/^[=+\-@]/.test(value) ? `'${value}` : value);
      assert.equal(row[column('actor_address')], inert(expected.actorAddress));
      assert.equal(row[column('subject_id')], inert(expected.subjectId));
    });
    // Every field is quoted, also the numbers and the empty ones.
    const firstDataLine = text.slice(1).split('\r\n')[1]!;
    assert.match(firstDataLine, /^"\d+","\d{4}-/);
    assert.match(firstDataLine, /,"",/, 'an empty actor id is an empty quoted field');

    // The download itself is on the record: who, which format and filter, how many entries, up to which one.
    const recorded = await (await owner.request('GET', '/api/portal/admin/audit?action=audit_exported&limit=1')).json();
    const [entry] = recorded.entries;
    assert.equal(entry.actorAddress, 'alice@acme.test');
    assert.deepEqual(entry.details.filter, { action: 'certificate_added' });
    assert.deepEqual([entry.details.format, entry.details.count, entry.details.capped], ['csv', 3, false]);
    assert.ok(entry.details.throughSeq < entry.seq, 'the export does not contain its own entry');
  });

  test('the JSON export holds the same entries as the list, says how many and that nothing was cut; a cap cuts to the newest', async () => {
    const owner = await signedIn('alice@acme.test');
    const answer = await owner.request('GET', '/api/portal/admin/audit/export?format=json&actor=pager%40acme.test');
    assert.equal(answer.status, 200);
    assert.match(String(answer.headers['content-disposition']), /filename="audit-log-\d{4}-\d{2}-\d{2}\.json"/);
    const file = answer.json();
    assert.equal(file.count, 26);
    assert.equal(file.capped, false);
    assert.equal(file.cap, 100_000);
    assert.equal(file.filter.actor, 'pager@acme.test');
    const listed = await audit(owner, 'actor=pager%40acme.test&limit=1000');
    assert.deepEqual(file.entries, listed.entries, 'the export and the list agree, entry for entry');

    // A cap is hard to reach with real entries in a test; the same export with a cap of 10 shows the cut.
    const capped = await gateway.portal.tenants.exportAudit({ tenantId: acmeId, actorAddress: 'script@acme.test' }, { actor: 'pager@acme.test' }, 'json', 10);
    let body = '';
    for await (const chunk of capped.body) body += chunk;
    const cut = JSON.parse(body);
    assert.deepEqual([cut.count, cut.capped, cut.entries.length], [10, true, 10]);
    assert.deepEqual(cut.entries.map((e: { seq: number }) => e.seq), listed.entries.slice(0, 10).map((e) => e.seq), 'the newest ten');
  });

  test('an attachment name sealed in an entry is opened for the list and the export', async () => {
    const { sealAuditDetails } = await import('../src/audit/sealed-details.ts');
    const sealed = await sealAuditDetails(gateway.vault, acmeId, { filename: 'Gehälter 2026.xlsx' });
    await append([{ action: 'attachment_downloaded', actorAddress: 'sealed@partner.example', details: { sealed } }]);
    const owner = await signedIn('alice@acme.test');
    const listed = await audit(owner, 'actor=sealed%40partner.example');
    assert.equal(listed.entries[0]!.details.filename, 'Gehälter 2026.xlsx');
    const csv = (await owner.request('GET', '/api/portal/admin/audit/export?format=csv&actor=sealed%40partner.example')).body.toString('utf8');
    assert.match(csv, /Gehälter 2026\.xlsx/);
  });

  test('verifying the chain from the console answers ok, and names the first broken entry once one is altered', async () => {
    const auditor = await signedIn('ann@acme.test');
    const fine = (await auditor.request('GET', '/api/portal/admin/audit/verify')).json();
    assert.equal(fine.ok, true);
    assert.ok(fine.checked > 30);
    // Altering an entry needs the database owner to switch the append-only trigger off.
    const owner = ownerDb(gateway.database.db);
    const { entries } = await audit(auditor, 'actor=filter.two%40partner.example');
    const seq = entries[0]!.seq;
    await owner.transaction(async (tx) => {
      await tx.execute(sql`set local session_replication_role = replica`);
      await tx.execute(sql`update audit_log set actor_address = 'someone.else@partner.example' where tenant_id = ${acmeId} and seq = ${seq}`);
    });
    try {
      const broken = (await auditor.request('GET', '/api/portal/admin/audit/verify')).json();
      assert.equal(broken.ok, false);
      assert.equal(broken.firstBroken.seq, seq);
      assert.match(broken.firstBroken.reason, /HMAC does not match/);
    } finally {
      await owner.transaction(async (tx) => {
        await tx.execute(sql`set local session_replication_role = replica`);
        await tx.execute(sql`update audit_log set actor_address = 'filter.two@partner.example' where tenant_id = ${acmeId} and seq = ${seq}`);
      });
    }
    assert.equal((await auditor.request('GET', '/api/portal/admin/audit/verify')).json().ok, true, 'put back, the chain verifies again');
  });

  test('storage shows what the stored portal messages hold, per member and by thread, against the quotas', async () => {
    await sendSecure('alice@acme.test', 'client@example.net', 'Storage one', 'A'.repeat(40_000));
    await sendSecure('alice@acme.test', 'client@example.net', 'Storage one', 'B'.repeat(10_000));
    await sendSecure('bob@acme.test', 'other@example.org', 'Storage three', 'C'.repeat(5_000));
    const owner = await signedIn('alice@acme.test');
    const patched = await owner.request('PATCH', '/api/portal/admin/settings', {
      json: { tenantQuotaBytes: 50 * 1024 ** 2, memberQuotaBytes: { 'bob@acme.test': 1024 ** 2, 'quiet@acme.test': 5 * 1024 ** 2 } },
    });
    assert.equal(patched.status, 200);

    const rows = await ownerDb(gateway.database.db)
      .select({ from: portalMessages.fromAddress, direction: portalMessages.direction, size: portalMessages.sizeBytes, thread: portalMessages.threadId })
      .from(portalMessages)
      .where(eq(portalMessages.tenantId, acmeId));
    const sum = (list: typeof rows) => list.reduce((total, r) => total + r.size, 0);
    const stored = (from: string) => rows.filter((r) => r.direction === 'from-member' && r.from === from);
    assert.equal(stored('alice@acme.test').length, 2);

    const answer = await owner.request('GET', '/api/portal/admin/storage');
    assert.equal(answer.status, 200);
    const storage = answer.json();
    assert.equal(storage.usedBytes, sum(rows));
    assert.equal(storage.messageCount, rows.length);
    assert.equal(storage.tenantQuotaBytes, 50 * 1024 ** 2);
    assert.equal(storage.memberDefaultQuotaBytes, 2 * 1024 ** 3);
    const member = (address: string) => storage.members.find((m: { address: string }) => m.address === address);
    assert.deepEqual(member('alice@acme.test'), { address: 'alice@acme.test', usedBytes: sum(stored('alice@acme.test')), quotaBytes: 2 * 1024 ** 3, ownQuota: false, messageCount: 2 });
    assert.ok(member('alice@acme.test').usedBytes > 50_000, 'the stored copies hold at least the bodies sent');
    assert.deepEqual(member('bob@acme.test'), { address: 'bob@acme.test', usedBytes: sum(stored('bob@acme.test')), quotaBytes: 1024 ** 2, ownQuota: true, messageCount: 1 });
    assert.deepEqual(member('quiet@acme.test'), { address: 'quiet@acme.test', usedBytes: 0, quotaBytes: 5 * 1024 ** 2, ownQuota: true, messageCount: 0 });
    assert.equal(storage.members[0].address, 'alice@acme.test', 'the biggest user first');

    const [largest] = storage.largestThreads;
    assert.equal(largest.member, 'alice@acme.test');
    assert.equal(largest.counterpart, 'client@example.net');
    assert.equal(largest.messageCount, 2, 'both messages with that subject are one thread');
    assert.equal(largest.bytes, sum(rows.filter((r) => r.thread === largest.id)));
    assert.ok(!JSON.stringify(storage).includes('Storage one'), 'no subject leaves its seal');
    for (let i = 1; i < storage.largestThreads.length; i += 1) assert.ok(storage.largestThreads[i - 1].bytes >= storage.largestThreads[i].bytes);

    const globex = await signedIn('gina@globex.test', globexMail);
    const theirs = (await globex.request('GET', '/api/portal/admin/storage')).json();
    assert.deepEqual([theirs.usedBytes, theirs.members.length, theirs.largestThreads.length], [0, 0, 0], 'another tenant sees none of it');
  });

  test('who may see what: auditors read the audit log but not storage, analysts storage but not the log, contacts neither', async () => {
    const expectations: Array<[string, number, number]> = [
      ['alice@acme.test', 200, 200],
      ['otto@acme.test', 200, 200],
      ['ann@acme.test', 200, 403],
      ['andy@acme.test', 403, 200],
      ['carol@acme.test', 403, 403],
    ];
    for (const [address, auditStatus, storageStatus] of expectations) {
      const browser = await signedIn(address);
      for (const path of ['/api/portal/admin/audit', '/api/portal/admin/audit/verify', '/api/portal/admin/audit/export?format=csv']) {
        assert.equal((await browser.request('GET', path)).status, auditStatus, `${address} ${path}`);
      }
      assert.equal((await browser.request('GET', '/api/portal/admin/storage')).status, storageStatus, `${address} storage`);
    }
    const anonymous = new PortalBrowser(gateway.httpPort);
    assert.equal((await anonymous.request('GET', '/api/portal/admin/audit')).status, 401);
    assert.equal((await anonymous.request('GET', '/api/portal/admin/storage')).status, 401);
  });

  test("another tenant's owner finds none of this tenant's entries, whatever the filter", async () => {
    const globex = await signedIn('gina@globex.test', globexMail);
    const listed = (await globex.request('GET', '/api/portal/admin/audit?actor=partner.example&limit=1000')).json();
    assert.equal(listed.entries.length, 0);
    const exported = (await globex.request('GET', '/api/portal/admin/audit/export?format=json&subjectId=subject-a')).json();
    assert.equal(exported.count, 0);
    assert.deepEqual(exported.entries, []);
  });
});
