/**
 * Mails the gateway writes in a tenant's name, in its look: a header with the tenant's logo and name in
 * its colour, the content from a template, a footer; HTML and plain text, English and German; values are
 * HTML-escaped in the HTML part. The portal's notifications and the inbound checks' notices are built on it.
 */
import { randomUUID } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import { escapeHtml, fillTemplate } from '../../../common/src/placeholders.ts';
import type { PortalLanguage } from '../../../common/src/portal-api.ts';
import { DEFAULT_MAIL_COLOUR, mailButtonStyle, mailDate } from '../../../common/src/notification-templates.ts';
import type { Logo } from '../tenants/branding.ts';

/** A mail's subject, plain text and HTML, each with {{placeholders}}. */
export interface MailTemplate {
  subject: string;
  text: string;
  html: string;
}

// One filling for the gateway's mails and the portal's preview of them.
export { escapeHtml, fillTemplate } from '../../../common/src/placeholders.ts';

/** A date in a mail: the portal's format (02.12.2026, 14:05), in UTC and saying so, as the reader's zone is unknown. */
export function formatDate(date: Date, language: PortalLanguage): string {
  return mailDate(date, language);
}

/** A tenant's look in its mails; without it they look like Sealpost's. */
export interface MailBranding {
  name: string;
  /** #rrggbb, checked to be readable under white text. */
  colour?: string;
  logo?: Logo;
}

const LOGO_CID = 'brand-logo@sealpost';

const FOOTER: Record<PortalLanguage, (name: string | undefined) => string> = {
  en: (name) => (name ? `Sent securely by ${name} with Sealpost.` : 'Sent securely with Sealpost.'),
  de: (name) => (name ? `Sicher versendet von ${name} mit Sealpost.` : 'Sicher versendet mit Sealpost.'),
};

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

export async function compose(envelope: Envelope, template: MailTemplate, values: Record<string, string>): Promise<ComposedMail> {
  const messageId = `<${randomUUID()}@${envelope.hostname}>`;
  const { branding, language } = envelope;
  const filled = { ...values, buttonStyle: mailButtonStyle(branding?.colour ?? DEFAULT_MAIL_COLOUR) };
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

