/**
 * The digest: one mail that reminds an external recipient of the secure messages waiting unread for
 * them, each with its own link. Like the notification it carries no message content beyond sender,
 * subject and dates. The tenant may give its own HTML template with {{subject}}, {{rows}} and {{domain}};
 * every value that comes from a message is HTML-escaped before it reaches the template.
 */
import { randomUUID } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { PortalLanguage } from '../../../common/src/portal-api.ts';
import { escapeHtml, formatDate, type ComposedMail } from './notification-mail.ts';

export interface DigestEntry {
  sender: { name?: string; address: string };
  subject: string;
  sentAt: Date;
  expiresAt?: Date;
  /** The magic link that opens this one message. */
  link: string;
}

export interface DigestMailInput {
  language: PortalLanguage;
  /** The tenant's HTML template; unset or blank: the built-in one. */
  template?: string;
  /** The tenant's first domain, for {{domain}}. */
  domain: string;
  from: { name?: string; address: string };
  to: string;
  /** The messages listed, newest first. */
  entries: DigestEntry[];
  /** How many messages wait in all (more than listed when the digest is capped). */
  total: number;
  /** The portal's start page, where the recipient can ask for links to everything else. */
  startPage: string;
  hostname: string;
}

interface DigestTexts {
  subject(count: number): string;
  intro(domain: string): string;
  more(hidden: number): string;
  open: string;
  noSubject: string;
  noExpiry: string;
  columns: { sender: string; subject: string; received: string; expires: string };
  textLine(entry: { sender: string; subject: string; received: string; expires: string }): string;
  footer: string;
}

const TEXTS: Record<PortalLanguage, DigestTexts> = {
  en: {
    subject: (count) => (count === 1 ? 'You have 1 unread secure message' : `You have ${count} unread secure messages`),
    intro: (domain) => `These secure messages from ${domain} are waiting for you and have not been opened yet.`,
    more: (hidden) => `${hidden} more ${hidden === 1 ? 'message is' : 'messages are'} waiting in the portal.`,
    open: 'Open',
    noSubject: '(no subject)',
    noExpiry: 'no expiry',
    columns: { sender: 'From', subject: 'Subject', received: 'Received', expires: 'Available until' },
    textLine: (e) => `${e.sender}: "${e.subject}", received ${e.received}, available until ${e.expires}`,
    footer: 'Each link works once. If a link no longer works, the page lets you ask for a new one.',
  },
  de: {
    subject: (count) => (count === 1 ? 'Sie haben 1 ungelesene sichere Nachricht' : `Sie haben ${count} ungelesene sichere Nachrichten`),
    intro: (domain) => `Diese sicheren Nachrichten von ${domain} warten auf Sie und wurden noch nicht geöffnet.`,
    more: (hidden) => `${hidden} weitere ${hidden === 1 ? 'Nachricht wartet' : 'Nachrichten warten'} im Portal.`,
    open: 'Öffnen',
    noSubject: '(kein Betreff)',
    noExpiry: 'unbefristet',
    columns: { sender: 'Von', subject: 'Betreff', received: 'Empfangen', expires: 'Verfügbar bis' },
    textLine: (e) => `${e.sender}: „${e.subject}“, empfangen ${e.received}, verfügbar bis ${e.expires}`,
    footer: 'Jeder Link gilt einmal. Funktioniert ein Link nicht mehr, können Sie auf der Seite einen neuen anfordern.',
  },
};

function builtInTemplate(texts: DigestTexts, language: PortalLanguage): string {
  const cell = 'style="text-align:left;padding:4px 12px 4px 0"';
  return (
    `<h1 style="font-size:18px">{{subject}}</h1>` +
    `<p>${escapeHtml(texts.intro('{{domain}}'))}</p>` +
    `<table lang="${language}" style="border-collapse:collapse">` +
    `<thead><tr><th ${cell}>${escapeHtml(texts.columns.sender)}</th><th ${cell}>${escapeHtml(texts.columns.subject)}</th>` +
    `<th ${cell}>${escapeHtml(texts.columns.received)}</th><th ${cell}>${escapeHtml(texts.columns.expires)}</th><th ${cell}></th></tr></thead>` +
    `<tbody>{{rows}}</tbody></table>` +
    `<p>${escapeHtml(texts.footer)}</p>`
  );
}

function senderLabel(sender: DigestEntry['sender']): string {
  return sender.name ? `${sender.name} <${sender.address}>` : sender.address;
}

/** The table rows for {{rows}}: one <tr> per message, every value escaped. */
export function digestRows(entries: DigestEntry[], language: PortalLanguage): string {
  const texts = TEXTS[language];
  const cell = 'style="padding:4px 12px 4px 0;vertical-align:top"';
  return entries
    .map((entry) => {
      const values = [
        senderLabel(entry.sender),
        entry.subject || texts.noSubject,
        formatDate(entry.sentAt, language),
        entry.expiresAt ? formatDate(entry.expiresAt, language) : texts.noExpiry,
      ];
      return (
        '<tr>' +
        values.map((v) => `<td ${cell}>${escapeHtml(v)}</td>`).join('') +
        `<td ${cell}><a href="${escapeHtml(entry.link)}">${escapeHtml(texts.open)}</a></td>` +
        '</tr>'
      );
    })
    .join('');
}

/** Fills {{subject}}, {{rows}} and {{domain}} in one pass, so a value can never bring in a placeholder. */
function fillDigestTemplate(template: string, values: { subject: string; rows: string; domain: string }): string {
  return template.replace(/\{\{\s*(subject|rows|domain)\s*\}\}/g, (_whole, name: 'subject' | 'rows' | 'domain') =>
    name === 'rows' ? values.rows : escapeHtml(values[name]),
  );
}

export async function buildDigestMail(input: DigestMailInput): Promise<ComposedMail> {
  const texts = TEXTS[input.language];
  const subject = texts.subject(input.total);
  const hidden = Math.max(0, input.total - input.entries.length);
  const custom = input.template?.trim();
  let body = fillDigestTemplate(custom || builtInTemplate(texts, input.language), {
    subject,
    rows: digestRows(input.entries, input.language),
    domain: input.domain,
  });
  if (hidden > 0) body += `<p><a href="${escapeHtml(input.startPage)}">${escapeHtml(texts.more(hidden))}</a></p>`;
  const html = /<html[\s>]/i.test(body) ? body : `<!doctype html><html lang="${input.language}"><body>${body}</body></html>`;

  const lines = input.entries.map((entry) => {
    const line = texts.textLine({
      sender: senderLabel(entry.sender),
      subject: (entry.subject || texts.noSubject).replace(/[\r\n]+/g, ' '),
      received: formatDate(entry.sentAt, input.language),
      expires: entry.expiresAt ? formatDate(entry.expiresAt, input.language) : texts.noExpiry,
    });
    return `- ${line}\n  ${entry.link}`;
  });
  const text =
    `${subject}\n\n${texts.intro(input.domain)}\n\n${lines.join('\n\n')}\n\n` +
    (hidden > 0 ? `${texts.more(hidden)}\n${input.startPage}\n\n` : '') +
    `${texts.footer}\n`;

  const messageId = `<${randomUUID()}@${input.hostname}>`;
  const raw = await new MailComposer({
    from: input.from,
    to: input.to,
    subject,
    messageId,
    date: new Date(),
    text,
    html,
    headers: { 'Auto-Submitted': 'auto-generated' },
  })
    .compile()
    .build();
  return { raw, messageId };
}
