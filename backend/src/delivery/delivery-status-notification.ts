/**
 * Delivery status notifications (RFC 3464) in a multipart/report (RFC 6522): a human-readable part, the
 * machine-readable message/delivery-status part, and the original headers (or the whole original when
 * small enough and asked for). The human-readable part and the subject are in the sender's language
 * (English or German); the machine-readable part is the same in both.
 */
import { randomBytes } from 'node:crypto';
import { formatField, splitMessage } from '../mail/header-block.ts';
import { rfc5322Date } from '../mail/received-header.ts';

export interface FailedRecipient {
  recipient: string;
  action: 'failed' | 'delayed';
  status: string;
  diagnosticCode?: string;
  remoteMta?: string;
  lastAttemptAt?: Date;
}

export interface DeliveryStatusNotificationInput {
  reportingMta: string;
  from: string;
  to: string;
  originalMessageId?: string;
  originalSubject?: string;
  arrivalDate: Date;
  recipients: FailedRecipient[];
  originalMessage: Buffer;
  returnContent: 'headers' | 'full';
  maxReturnedBytes?: number;
  /** The language of the subject and the human-readable part; default English. */
  language?: DsnLanguage;
}

export type DsnLanguage = 'en' | 'de';

interface DsnTexts {
  sender: string;
  failedSubject: string;
  delayedSubject: string;
  intro(reportingMta: string): string;
  failed: string;
  delayed: string;
  status(status: string): string;
  failedAdvice: string;
  delayedAdvice: string;
}

const TEXTS: Record<DsnLanguage, DsnTexts> = {
  en: {
    sender: 'Mail Delivery System',
    failedSubject: 'Undelivered Mail Returned to Sender',
    delayedSubject: 'Delayed Mail (still being retried)',
    intro: (mta) => `This is the mail system at ${mta}.`,
    failed: 'Your message could not be delivered to one or more recipients. It has been returned below.',
    delayed: 'Your message has not been delivered yet to one or more recipients. Delivery is still being attempted.',
    status: (status) => `status ${status}`,
    failedAdvice:
      'Check the address for typing errors. If the address is right, the reply above says why the receiving system refused the message; contact its administrator or your own.',
    delayedAdvice: 'No action is needed now; you will be told if delivery finally fails.',
  },
  de: {
    sender: 'Mail-Zustellsystem',
    failedSubject: 'Unzustellbar',
    delayedSubject: 'Zustellung verzögert (wird weiter versucht)',
    intro: (mta) => `Dies ist das Mailsystem von ${mta}.`,
    failed: 'Ihre Nachricht konnte an einen oder mehrere Empfänger nicht zugestellt werden. Sie ist unten angefügt.',
    delayed: 'Ihre Nachricht ist an einen oder mehrere Empfänger noch nicht zugestellt. Die Zustellung wird weiter versucht.',
    status: (status) => `Status ${status}`,
    failedAdvice:
      'Prüfen Sie die Adresse auf Tippfehler. Stimmt sie, steht oben, warum das empfangende System die Nachricht abgelehnt hat; wenden Sie sich an dessen Administrator oder an Ihren eigenen.',
    delayedAdvice: 'Sie müssen jetzt nichts tun; schlägt die Zustellung endgültig fehl, erhalten Sie Bescheid.',
  },
};

const DEFAULT_MAX_RETURNED_BYTES = 256 * 1024;

export function buildDeliveryStatusNotification(input: DeliveryStatusNotificationInput): Buffer {
  const boundary = `sealpost-report-${randomBytes(12).toString('hex')}`;
  const messageId = `<${Date.now().toString(36)}.${randomBytes(8).toString('hex')}@${input.reportingMta}>`;
  const failed = input.recipients.filter((r) => r.action === 'failed');
  const language = input.language ?? 'en';
  const texts = TEXTS[language];
  const subject = failed.length > 0 ? texts.failedSubject : texts.delayedSubject;

  const headers: Buffer[] = [
    formatField('From', `${texts.sender} <${input.from}>`),
    formatField('To', `<${input.to}>`),
    formatField('Subject', input.originalSubject ? `${subject}: ${input.originalSubject}` : subject),
    formatField('Date', rfc5322Date(new Date())),
    formatField('Message-ID', messageId),
    formatField('Auto-Submitted', 'auto-replied'),
    formatField('MIME-Version', '1.0'),
    formatField('Content-Type', `multipart/report; report-type=delivery-status; boundary="${boundary}"`),
  ];
  if (input.originalMessageId) {
    headers.push(formatField('In-Reply-To', input.originalMessageId), formatField('References', input.originalMessageId));
  }

  const explanation = [
    texts.intro(input.reportingMta),
    '',
    failed.length > 0 ? texts.failed : texts.delayed,
    '',
    // The remote reply stays as the remote system wrote it.
    ...input.recipients.map((r) => `<${r.recipient}>: ${r.diagnosticCode ? r.diagnosticCode.replace(/^smtp;\s*/i, '') : texts.status(r.status)}`),
    '',
    failed.length > 0 ? texts.failedAdvice : texts.delayedAdvice,
    '',
  ].join('\r\n');

  const perMessage = [
    `Reporting-MTA: dns; ${input.reportingMta}`,
    `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`,
  ].join('\r\n');
  const perRecipient = input.recipients.map((r) =>
    [
      `Final-Recipient: rfc822; ${r.recipient}`,
      `Action: ${r.action}`,
      `Status: ${r.status}`,
      r.remoteMta ? `Remote-MTA: dns; ${r.remoteMta.replace(/:\d+$/, '')}` : undefined,
      r.diagnosticCode ? `Diagnostic-Code: ${oneLine(r.diagnosticCode)}` : undefined,
      r.lastAttemptAt ? `Last-Attempt-Date: ${rfc5322Date(r.lastAttemptAt)}` : undefined,
    ]
      .filter(Boolean)
      .join('\r\n'),
  );

  const limit = input.maxReturnedBytes ?? DEFAULT_MAX_RETURNED_BYTES;
  const returnWhole = input.returnContent === 'full' && input.originalMessage.length <= limit;
  const original = splitMessage(input.originalMessage);
  // An original whose header section cannot be read whole is not quoted: the report still goes out.
  const originalHeaders = original.outcome === 'split' ? Buffer.concat(original.fields.map((f) => f.raw)) : Buffer.alloc(0);
  const returned = returnWhole ? input.originalMessage : originalHeaders;

  const parts = [
    Buffer.from(
      `This is a MIME-encapsulated message.\r\n\r\n--${boundary}\r\n` +
        `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nContent-Language: ${language}\r\nContent-Description: Notification\r\n\r\n` +
        `${explanation}\r\n--${boundary}\r\n` +
        'Content-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n' +
        `${perMessage}\r\n\r\n${perRecipient.join('\r\n\r\n')}\r\n\r\n--${boundary}\r\n` +
        `Content-Type: ${returnWhole ? 'message/rfc822' : 'text/rfc822-headers'}\r\n` +
        `Content-Description: ${returnWhole ? 'Undelivered message' : 'Undelivered message headers'}\r\n\r\n`,
    ),
    returned,
    Buffer.from(`${returned.subarray(-2).toString() === '\r\n' ? '' : '\r\n'}\r\n--${boundary}--\r\n`),
  ];
  return Buffer.concat([...headers, Buffer.from('\r\n'), ...parts]);
}

function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').slice(0, 900);
}
