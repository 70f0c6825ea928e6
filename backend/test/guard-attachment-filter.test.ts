/**
 * The attachment filter on real files the tests build: programs and scripts (also under a false name and
 * inside nested archives), macro documents (OLE and OOXML, also renamed), PDFs with each kind of active
 * content (also escaped and in compressed object streams), encrypted archives, archives nested too deep
 * and decompression bombs; the policy's actions (score, block, remove) and custom name patterns; and the
 * disarmed message, read back by an independent MIME parser.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { attachmentFilterCheck } from '../src/guard/checks/attachment-filter.ts';
import { globMatches, pdfActiveContent } from '../src/guard/attachments.ts';
import type { GuardFinding } from '../src/guard/contract.ts';
import { resolveGuardPolicy, type GuardPolicy } from '../src/guard/policy.ts';
import { createGuardRunner } from '../src/guard/runner.ts';
import type { PolicySettings } from '../src/guard-policy-settings.ts';
import {
  encryptedZip,
  macroDocx,
  messageWith,
  nestedZip,
  oleWithMacros,
  oleWithoutMacros,
  pdfWith,
  pdfWithHiddenScript,
  plainDocx,
  windowsProgram,
  zipOf,
} from './support/attachment-files.ts';
import { guardInput } from './support/crafted-mail.ts';

function runnerFor(settings: PolicySettings = {}) {
  const policy: GuardPolicy = resolveGuardPolicy(settings);
  return createGuardRunner({ checks: [attachmentFilterCheck()], policyFor: () => policy });
}
const symbols = (findings: readonly GuardFinding[]) => findings.map((f) => f.symbol).sort();
const verdictFor = async (files: Array<{ name: string; content: Buffer; type?: string }>, settings: PolicySettings = {}) =>
  runnerFor(settings)(guardInput(messageWith(files)));

describe('the attachment filter: what a file is', () => {
  test('a program is found by its content, also under a harmless name, and blocks the message by default', async () => {
    const verdict = await verdictFor([{ name: 'invoice.pdf', content: windowsProgram(), type: 'application/pdf' }]);
    assert.deepEqual(symbols(verdict.findings), ['ATTACH_EXECUTABLE', 'ATTACH_TYPE_MISMATCH']);
    assert.equal(verdict.action, 'quarantine');
    assert.match(verdict.findings.find((f) => f.symbol === 'ATTACH_TYPE_MISMATCH')!.reason, /invoice\.pdf is named \.pdf but its content is a Windows program/);
  });

  test('scripts and HTML files are judged by name (they have no magic bytes); plain documents pass', async () => {
    const verdict = await verdictFor([
      { name: 'run.js', content: Buffer.from('WScript.Shell') },
      { name: 'login.html', content: Buffer.from('<form><input type=password></form>'), type: 'text/html' },
      { name: 'report.docx', content: await plainDocx() },
      { name: 'old.doc', content: oleWithoutMacros() },
      { name: 'plain.pdf', content: pdfWith() },
      { name: 'photo.png', content: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), type: 'image/png' },
    ]);
    assert.deepEqual(symbols(verdict.findings), ['ATTACH_HTML', 'ATTACH_SCRIPT']);
    assert.equal(verdict.findings.find((f) => f.symbol === 'ATTACH_HTML')!.score, 3);
  });

  test('macros are found in OLE documents, in macro-enabled packages and in a package renamed .docx', async () => {
    const verdict = await verdictFor(
      [
        { name: 'order.doc', content: oleWithMacros() },
        { name: 'order.docm', content: await macroDocx() },
        { name: 'harmless.docx', content: await macroDocx() },
      ],
      { modules: { attachments: { categories: { office: { action: 'score', score: 5 } } } } },
    );
    const macros = verdict.findings.filter((f) => f.symbol === 'ATTACH_OFFICE_MACRO');
    assert.equal(macros.length, 3, JSON.stringify(verdict.findings));
    assert.match(macros[0]!.reason, /order\.doc holds VBA macros \(Macros\/VBA/);
    assert.match(macros[2]!.reason, /harmless\.docx holds VBA macros \(word\/vbaProject\.bin\)/);
    assert.equal(verdict.score, 15);
  });

  test('PDF active content is found in the open, behind #xx escapes and inside compressed object streams', () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['JavaScript', pdfWith('/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>'), /JavaScript/],
      ['escaped name', pdfWith('/Names << /J#61vaScript 4 0 R >>'), /JavaScript/],
      ['object stream', pdfWithHiddenScript(), /JavaScript/],
      ['Launch', pdfWith('/OpenAction << /S /Launch /F (cmd.exe) >>'), /program launch/],
      ['embedded file', pdfWith('/Names << /EmbeddedFiles 4 0 R >>', ['<< /Names [(a.exe) 5 0 R] >>']), /embedded files/],
      ['form', pdfWith('/AcroForm << /Fields [] >>'), /form \(AcroForm\)/],
      ['remote document', pdfWith('/OpenAction << /S /GoToR /F (http://example.org/x.pdf) >>'), /other documents/],
    ];
    for (const [what, pdf, expected] of cases) assert.match(pdfActiveContent(pdf).join(', '), expected, what);
    assert.deepEqual(pdfActiveContent(pdfWith('/URI (http://example.org)')), [], 'a link alone is ordinary');
    assert.deepEqual(pdfActiveContent(pdfWith()), []);
  });
});

describe('the attachment filter: archives', () => {
  test('a program two archives deep is found, with the path to it', async () => {
    const inner = await zipOf([['setup.exe', windowsProgram()]]);
    const verdict = await verdictFor([{ name: 'documents.zip', content: await zipOf([['more.zip', inner], ['readme.txt', 'hi']]) }]);
    const found = verdict.findings.find((f) => f.symbol === 'ATTACH_EXECUTABLE');
    assert.match(found!.reason, /documents\.zip › more\.zip › setup\.exe is a Windows program/);
    assert.equal(verdict.action, 'quarantine');
  });

  test('nesting past the policy depth, encryption, a bomb, RAR and 7z each get their rule', async () => {
    const started = performance.now();
    const bomb = await zipOf([['zeros.bin', Buffer.alloc(50 * 1024 * 1024)]]);
    const verdict = await verdictFor(
      [
        { name: 'deep.zip', content: await nestedZip(8) },
        { name: 'locked.zip', content: await encryptedZip() },
        { name: 'bomb.zip', content: bomb },
        { name: 'old.rar', content: Buffer.concat([Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1'), Buffer.alloc(64)]) },
        { name: 'new.7z', content: Buffer.concat([Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4]), Buffer.alloc(64)]) },
      ],
      { modules: { attachments: { archives: { maxDepth: 3 } } } },
    );
    assert.ok(performance.now() - started < 2000, 'checked within the budget');
    const bySymbol = (symbol: string) => verdict.findings.filter((f) => f.symbol === symbol);
    assert.match(bySymbol('ATTACH_ARCHIVE_DEPTH')[0]!.reason, /nested 4 archives deep; the policy unpacks 3/);
    assert.match(bySymbol('ATTACH_ARCHIVE_ENCRYPTED')[0]!.reason, /locked\.zip is encrypted/);
    assert.match(bySymbol('ATTACH_ARCHIVE_BOMB')[0]!.reason, /bomb\.zip › zeros\.bin unpacks \d+ times its size/);
    assert.deepEqual(bySymbol('ATTACH_ARCHIVE_UNINSPECTED').map((f) => f.reason.split(' ')[0]), ['old.rar', 'new.7z']);
    assert.equal(verdict.action, 'quarantine', 'depth and bombs block by default');
  });

  test('custom rules match names and patterns, also inside archives', async () => {
    assert.ok(globMatches('invoice_*.exe', 'Invoice_2026.EXE'));
    assert.ok(globMatches('*.scr', 'x.scr') && !globMatches('*.scr', 'x.scr.txt') && globMatches('a?c', 'abc'));
    assert.ok(!globMatches(`${'*a'.repeat(20)}b`, 'a'.repeat(5000)), 'a pattern with many stars answers at once');
    const verdict = await verdictFor([{ name: 'bundle.zip', content: await zipOf([['screensaver.scr.txt', 'x'], ['invoice_77.cab', 'y']]) }], {
      modules: { attachments: { custom: [{ pattern: 'invoice_*.cab', action: 'score', score: 7 }] } },
    });
    const custom = verdict.findings.filter((f) => f.symbol === 'ATTACH_CUSTOM_RULE');
    assert.deepEqual(custom.map((f) => [f.reason, f.score]), [['invoice_77.cab matches the rule invoice_*.cab', 7]]);
  });
});

describe('the attachment filter: removing and cleaning what the policy says', () => {
  const removeMacros: PolicySettings = { modules: { attachments: { categories: { office: { action: 'remove' } } } } };

  test('a macro document the policy removes leaves the message with its other parts byte for byte and a notice', async () => {
    const pdf = pdfWith();
    const raw = messageWith([
      { name: 'contract.pdf', content: pdf, type: 'application/pdf' },
      { name: 'order.docm', content: await macroDocx() },
    ]);
    const verdict = await runnerFor(removeMacros)(guardInput(raw));
    assert.equal(verdict.action, 'deliver');
    assert.ok(verdict.disarmed, 'the message is disarmed');
    assert.deepEqual(verdict.disarmed.changes.map((c) => [c.check, c.symbol]), [['attachment-filter', 'ATTACH_REMOVED']]);
    assert.match(verdict.disarmed.changes[0]!.reason, /order\.docm was removed: order\.docm holds VBA macros/);

    const parsed = await simpleParser(verdict.disarmed.raw);
    assert.deepEqual(parsed.attachments.map((a) => a.filename), ['contract.pdf'], 'only the macro document is gone');
    assert.ok(parsed.attachments[0]!.content.equals(pdf), 'the other attachment is unchanged');
    assert.match(parsed.text ?? '', /Please find the document attached\./);
    assert.match(parsed.text ?? '', /Sealpost changed the attachments of this message before delivering it:\n- order\.docm was removed: order\.docm holds VBA macros/);
    assert.equal(parsed.subject, 'Documents');

    // The disarmed message is checked again as it will be delivered: nothing is left to remove.
    const again = await runnerFor(removeMacros)(guardInput(verdict.disarmed.raw));
    assert.equal(again.disarmed, undefined);
    assert.deepEqual(symbols(again.findings), []);
  });

  test('by default a macro document is delivered without its macros, as a .docx an independent ZIP reader lists without a VBA project', async () => {
    const raw = messageWith([{ name: 'order.docm', content: await macroDocx() }]);
    const verdict = await runnerFor()(guardInput(raw));
    assert.equal(verdict.action, 'deliver');
    assert.deepEqual(verdict.disarmed?.changes.map((c) => [c.symbol, c.reason]), [['ATTACH_SANITISED', 'order.docm: its VBA macros were removed']]);
    const parsed = await simpleParser(verdict.disarmed!.raw);
    assert.deepEqual(parsed.attachments.map((a) => [a.filename, a.contentType]), [['order.docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document']]);
    assert.match(parsed.text ?? '', /- order\.docm: its VBA macros were removed \(it is now order\.docx\)/);
    const cleaned = parsed.attachments[0]!.content;
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-docx-'));
    try {
      writeFileSync(join(folder, 'order.docx'), cleaned);
      const listing = execFileSync('unzip', ['-l', join(folder, 'order.docx')]).toString();
      assert.match(listing, /word\/document\.xml/);
      assert.doesNotMatch(listing, /vbaProject/i);
      execFileSync('unzip', ['-tq', join(folder, 'order.docx')]);
      const types = execFileSync('unzip', ['-p', join(folder, 'order.docx'), '[[]Content_Types].xml']).toString();
      assert.match(types, /wordprocessingml\.document\.main\+xml/);
      assert.doesNotMatch(types, /macroEnabled|vbaProject/i);
      const rels = execFileSync('unzip', ['-p', join(folder, 'order.docx'), 'word/_rels/document.xml.rels']).toString();
      assert.doesNotMatch(rels, /vbaProject/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
    const again = await runnerFor()(guardInput(verdict.disarmed!.raw));
    assert.deepEqual(symbols(again.findings), []);
  });

  test('an Office 97 document is cleaned of its VBA storages; olefile reads the rest unchanged', async () => {
    const verdict = await runnerFor()(guardInput(messageWith([{ name: 'old.doc', content: oleWithMacros() }])));
    const parsed = await simpleParser(verdict.disarmed!.raw);
    const cleaned = parsed.attachments[0]!;
    assert.equal(cleaned.filename, 'old.doc');
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-doc-'));
    try {
      writeFileSync(join(folder, 'old.doc'), cleaned.content);
      const script = 'import olefile,sys\no=olefile.OleFileIO(sys.argv[1])\nprint(sorted("/".join(p) for p in o.listdir(storages=True)))\nprint(len(o.openstream("WordDocument").read()))';
      const [streams, size] = execFileSync('/usr/bin/python3', ['-c', script, join(folder, 'old.doc')]).toString().trim().split('\n');
      assert.doesNotMatch(streams!, /Macros|VBA/);
      assert.match(streams!, /WordDocument/);
      assert.equal(size, '4096');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('a PDF the policy cleans keeps its page and loses its script, actions, embedded files and form; qpdf --check accepts it', async () => {
    const pdf = pdfWith('/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> /AcroForm << /Fields [] >> /Names << /EmbeddedFiles 4 0 R /JavaScript 5 0 R >>', [
      '<< /Names [(payload.exe) 6 0 R] >>',
      '<< /Names [(run) 7 0 R] >>',
      '<< /Type /Filespec /F (payload.exe) >>',
      '<< /S /JavaScript /JS (this.exportDataObject\\(\\)) >>',
    ]);
    const verdict = await runnerFor({ modules: { attachments: { categories: { pdf: { action: 'sanitise' } } } } })(
      guardInput(messageWith([{ name: 'statement.pdf', content: pdf, type: 'application/pdf' }])),
    );
    assert.equal(verdict.action, 'deliver');
    const parsed = await simpleParser(verdict.disarmed!.raw);
    const cleaned = parsed.attachments[0]!.content;
    assert.deepEqual(pdfActiveContent(cleaned), []);
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-pdf-'));
    try {
      writeFileSync(join(folder, 'statement.pdf'), cleaned);
      execFileSync('qpdf', ['--check', join(folder, 'statement.pdf')]);
      assert.match(execFileSync('pdfinfo', [join(folder, 'statement.pdf')]).toString(), /Pages:\s+1/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('documents inside an archive are cleaned there: the archive keeps every other file, and independent readers open the result', async () => {
    const archive = await zipOf([
      ['orders/order.docm', await macroDocx()],
      ['orders/old.doc', oleWithMacros()],
      ['statement.pdf', pdfWith('/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>')],
      ['readme.txt', 'keep me'],
    ]);
    const verdict = await runnerFor({ modules: { attachments: { categories: { pdf: { action: 'sanitise' } } } } })(guardInput(messageWith([{ name: 'orders.zip', content: archive }])));
    assert.equal(verdict.action, 'deliver');
    assert.deepEqual(verdict.disarmed?.changes.map((c) => c.symbol), ['ATTACH_SANITISED']);
    assert.match(
      verdict.disarmed!.changes[0]!.reason,
      /^orders\.zip: the files inside were cleaned \(orders\/order\.docm: its VBA macros were removed, it is now orders\/order\.docx; orders\/old\.doc: its VBA macros were removed; statement\.pdf: its scripts, actions, embedded files and forms were removed\)$/,
    );
    const parsed = await simpleParser(verdict.disarmed!.raw);
    assert.deepEqual(parsed.attachments.map((a) => a.filename), ['orders.zip']);
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-zip-'));
    try {
      writeFileSync(join(folder, 'orders.zip'), parsed.attachments[0]!.content);
      execFileSync('unzip', ['-tq', join(folder, 'orders.zip')]);
      execFileSync('unzip', ['-q', join(folder, 'orders.zip'), '-d', join(folder, 'out')]);
      assert.doesNotMatch(execFileSync('unzip', ['-l', join(folder, 'out', 'orders', 'order.docx')]).toString(), /vbaProject/i);
      const script = 'import olefile,sys\no=olefile.OleFileIO(sys.argv[1])\nprint(sorted("/".join(p) for p in o.listdir(storages=True)))';
      assert.doesNotMatch(execFileSync('/usr/bin/python3', ['-c', script, join(folder, 'out', 'orders', 'old.doc')]).toString(), /Macros|VBA/);
      execFileSync('qpdf', ['--check', join(folder, 'out', 'statement.pdf')]);
      assert.equal(execFileSync('unzip', ['-p', join(folder, 'orders.zip'), 'readme.txt']).toString(), 'keep me');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
    const again = await runnerFor({ modules: { attachments: { categories: { pdf: { action: 'sanitise' } } } } })(guardInput(verdict.disarmed!.raw));
    assert.deepEqual(symbols(again.findings), []);
  });

  test('a macro document in an archive inside the archive cannot be cleaned: the archive goes, as the rule on failure says', async () => {
    const inner = await zipOf([['order.docm', await macroDocx()]]);
    const verdict = await runnerFor()(guardInput(messageWith([{ name: 'orders.zip', content: await zipOf([['inner.zip', inner]]) }])));
    assert.deepEqual(verdict.disarmed?.changes.map((c) => c.symbol), ['ATTACH_REMOVED']);
    assert.match(verdict.disarmed!.changes[0]!.reason, /orders\.zip could not be cleaned: a file that needs cleaning is in an archive inside the archive/);
    const parsed = await simpleParser(verdict.disarmed!.raw);
    assert.equal(parsed.attachments.length, 0);
  });

  test('a message that is only an attachment becomes the notice', async () => {
    const raw =
      'From: a@supplier.example\r\nTo: alice@acme.test\r\nSubject: macro\r\nMIME-Version: 1.0\r\n' +
      `Content-Type: application/vnd.ms-word; name="a.doc"\r\nContent-Transfer-Encoding: base64\r\n\r\n${oleWithMacros().toString('base64')}\r\n`;
    const verdict = await runnerFor(removeMacros)(guardInput(raw));
    const parsed = await simpleParser(verdict.disarmed!.raw);
    assert.equal(parsed.attachments.length, 0);
    assert.match(parsed.text ?? '', /- a\.doc was removed: a\.doc holds VBA macros/);
    assert.equal(parsed.subject, 'macro');
  });

  test('a policy that blocks macro documents quarantines instead, and one that allows them lets them through untouched', async () => {
    const files = [{ name: 'order.docm', content: await macroDocx() }];
    const blocked = await verdictFor(files, { modules: { attachments: { categories: { office: { action: 'block' } } } } });
    assert.equal(blocked.action, 'quarantine');
    assert.equal(blocked.disarmed, undefined);
    const allowed = await verdictFor(files, { modules: { attachments: { categories: { office: { action: 'allow' } } } } });
    assert.equal(allowed.action, 'deliver');
    assert.deepEqual(allowed.findings, []);
    const off = await verdictFor([{ name: 'setup.exe', content: windowsProgram() }], { modules: { attachments: { enabled: false } } });
    assert.deepEqual(off.findings, []);
  });
});
