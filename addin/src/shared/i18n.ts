/**
 * Every string the add-in shows, in English and German. The language follows Outlook's display language
 * (Office.context.displayLanguage); anything that is not German is shown in English.
 */

import { fillPlaceholders } from '../../../common/src/placeholders.ts';

export type Language = 'en' | 'de';

const en = {
  appTitle: 'Sealpost',
  starting: 'Starting Sealpost…',
  signingIn: 'Signing you in…',
  notInOutlookTitle: 'Open Sealpost in Outlook',
  notInOutlookBody:
    'This page is the Sealpost task pane for Outlook. Open a new message in Outlook and choose Secure on the ribbon to protect it.',
  tryAgain: 'Try again',
  refresh: 'Refresh',
  loading: 'Loading…',

  signInFailed: 'You could not be signed in',
  signInNoAddress: 'Outlook did not tell Sealpost your e-mail address, so Sealpost cannot find your organisation.',
  signInNoTenant: 'Your e-mail address {address} is not set up for Sealpost sign-in. Ask your administrator to connect your organisation.',
  signInUnreachable: 'Sealpost could not be reached. Check your connection and try again.',
  signInNaaFailed: 'Signing in with your Microsoft account did not work: {message}',
  signInSsoFailed: 'Outlook could not sign you in (error {code}): {message}',
  signInNoOfficeAuth: 'This version of Outlook cannot sign you in to add-ins. Please update Outlook.',
  problemTenantNotAllowed: 'Your organisation is not connected to Sealpost',
  problemSignInRequired: 'Your sign-in was not accepted',
  problemForbidden: 'You are not a member of this organisation in Sealpost',
  problemUnavailable: 'Sealpost is not available right now',
  problemDetail: 'Details: {detail}',

  tabProtect: 'Protect this message',
  tabSent: 'My secure messages',
  tenantLine: 'Protected by Sealpost for {tenant}',

  secureSwitch: 'Send this message securely',
  secureOn: 'This message will be sent securely.',
  secureOff: 'This message will be sent normally, unless your organisation requires protection.',
  modeLabel: 'How to protect it',
  mode_auto: 'Automatic: the best method for each recipient',
  mode_portal: 'Sealpost portal',
  mode_smime: 'S/MIME',
  mode_pgp: 'OpenPGP',
  mode_pdf: 'Password-protected PDF',
  expiryLabel: 'Readable until',
  expiryHint: 'At most {max} days from today, until {latest}.',
  expiryHintOpen: 'Optional: without a date the message does not expire.',
  expiryMissing: 'Enter a date.',
  expiryPast: 'Choose a date after today.',
  expiryTooLate: 'Choose a date no later than {latest}: your organisation allows at most {max} days.',
  optionsLabel: 'Options',
  option_readReceipt: 'Tell me when it is read',
  option_noReply: 'Recipients may not reply',
  option_otp: 'Ask recipients for a second factor',
  option_sign: 'Sign with S/MIME as well',
  saving: 'Saving your choice on the message…',
  saved: 'Your choice is saved on the message.',
  saveFailed: 'Your choice could not be saved on the message: {message}',

  pdfPasswordLabel: 'How the PDF password reaches the recipients',
  pdfPassword_portal: 'Through the Sealpost portal (recipients confirm their address first)',
  pdfPassword_sms: 'By SMS to a mobile number I give',
  pdfPassword_sender: 'I tell it myself (by phone or in person)',
  smsNumberLabel: 'Mobile number for {address}',
  smsNumberHint: 'International format, for example +49 151 23456789. Without a number, the password goes through the portal.',
  smsNumberInvalid: 'This is not a mobile number in international format: start with + and the country code, for example +49 151 23456789.',
  smsNoRecipients: 'No recipient gets a PDF yet. Add recipients outside your organisation to give their mobile numbers.',
  senderPasswordFetching: 'Getting a password…',
  senderPasswordTitle: 'The password for this message',
  senderPasswordBody: 'Tell the recipients this password another way, for example by phone or in person. It is not in the e-mail, and it is not shown again.',
  senderPasswordField: 'Password',
  senderPasswordValid: 'Send the message by {date}; after that, the portal sends a password of its own instead.',
  copyPassword: 'Copy password',
  copied: 'The password is copied.',
  copyFailed: 'Copying did not work: select the password and copy it yourself.',
  senderPasswordSet: 'A password you were shown earlier is set on this message; it cannot be shown again. If you no longer have it, get a new one.',
  senderPasswordNew: 'Get a new password',
  senderPasswordFailed: 'No password could be fetched: {message}',

  headersUnavailableTitle: 'This Outlook cannot mark the message',
  headersUnavailableBody:
    'Outlook here cannot set the message headers Sealpost uses. Put {trigger} at the start of the subject instead: Sealpost then protects the message automatically.',
  triggerAdd: 'Add {trigger} to the subject',
  triggerRemove: 'Remove {trigger} from the subject',
  triggerOn: 'The subject starts with {trigger}: this message will be sent securely.',
  triggerOff: 'The subject does not start with {trigger}.',
  triggerFailed: 'The subject could not be changed: {message}',

  previewTitle: 'How each recipient will be reached',
  previewEmpty: 'Add recipients to see how each one will be reached.',
  previewOffNote: 'Protection is off. When you turn it on, recipients will be reached like this.',
  previewFailed: 'The preview could not be loaded: {message}',
  previewRefresh: 'Refresh the preview',
  previewRecipient: 'Recipient',
  previewMethod: 'Method',
  method_relay: 'Inside your organisation',
  method_portal: 'Sealpost portal',
  method_smime: 'S/MIME',
  method_pgp: 'OpenPGP',
  method_pdf: 'PDF',
  method_held: 'Held',
  method_clear: 'Unencrypted',
  method_refused: 'Returned to you',
  reason_internal: 'Inside your organisation: delivered to your mail server',
  'reason_certificate-known': 'A valid S/MIME certificate is known',
  'reason_key-known': 'No S/MIME certificate, but an OpenPGP key is known',
  'reason_nothing-known': 'No certificate or key known: read in the Sealpost portal',
  reason_mandatory: 'No certificate or key known: your organisation sends a password-protected PDF',
  'reason_allowed-clear': 'Encryption is allowed, not required, and no certificate or key is known: sent as it is',
  'reason_no-way': 'Encryption is required, but no way your organisation has switched on reaches this recipient: the message would come back to you, never sent in the clear',
  'reason_invalid-address': 'Not a valid e-mail address',
  'reason_mode-unavailable': 'This method is not available: the message would be held, never sent unprotected',
  'reason_no-certificate': 'No valid S/MIME certificate is known for this recipient: the message would be held, never sent unprotected',
  'reason_no-pgp-key': 'No OpenPGP key is stored for this recipient: unless their domain publishes one, the message would be held, never sent unprotected',
  'reason_sender-chose': 'The method you chose',

  sentEmpty: 'You have not sent any secure messages yet.',
  sentFailed: 'Your secure messages could not be loaded: {message}',
  sentOn: 'Sent {date}',
  expiresOn: 'Readable until {date}',
  noExpiry: 'No expiry',
  noSubject: '(no subject)',
  recipientRead: 'Read {date}',
  recipientUnread: 'Not read yet',
  recipientRevoked: 'Revoked {date}',
  revokeAll: 'Revoke for everyone',
  revokeOne: 'Revoke',
  revokeOneLabel: 'Revoke for {address}',
  revokeConfirmTitle: 'Revoke this message?',
  revokeConfirmBody: 'No recipient of “{subject}” will be able to open it any more. This cannot be undone.',
  revokeOneConfirmBody: '{address} will no longer be able to open “{subject}”. This cannot be undone.',
  cancel: 'Cancel',
  revoked: 'Revoked.',
  actionFailed: 'That did not work: {message}',
  changeExpiry: 'Change expiry',
  newExpiryLabel: 'New expiry date for “{subject}”',
  save: 'Save',
  expiryChanged: 'Readable until {date}.',
  expiryCapped: 'Readable until {date}: that is the latest your organisation allows.',
} as const;

export type MessageKey = keyof typeof en;

const de: Record<MessageKey, string> = {
  appTitle: 'Sealpost',
  starting: 'Sealpost wird gestartet…',
  signingIn: 'Sie werden angemeldet…',
  notInOutlookTitle: 'Öffnen Sie Sealpost in Outlook',
  notInOutlookBody:
    'Diese Seite ist der Sealpost-Aufgabenbereich für Outlook. Öffnen Sie in Outlook eine neue Nachricht und wählen Sie im Menüband „Sicher“, um sie zu schützen.',
  tryAgain: 'Erneut versuchen',
  refresh: 'Aktualisieren',
  loading: 'Wird geladen…',

  signInFailed: 'Sie konnten nicht angemeldet werden',
  signInNoAddress: 'Outlook hat Sealpost Ihre E-Mail-Adresse nicht mitgeteilt, daher kann Sealpost Ihre Organisation nicht finden.',
  signInNoTenant: 'Ihre E-Mail-Adresse {address} ist nicht für die Anmeldung bei Sealpost eingerichtet. Bitten Sie Ihre Administration, Ihre Organisation zu verbinden.',
  signInUnreachable: 'Sealpost ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.',
  signInNaaFailed: 'Die Anmeldung mit Ihrem Microsoft-Konto hat nicht funktioniert: {message}',
  signInSsoFailed: 'Outlook konnte Sie nicht anmelden (Fehler {code}): {message}',
  signInNoOfficeAuth: 'Diese Outlook-Version kann Sie nicht bei Add-ins anmelden. Bitte aktualisieren Sie Outlook.',
  problemTenantNotAllowed: 'Ihre Organisation ist nicht mit Sealpost verbunden',
  problemSignInRequired: 'Ihre Anmeldung wurde nicht akzeptiert',
  problemForbidden: 'Sie sind in Sealpost kein Mitglied dieser Organisation',
  problemUnavailable: 'Sealpost ist gerade nicht verfügbar',
  problemDetail: 'Einzelheiten: {detail}',

  tabProtect: 'Diese Nachricht schützen',
  tabSent: 'Meine sicheren Nachrichten',
  tenantLine: 'Geschützt von Sealpost für {tenant}',

  secureSwitch: 'Diese Nachricht sicher senden',
  secureOn: 'Diese Nachricht wird sicher gesendet.',
  secureOff: 'Diese Nachricht wird normal gesendet, sofern Ihre Organisation keinen Schutz verlangt.',
  modeLabel: 'Art des Schutzes',
  mode_auto: 'Automatisch: die beste Methode für jeden Empfänger',
  mode_portal: 'Sealpost-Portal',
  mode_smime: 'S/MIME',
  mode_pgp: 'OpenPGP',
  mode_pdf: 'Passwortgeschütztes PDF',
  expiryLabel: 'Lesbar bis',
  expiryHint: 'Höchstens {max} Tage ab heute, bis {latest}.',
  expiryHintOpen: 'Optional: ohne Datum läuft die Nachricht nicht ab.',
  expiryMissing: 'Geben Sie ein Datum ein.',
  expiryPast: 'Wählen Sie ein Datum nach heute.',
  expiryTooLate: 'Wählen Sie ein Datum bis spätestens {latest}: Ihre Organisation erlaubt höchstens {max} Tage.',
  optionsLabel: 'Optionen',
  option_readReceipt: 'Mich benachrichtigen, wenn sie gelesen wird',
  option_noReply: 'Empfänger dürfen nicht antworten',
  option_otp: 'Von Empfängern einen zweiten Faktor verlangen',
  option_sign: 'Zusätzlich mit S/MIME signieren',
  saving: 'Ihre Auswahl wird an der Nachricht gespeichert…',
  saved: 'Ihre Auswahl ist an der Nachricht gespeichert.',
  saveFailed: 'Ihre Auswahl konnte nicht an der Nachricht gespeichert werden: {message}',

  pdfPasswordLabel: 'Wie das PDF-Kennwort zu den Empfängern kommt',
  pdfPassword_portal: 'Über das Sealpost-Portal (Empfänger bestätigen zuerst ihre Adresse)',
  pdfPassword_sms: 'Per SMS an eine Mobilnummer, die ich angebe',
  pdfPassword_sender: 'Ich teile es selbst mit (am Telefon oder persönlich)',
  smsNumberLabel: 'Mobilnummer für {address}',
  smsNumberHint: 'Internationales Format, zum Beispiel +49 151 23456789. Ohne Nummer kommt das Kennwort über das Portal.',
  smsNumberInvalid: 'Das ist keine Mobilnummer im internationalen Format: Beginnen Sie mit + und der Ländervorwahl, zum Beispiel +49 151 23456789.',
  smsNoRecipients: 'Noch bekommt kein Empfänger ein PDF. Fügen Sie Empfänger außerhalb Ihrer Organisation hinzu, um ihre Mobilnummern anzugeben.',
  senderPasswordFetching: 'Kennwort wird geholt…',
  senderPasswordTitle: 'Das Kennwort für diese Nachricht',
  senderPasswordBody: 'Teilen Sie den Empfängern dieses Kennwort auf anderem Weg mit, zum Beispiel am Telefon oder persönlich. Es steht nicht in der E-Mail und wird nicht noch einmal angezeigt.',
  senderPasswordField: 'Kennwort',
  senderPasswordValid: 'Senden Sie die Nachricht bis {date}; danach schickt das Portal stattdessen ein eigenes Kennwort.',
  copyPassword: 'Kennwort kopieren',
  copied: 'Das Kennwort ist kopiert.',
  copyFailed: 'Kopieren hat nicht funktioniert: Markieren Sie das Kennwort und kopieren Sie es selbst.',
  senderPasswordSet: 'Ein Kennwort, das Ihnen vorhin angezeigt wurde, ist an dieser Nachricht gesetzt; es kann nicht noch einmal angezeigt werden. Haben Sie es nicht mehr, holen Sie ein neues.',
  senderPasswordNew: 'Neues Kennwort holen',
  senderPasswordFailed: 'Es konnte kein Kennwort geholt werden: {message}',

  headersUnavailableTitle: 'Dieses Outlook kann die Nachricht nicht kennzeichnen',
  headersUnavailableBody:
    'Outlook kann hier die Nachrichtenkopfzeilen, die Sealpost verwendet, nicht setzen. Setzen Sie stattdessen {trigger} an den Anfang des Betreffs: Sealpost schützt die Nachricht dann automatisch.',
  triggerAdd: '{trigger} zum Betreff hinzufügen',
  triggerRemove: '{trigger} aus dem Betreff entfernen',
  triggerOn: 'Der Betreff beginnt mit {trigger}: Diese Nachricht wird sicher gesendet.',
  triggerOff: 'Der Betreff beginnt nicht mit {trigger}.',
  triggerFailed: 'Der Betreff konnte nicht geändert werden: {message}',

  previewTitle: 'So werden die Empfänger erreicht',
  previewEmpty: 'Fügen Sie Empfänger hinzu, um zu sehen, wie jeder erreicht wird.',
  previewOffNote: 'Der Schutz ist aus. Wenn Sie ihn einschalten, werden die Empfänger so erreicht.',
  previewFailed: 'Die Vorschau konnte nicht geladen werden: {message}',
  previewRefresh: 'Vorschau aktualisieren',
  previewRecipient: 'Empfänger',
  previewMethod: 'Methode',
  method_relay: 'Innerhalb Ihrer Organisation',
  method_portal: 'Sealpost-Portal',
  method_smime: 'S/MIME',
  method_pgp: 'OpenPGP',
  method_pdf: 'PDF',
  method_held: 'Zurückgehalten',
  method_clear: 'Unverschlüsselt',
  method_refused: 'Geht an Sie zurück',
  reason_internal: 'Innerhalb Ihrer Organisation: an Ihren Mailserver zugestellt',
  'reason_certificate-known': 'Ein gültiges S/MIME-Zertifikat ist bekannt',
  'reason_key-known': 'Kein S/MIME-Zertifikat, aber ein OpenPGP-Schlüssel ist bekannt',
  'reason_nothing-known': 'Kein Zertifikat und kein Schlüssel bekannt: Lesen im Sealpost-Portal',
  reason_mandatory: 'Kein Zertifikat und kein Schlüssel bekannt: Ihre Organisation sendet ein passwortgeschütztes PDF',
  'reason_allowed-clear': 'Verschlüsselung ist erlaubt, nicht verlangt, und kein Zertifikat oder Schlüssel ist bekannt: wird so gesendet, wie sie ist',
  'reason_no-way': 'Verschlüsselung ist verlangt, aber keine von Ihrer Organisation eingeschaltete Methode erreicht diesen Empfänger: Die Nachricht käme an Sie zurück, nie unverschlüsselt gesendet',
  'reason_invalid-address': 'Keine gültige E-Mail-Adresse',
  'reason_mode-unavailable': 'Diese Methode ist nicht verfügbar: Die Nachricht würde zurückgehalten, nie ungeschützt gesendet',
  'reason_no-certificate': 'Für diesen Empfänger ist kein gültiges S/MIME-Zertifikat bekannt: Die Nachricht würde zurückgehalten, nie ungeschützt gesendet',
  'reason_no-pgp-key': 'Für diesen Empfänger ist kein OpenPGP-Schlüssel gespeichert: Veröffentlicht seine Domain keinen, würde die Nachricht zurückgehalten, nie ungeschützt gesendet',
  'reason_sender-chose': 'Die von Ihnen gewählte Methode',

  sentEmpty: 'Sie haben noch keine sicheren Nachrichten gesendet.',
  sentFailed: 'Ihre sicheren Nachrichten konnten nicht geladen werden: {message}',
  sentOn: 'Gesendet am {date}',
  expiresOn: 'Lesbar bis {date}',
  noExpiry: 'Kein Ablaufdatum',
  noSubject: '(kein Betreff)',
  recipientRead: 'Gelesen am {date}',
  recipientUnread: 'Noch nicht gelesen',
  recipientRevoked: 'Zurückgezogen am {date}',
  revokeAll: 'Für alle zurückziehen',
  revokeOne: 'Zurückziehen',
  revokeOneLabel: 'Für {address} zurückziehen',
  revokeConfirmTitle: 'Diese Nachricht zurückziehen?',
  revokeConfirmBody: 'Kein Empfänger von „{subject}“ kann sie dann noch öffnen. Das lässt sich nicht rückgängig machen.',
  revokeOneConfirmBody: '{address} kann „{subject}“ dann nicht mehr öffnen. Das lässt sich nicht rückgängig machen.',
  cancel: 'Abbrechen',
  revoked: 'Zurückgezogen.',
  actionFailed: 'Das hat nicht funktioniert: {message}',
  changeExpiry: 'Ablaufdatum ändern',
  newExpiryLabel: 'Neues Ablaufdatum für „{subject}“',
  save: 'Speichern',
  expiryChanged: 'Lesbar bis {date}.',
  expiryCapped: 'Lesbar bis {date}: Das ist das späteste Datum, das Ihre Organisation erlaubt.',
};

const tables: Record<Language, Record<MessageKey, string>> = { en, de };

/** German for any German display language (de, de-DE, de-AT, de-CH); English otherwise. */
export function languageFor(displayLanguage: string | undefined): Language {
  return /^de\b/i.test(displayLanguage ?? '') ? 'de' : 'en';
}

export type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

export function translator(language: Language): Translate {
  const table = tables[language];
  return (key, params) => {
    const text = table[key] ?? en[key];
    return fillPlaceholders(text, params);
  };
}

/** A day in the sender's language; expiry days are UTC days, as the header grammar reads a bare date. */
export function formatDay(language: Language, date: Date): string {
  return new Intl.DateTimeFormat(language === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'medium', timeZone: 'UTC' }).format(date);
}

export function formatDateTime(language: Language, date: Date): string {
  return new Intl.DateTimeFormat(language === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}
