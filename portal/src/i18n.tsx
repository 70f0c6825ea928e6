/**
 * Every string the portal shows, in English and German, and the language choice: the reader's own
 * choice (kept in this browser), else the session's language, else the browser's.
 */
import { createContext, useContext } from 'react';
import type { PortalLanguage } from '../../common/src/portal-api.ts';

const en = {
  productName: 'Sealpost',
  skipToContent: 'Skip to content',
  portalTitle: 'Secure messages',
  navigation: 'Portal navigation',
  navInbox: 'Inbox',
  navSent: 'Sent',
  signedInAs: 'Signed in as {address}',
  signOut: 'Sign out',
  switchLanguage: 'Deutsch',
  loading: 'Loading…',
  tryAgain: 'Try again',
  back: 'Back',
  cancel: 'Cancel',

  openTitle: 'Your secure message',
  openBody: 'A secure message is waiting for you. Choose "Open message" to read it in this browser. The link works only once.',
  openButton: 'Open message',
  opening: 'Opening…',
  openNoToken: 'This address has no link in it. Open the link from your notification e-mail again.',

  unusableTitle: 'This link can no longer be used',
  unusableBody: 'The link was already used, has expired or is not complete. You can ask for a new link; it will be sent to the address the message was for.',
  requestLink: 'Send me a new link',
  requesting: 'Sending…',
  requestSent: 'If this link belonged to a message for you, a new link is on its way. Check your e-mail.',
  rateLimited: 'Too many requests. Please wait {minutes} minute(s) and try again.',
  rateLimitedSoon: 'Too many requests. Please wait a moment and try again.',

  ipChangedTitle: 'Your network changed',
  ipChangedBody: 'For your protection a session works only from the network it was opened on. Your browser now connects from another network, so the message is not shown here. We can send a fresh link to your e-mail address.',
  ipChangedSent: 'A fresh link is on its way to your e-mail address. Open it on this network.',

  startTitle: 'Welcome to the secure message portal',
  startBody: 'To read a secure message, open the link in the notification e-mail you received.',
  signInTitle: 'Members of the organisation',
  signInBody: 'Sign in to see the secure messages you sent. We will e-mail you a sign-in link.',
  emailLabel: 'Your work e-mail address',
  signInButton: 'E-mail me a sign-in link',
  signInSent: 'If this address belongs to a member, a link is on its way.',

  inboxTitle: 'Inbox',
  inboxEmpty: 'There are no messages here.',
  threadsTable: 'Conversations',
  colSubject: 'Subject',
  colCounterpart: 'With',
  colCount: 'Messages',
  colUnread: 'Unread',
  colDate: 'Last message',
  noSubject: '(no subject)',

  threadMessages: 'Messages in this conversation',
  threadCount: '{count} of {max} messages',
  unreadMark: 'unread',
  selectMessage: 'Choose a message to read it.',

  messageFrom: 'From',
  messageTo: 'To',
  messageCc: 'Cc',
  messageDate: 'Date',
  messageExpires: 'Available until',
  messageBody: 'Message content',
  integrityFailedTitle: 'This message failed its integrity check',
  integrityFailedBody: 'The stored message was altered after it was sent, so its content is not shown. The event was recorded. Please contact the sender.',
  remoteBlocked: 'Remote images were blocked to protect your privacy.',
  remoteAllow: 'Show remote images',
  attachmentsTitle: 'Attachments',
  deleteMessage: 'Delete message',
  deleteConfirmTitle: 'Delete this message?',
  deleteConfirmBody: 'The message will be removed from your portal. This cannot be undone.',
  deleteConfirm: 'Delete',
  deleted: 'The message was deleted.',
  messageGone: 'This message is no longer available.',

  replyTitle: 'Reply',
  replyText: 'Your reply',
  replyFiles: 'Add files',
  replyFilesChosen: 'Files to send',
  replyRemoveFile: 'Remove {name}',
  replyLimits: 'Up to {files} files, {each} each, {total} in all.',
  replySend: 'Send reply',
  replySending: 'Sending…',
  replySent: 'Your reply was sent.',
  replyEmpty: 'Please write a reply.',
  replyTooManyFiles: 'You can attach at most {files} files.',
  replyFileTooLarge: '{name} is larger than {each}.',
  replyTotalTooLarge: 'The reply with its files is larger than {total}.',
  threadFull: 'This conversation has reached its limit of {max} messages. Please ask the sender to start a new one.',
  repliesDisabled: 'The sender asked for no replies to this message.',
  tooLarge: 'The reply or one of its files is too large.',

  sentTitle: 'Sent secure messages',
  sentEmpty: 'You have not sent any secure messages yet.',
  sentOn: 'Sent {date}',
  recipientsTitle: 'Recipients',
  readAt: 'Read {date}',
  notReadYet: 'Not read yet',
  revokedAt: 'Revoked {date}',
  revoke: 'Revoke',
  revokeFor: 'Revoke access for {address}',
  revokeAll: 'Revoke for all recipients',
  revokedDone: 'Access was revoked.',
  expiryLabel: 'Available until',
  expiryNone: 'No expiry',
  expirySave: 'Change expiry',
  expirySaved: 'Now available until {date}.',
  membersOnly: 'This page is for members of the organisation.',

  problemForbidden: 'You are not allowed to do this.',
  problemNotFound: 'There is nothing here for you, or it was deleted.',
  problemExpired: 'This message has expired or the sender withdrew access.',
  problemInvalid: 'The request was not accepted: {detail}',
  problemUnreachable: 'The portal could not be reached. Check your connection and try again.',
  problemUnexpected: 'Something went wrong ({status}). Please try again.',
  notFoundTitle: 'Page not found',
  notFoundBody: 'There is no page at this address.',
  goHome: 'Go to the start page',
};

export type MessageKey = keyof typeof en;

const de: Record<MessageKey, string> = {
  productName: 'Sealpost',
  skipToContent: 'Zum Inhalt springen',
  portalTitle: 'Sichere Nachrichten',
  navigation: 'Portal-Navigation',
  navInbox: 'Posteingang',
  navSent: 'Gesendet',
  signedInAs: 'Angemeldet als {address}',
  signOut: 'Abmelden',
  switchLanguage: 'English',
  loading: 'Wird geladen…',
  tryAgain: 'Erneut versuchen',
  back: 'Zurück',
  cancel: 'Abbrechen',

  openTitle: 'Ihre sichere Nachricht',
  openBody: 'Eine sichere Nachricht wartet auf Sie. Wählen Sie „Nachricht öffnen“, um sie in diesem Browser zu lesen. Der Link funktioniert nur einmal.',
  openButton: 'Nachricht öffnen',
  opening: 'Wird geöffnet…',
  openNoToken: 'Diese Adresse enthält keinen Link. Öffnen Sie den Link aus Ihrer Benachrichtigung erneut.',

  unusableTitle: 'Dieser Link kann nicht mehr verwendet werden',
  unusableBody: 'Der Link wurde bereits verwendet, ist abgelaufen oder unvollständig. Sie können einen neuen Link anfordern; er wird an die Adresse gesendet, für die die Nachricht bestimmt war.',
  requestLink: 'Neuen Link senden',
  requesting: 'Wird gesendet…',
  requestSent: 'Falls dieser Link zu einer Nachricht für Sie gehörte, ist ein neuer Link unterwegs. Sehen Sie in Ihren E-Mails nach.',
  rateLimited: 'Zu viele Anfragen. Bitte warten Sie {minutes} Minute(n) und versuchen Sie es erneut.',
  rateLimitedSoon: 'Zu viele Anfragen. Bitte warten Sie einen Moment und versuchen Sie es erneut.',

  ipChangedTitle: 'Ihr Netzwerk hat sich geändert',
  ipChangedBody: 'Zu Ihrem Schutz funktioniert eine Sitzung nur aus dem Netzwerk, in dem sie geöffnet wurde. Ihr Browser verbindet sich jetzt aus einem anderen Netzwerk, daher wird die Nachricht hier nicht angezeigt. Wir können Ihnen einen neuen Link per E-Mail senden.',
  ipChangedSent: 'Ein neuer Link ist an Ihre E-Mail-Adresse unterwegs. Öffnen Sie ihn in diesem Netzwerk.',

  startTitle: 'Willkommen im Portal für sichere Nachrichten',
  startBody: 'Um eine sichere Nachricht zu lesen, öffnen Sie den Link in der Benachrichtigung, die Sie per E-Mail erhalten haben.',
  signInTitle: 'Mitglieder der Organisation',
  signInBody: 'Melden Sie sich an, um Ihre gesendeten sicheren Nachrichten zu sehen. Wir senden Ihnen einen Anmeldelink per E-Mail.',
  emailLabel: 'Ihre geschäftliche E-Mail-Adresse',
  signInButton: 'Anmeldelink per E-Mail senden',
  signInSent: 'Falls diese Adresse zu einem Mitglied gehört, ist ein Link unterwegs.',

  inboxTitle: 'Posteingang',
  inboxEmpty: 'Hier sind keine Nachrichten.',
  threadsTable: 'Unterhaltungen',
  colSubject: 'Betreff',
  colCounterpart: 'Mit',
  colCount: 'Nachrichten',
  colUnread: 'Ungelesen',
  colDate: 'Letzte Nachricht',
  noSubject: '(kein Betreff)',

  threadMessages: 'Nachrichten dieser Unterhaltung',
  threadCount: '{count} von {max} Nachrichten',
  unreadMark: 'ungelesen',
  selectMessage: 'Wählen Sie eine Nachricht, um sie zu lesen.',

  messageFrom: 'Von',
  messageTo: 'An',
  messageCc: 'Cc',
  messageDate: 'Datum',
  messageExpires: 'Verfügbar bis',
  messageBody: 'Inhalt der Nachricht',
  integrityFailedTitle: 'Diese Nachricht hat die Integritätsprüfung nicht bestanden',
  integrityFailedBody: 'Die gespeicherte Nachricht wurde nach dem Senden verändert, daher wird ihr Inhalt nicht angezeigt. Der Vorfall wurde protokolliert. Bitte wenden Sie sich an den Absender.',
  remoteBlocked: 'Externe Bilder wurden zum Schutz Ihrer Privatsphäre blockiert.',
  remoteAllow: 'Externe Bilder anzeigen',
  attachmentsTitle: 'Anhänge',
  deleteMessage: 'Nachricht löschen',
  deleteConfirmTitle: 'Diese Nachricht löschen?',
  deleteConfirmBody: 'Die Nachricht wird aus Ihrem Portal entfernt. Das kann nicht rückgängig gemacht werden.',
  deleteConfirm: 'Löschen',
  deleted: 'Die Nachricht wurde gelöscht.',
  messageGone: 'Diese Nachricht ist nicht mehr verfügbar.',

  replyTitle: 'Antworten',
  replyText: 'Ihre Antwort',
  replyFiles: 'Dateien hinzufügen',
  replyFilesChosen: 'Zu sendende Dateien',
  replyRemoveFile: '{name} entfernen',
  replyLimits: 'Bis zu {files} Dateien, je {each}, insgesamt {total}.',
  replySend: 'Antwort senden',
  replySending: 'Wird gesendet…',
  replySent: 'Ihre Antwort wurde gesendet.',
  replyEmpty: 'Bitte schreiben Sie eine Antwort.',
  replyTooManyFiles: 'Sie können höchstens {files} Dateien anhängen.',
  replyFileTooLarge: '{name} ist größer als {each}.',
  replyTotalTooLarge: 'Die Antwort mit ihren Dateien ist größer als {total}.',
  threadFull: 'Diese Unterhaltung hat ihre Grenze von {max} Nachrichten erreicht. Bitten Sie den Absender, eine neue zu beginnen.',
  repliesDisabled: 'Der Absender wünscht keine Antworten auf diese Nachricht.',
  tooLarge: 'Die Antwort oder eine ihrer Dateien ist zu groß.',

  sentTitle: 'Gesendete sichere Nachrichten',
  sentEmpty: 'Sie haben noch keine sicheren Nachrichten gesendet.',
  sentOn: 'Gesendet {date}',
  recipientsTitle: 'Empfänger',
  readAt: 'Gelesen {date}',
  notReadYet: 'Noch nicht gelesen',
  revokedAt: 'Widerrufen {date}',
  revoke: 'Widerrufen',
  revokeFor: 'Zugriff für {address} widerrufen',
  revokeAll: 'Für alle Empfänger widerrufen',
  revokedDone: 'Der Zugriff wurde widerrufen.',
  expiryLabel: 'Verfügbar bis',
  expiryNone: 'Kein Ablaufdatum',
  expirySave: 'Ablaufdatum ändern',
  expirySaved: 'Jetzt verfügbar bis {date}.',
  membersOnly: 'Diese Seite ist für Mitglieder der Organisation.',

  problemForbidden: 'Das ist Ihnen nicht erlaubt.',
  problemNotFound: 'Hier gibt es nichts für Sie, oder es wurde gelöscht.',
  problemExpired: 'Diese Nachricht ist abgelaufen oder der Absender hat den Zugriff widerrufen.',
  problemInvalid: 'Die Anfrage wurde nicht angenommen: {detail}',
  problemUnreachable: 'Das Portal ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.',
  problemUnexpected: 'Etwas ist schiefgegangen ({status}). Bitte versuchen Sie es erneut.',
  notFoundTitle: 'Seite nicht gefunden',
  notFoundBody: 'Unter dieser Adresse gibt es keine Seite.',
  goHome: 'Zur Startseite',
};

export const translations: Record<PortalLanguage, Record<MessageKey, string>> = { en, de };

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

export function translator(language: PortalLanguage): Translate {
  const table = translations[language];
  return (key, values) => table[key].replace(/\{(\w+)\}/g, (whole, name: string) => (values && name in values ? String(values[name]) : whole));
}

const STORAGE_KEY = 'sealpost.portal.language';

export function storedLanguage(): PortalLanguage | undefined {
  try {
    const value = window.localStorage.getItem(STORAGE_KEY);
    return value === 'en' || value === 'de' ? value : undefined;
  } catch {
    return undefined;
  }
}

export function storeLanguage(language: PortalLanguage): void {
  try {
    window.localStorage.setItem(STORAGE_KEY, language);
  } catch {
    // private modes may refuse storage: the choice then lasts for this page only
  }
}

export function browserLanguage(): PortalLanguage {
  return (navigator.languages ?? [navigator.language]).some((l) => /^de\b/i.test(l)) ? 'de' : 'en';
}

export interface I18n {
  language: PortalLanguage;
  t: Translate;
  formatDate: (iso: string) => string;
  formatDay: (iso: string) => string;
  formatSize: (bytes: number) => string;
}

export function makeI18n(language: PortalLanguage): I18n {
  const dateTime = new Intl.DateTimeFormat(language, { dateStyle: 'medium', timeStyle: 'short' });
  const day = new Intl.DateTimeFormat(language, { dateStyle: 'long' });
  const number = new Intl.NumberFormat(language, { maximumFractionDigits: 1 });
  return {
    language,
    t: translator(language),
    formatDate: (iso) => dateTime.format(new Date(iso)),
    formatDay: (iso) => day.format(new Date(iso)),
    formatSize: (bytes) => {
      if (bytes < 1024) return `${number.format(bytes)} B`;
      if (bytes < 1024 * 1024) return `${number.format(bytes / 1024)} KB`;
      return `${number.format(bytes / (1024 * 1024))} MB`;
    },
  };
}

export const I18nContext = createContext<I18n>(makeI18n('en'));
export const useI18n = (): I18n => useContext(I18nContext);
