import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { AddinSettings } from '../../../common/src/addin-api.ts';
import { checkDraftBeforeSend, markForSecureSending, type AsyncResult, type ComposeItem } from './before-send.ts';
import {
  MAX_ALERT_BUTTON,
  MAX_ALERT_MESSAGE,
  SECURE_PANE_COMMAND_ID,
  SEND_SECURELY_COMMAND_ID,
  alertActionFor,
  completionFor,
  decideBeforeSend,
  failOpenNotice,
  findKeywords,
  isExternalRecipient,
  type DraftMessage,
  type SendCheckRule,
} from './send-check.ts';

const rule: SendCheckRule = {
  tenantDomains: ['acme.test', 'acme-law.test'],
  smartAlert: { externalRecipientsWithAttachments: true, keywords: ['confidential', 'vertraulich'] },
  subjectTrigger: '[secure]',
};

function draft(overrides: Partial<DraftMessage> = {}): DraftMessage {
  return {
    recipients: ['bob@example.org'],
    attachments: [{ name: 'contract.pdf', isInline: false }],
    subject: 'The contract',
    bodyText: 'Please find the contract attached.',
    headers: {},
    ...overrides,
  };
}

describe('the send-time check decides', () => {
  test('an attachment going to a recipient outside the organisation asks the sender to send securely', () => {
    const decision = decideBeforeSend(draft({ recipients: ['alice@acme.test', 'Bob@Example.org'] }), rule);
    assert.deepEqual(decision, {
      action: 'ask',
      findings: [{ kind: 'external-recipients-with-attachments', externalRecipients: ['bob@example.org'], attachments: ['contract.pdf'] }],
    });
  });

  test('attachments between colleagues, in any of the tenant domains, go without a question', () => {
    const decision = decideBeforeSend(draft({ recipients: ['alice@acme.test', 'carol@ACME-LAW.test'] }), rule);
    assert.deepEqual(decision, { action: 'allow', reason: 'rule-not-matched' });
  });

  test('an inline picture such as a signature logo is not an attachment', () => {
    const decision = decideBeforeSend(draft({ attachments: [{ name: 'logo.png', isInline: true }] }), rule);
    assert.deepEqual(decision, { action: 'allow', reason: 'rule-not-matched' });
  });

  test('a keyword in the subject or body asks, even to colleagues and without attachments', () => {
    const decision = decideBeforeSend(
      draft({ recipients: ['alice@acme.test'], attachments: [], subject: 'Vertraulich: Angebot', bodyText: 'CONFIDENTIAL draft' }),
      rule,
    );
    assert.deepEqual(decision, {
      action: 'ask',
      findings: [
        { kind: 'keyword', keyword: 'confidential' },
        { kind: 'keyword', keyword: 'vertraulich' },
      ],
    });
  });

  test('a keyword inside a longer word does not count', () => {
    assert.deepEqual(findKeywords('nonconfidential and confidentiality', ['confidential']), []);
    assert.deepEqual(findKeywords('streng vertraulich!', ['vertraulich']), ['vertraulich']);
  });

  test('a message already marked for encryption, or with the subject trigger, is allowed', () => {
    assert.deepEqual(decideBeforeSend(draft({ headers: { 'x-sealpost-encrypt': 'portal' } }), rule), { action: 'allow', reason: 'already-secured' });
    assert.deepEqual(decideBeforeSend(draft({ subject: '[SECURE] The contract' }), rule), { action: 'allow', reason: 'already-secured' });
    assert.deepEqual(decideBeforeSend(draft({ subject: '!!geheim Vertrag' }), { ...rule, subjectTrigger: '!!geheim' }), {
      action: 'allow',
      reason: 'already-secured',
    });
  });

  test('an explicit "none" does not count as secured; an unknown mode does, as the gateway protects it automatically', () => {
    assert.equal(decideBeforeSend(draft({ headers: { 'X-Sealpost-Encrypt': 'none' } }), rule).action, 'ask');
    assert.equal(decideBeforeSend(draft({ headers: { 'X-Sealpost-Encrypt': 'rot13' } }), rule).action, 'allow');
  });

  test('a tenant that switched both checks off is never asked about', () => {
    const off = { ...rule, smartAlert: { externalRecipientsWithAttachments: false, keywords: [] } };
    assert.deepEqual(decideBeforeSend(draft({ bodyText: 'confidential' }), off), { action: 'allow', reason: 'rule-not-matched' });
  });

  test('an address without a domain of the tenant is external', () => {
    assert.equal(isExternalRecipient('bob@acme.test.evil.example', rule.tenantDomains), true);
    assert.equal(isExternalRecipient('alice@acme.test', rule.tenantDomains), false);
    assert.equal(isExternalRecipient('no-at-sign', rule.tenantDomains), true);
  });
});

describe('the Smart Alerts dialog', () => {
  const ask = decideBeforeSend(draft({ bodyText: 'confidential' }), rule);

  test('from Mailbox 1.15 its button runs "Send securely"; at 1.14 it opens the Secure pane; below, only the message', () => {
    assert.equal(alertActionFor((v) => Number(v.split('.')[1]) <= 15), 'run-send-securely');
    assert.equal(alertActionFor((v) => Number(v.split('.')[1]) <= 14), 'open-secure-pane');
    assert.equal(alertActionFor((v) => Number(v.split('.')[1]) <= 13), 'message-only');

    const newest = completionFor(ask, 'en', 'run-send-securely');
    assert.equal(newest.allowEvent, false);
    assert.equal(newest.cancelLabel, 'Send securely');
    assert.equal(newest.commandId, SEND_SECURELY_COMMAND_ID);
    assert.deepEqual(JSON.parse(newest.contextData!), { source: 'send-check', findings: ['external-recipients-with-attachments', 'keyword'] });

    assert.equal(completionFor(ask, 'de', 'open-secure-pane').commandId, SECURE_PANE_COMMAND_ID);
    assert.equal(completionFor(ask, 'de', 'open-secure-pane').cancelLabel, 'Sicher senden');

    const oldest = completionFor(ask, 'en', 'message-only');
    assert.deepEqual(Object.keys(oldest).sort(), ['allowEvent', 'errorMessage']);
    assert.match(oldest.errorMessage!, /Select Secure on the ribbon/);
  });

  test('says in English and German what was found', () => {
    const en = completionFor(ask, 'en', 'run-send-securely').errorMessage!;
    assert.match(en, /^This message goes to recipients outside your organisation \(bob@example\.org\) with attachments \(contract\.pdf\) and mentions "confidential"\./);
    const de = completionFor(ask, 'de', 'run-send-securely').errorMessage!;
    assert.match(de, /^Diese Nachricht geht mit Anhängen \(contract\.pdf\) an Empfänger außerhalb Ihrer Organisation \(bob@example\.org\) und erwähnt „confidential“\./);
  });

  test('stays within Outlook\'s limits however many recipients and attachments there are', () => {
    const many = decideBeforeSend(
      draft({
        recipients: Array.from({ length: 300 }, (_, i) => `person-with-a-long-name-${i}@example-${i}.org`),
        attachments: Array.from({ length: 40 }, (_, i) => ({ name: `${'quarterly-report-'.repeat(8)}${i}.xlsx`, isInline: false })),
        bodyText: 'confidential vertraulich',
      }),
      rule,
    );
    for (const language of ['en', 'de'] as const) {
      const completion = completionFor(many, language, 'run-send-securely');
      assert.ok(completion.errorMessage!.length <= MAX_ALERT_MESSAGE, `${language}: ${completion.errorMessage!.length}`);
      assert.ok(completion.cancelLabel!.length <= MAX_ALERT_BUTTON);
      assert.match(completion.errorMessage!, language === 'en' ? /and 298 more/ : /und 298 weitere/);
    }
  });

  test('the notice left when the check could not run fits an Outlook notification', () => {
    for (const language of ['en', 'de'] as const) {
      for (const reason of ['no-token', 'settings-unavailable'] as const) {
        assert.ok(failOpenNotice(reason, language).length <= 150);
      }
    }
  });
});

/** A compose item as Office.js hands it to the handler, holding a draft. */
class FakeComposeItem implements ComposeItem {
  notifications: string[] = [];
  headers: Record<string, string>;
  constructor(private readonly message: DraftMessage, private readonly failAttachments = false) {
    this.headers = { ...message.headers };
  }
  private ok<T>(value: T): AsyncResult<T> {
    return { status: 'succeeded', value };
  }
  to = { getAsync: (cb: (r: AsyncResult<Array<{ emailAddress: string }>>) => void) => cb(this.ok(this.message.recipients.slice(0, 1).map((emailAddress) => ({ emailAddress })))) };
  cc = { getAsync: (cb: (r: AsyncResult<Array<{ emailAddress: string }>>) => void) => cb(this.ok(this.message.recipients.slice(1, 2).map((emailAddress) => ({ emailAddress })))) };
  bcc = { getAsync: (cb: (r: AsyncResult<Array<{ emailAddress: string }>>) => void) => cb(this.ok(this.message.recipients.slice(2).map((emailAddress) => ({ emailAddress })))) };
  subject = { getAsync: (cb: (r: AsyncResult<string>) => void) => cb(this.ok(this.message.subject)) };
  body = { getAsync: (_type: 'text', cb: (r: AsyncResult<string>) => void) => cb(this.ok(this.message.bodyText)) };
  getAttachmentsAsync = (cb: (r: AsyncResult<Array<{ name: string; isInline: boolean }>>) => void) =>
    cb(this.failAttachments ? { status: 'failed', value: [], error: { message: 'busy' } } : this.ok(this.message.attachments));
  internetHeaders = {
    getAsync: (names: string[], cb: (r: AsyncResult<Record<string, string>>) => void) => {
      const found: Record<string, string> = {};
      for (const name of names) {
        const key = Object.keys(this.headers).find((k) => k.toLowerCase() === name.toLowerCase());
        if (key) found[name.toLowerCase()] = this.headers[key]!;
      }
      cb(this.ok(found));
    },
    setAsync: (headers: Record<string, string>, cb: (r: AsyncResult<void>) => void) => {
      Object.assign(this.headers, headers);
      cb(this.ok(undefined));
    },
  };
  notificationMessages = {
    replaceAsync: (_key: string, message: { message: string }, cb?: (r: AsyncResult<void>) => void) => {
      this.notifications.push(message.message);
      cb?.(this.ok(undefined));
    },
  };
}

describe('the check against a draft in Outlook', () => {
  let server: Server;
  let origin: string;
  let answer: { status: number; body?: AddinSettings } = { status: 200 };
  const seenAuthorization: string[] = [];
  const settings: AddinSettings = {
    tenantName: 'Acme',
    allowedModes: ['auto', 'portal'],
    defaultExpiryDays: 30,
    maxExpiryDays: 90,
    tenantDomains: ['acme.test'],
    smartAlert: { externalRecipientsWithAttachments: true, keywords: ['confidential'] },
    subjectTrigger: '[secure]',
  };
  const environment = () => ({ apiOrigin: origin, language: 'en' as const, isSetSupported: () => true, timeoutMs: 2000 });

  before(async () => {
    server = createServer((request, response) => {
      seenAuthorization.push(request.headers.authorization ?? '');
      if (request.url !== '/api/addin/settings') return response.writeHead(404).end();
      response.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body ?? settings));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('asks the backend for the tenant rule with the sender\'s token and blocks an attachment to outsiders', async () => {
    answer = { status: 200 };
    const item = new FakeComposeItem(draft({ recipients: ['alice@acme.test', 'x@acme.test', 'bob@example.org'] }));
    const completion = await checkDraftBeforeSend(item, async () => 'token-123', environment());
    assert.equal(completion.allowEvent, false);
    assert.equal(completion.commandId, SEND_SECURELY_COMMAND_ID);
    assert.match(completion.errorMessage!, /bob@example\.org/);
    assert.equal(seenAuthorization.at(-1), 'Bearer token-123');
  });

  test('"Send securely" marks the draft, and the next Send passes without asking the backend', async () => {
    answer = { status: 200 };
    const item = new FakeComposeItem(draft());
    await markForSecureSending(item, 'de');
    assert.equal(item.headers['X-Sealpost-Encrypt'], 'auto');
    assert.match(item.notifications.at(-1)!, /Sealpost sendet diese Nachricht sicher/);
    const asked = seenAuthorization.length;
    assert.deepEqual(await checkDraftBeforeSend(item, async () => 'token-123', environment()), { allowEvent: true });
    assert.equal(seenAuthorization.length, asked);
  });

  test('without a token the message goes, and the item says it was not checked', async () => {
    const item = new FakeComposeItem(draft());
    assert.deepEqual(await checkDraftBeforeSend(item, async () => undefined, environment()), { allowEvent: true });
    assert.match(item.notifications.at(-1)!, /not signed in/);
    const failing = new FakeComposeItem(draft());
    assert.deepEqual(await checkDraftBeforeSend(failing, () => Promise.reject(new Error('interaction required')), environment()), { allowEvent: true });
    assert.match(failing.notifications.at(-1)!, /not signed in/);
  });

  test('when the backend refuses or is unreachable the message goes, and the item says so', async () => {
    answer = { status: 503 };
    const refused = new FakeComposeItem(draft());
    assert.deepEqual(await checkDraftBeforeSend(refused, async () => 't', environment()), { allowEvent: true });
    assert.match(refused.notifications.at(-1)!, /did not answer/);

    const unreachable = new FakeComposeItem(draft());
    assert.deepEqual(await checkDraftBeforeSend(unreachable, async () => 't', { ...environment(), apiOrigin: 'http://127.0.0.1:9' }), { allowEvent: true });
    assert.match(unreachable.notifications.at(-1)!, /did not answer/);
  });

  test('a draft Outlook cannot read is allowed rather than stuck', async () => {
    answer = { status: 200 };
    const item = new FakeComposeItem(draft(), true);
    assert.deepEqual(await checkDraftBeforeSend(item, async () => 't', environment()), { allowEvent: true });
  });
});
