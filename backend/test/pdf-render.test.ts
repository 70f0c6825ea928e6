/**
 * The password PDF (protect/pdf-render.ts) read back with qpdf and poppler: AES-256 with revision 6,
 * nothing readable without the password, the header block, the German body with umlauts, €, a list, a
 * link and an inline image, attachments that come back byte for byte, and plain text over several
 * pages. Bad input: a message over the size limit, broken and unsupported images, a remote image (a local
 * server checks that nothing fetched it), scripts, frames and forms, random bytes, characters outside the
 * font. And the time for a 5 MB message with a 4.5 MB attachment.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PDFDocument, StandardFonts } from '@cantoo/pdf-lib';
import { PNG } from 'pngjs';
import { PdfBuildError, renderMessagePdf, type PdfRenderOptions } from '../src/protect/pdf-render.ts';

const PASSWORD = 'Kennwort-7Qx!';

interface Part {
  headers: string[];
  body: string | Buffer;
}

/** A MIME entity; Buffer bodies are sent as base64 in lines of 76. */
function entity(part: Part): string {
  if (typeof part.body === 'string') return [...part.headers, '', part.body].join('\r\n');
  const base64 = part.body.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 76) lines.push(base64.slice(i, i + 76));
  return [...part.headers, 'Content-Transfer-Encoding: base64', '', lines.join('\r\n')].join('\r\n');
}

function multipart(type: string, boundary: string, parts: Part[]): Part {
  return {
    headers: [`Content-Type: multipart/${type}; boundary="${boundary}"`],
    body: `${parts.map((p) => `--${boundary}\r\n${entity(p)}\r\n`).join('')}--${boundary}--`,
  };
}

function message(headers: string[], root: Part): Buffer {
  return Buffer.from(`${[...headers, 'MIME-Version: 1.0', entity(root)].join('\r\n')}\r\n`);
}

const html = (content: string): Part => ({ headers: ['Content-Type: text/html; charset=utf-8'], body: Buffer.from(content) });
const plain = (content: string): Part => ({ headers: ['Content-Type: text/plain; charset=utf-8'], body: Buffer.from(content) });
const inlineImage = (cid: string, type: string, bytes: Buffer, name: string): Part => ({
  headers: [`Content-Type: ${type}; name="${name}"`, `Content-ID: <${cid}>`, `Content-Disposition: inline; filename="${name}"`],
  body: bytes,
});
const attachment = (name: string, type: string, bytes: Buffer): Part => ({
  headers: [`Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`],
  body: bytes,
});

const HEADERS = [
  'From: =?UTF-8?Q?J=C3=BCrgen_Wei=C3=9F?= <juergen.weiss@absender.example>',
  'To: Anna Schmidt <anna@empfaenger.example>',
  'Cc: buchhaltung@empfaenger.example',
  'Subject: =?UTF-8?Q?Rechnung_f=C3=BCr_M=C3=A4rz?=',
  'Date: Tue, 4 Mar 2025 10:15:00 +0100',
];

function tinyPng(): Buffer {
  const png = new PNG({ width: 24, height: 12 });
  for (let i = 0; i < png.data.length; i += 4) png.data.set([200, 40, 40, 255], i);
  return PNG.sync.write(png);
}

async function smallPdf(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const page = doc.addPage();
  page.drawText('Anlage zur Rechnung', { x: 50, y: 700, size: 12, font: await doc.embedFont(StandardFonts.Helvetica) });
  return Buffer.from(await doc.save());
}

const GERMAN_HTML = `<!DOCTYPE html><html><head><title>Titel</title><style>p { color: red }</style></head><body>
<h1>Übersicht für Größe</h1>
<p>Sehr geehrte Frau Müller,<br>die Rechnung über 12,50&nbsp;€ ist fällig. Grüße aus der Straße.</p>
<ul><li>Erster Punkt</li><li>Zweiter Punkt</li></ul>
<ol><li>Schritt eins</li><li>Schritt zwei</li></ol>
<p>Details finden Sie <a href="https://rechnungen.example/r/4711">auf unserer Seite</a>.</p>
<p><img src="cid:logo@absender.example" alt="Logo" width="48" height="24"></p>
<table><tr><th>Artikel</th><th>Preis</th></tr><tr><td>Buch</td><td>9,99 €</td></tr></table>
</body></html>`;

describe('password PDF of a message', () => {
  let folder: string;
  const file = (name: string, content?: Buffer | string) => {
    const path = join(folder, name);
    if (content !== undefined) writeFileSync(path, content);
    return path;
  };
  const run = (command: string, ...args: string[]) => execFileSync(command, args, { stdio: 'pipe' }).toString('utf8');
  const attempt = (command: string, ...args: string[]) => spawnSync(command, args, { stdio: 'pipe', encoding: 'utf8' });
  const textOf = (pdf: string, password = PASSWORD) => run('pdftotext', '-upw', password, pdf, '-');
  /** With -layout a header label and its value stay on one line. */
  const layoutOf = (pdf: string) => run('pdftotext', '-layout', '-upw', PASSWORD, pdf, '-');
  const render = (raw: Buffer, options: Partial<PdfRenderOptions> = {}) => renderMessagePdf(raw, { password: PASSWORD, language: 'de', ...options });

  let germanPdf: string;
  let attachedPdf: Buffer;
  const attachedText = Buffer.from('Notiz: Zahlung bis Freitag.\r\nDanke!\r\n');

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-pdf-render-'));
    attachedPdf = await smallPdf();
    const raw = message(
      HEADERS,
      multipart('mixed', 'outer-1', [
        multipart('related', 'rel-2', [html(GERMAN_HTML), inlineImage('logo@absender.example', 'image/png', tinyPng(), 'logo.png')]),
        attachment('Anlage März.pdf', 'application/pdf', attachedPdf),
        attachment('notiz.txt', 'text/plain', attachedText),
      ]),
    );
    const result = await render(raw);
    germanPdf = file('german.pdf', result.pdf);
    assert.deepEqual(result.attachments, [
      { filename: 'Anlage März.pdf', contentType: 'application/pdf', size: attachedPdf.length },
      { filename: 'notiz.txt', contentType: 'text/plain', size: attachedText.length },
    ]);
    assert.deepEqual(result.notes, []);
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  test('is AES-256 with the revision 6 handler, for strings, streams and embedded files', () => {
    const check = run('qpdf', '--check', `--password=${PASSWORD}`, germanPdf);
    assert.match(check, /No syntax or stream encoding errors found/);
    const encryption = run('qpdf', '--show-encryption', `--password=${PASSWORD}`, germanPdf);
    assert.match(encryption, /^R = 6$/m);
    assert.match(encryption, /stream encryption method: AESv3/);
    assert.match(encryption, /string encryption method: AESv3/);
    assert.match(encryption, /file encryption method: AESv3/);
    // The password given is the user password; the owner password is another (random) one.
    assert.match(encryption, /Supplied password is user password/);
    assert.match(run('pdfinfo', '-upw', PASSWORD, germanPdf), /algorithm:AES-256/);
    // Every stream decodes after decryption (a stream left unencrypted would not), and the strings decrypt
    // to the names and title, which the file itself does not contain in any readable form.
    run('qpdf', `--password=${PASSWORD}`, '--decrypt', '--qdf', '--object-streams=disable', germanPdf, file('decrypted.pdf'));
    assert.match(run('pdfinfo', '-upw', PASSWORD, germanPdf), /Title:\s+Rechnung für März/);
    const bytes = readFileSync(germanPdf).toString('latin1').toLowerCase();
    for (const secret of ['notiz.txt', 'rechnung', 'juergen', 'anna@']) {
      assert.equal(bytes.includes(secret), false, secret);
      assert.equal(bytes.includes(Buffer.from(`\ufeff${secret}`, 'utf16le').swap16().toString('hex').slice(4)), false, `${secret} as UTF-16`);
    }
  });

  test('shows the header block, the German body with umlauts, the list, the link and the table', () => {
    const layout = layoutOf(germanPdf);
    assert.match(layout, /^Von: +Jürgen Weiß <juergen\.weiss@absender\.example>$/m);
    assert.match(layout, /^An: +Anna Schmidt <anna@empfaenger\.example>$/m);
    assert.match(layout, /^Cc: +buchhaltung@empfaenger\.example$/m);
    assert.match(layout, /^Datum: +Dienstag, 4\. März 2025 um 10:15 MEZ$/m);
    assert.match(layout, /^Betreff: +Rechnung für März$/m);
    const text = textOf(germanPdf);
    for (const expected of [
      'Übersicht für Größe',
      'Sehr geehrte Frau Müller,',
      'die Rechnung über 12,50 € ist fällig. Grüße aus der Straße.',
      '• Erster Punkt',
      '1. Schritt eins',
      '2. Schritt zwei',
      'auf unserer Seite (https://rechnungen.example/r/4711)',
      'Artikel | Preis',
      'Buch | 9,99 €',
      'Anhänge',
      'Die Anhänge sind in diese PDF-Datei eingebettet',
      `notiz.txt – text/plain, ${attachedText.length} Byte`,
    ]) {
      assert.ok(text.includes(expected), `missing: ${expected}\n${text}`);
    }
    assert.equal(text.includes('Titel'), false, 'the <title> is not body text');
    // The inline PNG is drawn, not attached.
    const images = run('pdfimages', '-upw', PASSWORD, '-list', germanPdf).trim().split('\n').slice(2);
    assert.deepEqual(images.map((line) => line.trim().split(/\s+/).slice(0, 6)), [['1', '0', 'image', '24', '12', 'rgb']]);
  });

  test('embeds both attachments; they come back byte for byte', () => {
    const list = run('pdfdetach', '-upw', PASSWORD, '-list', germanPdf);
    assert.match(list, /2 embedded files/);
    assert.match(list, /Anlage März\.pdf/);
    assert.match(list, /notiz\.txt/);
    const out = join(folder, 'detached');
    mkdirSync(out);
    run('pdfdetach', '-upw', PASSWORD, '-saveall', '-o', out, germanPdf);
    assert.ok(readFileSync(join(out, 'Anlage März.pdf')).equals(attachedPdf));
    assert.ok(readFileSync(join(out, 'notiz.txt')).equals(attachedText));
  });

  test('cannot be read without the password or with a wrong one', () => {
    for (const password of [undefined, 'falsch']) {
      const args = password === undefined ? [] : ['-upw', password];
      const text = attempt('pdftotext', ...args, germanPdf, '-');
      assert.notEqual(text.status, 0, `pdftotext with ${password}`);
      assert.equal(text.stdout.includes('Müller'), false);
      const check = attempt('qpdf', '--check', ...(password === undefined ? [] : [`--password=${password}`]), germanPdf);
      assert.notEqual(check.status, 0);
      assert.match(`${check.stdout}${check.stderr}`, /invalid password/i);
      assert.notEqual(attempt('pdfdetach', ...args, '-list', germanPdf).status, 0);
    }
  });

  test('English labels and dates, and another time zone', async () => {
    const raw = message(HEADERS, plain('Hello'));
    const result = await render(raw, { language: 'en', timeZone: 'UTC' });
    const layout = layoutOf(file('english.pdf', result.pdf));
    for (const label of ['From', 'To', 'Cc', 'Date', 'Subject']) assert.match(layout, new RegExp(`^${label}: +\\S`, 'm'));
    assert.match(layout, /^Date: +Tuesday,? 4 March 2025 at 09:15 UTC$/m);
    assert.match(layout, /Page 1 of 1/);
    // A zone Intl does not know falls back to the default one.
    const fallback = await render(raw, { language: 'en', timeZone: 'Mars/Olympus' });
    assert.ok(textOf(file('fallback.pdf', fallback.pdf)).includes('10:15 CET'));
    // A Date header that cannot be read is shown as written, not as the time of rendering.
    const odd = await render(message(['From: a@example.org', 'Date: irgendwann im Mai', 'Subject: x'], plain('x')), { language: 'en' });
    assert.match(layoutOf(file('odd-date.pdf', odd.pdf)), /^Date: +irgendwann im Mai$/m);
  });

  test('plain text keeps its line breaks, wraps long lines and runs over several pages', async () => {
    const lines = Array.from({ length: 300 }, (_, i) => `Zeile ${i + 1}: Prüfung`);
    lines[5] = `${'Langer Satz mit Wörtern '.repeat(30)}ENDE`;
    lines[7] = `https://portal.example/${'x'.repeat(400)}`;
    const result = await render(message(['From: a@example.org', 'Subject: Text'], plain(lines.join('\r\n'))));
    const pdf = file('plain.pdf', result.pdf);
    const pages = Number(run('qpdf', `--password=${PASSWORD}`, '--show-npages', pdf).trim());
    assert.ok(pages >= 5, `${pages} pages`);
    const text = textOf(pdf);
    const out = text.split(/[\n\f]/);
    // Each line of the message starts a line of the PDF.
    for (const n of [1, 2, 150, 300]) assert.ok(out.includes(`Zeile ${n}: Prüfung`), `line ${n}`);
    // The long line is wrapped: its end is on a later line than its start, and no PDF line is that long.
    const start = out.findIndex((l) => l.startsWith('Langer Satz mit Wörtern'));
    const end = out.findIndex((l) => l.endsWith('ENDE'));
    assert.ok(start >= 0 && end > start, `wrapped from ${start} to ${end}`);
    assert.ok(out.every((l) => l.length < 140), 'no line wider than the page');
    // The word longer than a line is broken inside.
    assert.ok(out.some((l) => l.startsWith('https://portal.example/xxx') && l.length < 140));
  });

  test('a message over the limit is refused before it is parsed, naming both sizes', async () => {
    // Parsed, this message would be refused as unreadable (its header is too large): "too-large" shows
    // that the size was checked first.
    const big = Buffer.from(`Subject: x\r\nX-Long: ${'a'.repeat(3_000_000)}\r\n\r\nbody`);
    const started = performance.now();
    await assert.rejects(render(big, { maxMessageBytes: 1_000_000 }), (error: unknown) => {
      assert.ok(error instanceof PdfBuildError);
      assert.equal(error.code, 'too-large');
      assert.ok(error.message.includes(String(big.length)), error.message);
      assert.ok(error.message.includes('1000000'), error.message);
      return true;
    });
    assert.ok(performance.now() - started < 500, 'refused at once');
    // The default limit is 50 MiB.
    await assert.rejects(render(Buffer.alloc(50 * 1024 * 1024 + 1)), (e: unknown) => e instanceof PdfBuildError && e.code === 'too-large');
  });

  test('broken, unsupported and missing images are left out with notes; the PDF is still built', async () => {
    const brokenPng = Buffer.concat([tinyPng().subarray(0, 33), randomBytes(200)]);
    const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
    const jpegData = `data:image/jpeg;base64,${Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]).toString('base64')}`;
    const body = `<p>Vorher</p><img src="cid:broken@x"><img src="cid:anim@x"><img src="cid:gone@x" alt="Weg"><img src="${jpegData}" alt="Kaputt">
      <img src="data:image/png;base64,${tinyPng().toString('base64')}"><p>Nachher</p>`;
    const raw = message(
      ['From: a@example.org', 'Subject: Bilder'],
      multipart('related', 'rel-3', [html(body), inlineImage('broken@x', 'image/png', brokenPng, 'logo.png'), inlineImage('anim@x', 'image/gif', gif, 'anim.gif')]),
    );
    const result = await render(raw, { language: 'en' });
    assert.deepEqual(result.notes, [
      'image logo.png could not be read and was left out',
      'image anim.gif (image/gif) cannot be shown in a PDF and was left out',
      'image cid:gone@x is not part of the message and was left out',
      'image "Kaputt" could not be read and was left out',
    ]);
    const pdf = file('images.pdf', result.pdf);
    const text = textOf(pdf);
    assert.ok(text.includes('Vorher') && text.includes('Nachher'));
    assert.ok(text.includes('image anim.gif (image/gif) cannot be shown'), 'the notes are in the PDF too');
    // Only the good data: image is drawn; the parts used inline are not attached again.
    assert.equal(run('pdfimages', '-upw', PASSWORD, '-list', pdf).trim().split('\n').length, 3);
    assert.deepEqual(result.attachments, []);
  });

  test('remote images are never fetched: a placeholder and a note', async () => {
    let requests = 0;
    const server: Server = createServer((_, res) => {
      requests += 1;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const body = `<p>Hallo</p><img src="http://127.0.0.1:${port}/pixel.gif" alt="Zähler"><img src="https://127.0.0.1:${port}/logo.png">
        <div style="background:url(http://127.0.0.1:${port}/bg.png)">Text</div>`;
      const result = await render(message(['From: a@example.org', 'Subject: Fern'], html(body)));
      assert.deepEqual(result.notes, ['2 externe Bilder wurden nicht geladen']);
      const text = textOf(file('remote.pdf', result.pdf));
      assert.ok(text.includes('[Bild nicht geladen: Zähler]'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(requests, 0);
    } finally {
      server.close();
    }
  });

  test('scripts, frames, forms and hidden text do not appear', async () => {
    const body = `<p>Sichtbar</p><script>document.write('SKRIPTTEXT')</script><noscript>NOSCRIPTTEXT</noscript>
      <iframe src="https://x.example">FRAMETEXT</iframe><form action="https://x.example"><label>FORMTEXT</label><input value="FELDWERT"><button>KNOPF</button></form>
      <div style="display: none">VERSTECKT</div><span hidden>AUCHVERSTECKT</span><style>.a{}</style><p onclick="alert(1)">Ende</p>`;
    const result = await render(message(['From: a@example.org', 'Subject: Aktiv'], html(body)), { language: 'en' });
    const text = textOf(file('active.pdf', result.pdf));
    assert.ok(text.includes('Sichtbar') && text.includes('Ende'));
    for (const hidden of ['SKRIPTTEXT', 'NOSCRIPTTEXT', 'FRAMETEXT', 'FORMTEXT', 'FELDWERT', 'KNOPF', 'VERSTECKT', '.a{}']) {
      assert.equal(text.includes(hidden), false, hidden);
    }
    assert.deepEqual(result.notes, ['scripts, forms and embedded frames were left out']);
  });

  test('characters outside the font become close letters or "?" with one note, never an error', async () => {
    const body = 'Emoji 😀👍🏽 CJK 中文 Greek αβγ Czech Dvořák Polish Łódź fi\u2011ligature \u200bzero-width';
    const result = await render(message(['From: =?UTF-8?Q?=F0=9F=98=80?= <a@example.org>', 'Subject: Zeichen'], plain(body)), { language: 'en' });
    const text = textOf(file('chars.pdf', result.pdf));
    // ř loses its accent, á and ó are Latin-1 and stay; Ł has no plain form; the skin tone and the
    // zero-width space are dropped, the no-break hyphen becomes a hyphen.
    assert.ok(text.includes('Emoji ?? CJK ?? Greek ??? Czech Dvorák Polish ?ódz fi-ligature zero-width'), text);
    assert.ok(text.includes('? <a@example.org>'), text);
    assert.deepEqual(result.notes, ["9 characters could not be shown in the PDF's font and were replaced by '?'"]);
  });

  test('random bytes give a PDF or an "unreadable" error, nothing else', async () => {
    for (let round = 0; round < 20; round += 1) {
      const raw = randomBytes(1 + Math.floor(Math.random() * 20_000));
      try {
        const result = await render(raw);
        assert.ok(result.pdf.subarray(0, 5).toString() === '%PDF-');
      } catch (error) {
        assert.ok(error instanceof PdfBuildError && error.code === 'unreadable', String(error));
      }
    }
    // Empty input, a header without body, a broken multipart, a deeply nested HTML.
    const odd = [
      Buffer.alloc(0),
      Buffer.from('Subject: nur Kopf\r\n'),
      Buffer.from('Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>offen'),
      message(['Subject: tief'], html(`${'<div><b>'.repeat(20_000)}tief${'</b></div>'.repeat(5)}`)),
    ];
    for (const raw of odd) {
      const result = await render(raw);
      assert.ok(result.pdf.length > 0);
    }
    assert.ok(textOf(file('deep.pdf', (await render(odd[3]!)).pdf)).includes('tief'));
    // Tag names that are names of Object's properties are just unknown elements.
    const proto = await render(message(['Subject: proto'], html('<constructor>eins</constructor> <hasownproperty>zwei</hasownproperty> <valueof>drei')));
    assert.ok(textOf(file('proto.pdf', proto.pdf)).includes('eins zwei drei'));
    // 300,000 nested elements: the HTML parser's cost grows with the depth, so it is bounded (it took minutes).
    const started = performance.now();
    const deep = await render(message(['Subject: tiefer'], html(`${'<div><span>'.repeat(150_000)}<p>ganz unten</p>`)));
    assert.ok(performance.now() - started < 10_000, `${performance.now() - started} ms`);
    assert.ok(textOf(file('deeper.pdf', deep.pdf)).includes('ganz unten'));
  });

  test('a message the parser refuses is "unreadable", with the parser\'s reason', async () => {
    const hugeHeader = Buffer.from(`Subject: x\r\nX-Long: ${'a'.repeat(3_000_000)}\r\n\r\nbody`);
    const manyParts = Buffer.from(
      `Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${'--b\r\nContent-Type: text/plain\r\n\r\nx\r\n'.repeat(1500)}--b--\r\n`,
    );
    for (const [raw, reason] of [[hugeHeader, /header size/i], [manyParts, /child nodes/i]] as const) {
      await assert.rejects(render(raw), (error: unknown) => {
        assert.ok(error instanceof PdfBuildError);
        assert.equal(error.code, 'unreadable');
        assert.match(error.message, /^the message could not be read: /);
        assert.match(error.message, reason);
        return true;
      });
    }
  });

  test('refuses to build a PDF without a password', async () => {
    await assert.rejects(render(message(['Subject: x'], plain('x')), { password: '' }), (e: unknown) => e instanceof PdfBuildError && e.code === 'failed');
  });

  test('a 5 MB message with a 4.5 MB attachment renders in well under two seconds', async () => {
    const big = randomBytes(Math.round(4.5 * 1024 * 1024));
    const raw = message(
      ['From: a@example.org', 'Subject: Groß'],
      multipart('mixed', 'big-1', [plain('Anbei die Datei.'), attachment('daten.bin', 'application/octet-stream', big)]),
    );
    const started = performance.now();
    const result = await render(raw);
    const elapsed = performance.now() - started;
    console.log(`rendered a ${(raw.length / 1024 / 1024).toFixed(1)} MiB message in ${elapsed.toFixed(0)} ms`);
    // Two seconds on a developer machine; the bound leaves room for a loaded CI machine.
    assert.ok(elapsed < 5000, `${elapsed} ms`);
    const pdf = file('big.pdf', result.pdf);
    const out = join(folder, 'big-out');
    mkdirSync(out);
    run('pdfdetach', '-upw', PASSWORD, '-saveall', '-o', out, pdf);
    assert.ok(readFileSync(join(out, 'daten.bin')).equals(big));
  });
});
