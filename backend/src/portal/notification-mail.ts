/**
 * The e-mails the portal sends in clear: notifications with a magic link, sign-in links, read receipts.
 * They carry no message content beyond what the tenant's template puts in (by default the subject).
 * HTML and plain text, English and German; values are HTML-escaped in the HTML part.
 */
import type { PortalLanguage } from '../../../common/src/portal-api.ts';
import { compose, formatDate, fromTenant, type ComposedMail, type MailBranding } from '../mail/branded-mail.ts';
import { DEFAULT_NOTIFICATION_TEMPLATES } from '../../../common/src/notification-templates.ts';
import type { NotificationTemplate } from './portal-settings.ts';

export { escapeHtml, fillTemplate, formatDate, type ComposedMail, type MailBranding } from '../mail/branded-mail.ts';

export { DEFAULT_NOTIFICATION_TEMPLATES };

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
