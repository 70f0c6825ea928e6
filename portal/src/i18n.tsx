/**
 * Every string the portal shows, in English and German, and the language choice: the reader's own
 * choice (kept in this browser), else the session's language, else the browser's.
 */
import { createContext, useContext } from 'react';
import type { PortalLanguage } from '../../common/src/portal-api.ts';
import { dateFormatters, dateLocale } from '../../common/src/dates.ts';
import { fillPlaceholders } from '../../common/src/placeholders.ts';
import type { ConsoleMessageKey } from './console-i18n.ts';

const en = {
  productName: 'Sealpost',
  skipToContent: 'Skip to content',
  portalTitle: 'Secure messages',
  navigation: 'Portal navigation',
  navInbox: 'Inbox',
  navSent: 'Sent',
  navAdministration: 'Administration',
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
  signInLinkTitle: 'Sign in to your secure messages',
  signInLinkBody: 'Choose "Sign in" to see the secure messages you sent and who read them. The link works only once.',
  signInLinkButton: 'Sign in',

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
  orSeparator: 'or',
  entraSignInButton: 'Sign in with your organisation account (Microsoft)',
  entraSignInHint: 'Members whose organisation uses Microsoft Entra ID sign in with their work account.',
  entraSignInNeedsAddress: 'Type your work e-mail address first.',
  entraSignInUnavailable: 'Your organisation does not sign in with Microsoft here. Ask for a sign-in link by e-mail instead.',
  entraSignInFailed: 'The sign-in with your organisation account could not be confirmed: {detail}',
  entraReason_bad_signature: 'the answer does not carry a valid signature of your organisation.',
  entraReason_wrong_audience: 'the answer was meant for another application.',
  entraReason_wrong_issuer: 'the answer comes from another issuer than your organisation.',
  entraReason_expired: 'the answer has expired. Please sign in again.',
  entraReason_not_yet_valid: "the answer is not valid yet; check this device's clock.",
  entraReason_malformed: 'the answer could not be read.',
  entraReason_nonce_mismatch: 'the sign-in was started in another browser or has expired. Please start it again here.',
  entraReason_replayed: 'this sign-in was already used. Please start it again.',
  entraNotAllowedTenant: 'This account belongs to another organisation than the one this portal serves.',
  entraNotAMember: 'This account is not a member of the organisation, or not of its domains.',
  entraSignInRequired: 'Your organisation lets members with a console role in only with their organisation account. Choose "Sign in with your organisation account (Microsoft)" on the start page.',
  entraSignInNotCompleted: 'The sign-in at Microsoft was not completed ({detail}). Try again, or ask for a sign-in link by e-mail.',
  entraSigningIn: 'Signing you in with your organisation account…',
  entraBackToStart: 'Back to the start page',

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
  threadCount: 'Messages: {count} · a conversation holds up to {max}',
  messageHeading: 'Message from {sender}',
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
  problemBusy: 'Many messages are being opened right now. Please try again in a few seconds.',
  notFoundTitle: 'Page not found',
  notFoundBody: 'There is no page at this address.',
  goHome: 'Go to the start page',

  navSetup: 'Exchange setup',
  navQuarantine: 'Quarantine',
  navPolicies: 'Mail policies',
  navCertificates: 'Certificates',
  sourceImport: 'Imported',
  sourceSignedMail: 'Signed mail',
  sourceTenantCa: 'Your CA',
  navPgp: 'OpenPGP',
  sourceAutocrypt: 'Autocrypt',
  sourceGenerated: 'Made here',
  quarantineTitle: 'Quarantine',
  quarantineIntro: 'Messages to you that MailGuard held back because they look dangerous. Release one only if you expected it.',
  quarantineIntroAdmin: "Messages to the organisation that MailGuard held back. You see everyone's and may release, allow senders and delete.",
  quarantineEmpty: 'No messages are held for you.',
  quarantineTable: 'Held messages',
  colSender: 'Sender',
  colReceived: 'Received',
  colScore: 'Score',
  colReason: 'Reason',
  colKeepUntil: 'Kept until',
  scoreValue: 'score {score}',
  underPolicy: 'policy {policy}',
  findingsTitle: 'What MailGuard found',
  noFindings: 'Nothing was found.',
  colSymbol: 'Symbol',
  headerFieldsTitle: 'Header fields',
  colField: 'Field',
  colValue: 'Value',
  release: 'Release',
  releaseAllow: 'Release and allow sender',
  released: 'The message was released and is on its way to the mailbox.',
  releasedAllowed: 'The message was released, and mail from {sender} is allowed from now on.',
  releaseAdminOnly: 'Its score is too high for you to release it. Ask an administrator of your organisation to review it.',
  releaseNotPossible: 'This message cannot be released.',
  quarantineDelete: 'Delete',
  quarantineDeleteTitle: 'Delete this held message?',
  quarantineDeleteBody: 'The message is deleted for every recipient and cannot be released any more.',
  quarantineDeleted: 'The held message was deleted.',
  backToQuarantine: 'Back to the quarantine',

  navOverview: 'Overview',
  navTrace: 'Message trace',
  factorTitle: 'Confirm it is you',
  factorSetUpTitle: 'Set up your second factor',
  factorSetUpBody: 'Messages from {tenant} can ask for more than your e-mail link: something only you hold. Choose one; you will use it each time you open a secure message.',
  factorProveBody: 'Use the second factor you set up for {address}.',
  factorChooseApp: 'Authenticator app',
  factorChooseAppHint: 'Microsoft Authenticator, Google Authenticator, FreeOTP or any app for one-time codes',
  factorChoosePasskey: 'Passkey',
  factorChoosePasskeyHint: 'Your device unlocks it with your fingerprint, face or PIN',
  factorScan: 'Scan this code with your authenticator app, then type the 6-digit code it shows.',
  factorQrAlt: 'QR code for your authenticator app',
  factorSecretLabel: 'Or type this key into the app',
  factorCode: '6-digit code from your app',
  factorConfirm: 'Confirm',
  factorChecking: 'Checking…',
  factorUsePasskey: 'Use your passkey',
  factorCreatePasskey: 'Create a passkey',
  factorPasskeyFailed: 'The passkey was not used: {reason}',
  factorUseRecovery: 'Use a recovery code instead',
  factorRecoveryCode: 'Recovery code',
  factorCodesTitle: 'Your recovery codes',
  factorCodesBody: 'If you lose your phone or passkey, each of these codes lets you in once. Keep them somewhere safe: they are shown only now.',
  factorCodesDownload: 'Download the codes',
  factorCodesSaved: 'I have saved these codes',
  factorContinue: 'Continue',
  factorBack: 'Back',
  factorLost: 'Lost your second factor and your recovery codes? Ask the sender: their organisation can remove it, and you set up a new one.',
  factorInvalid: 'That did not match. Check the time on your device and type the newest code.',
  navAudit: 'Audit log',
  navStorage: 'Storage',
  navSettings: 'Settings',
  navMembers: 'Members',
  navTokens: 'API tokens',
};

/** The portal's own strings and the console's (console-i18n.ts, loaded with the console's pages). */
export type MessageKey = keyof typeof en | ConsoleMessageKey;
type CoreMessageKey = keyof typeof en;

const de: Record<CoreMessageKey, string> = {
  productName: 'Sealpost',
  skipToContent: 'Zum Inhalt springen',
  portalTitle: 'Sichere Nachrichten',
  navigation: 'Portal-Navigation',
  navInbox: 'Posteingang',
  navSent: 'Gesendet',
  navAdministration: 'Verwaltung',
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
  signInLinkTitle: 'Bei Ihren sicheren Nachrichten anmelden',
  signInLinkBody: 'Wählen Sie „Anmelden“, um Ihre gesendeten sicheren Nachrichten zu sehen und wer sie gelesen hat. Der Link funktioniert nur einmal.',
  signInLinkButton: 'Anmelden',

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
  orSeparator: 'oder',
  entraSignInButton: 'Mit dem Konto Ihrer Organisation anmelden (Microsoft)',
  entraSignInHint: 'Mitglieder, deren Organisation Microsoft Entra ID nutzt, melden sich mit ihrem Arbeitskonto an.',
  entraSignInNeedsAddress: 'Geben Sie zuerst Ihre geschäftliche E-Mail-Adresse ein.',
  entraSignInUnavailable: 'Ihre Organisation meldet sich hier nicht mit Microsoft an. Fordern Sie stattdessen einen Anmeldelink per E-Mail an.',
  entraSignInFailed: 'Die Anmeldung mit dem Konto Ihrer Organisation konnte nicht bestätigt werden: {detail}',
  entraReason_bad_signature: 'Die Antwort trägt keine gültige Signatur Ihrer Organisation.',
  entraReason_wrong_audience: 'Die Antwort war für eine andere Anwendung bestimmt.',
  entraReason_wrong_issuer: 'Die Antwort stammt von einem anderen Aussteller als Ihrer Organisation.',
  entraReason_expired: 'Die Antwort ist abgelaufen. Bitte melden Sie sich erneut an.',
  entraReason_not_yet_valid: 'Die Antwort ist noch nicht gültig; prüfen Sie die Uhr dieses Geräts.',
  entraReason_malformed: 'Die Antwort konnte nicht gelesen werden.',
  entraReason_nonce_mismatch: 'Die Anmeldung wurde in einem anderen Browser begonnen oder ist abgelaufen. Bitte beginnen Sie sie hier erneut.',
  entraReason_replayed: 'Diese Anmeldung wurde schon verwendet. Bitte beginnen Sie erneut.',
  entraNotAllowedTenant: 'Dieses Konto gehört zu einer anderen Organisation als der, für die dieses Portal da ist.',
  entraNotAMember: 'Dieses Konto ist kein Mitglied der Organisation oder gehört nicht zu ihren Domains.',
  entraSignInRequired: 'Ihre Organisation lässt Mitglieder mit einer Konsolenrolle nur mit dem Konto der Organisation ein. Wählen Sie auf der Startseite „Mit dem Konto Ihrer Organisation anmelden (Microsoft)“.',
  entraSignInNotCompleted: 'Die Anmeldung bei Microsoft wurde nicht abgeschlossen ({detail}). Versuchen Sie es erneut oder fordern Sie einen Anmeldelink per E-Mail an.',
  entraSigningIn: 'Sie werden mit dem Konto Ihrer Organisation angemeldet …',
  entraBackToStart: 'Zurück zur Startseite',

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
  threadCount: 'Nachrichten: {count} · eine Unterhaltung fasst bis zu {max}',
  messageHeading: 'Nachricht von {sender}',
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
  problemBusy: 'Gerade werden viele Nachrichten geöffnet. Bitte versuchen Sie es in einigen Sekunden erneut.',
  notFoundTitle: 'Seite nicht gefunden',
  notFoundBody: 'Unter dieser Adresse gibt es keine Seite.',
  goHome: 'Zur Startseite',

  navSetup: 'Exchange einrichten',
  navQuarantine: 'Quarantäne',
  navPolicies: 'E-Mail-Richtlinien',
  navCertificates: 'Zertifikate',
  sourceImport: 'Importiert',
  sourceSignedMail: 'Signierte Mail',
  sourceTenantCa: 'Ihre CA',
  navPgp: 'OpenPGP',
  sourceAutocrypt: 'Autocrypt',
  sourceGenerated: 'Hier erzeugt',
  quarantineTitle: 'Quarantäne',
  quarantineIntro: 'Nachrichten an Sie, die MailGuard zurückgehalten hat, weil sie gefährlich aussehen. Geben Sie eine nur frei, wenn Sie sie erwartet haben.',
  quarantineIntroAdmin: 'Nachrichten an die Organisation, die MailGuard zurückgehalten hat. Sie sehen alle und können freigeben, Absender erlauben und löschen.',
  quarantineEmpty: 'Für Sie werden keine Nachrichten zurückgehalten.',
  quarantineTable: 'Zurückgehaltene Nachrichten',
  colSender: 'Absender',
  colReceived: 'Empfangen',
  colScore: 'Punkte',
  colReason: 'Grund',
  colKeepUntil: 'Aufbewahrt bis',
  scoreValue: '{score} Punkte',
  underPolicy: 'Richtlinie {policy}',
  findingsTitle: 'Was MailGuard gefunden hat',
  noFindings: 'Es wurde nichts gefunden.',
  colSymbol: 'Symbol',
  headerFieldsTitle: 'Kopfzeilen',
  colField: 'Feld',
  colValue: 'Wert',
  release: 'Freigeben',
  releaseAllow: 'Freigeben und Absender erlauben',
  released: 'Die Nachricht wurde freigegeben und ist auf dem Weg ins Postfach.',
  releasedAllowed: 'Die Nachricht wurde freigegeben, und E-Mails von {sender} sind ab jetzt erlaubt.',
  releaseAdminOnly: 'Ihre Punktzahl ist zu hoch, als dass Sie sie selbst freigeben könnten. Bitten Sie eine Administratorin oder einen Administrator Ihrer Organisation, sie zu prüfen.',
  releaseNotPossible: 'Diese Nachricht kann nicht freigegeben werden.',
  quarantineDelete: 'Löschen',
  quarantineDeleteTitle: 'Diese zurückgehaltene Nachricht löschen?',
  quarantineDeleteBody: 'Die Nachricht wird für alle Empfänger gelöscht und kann nicht mehr freigegeben werden.',
  quarantineDeleted: 'Die zurückgehaltene Nachricht wurde gelöscht.',
  backToQuarantine: 'Zurück zur Quarantäne',

  navOverview: 'Übersicht',
  navTrace: 'Nachrichtenverfolgung',
  factorTitle: 'Bestätigen Sie, dass Sie es sind',
  factorSetUpTitle: 'Zweiten Faktor einrichten',
  factorSetUpBody: 'Nachrichten von {tenant} können mehr verlangen als den Link in Ihrer E-Mail: etwas, das nur Sie haben. Wählen Sie eines; Sie verwenden es bei jeder sicheren Nachricht.',
  factorProveBody: 'Verwenden Sie den zweiten Faktor, den Sie für {address} eingerichtet haben.',
  factorChooseApp: 'Authenticator-App',
  factorChooseAppHint: 'Microsoft Authenticator, Google Authenticator, FreeOTP oder eine andere App für Einmalcodes',
  factorChoosePasskey: 'Passkey',
  factorChoosePasskeyHint: 'Ihr Gerät entsperrt ihn mit Fingerabdruck, Gesicht oder PIN',
  factorScan: 'Scannen Sie diesen Code mit Ihrer Authenticator-App und geben Sie dann den 6-stelligen Code ein, den sie zeigt.',
  factorQrAlt: 'QR-Code für Ihre Authenticator-App',
  factorSecretLabel: 'Oder geben Sie diesen Schlüssel in der App ein',
  factorCode: '6-stelliger Code aus Ihrer App',
  factorConfirm: 'Bestätigen',
  factorChecking: 'Wird geprüft…',
  factorUsePasskey: 'Passkey verwenden',
  factorCreatePasskey: 'Passkey erstellen',
  factorPasskeyFailed: 'Der Passkey wurde nicht verwendet: {reason}',
  factorUseRecovery: 'Stattdessen einen Wiederherstellungscode verwenden',
  factorRecoveryCode: 'Wiederherstellungscode',
  factorCodesTitle: 'Ihre Wiederherstellungscodes',
  factorCodesBody: 'Wenn Sie Ihr Telefon oder Ihren Passkey verlieren, lässt Sie jeder dieser Codes einmal hinein. Bewahren Sie sie sicher auf: Sie werden nur jetzt angezeigt.',
  factorCodesDownload: 'Codes herunterladen',
  factorCodesSaved: 'Ich habe diese Codes gespeichert',
  factorContinue: 'Weiter',
  factorBack: 'Zurück',
  factorLost: 'Zweiten Faktor und Wiederherstellungscodes verloren? Fragen Sie den Absender: seine Organisation kann ihn entfernen, dann richten Sie einen neuen ein.',
  factorInvalid: 'Das passte nicht. Prüfen Sie die Uhrzeit Ihres Geräts und geben Sie den neuesten Code ein.',
  navAudit: 'Audit-Protokoll',
  navStorage: 'Speicher',
  navSettings: 'Einstellungen',
  navMembers: 'Mitglieder',
  navTokens: 'API-Tokens',
};

/**
 * Every string known so far, per language. The console's strings join when their file loads (addMessages);
 * every page that shows them is loaded together with that file, so none is asked for before it is here.
 */
export const translations = { en: { ...en }, de: { ...de } } as Record<PortalLanguage, Record<MessageKey, string>>;

export function addMessages(more: Record<PortalLanguage, Record<string, string>>): void {
  Object.assign(translations.en, more.en);
  Object.assign(translations.de, more.de);
}

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

export function translator(language: PortalLanguage): Translate {
  const table = translations[language];
  return (key, values) => fillPlaceholders(table[key], values);
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
  // German 02.12.2026, 14:05; English in the reader's own English locale; the reader's time zone.
  const dates = dateFormatters(dateLocale(language, typeof navigator === 'undefined' ? [] : (navigator.languages ?? [navigator.language])));
  const number = new Intl.NumberFormat(language, { maximumFractionDigits: 1 });
  return {
    language,
    t: translator(language),
    formatDate: (iso) => dates.dateTime(new Date(iso)),
    formatDay: (iso) => dates.day(new Date(iso)),
    formatSize: (bytes) => {
      if (bytes < 1024) return `${number.format(bytes)} B`;
      if (bytes < 1024 * 1024) return `${number.format(bytes / 1024)} KB`;
      if (bytes < 1024 ** 3) return `${number.format(bytes / (1024 * 1024))} MB`;
      return `${number.format(bytes / 1024 ** 3)} GB`;
    },
  };
}

export const I18nContext = createContext<I18n>(makeI18n('en'));
export const useI18n = (): I18n => useContext(I18nContext);
