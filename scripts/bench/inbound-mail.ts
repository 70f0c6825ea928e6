/**
 * Realistic inbound mail for the benchmarks: newsletters, invoices and personal messages of 10–50 kB,
 * multipart/alternative with HTML full of links, from a few dozen sender domains that publish SPF, DKIM and
 * DMARC records, each message DKIM-signed by its domain's key; and the DNS zone that answers for them (served
 * by a real DNS server on loopback). Some senders are not who they claim (no signature, SPF softfail) so
 * that the checks have something to find.
 */
import { dkimKey, signDkim, type DkimKey, type Zone } from '../../backend/test/support/local-dns.ts';

export interface InboundCorpus {
  messages: Array<{ sender: string; raw: Buffer; kind: string }>;
  zone: Zone;
}

const WORDS = ['quarterly', 'report', 'meeting', 'invoice', 'project', 'update', 'schedule', 'customer', 'delivery', 'contract', 'review', 'budget', 'team', 'office', 'release'];

function sentence(seed: number, length: number): string {
  const words: string[] = [];
  for (let i = 0; i < length; i += 1) words.push(WORDS[(seed * 31 + i * 7) % WORDS.length]!);
  return `${words.join(' ')}.`;
}

function htmlBody(seed: number, targetBytes: number, domain: string): string {
  const rows: string[] = ['<!doctype html><html><head><style>p{margin:0 0 8px}a{color:#0f6cbd}</style></head><body><table width="100%">'];
  let size = rows[0]!.length;
  for (let i = 0; size < targetBytes; i += 1) {
    const row =
      `<tr><td><p>${sentence(seed + i, 14)} <a href="https://www.${domain}/article/${seed}-${i}?utm_source=mail&amp;utm_medium=news">Read more</a>` +
      ` or <a href="https://cdn.${domain}/docs/${i}.pdf">the document</a>.</p></td></tr>`;
    rows.push(row);
    size += row.length;
  }
  rows.push(`</table><p><a href="https://www.${domain}/unsubscribe?id=${seed}">Unsubscribe</a></p></body></html>`);
  return rows.join('\n');
}

function textBody(seed: number, targetBytes: number, domain: string): string {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < targetBytes; i += 1) {
    const line = `${sentence(seed + i, 12)} https://www.${domain}/a/${seed}-${i}`;
    lines.push(line);
    size += line.length + 2;
  }
  return lines.join('\r\n');
}

/** One message of about `bytes` bytes from `sender` to `recipient`. */
function compose(seed: number, sender: string, recipient: string, bytes: number, kind: string): string {
  const domain = sender.slice(sender.indexOf('@') + 1);
  const html = htmlBody(seed, bytes * 0.62, domain);
  const text = textBody(seed, bytes * 0.3, domain);
  return (
    `From: "${kind === 'newsletter' ? 'News' : 'Anna Berger'}" <${sender}>\r\nTo: <${recipient}>\r\n` +
    `Subject: ${sentence(seed, 5)}\r\nDate: Thu, 03 Dec 2026 06:00:${String(seed % 60).padStart(2, '0')} +0000\r\n` +
    `Message-ID: <bench-${seed}@${domain}>\r\nMIME-Version: 1.0\r\n` +
    `Content-Type: multipart/alternative; boundary="alt-${seed}"\r\n\r\n` +
    `--alt-${seed}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}\r\n` +
    `--alt-${seed}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${html}\r\n` +
    `--alt-${seed}--\r\n`
  );
}

/**
 * `distinct` messages to `recipient` from `domains` sender domains; sizes spread over 10–50 kB. The
 * connecting address the senders' SPF records allow is 127.0.0.0/8 (the benchmark sends from loopback).
 */
export async function inboundCorpus(options: { distinct: number; domains: number; recipient: string }): Promise<InboundCorpus> {
  const zone: Zone = {};
  const keys: Array<{ domain: string; key: DkimKey }> = [];
  for (let d = 0; d < options.domains; d += 1) {
    const domain = `sender${d}.example`;
    const key = dkimKey();
    keys.push({ domain, key });
    zone[domain] = { TXT: [d % 5 === 4 ? 'v=spf1 ip4:192.0.2.0/24 ~all' : 'v=spf1 ip4:127.0.0.0/8 -all'] };
    zone[`s1._domainkey.${domain}`] = { TXT: [key.record] };
    zone[`_dmarc.${domain}`] = { TXT: [`v=DMARC1; p=${d % 3 === 0 ? 'none' : 'quarantine'}; rua=mailto:dmarc@${domain}`] };
  }
  const messages: InboundCorpus['messages'] = [];
  for (let i = 0; i < options.distinct; i += 1) {
    const { domain, key } = keys[i % keys.length]!;
    const kind = i % 3 === 0 ? 'newsletter' : i % 3 === 1 ? 'invoice' : 'personal';
    const bytes = 10_000 + ((i * 7919) % 40_000);
    const sender = `${kind}@${domain}`;
    const raw = compose(i, sender, options.recipient, bytes, kind);
    // Every tenth message comes unsigned: someone using the domain's name without its key.
    const signed = i % 10 === 9 ? raw : await signDkim(raw, key, domain, 's1');
    messages.push({ sender, raw: Buffer.from(signed), kind: i % 10 === 9 ? `${kind} (unsigned)` : kind });
  }
  return { messages, zone };
}
