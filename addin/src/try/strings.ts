/** Every string the try page shows, in English and German (the task pane has its own table). */
import { fillPlaceholders } from '../../../common/src/placeholders.ts';
import { languageFor, type Language } from '../shared/i18n.ts';

const en = {
  pageTitle: 'Try the Sealpost task pane',
  intro:
    'This page plays Outlook’s compose window for the demo tenant, so the task pane can be tried without Outlook or Entra ID. ' +
    'The pane beside the draft is the real one: it calls this gateway’s add-in API, and Send hands the message to the gateway over SMTP ' +
    'from the demo’s Exchange address ({connector}). Only the embedded demo offers this page; it is off in production.',
  signedInAs: 'The pane signs in as {address} with the evaluation sign-in (demo members only, from this machine only).',
  from: 'From',
  to: 'To',
  cc: 'Cc',
  subject: 'Subject',
  body: 'Message',
  addressesHint: 'Addresses separated by commas',
  send: 'Send',
  sending: 'Sending…',
  draftLabel: 'New message',
  paneTitle: 'Sealpost task pane',
  sentTitle: 'The gateway took the message',
  sentBody: 'It answered “{reply}”. The message’s trace: GET /api/admin/messages/{id}/trace with the demo API token.',
  sentNoId: 'It answered “{reply}”.',
  sendFailed: 'The message was not sent',
  noRecipient: 'Add at least one recipient in To or Cc.',
};

type MessageKey = keyof typeof en;

const de: Record<MessageKey, string> = {
  pageTitle: 'Den Sealpost-Aufgabenbereich ausprobieren',
  intro:
    'Diese Seite spielt das Verfassen-Fenster von Outlook für den Demo-Mandanten, damit der Aufgabenbereich ohne Outlook und ohne Entra ID ' +
    'ausprobiert werden kann. Der Bereich neben dem Entwurf ist der echte: Er ruft die Add-in-API dieses Gateways auf, und Senden übergibt die ' +
    'Nachricht per SMTP von der Exchange-Adresse der Demo ({connector}) an das Gateway. Nur die eingebaute Demo bietet diese Seite; im Betrieb ist sie aus.',
  signedInAs: 'Der Bereich meldet sich als {address} mit der Test-Anmeldung an (nur Demo-Mitglieder, nur von diesem Rechner).',
  from: 'Von',
  to: 'An',
  cc: 'Cc',
  subject: 'Betreff',
  body: 'Nachricht',
  addressesHint: 'Adressen durch Kommas getrennt',
  send: 'Senden',
  sending: 'Wird gesendet…',
  draftLabel: 'Neue Nachricht',
  paneTitle: 'Sealpost-Aufgabenbereich',
  sentTitle: 'Das Gateway hat die Nachricht angenommen',
  sentBody: 'Es antwortete „{reply}“. Der Verlauf der Nachricht: GET /api/admin/messages/{id}/trace mit dem API-Token der Demo.',
  sentNoId: 'Es antwortete „{reply}“.',
  sendFailed: 'Die Nachricht wurde nicht gesendet',
  noRecipient: 'Tragen Sie mindestens einen Empfänger unter An oder Cc ein.',
};

export type TryTranslate = (key: MessageKey, params?: Record<string, string | number>) => string;

export function tryTranslator(displayLanguage: string): { language: Language; t: TryTranslate } {
  const language = languageFor(displayLanguage);
  const table = language === 'de' ? de : en;
  return { language, t: (key, params) => fillPlaceholders(table[key], params) };
}
