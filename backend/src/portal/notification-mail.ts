/**
 * The e-mails the portal sends in clear: notifications with a magic link, sign-in links, read receipts.
 * They carry no message content beyond what the tenant's template puts in (by default the subject).
 * HTML and plain text, English and German; values are HTML-escaped in the HTML part.
 */
import { randomUUID } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import { dateFormatters } from '../../../common/src/dates.ts';
import type { PortalLanguage } from '../../../common/src/portal-api.ts';
import type { Logo } from '../tenants/branding.ts';
import type { NotificationTemplate } from './portal-settings.ts';

export const DEFAULT_NOTIFICATION_TEMPLATES: Record<PortalLanguage, NotificationTemplate> = {
  en: {
    subject: 'Secure message from {{sender}}: {{subject}}',
    text:
      '{{sender}} has sent you a secure message: "{{subject}}".\n\n' +
      'Open it in your browser:\n{{link}}\n\n' +
      'The link works once and until {{expires}}. If it no longer works, the page lets you ask for a new one.\n',
    html:
      '<p>{{sender}} has sent you a secure message: <strong>{{subject}}</strong>.</p>' +
      '<p><a href="{{link}}" style="{{buttonStyle}}">Open the message</a></p>' +
      '<p>The link works once and until {{expires}}. If it no longer works, the page lets you ask for a new one.</p>',
  },
  de: {
    subject: 'Sichere Nachricht von {{sender}}: {{subject}}',
    text:
      '{{sender}} hat Ihnen eine sichere Nachricht gesendet: „{{subject}}“.\n\n' +
      'Öffnen Sie sie im Browser:\n{{link}}\n\n' +
      'Der Link gilt einmal und bis {{expires}}. Funktioniert er nicht mehr, können Sie auf der Seite einen neuen anfordern.\n',
    html:
      '<p>{{sender}} hat Ihnen eine sichere Nachricht gesendet: <strong>{{subject}}</strong>.</p>' +
      '<p><a href="{{link}}" style="{{buttonStyle}}">Nachricht öffnen</a></p>' +
      '<p>Der Link gilt einmal und bis {{expires}}. Funktioniert er nicht mehr, können Sie auf der Seite einen neuen anfordern.</p>',
  },
};

const SIGN_IN: Record<PortalLanguage, NotificationTemplate> = {
  en: {
    subject: 'Your sign-in link for secure messages',
    text: 'Sign in to see the secure messages you sent:\n{{link}}\n\nThe link works once and until {{expires}}. If you did not ask for it, ignore this message.\n',
    html: '<p><a href="{{link}}" style="{{buttonStyle}}">Sign in</a></p><p>Sign in to see the secure messages you sent.</p><p>The link works once and until {{expires}}. If you did not ask for it, ignore this message.</p>',
  },
  de: {
    subject: 'Ihr Anmeldelink für sichere Nachrichten',
    text: 'Melden Sie sich an, um Ihre gesendeten sicheren Nachrichten zu sehen:\n{{link}}\n\nDer Link gilt einmal und bis {{expires}}. Haben Sie ihn nicht angefordert, ignorieren Sie diese Nachricht.\n',
    html: '<p><a href="{{link}}" style="{{buttonStyle}}">Anmelden</a></p><p>Melden Sie sich an, um Ihre gesendeten sicheren Nachrichten zu sehen.</p><p>Der Link gilt einmal und bis {{expires}}. Haben Sie ihn nicht angefordert, ignorieren Sie diese Nachricht.</p>',
  },
};

const READ_RECEIPT: Record<PortalLanguage, NotificationTemplate> = {
  en: {
    subject: 'Read: {{subject}}',
    text: '{{sender}} opened your secure message "{{subject}}" on {{expires}}.\n',
    html: '<p>{{sender}} opened your secure message <strong>{{subject}}</strong> on {{expires}}.</p>',
  },
  de: {
    subject: 'Gelesen: {{subject}}',
    text: '{{sender}} hat Ihre sichere Nachricht „{{subject}}“ am {{expires}} geöffnet.\n',
    html: '<p>{{sender}} hat Ihre sichere Nachricht <strong>{{subject}}</strong> am {{expires}} geöffnet.</p>',
  },
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function fillTemplate(template: string, values: Record<string, string>, html: boolean): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) return whole;
    return html ? escapeHtml(value) : value;
  });
}

const MAIL_DATES = { en: dateFormatters('en-GB', 'UTC'), de: dateFormatters('de-DE', 'UTC') };

/** A date in a mail: the portal's format (02.12.2026, 14:05), in UTC and saying so, as the reader's zone is unknown. */
export function formatDate(date: Date, language: PortalLanguage): string {
  return `${MAIL_DATES[language].dateTime(date)} UTC`;
}

/** A tenant's look in its mails; without it they look like Sealpost's. */
export interface MailBranding {
  name: string;
  /** #rrggbb, checked to be readable under white text. */
  colour?: string;
  logo?: Logo;
}

/** Sealpost's own brand colour (Fluent's default brand shade 80). */
const DEFAULT_MAIL_COLOUR = '#0f6cbd';
const LOGO_CID = 'brand-logo@sealpost';

const FOOTER: Record<PortalLanguage, (name: string | undefined) => string> = {
  en: (name) => (name ? `Sent securely by ${name} with Sealpost.` : 'Sent securely with Sealpost.'),
  de: (name) => (name ? `Sicher versendet von ${name} mit Sealpost.` : 'Sicher versendet mit Sealpost.'),
};

function buttonStyle(colour: string): string {
  return `display:inline-block;padding:10px 20px;background-color:${colour};color:#ffffff;text-decoration:none;border-radius:4px;font-weight:600`;
}

/** The mail's frame: a header with the tenant's logo and name in its colour, the content, a footer. */
function brandedHtml(content: string, language: PortalLanguage, branding: MailBranding | undefined): string {
  const colour = branding?.colour ?? DEFAULT_MAIL_COLOUR;
  const name = escapeHtml(branding?.name ?? 'Sealpost');
  const logo = branding?.logo ? `<img src="cid:${LOGO_CID}" alt="" height="32" style="height:32px;vertical-align:middle;margin-right:10px;border:0">` : '';
  return (
    `<!doctype html><html lang="${language}"><body style="margin:0;padding:0;background-color:#f5f5f5">` +
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background-color:#f5f5f5"><tr><td align="center" style="padding:16px 8px">' +
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px;background-color:#ffffff;border-radius:8px;' +
    'font-family:\'Segoe UI\',Arial,sans-serif;font-size:15px;line-height:1.5;color:#242424">' +
    `<tr><td style="padding:14px 20px;border-bottom:3px solid ${colour};font-size:17px;font-weight:600;color:${colour}">${logo}${name}</td></tr>` +
    `<tr><td style="padding:8px 20px 4px">${content}</td></tr>` +
    `<tr><td style="padding:12px 20px 16px;font-size:12px;color:#616161;border-top:1px solid #e0e0e0">${escapeHtml(FOOTER[language](branding?.name))}</td></tr>` +
    '</table></td></tr></table></body></html>'
  );
}

export interface ComposedMail {
  raw: Buffer;
  messageId: string;
}

export interface Envelope {
  from: { name?: string; address: string };
  to: string;
  hostname: string;
  autoSubmitted?: boolean;
  language: PortalLanguage;
  branding?: MailBranding;
}

export async function compose(envelope: Envelope, template: NotificationTemplate, values: Record<string, string>): Promise<ComposedMail> {
  const messageId = `<${randomUUID()}@${envelope.hostname}>`;
  const { branding, language } = envelope;
  const filled = { ...values, buttonStyle: buttonStyle(branding?.colour ?? DEFAULT_MAIL_COLOUR) };
  const subject = fillTemplate(template.subject, filled, false).replace(/[\r\n]+/g, ' ');
  const text = fillTemplate(template.text, filled, false);
  const raw = await new MailComposer({
    from: envelope.from,
    to: envelope.to,
    subject,
    messageId,
    date: new Date(),
    // The plain part names the tenant too, for readers whose mail program shows no HTML.
    text: branding ? `${text.trimEnd()}\n\n-- \n${FOOTER[language](branding.name.replace(/[\r\n]+/g, ' '))}\n` : text,
    html: brandedHtml(fillTemplate(template.html, filled, true), language, branding),
    ...(branding?.logo
      ? {
          attachments: [
            {
              cid: LOGO_CID,
              filename: `logo.${branding.logo.contentType === 'image/png' ? 'png' : branding.logo.contentType === 'image/jpeg' ? 'jpg' : 'svg'}`,
              content: branding.logo.bytes,
              contentType: branding.logo.contentType,
              contentDisposition: 'inline' as const,
            },
          ],
        }
      : {}),
    headers: envelope.autoSubmitted === false ? {} : { 'Auto-Submitted': 'auto-generated' },
  })
    .compile()
    .build();
  return { raw, messageId };
}

export interface NotificationInput {
  language: PortalLanguage;
  template?: Partial<NotificationTemplate>;
  sender: { name?: string; address: string };
  recipient: string;
  subject: string;
  link: string;
  expiresAt: Date;
  hostname: string;
  /** The tenant's look; unset: Sealpost's. */
  branding?: MailBranding;
}

/** The notification a recipient gets for a new portal message (or a fresh link to one). */
export function buildNotificationMail(input: NotificationInput): Promise<ComposedMail> {
  const template = { ...DEFAULT_NOTIFICATION_TEMPLATES[input.language], ...stripEmpty(input.template) };
  const senderLabel = input.sender.name ? `${input.sender.name} <${input.sender.address}>` : input.sender.address;
  return compose(
    { from: input.sender, to: input.recipient, hostname: input.hostname, language: input.language, branding: input.branding },
    template,
    { sender: senderLabel, subject: input.subject || '(no subject)', link: input.link, expires: formatDate(input.expiresAt, input.language) },
  );
}

/** A mail the gateway writes in a tenant's name: from its branded name, or from Sealpost. */
export function fromTenant(input: { language: PortalLanguage; to: string; hostname: string; from: string; branding?: MailBranding }): Envelope {
  return {
    from: { name: input.branding?.name ?? 'Sealpost', address: input.from },
    to: input.to,
    hostname: input.hostname,
    language: input.language,
    branding: input.branding,
  };
}

export function buildSignInMail(input: {
  language: PortalLanguage;
  to: string;
  link: string;
  expiresAt: Date;
  hostname: string;
  from: string;
  branding?: MailBranding;
}) {
  return compose(fromTenant(input), SIGN_IN[input.language], {
    link: input.link,
    expires: formatDate(input.expiresAt, input.language),
  });
}

export function buildReadReceiptMail(input: {
  language: PortalLanguage;
  to: string;
  reader: string;
  subject: string;
  readAt: Date;
  hostname: string;
  from: string;
  branding?: MailBranding;
}) {
  return compose(fromTenant(input), READ_RECEIPT[input.language], {
    sender: input.reader,
    subject: input.subject || '(no subject)',
    expires: formatDate(input.readAt, input.language),
  });
}

function stripEmpty(template: Partial<NotificationTemplate> | undefined): Partial<NotificationTemplate> {
  const out: Partial<NotificationTemplate> = {};
  for (const key of ['subject', 'text', 'html'] as const) if (template?.[key]) out[key] = template[key];
  return out;
}
