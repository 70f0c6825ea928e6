/**
 * Real files for the attachment filter's tests, built here: ZIP archives (nested, encrypted, bombs),
 * Office documents with VBA projects (OLE with cfb, OOXML packages), PDFs with each kind of active
 * content, a Windows program header, and messages that carry them.
 */
import { randomUUID } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import CFB from 'cfb';
import yazl from 'yazl';

export function zipOf(entries: Array<[string, Buffer | string]>, options: { compress?: boolean } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const zip = new yazl.ZipFile();
    for (const [name, content] of entries) zip.addBuffer(Buffer.isBuffer(content) ? content : Buffer.from(content), name, { compress: options.compress ?? true });
    zip.end();
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}

/** A ZIP whose entries say they are encrypted (bit 0 of the general purpose flags, in both headers). */
export async function encryptedZip(): Promise<Buffer> {
  const zip = await zipOf([['secret.docx', 'not really encrypted, but flagged so '.repeat(20)]]);
  for (let at = 0; at < zip.length - 4; at++) {
    const signature = zip.readUInt32LE(at);
    if (signature === 0x04034b50) zip.writeUInt16LE(zip.readUInt16LE(at + 6) | 1, at + 6);
    if (signature === 0x02014b50) zip.writeUInt16LE(zip.readUInt16LE(at + 8) | 1, at + 8);
  }
  return zip;
}

/** An archive in an archive … `levels` deep, with a text file at the bottom. */
export async function nestedZip(levels: number, inner: [string, Buffer | string] = ['readme.txt', 'the bottom']): Promise<Buffer> {
  let current = await zipOf([inner]);
  for (let level = 1; level < levels; level++) current = await zipOf([[`level${levels - level}.zip`, current]]);
  return current;
}

/** The start of a Windows program: the MZ header pointing at a PE header. */
export function windowsProgram(): Buffer {
  const bytes = Buffer.alloc(1024);
  bytes.write('MZ', 0, 'latin1');
  bytes.writeUInt32LE(0x80, 0x3c);
  bytes.write('PE\0\0', 0x80, 'latin1');
  bytes.writeUInt16LE(0x14c, 0x84);
  return bytes;
}

const MACRO_CONTENT_TYPES =
  '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
  '<Default Extension="xml" ContentType="application/xml"/>' +
  '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>' +
  '<Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>';
const PLAIN_CONTENT_TYPES = MACRO_CONTENT_TYPES.replace('<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>', '').replace(
  'application/vnd.ms-word.document.macroEnabled.main+xml',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml',
);
const ROOT_RELS =
  '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
  '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>';
const DOCUMENT =
  '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Invoice 4711</w:t></w:r></w:p></w:body></w:document>';
const DOCUMENT_RELS =
  '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
  '<Relationship Id="rId9" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>';

/** A macro-enabled Word document: the package with a VBA project (itself an OLE file with a VBA storage). */
export async function macroDocx(): Promise<Buffer> {
  return zipOf([
    ['[Content_Types].xml', MACRO_CONTENT_TYPES],
    ['_rels/.rels', ROOT_RELS],
    ['word/document.xml', DOCUMENT],
    ['word/_rels/document.xml.rels', DOCUMENT_RELS],
    ['word/vbaProject.bin', oleWithMacros('VBA')],
  ]);
}

export async function plainDocx(): Promise<Buffer> {
  return zipOf([
    ['[Content_Types].xml', PLAIN_CONTENT_TYPES],
    ['_rels/.rels', ROOT_RELS],
    ['word/document.xml', DOCUMENT],
  ]);
}

/** An OLE (Word 97) document whose VBA project sits in Macros/VBA, as Word writes it. */
export function oleWithMacros(root: 'Macros' | 'VBA' = 'Macros'): Buffer {
  const container = CFB.utils.cfb_new();
  const base = root === 'Macros' ? 'Macros/VBA' : 'VBA';
  CFB.utils.cfb_add(container, 'WordDocument', Buffer.alloc(4096, 0x20));
  CFB.utils.cfb_add(container, `${base}/dir`, Buffer.from('compressed dir stream'));
  CFB.utils.cfb_add(container, `${base}/ThisDocument`, Buffer.from('Attribute VB_Name = "ThisDocument"\r\nSub AutoOpen()\r\nShell "calc"\r\nEnd Sub\r\n'));
  CFB.utils.cfb_add(container, `${base === 'VBA' ? '' : 'Macros/'}PROJECT`, Buffer.from('ID="{00000000-0000-0000-0000-000000000000}"'));
  return Buffer.from(CFB.write(container, { type: 'buffer' }) as Buffer);
}

export function oleWithoutMacros(): Buffer {
  const container = CFB.utils.cfb_new();
  CFB.utils.cfb_add(container, 'WordDocument', Buffer.alloc(4096, 0x20));
  CFB.utils.cfb_add(container, '1Table', Buffer.alloc(1024, 0x00));
  return Buffer.from(CFB.write(container, { type: 'buffer' }) as Buffer);
}

/** A PDF whose catalog holds `extra` (a dictionary entry), with a correct cross-reference table. */
export function pdfWith(catalogExtra = '', objects: string[] = []): Buffer {
  const bodies = [
    `<< /Type /Catalog /Pages 2 0 R ${catalogExtra} >>`,
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>',
    ...objects,
  ];
  let out = '%PDF-1.7\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  bodies.forEach((body, index) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${index + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${bodies.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${bodies.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** A PDF whose JavaScript action hides in a compressed object stream (PDF 1.5). */
export function pdfWithHiddenScript(): Buffer {
  const header = '5 0 ';
  const compressed = deflateSync(Buffer.from(`${header}<< /S /JavaScript /JS (app.alert\\(1\\)) >>`, 'latin1'));
  const objectStream = `<< /Type /ObjStm /N 1 /First ${header.length} /Filter /FlateDecode /Length ${compressed.length} >>\nstream\n${compressed.toString('latin1')}\nendstream`;
  return pdfWith('/OpenAction 5 0 R', [objectStream]);
}

const TEXT = 'Please find the document attached.\r\n';

/** A multipart/mixed message with a text part and the given attachments (base64). */
export function messageWith(files: Array<{ name: string; content: Buffer; type?: string }>, subject = 'Documents'): string {
  const boundary = `b-${randomUUID()}`;
  const parts = files.map(
    (file) =>
      `--${boundary}\r\nContent-Type: ${file.type ?? 'application/octet-stream'}; name="${file.name}"\r\nContent-Transfer-Encoding: base64\r\n` +
      `Content-Disposition: attachment; filename="${file.name}"\r\n\r\n${(file.content.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n')}\r\n`,
  );
  return (
    `From: Supplier <billing@supplier.example>\r\nTo: alice@acme.test\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@supplier.example>\r\n` +
    `Date: Thu, 03 Dec 2026 08:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n` +
    `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${TEXT}${parts.join('')}--${boundary}--\r\n`
  );
}
