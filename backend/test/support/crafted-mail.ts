/** Messages built for the guard's tests and benchmark: ordinary ones and ones crafted to break parsers. */
import { randomBytes } from 'node:crypto';
import { splitMessage, type SplitMessage } from '../../src/mail/header-block.ts';
import type { GuardInput } from '../../src/guard/contract.ts';

/** LF-written text as the CRLF mail it stands for. */
export function crlf(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}

export function split(raw: Buffer | string): SplitMessage {
  const message = splitMessage(Buffer.isBuffer(raw) ? raw : Buffer.from(raw));
  if (message.outcome !== 'split') throw new Error(`test message does not split: ${message.outcome}`);
  return message;
}

export function guardInput(raw: Buffer | string, overrides: Partial<GuardInput> = {}): GuardInput {
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  return {
    messageId: 'msg-1',
    tenantId: 'tenant-1',
    direction: 'inbound',
    mailFrom: 'sender@example.org',
    recipients: ['alice@acme.test'],
    remoteAddress: '192.0.2.10',
    raw: bytes,
    header: split(bytes),
    ...overrides,
  };
}

export function headers(fields: Record<string, string> | Array<[string, string]>): string {
  const list = Array.isArray(fields) ? fields : Object.entries(fields);
  return list.map(([name, value]) => `${name}: ${value}\n`).join('');
}

const BASE = { From: 'Bob <bob@example.org>', To: 'alice@acme.test', Subject: 'Hello', 'Message-ID': '<1@example.org>', 'MIME-Version': '1.0' };

export function plainText(extra: Record<string, string> = {}, body = 'Hello Alice,\n\nsee you tomorrow.\n\nBob\n'): string {
  return crlf(`${headers({ ...BASE, 'Content-Type': 'text/plain; charset=utf-8', ...extra })}\n${body}`);
}

export function alternativeHtml(extra: Record<string, string> = {}): string {
  const html = `<html><body>${'<p>Quarterly figures attached as discussed.</p>'.repeat(40)}</body></html>`;
  return crlf(
    `${headers({ ...BASE, 'Content-Type': 'multipart/alternative; boundary="alt-1"', ...extra })}\n` +
      `--alt-1\nContent-Type: text/plain; charset=utf-8\n\n${'Quarterly figures attached as discussed.\n'.repeat(40)}\n` +
      `--alt-1\nContent-Type: text/html; charset=utf-8\n\n${html}\n--alt-1--\n`,
  );
}

/** A mixed message with `count` base64 attachments of about `bytes` each, after a text/html alternative. */
export function withAttachments(count: number, bytes: number, extra: Record<string, string> = {}): string {
  const base64 = (n: number) => randomBytes(n).toString('base64').replace(/.{76}/g, '$&\n');
  let text =
    `${headers({ ...BASE, 'Content-Type': 'multipart/mixed; boundary="mix-1"', ...extra })}\n` +
    `This is a multi-part message in MIME format.\n--mix-1\nContent-Type: multipart/alternative; boundary="alt-2"\n\n` +
    `--alt-2\nContent-Type: text/plain\n\nPlease find the files attached.\n--alt-2\nContent-Type: text/html\n\n<p>Please find the files attached.</p>\n--alt-2--\n`;
  for (let i = 0; i < count; i += 1) {
    text +=
      `--mix-1\nContent-Type: application/pdf; name="file-${i}.pdf"\nContent-Transfer-Encoding: base64\n` +
      `Content-Disposition: attachment; filename="file-${i}.pdf"\n\n${base64(bytes)}\n`;
  }
  return crlf(`${text}--mix-1--\n`);
}

/** Multiparts nested `depth` deep around one text part. */
export function nested(depth: number, extra: Record<string, string> = {}): string {
  let inner = 'Content-Type: text/plain\n\nthe innermost part\n';
  for (let d = depth; d >= 2; d -= 1) inner = `Content-Type: multipart/mixed; boundary="n${d}"\n\n--n${d}\n${inner}--n${d}--\n`;
  return crlf(`${headers({ ...BASE, 'Content-Type': 'multipart/mixed; boundary="n1"', ...extra })}\n--n1\n${inner}--n1--\n`);
}

/** One multipart with `parts` small text parts. */
export function manyParts(parts: number): string {
  let body = '';
  for (let i = 0; i < parts; i += 1) body += `--many\nContent-Type: text/plain\n\npart ${i}\n`;
  return crlf(`${headers({ ...BASE, 'Content-Type': 'multipart/mixed; boundary="many"' })}\n${body}--many--\n`);
}
