/**
 * Every string the portal shows, in English and German, and the language choice: the reader's own
 * choice (kept in this browser), else the session's language, else the browser's.
 */
import { createContext, useContext } from 'react';
import type { PortalLanguage } from '../../common/src/portal-api.ts';
import { dateFormatters, dateLocale } from '../../common/src/dates.ts';
import { fillPlaceholders } from '../../common/src/placeholders.ts';

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
  setupTitle: 'Connect Outlook and Exchange',
  setupIntro: 'Follow these steps in order. Mail keeps flowing as before until you publish the DNS records in the last step.',
  setupAdminsOnly: 'Only owners and operators of the organisation can open the Exchange setup.',
  setupSteps: 'Setup steps',
  setupStep: 'Step {number}: {title}',
  setupEntraTitle: 'Register the add-in in Entra ID',
  setupEntraRegister: 'In the Microsoft Entra admin center open App registrations, choose New registration and register an app for this organisation only (single tenant).',
  setupEntraApi: 'Under Expose an API, set the application ID URI to {uri} (with your application id in place of <application id>) and add the scope {scope}.',
  setupEntraRedirect: 'Under Authentication, add the redirect URI {uri} as a single-page application, so Outlook can sign senders in.',
  setupEntraTenantFile: 'Write both ids into the tenant file: entra.applicationId is the application (client) id, entra.tenantIds lists the Entra tenants whose users may sign in.',
  setupEntraTenantFileLabel: 'Tenant file excerpt',
  setupEntraPublicUrl: 'SEALPOST_PUBLIC_URL must be the https address your users reach; the manifest and the add-in use it.',
  setupManifestTitle: 'Deploy the add-in manifest',
  setupManifestBody: 'Download the manifest, which is made for this gateway. Its version rises whenever its content changes.',
  setupManifestDownload: 'Download manifest.xml',
  setupManifestUpload: 'In the Microsoft 365 admin center go to Settings → Integrated apps → Upload custom apps, upload the file and assign it to everyone or to chosen groups.',
  setupConnectTitle: 'Connect Exchange',
  setupConnectBody: 'The script creates the inbound and outbound connectors to the gateway, a rule that sends outgoing mail through Sealpost, and a rule that moves mail flagged by Sealpost to the junk folder.',
  setupIpsLabel: 'Public IP addresses of the gateway',
  setupIpsHint: 'Separate several addresses with commas, for example 203.0.113.25, 2001:db8::25.',
  setupIpsMissing: 'Enter at least one IP address of the gateway.',
  setupPlatformLabel: 'Your mail server',
  setupPlatformOnline: 'Exchange Online (Microsoft 365)',
  setupPlatformOnprem: 'Exchange Server (on your own servers)',
  setupPrepare: 'Prepare script and DNS records',
  setupPreparing: 'Preparing…',
  setupIpsRejected: 'These gateway addresses were not accepted. Enter IPv4 or IPv6 addresses only, separated by commas.',
  setupHostLabel: 'Host name of the gateway (optional)',
  setupHostHint: 'The name under which Exchange reaches the gateway, such as mail.example.com. Leave empty to use the name the gateway was configured with.',
  setupHostRejected: 'Enter the gateway\'s public host name. The gateway says: {reason}',
  setupScriptDownload: 'Download the script (connect-sealpost.ps1)',
  setupRunOnline: 'Open PowerShell with the ExchangeOnlineManagement module, sign in with Connect-ExchangeOnline as an Exchange administrator, then run the script:',
  setupRunOnprem: 'Open the Exchange Management Shell on an Exchange server as an administrator, then run the script:',
  setupRunCommands: 'PowerShell commands',
  setupRunRules: 'Outgoing mail is routed through Sealpost except calendar items, messages without a sender address and messages that already passed the gateway (they carry the header {header}). Mail with {flag} gets spam confidence level 7.',
  setupDnsTitle: 'Prepare the DNS records',
  setupDnsWaiting: 'Enter the gateway addresses in step 3 to see the records for your domains.',
  setupDnsBody: 'These records send your mail to the gateway and allow it to send for your domains. Prepare them now, but publish them only after the test in step 5.',
  setupDnsTable: 'DNS records to publish',
  setupColType: 'Type',
  setupColName: 'Name',
  setupColValue: 'Value',
  setupColPriority: 'Priority',
  setupColTtl: 'TTL',
  setupColPurpose: 'Purpose',
  setupPurposeMx: 'Mail for {domain} arrives at the gateway, which checks it and hands it to Exchange.',
  setupPurposeSpf: 'SPF: the gateway may send for {domain}. A domain has only one SPF record: replace yours, and keep the entries for other senders you use.',
  setupZoneLabel: 'The same records as zone file lines',
  setupCopy: 'Copy zone file lines',
  setupCopied: 'The zone file lines were copied.',
  setupCopyFailed: 'Copying did not work. Select the text and copy it yourself.',
  setupTestTitle: 'Send a test, then publish DNS',
  setupTestSend: 'In Outlook, write a new message to an address outside your organisation, click Secure, choose Portal and send it.',
  setupTestCheck: 'The recipient gets a notification with a link to the portal. The message appears under Sent in this portal, where you see when it was read, and its trace in the admin API shows that it went to the portal.',
  setupTestPublish: 'Only when the test went through, publish the MX and SPF records from step 4. Publish the MX record last: from then on, mail from the Internet reaches the gateway.',
  setupOpenSent: 'Open Sent messages',
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
  setupTitle: 'Outlook und Exchange verbinden',
  setupIntro: 'Gehen Sie diese Schritte der Reihe nach durch. Bis Sie im letzten Schritt die DNS-Einträge veröffentlichen, läuft der E-Mail-Verkehr wie bisher.',
  setupAdminsOnly: 'Nur Inhaber und Betreiber der Organisation können die Exchange-Einrichtung öffnen.',
  setupSteps: 'Schritte der Einrichtung',
  setupStep: 'Schritt {number}: {title}',
  setupEntraTitle: 'Add-in in Entra ID registrieren',
  setupEntraRegister: 'Öffnen Sie im Microsoft Entra Admin Center die App-Registrierungen, wählen Sie „Neue Registrierung“ und registrieren Sie eine App nur für diese Organisation (einzelner Mandant).',
  setupEntraApi: 'Setzen Sie unter „Eine API verfügbar machen“ den Anwendungs-ID-URI auf {uri} (mit Ihrer Anwendungs-ID statt <application id>) und fügen Sie den Bereich {scope} hinzu.',
  setupEntraRedirect: 'Fügen Sie unter „Authentifizierung“ den Umleitungs-URI {uri} als Single-Page-Anwendung hinzu, damit Outlook Absender anmelden kann.',
  setupEntraTenantFile: 'Tragen Sie beide IDs in die Mandantendatei ein: entra.applicationId ist die Anwendungs-ID (Client-ID), entra.tenantIds nennt die Entra-Mandanten, deren Benutzer sich anmelden dürfen.',
  setupEntraTenantFileLabel: 'Auszug aus der Mandantendatei',
  setupEntraPublicUrl: 'SEALPOST_PUBLIC_URL muss die https-Adresse sein, die Ihre Benutzer erreichen; das Manifest und das Add-in verwenden sie.',
  setupManifestTitle: 'Manifest des Add-ins bereitstellen',
  setupManifestBody: 'Laden Sie das Manifest herunter, das für dieses Gateway erstellt ist. Seine Version steigt, sobald sich sein Inhalt ändert.',
  setupManifestDownload: 'manifest.xml herunterladen',
  setupManifestUpload: 'Gehen Sie im Microsoft 365 Admin Center zu Einstellungen → Integrierte Apps → Benutzerdefinierte Apps hochladen, laden Sie die Datei hoch und weisen Sie sie allen oder ausgewählten Gruppen zu.',
  setupConnectTitle: 'Exchange verbinden',
  setupConnectBody: 'Das Skript legt die eingehenden und ausgehenden Connectors zum Gateway an, eine Regel, die ausgehende E-Mails über Sealpost leitet, und eine Regel, die von Sealpost markierte E-Mails in den Junk-E-Mail-Ordner verschiebt.',
  setupIpsLabel: 'Öffentliche IP-Adressen des Gateways',
  setupIpsHint: 'Trennen Sie mehrere Adressen mit Kommas, zum Beispiel 203.0.113.25, 2001:db8::25.',
  setupIpsMissing: 'Geben Sie mindestens eine IP-Adresse des Gateways ein.',
  setupPlatformLabel: 'Ihr E-Mail-Server',
  setupPlatformOnline: 'Exchange Online (Microsoft 365)',
  setupPlatformOnprem: 'Exchange Server (auf Ihren eigenen Servern)',
  setupPrepare: 'Skript und DNS-Einträge erstellen',
  setupPreparing: 'Wird erstellt…',
  setupIpsRejected: 'Diese Gateway-Adressen wurden nicht angenommen. Geben Sie nur IPv4- oder IPv6-Adressen ein, getrennt durch Kommas.',
  setupHostLabel: 'Hostname des Gateways (optional)',
  setupHostHint: 'Der Name, unter dem Exchange das Gateway erreicht, zum Beispiel mail.example.com. Leer lassen, um den konfigurierten Namen des Gateways zu verwenden.',
  setupHostRejected: 'Geben Sie den öffentlichen Hostnamen des Gateways ein. Das Gateway meldet: {reason}',
  setupScriptDownload: 'Skript herunterladen (connect-sealpost.ps1)',
  setupRunOnline: 'Öffnen Sie PowerShell mit dem Modul ExchangeOnlineManagement, melden Sie sich mit Connect-ExchangeOnline als Exchange-Administrator an und führen Sie dann das Skript aus:',
  setupRunOnprem: 'Öffnen Sie die Exchange-Verwaltungsshell auf einem Exchange-Server als Administrator und führen Sie dann das Skript aus:',
  setupRunCommands: 'PowerShell-Befehle',
  setupRunRules: 'Ausgehende E-Mails werden über Sealpost geleitet, außer Kalenderelementen, Nachrichten ohne Absenderadresse und Nachrichten, die das Gateway schon durchlaufen haben (sie tragen den Header {header}). E-Mails mit {flag} erhalten die Spamwahrscheinlichkeit (SCL) 7.',
  setupDnsTitle: 'DNS-Einträge vorbereiten',
  setupDnsWaiting: 'Geben Sie in Schritt 3 die Gateway-Adressen ein, um die Einträge für Ihre Domänen zu sehen.',
  setupDnsBody: 'Diese Einträge leiten Ihre E-Mails zum Gateway und erlauben ihm, für Ihre Domänen zu senden. Bereiten Sie sie jetzt vor, veröffentlichen Sie sie aber erst nach dem Test in Schritt 5.',
  setupDnsTable: 'Zu veröffentlichende DNS-Einträge',
  setupColType: 'Typ',
  setupColName: 'Name',
  setupColValue: 'Wert',
  setupColPriority: 'Priorität',
  setupColTtl: 'TTL',
  setupColPurpose: 'Zweck',
  setupPurposeMx: 'E-Mails für {domain} kommen beim Gateway an, das sie prüft und an Exchange übergibt.',
  setupPurposeSpf: 'SPF: Das Gateway darf für {domain} senden. Eine Domäne hat nur einen SPF-Eintrag: Ersetzen Sie Ihren und behalten Sie die Angaben für andere Absender, die Sie nutzen.',
  setupZoneLabel: 'Dieselben Einträge als Zonendatei-Zeilen',
  setupCopy: 'Zonendatei-Zeilen kopieren',
  setupCopied: 'Die Zonendatei-Zeilen wurden kopiert.',
  setupCopyFailed: 'Das Kopieren hat nicht funktioniert. Markieren Sie den Text und kopieren Sie ihn selbst.',
  setupTestTitle: 'Testnachricht senden, dann DNS veröffentlichen',
  setupTestSend: 'Schreiben Sie in Outlook eine neue Nachricht an eine Adresse außerhalb Ihrer Organisation, klicken Sie auf „Sichern“, wählen Sie „Portal“ und senden Sie sie.',
  setupTestCheck: 'Der Empfänger erhält eine Benachrichtigung mit einem Link zum Portal. Die Nachricht erscheint in diesem Portal unter „Gesendet“, wo Sie sehen, wann sie gelesen wurde, und ihr Verlauf in der Admin-API zeigt, dass sie ins Portal ging.',
  setupTestPublish: 'Erst wenn der Test geklappt hat, veröffentlichen Sie die MX- und SPF-Einträge aus Schritt 4. Veröffentlichen Sie den MX-Eintrag zuletzt: Ab dann erreichen E-Mails aus dem Internet das Gateway.',
  setupOpenSent: 'Gesendete Nachrichten öffnen',
};

export const translations: Record<PortalLanguage, Record<MessageKey, string>> = { en, de };

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
      return `${number.format(bytes / (1024 * 1024))} MB`;
    },
  };
}

export const I18nContext = createContext<I18n>(makeI18n('en'));
export const useI18n = (): I18n => useContext(I18nContext);
