/**
 * The notification a portal recipient gets, as the product writes it: the templates the tenant may replace
 * per language (portal settings), the placeholders they may use, and the button's look. The gateway fills
 * them when it sends (backend/src/portal/notification-mail.ts); the portal's settings page fills them for
 * its preview, with the same fillTemplate (placeholders.ts).
 */
import { dateFormatters } from './dates.ts';
import type { PortalLanguage } from './portal-api.ts';

export interface NotificationTemplateParts {
  subject: string;
  text: string;
  html: string;
}

/** What a notification template may say: who sent, the subject, the link (which it must keep) and until when it works. */
export const NOTIFICATION_PLACEHOLDERS = ['sender', 'subject', 'link', 'expires'] as const;
/** The HTML part may also style its link as the mail's button. */
export const NOTIFICATION_HTML_PLACEHOLDERS = [...NOTIFICATION_PLACEHOLDERS, 'buttonStyle'] as const;

const MAIL_DATES = { en: dateFormatters('en-GB', 'UTC'), de: dateFormatters('de-DE', 'UTC') };

/** A date in a mail: the portal's format (02.12.2026, 14:05), in UTC and saying so, as the reader's zone is unknown. */
export function mailDate(date: Date, language: PortalLanguage): string {
  return `${MAIL_DATES[language].dateTime(date)} UTC`;
}

/** Sealpost's own brand colour (Fluent's default brand shade 80), for tenants without one. */
export const DEFAULT_MAIL_COLOUR = '#0f6cbd';

/** The inline style of a mail's button in the tenant's colour. */
export function mailButtonStyle(colour: string): string {
  return `display:inline-block;padding:10px 20px;background-color:${colour};color:#ffffff;text-decoration:none;border-radius:4px;font-weight:600`;
}

export const DEFAULT_NOTIFICATION_TEMPLATES: Record<PortalLanguage, NotificationTemplateParts> = {
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
