import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  e164Number,
  formatSealpostHeaders,
  loopHeaderName,
  matchSubjectTrigger,
  parseExpiry,
  parseSealpostHeaders,
} from '../src/headers.ts';

const lookup = (headers: Record<string, string>) => (name: string) =>
  Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

describe('the Sealpost header contract', () => {
  test('what the add-in writes, the gateway reads back unchanged', () => {
    const expiresAt = new Date('2026-12-24T18:00:00Z');
    const headers = formatSealpostHeaders({ mode: 'portal', expiresAt, options: ['read-receipt', 'no-reply', 'read-receipt'] });
    assert.deepEqual(headers, {
      'X-Sealpost-Encrypt': 'portal',
      'X-Sealpost-Expires': '2026-12-24T18:00:00Z',
      'X-Sealpost-Options': 'read-receipt,no-reply',
    });
    const request = parseSealpostHeaders(lookup(headers), 'Contract');
    assert.equal(request.mode, 'portal');
    assert.equal(request.modeSource, 'header');
    assert.equal(request.expiresAt?.toISOString(), expiresAt.toISOString());
    assert.deepEqual(request.options, ['read-receipt', 'no-reply']);
    assert.deepEqual(request.notes, []);
  });

  test('header names and values are read case-insensitively, as Outlook lower-cases names', () => {
    const request = parseSealpostHeaders(lookup({ 'x-sealpost-encrypt': ' SMIME ', 'x-sealpost-options': 'SIGN' }), undefined);
    assert.equal(request.mode, 'smime');
    assert.deepEqual(request.options, ['sign']);
  });

  test('bad values never fail: they fall back, an unreadable protection request fails closed, and the notes say why', () => {
    const request = parseSealpostHeaders(
      lookup({ 'X-Sealpost-Encrypt': 'rot13', 'X-Sealpost-Expires': '2026-02-30', 'X-Sealpost-Options': 'otp,,teleport' }),
      'Hello',
    );
    assert.equal(request.mode, 'auto');
    assert.equal(request.failedClosed, true);
    assert.equal(request.expiresAt, undefined);
    assert.deepEqual(request.options, ['otp']);
    assert.equal(request.notes.length, 3);
    assert.match(request.notes[0]!, /unknown mode "rot13", protecting automatically instead \(fail closed\)/);
    assert.match(request.notes[1]!, /not an RFC 3339 date/);
    assert.match(request.notes[2]!, /unknown option "teleport" ignored/);
  });

  test('a subject that starts with [secure] or [encrypt] means automatic protection, and the trigger comes off', () => {
    assert.deepEqual(matchSubjectTrigger('  [Secure]   Salary 2026'), { triggered: true, subject: 'Salary 2026' });
    assert.deepEqual(matchSubjectTrigger('[ENCRYPT]Offer'), { triggered: true, subject: 'Offer' });
    assert.deepEqual(matchSubjectTrigger('Re: [secure] Offer'), { triggered: false, subject: 'Re: [secure] Offer' });
    assert.deepEqual(matchSubjectTrigger('[vertraulich] Akte', ['[vertraulich]']), { triggered: true, subject: 'Akte' });
    const request = parseSealpostHeaders(lookup({}), '[secure] Salary');
    assert.equal(request.mode, 'auto');
    assert.equal(request.modeSource, 'subject');
  });

  test('an explicit header wins over the subject trigger', () => {
    assert.equal(parseSealpostHeaders(lookup({ 'X-Sealpost-Encrypt': 'pgp' }), '[secure] x').mode, 'pgp');
  });

  test('a protection request the gateway cannot read is never taken for "no protection"', () => {
    const unreadable = ['portal\ufffd', 'portal\u0000', 'portal ', ' PORTAL', '', 'portal,none', 'none; portal', 'nonе' /* Cyrillic e */, 'x'.repeat(100_000)];
    for (const value of unreadable) {
      const request = parseSealpostHeaders(lookup({ 'X-Sealpost-Encrypt': value }), 'Contract');
      const readable = ['portal', 'none'].includes(value.trim().toLowerCase());
      if (readable) continue;
      assert.equal(request.mode, 'auto', `"${value.slice(0, 20)}" must fail closed`);
      assert.equal(request.failedClosed, true);
      assert.ok(request.notes[0]!.length < 200, 'the note quotes a bounded part of the value');
      assert.doesNotMatch(request.notes[0]!, /\u0000/);
    }
  });

  test('repeated control headers resolve towards more protection: conflicts fail closed, the earliest expiry holds', () => {
    const all = (headers: Record<string, string[]>) => (name: string) =>
      Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
    const conflicting = parseSealpostHeaders(all({ 'X-Sealpost-Encrypt': ['none', 'portal'] }), 'x');
    assert.equal(conflicting.mode, 'auto');
    assert.equal(conflicting.failedClosed, true);
    assert.match(conflicting.notes[0]!, /2 conflicting values/);
    const same = parseSealpostHeaders(all({ 'X-Sealpost-Encrypt': ['portal', 'Portal'] }), 'x');
    assert.equal(same.mode, 'portal');
    assert.equal(same.failedClosed, undefined);
    const expiry = parseSealpostHeaders(all({ 'X-Sealpost-Expires': ['2026-12-31', '2026-12-10', 'soon'] }), 'x');
    assert.equal(expiry.expiresAt?.toISOString(), '2026-12-10T23:59:59.000Z');
    const options = parseSealpostHeaders(all({ 'X-Sealpost-Options': ['no-reply', 'otp,no-reply'] }), 'x');
    assert.deepEqual(options.options, ['no-reply', 'otp']);
  });

  test('the subject trigger raises an explicit "none" to automatic protection', () => {
    const request = parseSealpostHeaders(lookup({ 'X-Sealpost-Encrypt': 'none' }), '[secure] Offer');
    assert.equal(request.mode, 'auto');
    assert.equal(request.modeSource, 'subject');
  });

  test('expiry accepts RFC 3339 dates and date-times only', () => {
    assert.equal(parseExpiry('2026-12-01')?.toISOString(), '2026-12-01T23:59:59.000Z');
    assert.equal(parseExpiry('2026-12-01T10:00:00+01:00')?.toISOString(), '2026-12-01T09:00:00.000Z');
    assert.equal(parseExpiry('2026-13-01'), undefined);
    assert.equal(parseExpiry('next week'), undefined);
    assert.equal(parseExpiry('2026-12-01T25:00:00Z'), undefined);
  });

  test('the loop header name replaces the dots of the domain with dashes', () => {
    assert.equal(loopHeaderName('Mail.Acme.test'), 'X-Sealpost-mail-acme-test');
  });

  test('mobile numbers for the PDF password: recipient=+number pairs, spaces and dashes dropped, anything else noted and ignored', () => {
    const request = parseSealpostHeaders(lookup({ 'X-Sealpost-Sms': 'Kunde@Example.net=+49 151-234 5678, bad, x@y.example=0151 123, z@y.example=+1 (555) 0100 200' }), undefined);
    assert.deepEqual(request.smsNumbers, { 'kunde@example.net': '+491512345678', 'z@y.example': '+15550100200' });
    assert.equal(request.notes.filter((n) => n.startsWith('X-Sealpost-Sms')).length, 2);
  });

  test('the SMS numbers and the sender-told password ticket the add-in writes, the gateway reads back unchanged', () => {
    const ticket = 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aBcD_12-x.Zm9v-bar_baz.tAg-1_x';
    const headers = formatSealpostHeaders({
      mode: 'pdf',
      smsNumbers: { 'Kunde@Example.net': '+49 151 2345678', 'other@example.org': '0151 123', 'a,b@example.org': '+4915112345678' },
      pdfPasswordTicket: ticket,
    });
    assert.deepEqual(headers, {
      'X-Sealpost-Encrypt': 'pdf',
      'X-Sealpost-Sms': 'kunde@example.net=+491512345678',
      'X-Sealpost-Pdf-Password': ticket,
    }, 'a number that is not E.164, and an address that would break the list, are left out');
    const request = parseSealpostHeaders(lookup(headers), 'Offer');
    assert.deepEqual(request.smsNumbers, { 'kunde@example.net': '+491512345678' });
    assert.equal(request.pdfPasswordTicket, ticket);
    assert.deepEqual(request.notes, []);
  });

  test('a password ticket that cannot be one, or two different tickets, is ignored with a note that does not quote it', () => {
    for (const value of ['secret words!', 'x'.repeat(5000), '', 'abc\u0000def']) {
      const request = parseSealpostHeaders(lookup({ 'X-Sealpost-Pdf-Password': value, 'X-Sealpost-Encrypt': 'pdf' }), 'x');
      assert.equal(request.pdfPasswordTicket, undefined, JSON.stringify(value.slice(0, 20)));
      assert.equal(request.mode, 'pdf', 'a bad ticket does not change the protection');
      assert.match(request.notes[0] ?? '', /^X-Sealpost-Pdf-Password: not a ticket \(\d+ characters\), ignored/);
      if (value.length > 3) assert.ok(!request.notes[0]!.includes(value.slice(0, 8)), 'the value is not quoted');
    }
    const all = (name: string) => (name.toLowerCase() === 'x-sealpost-pdf-password' ? ['aaa.bbb', 'ccc.ddd', 'aaa.bbb'] : undefined);
    const two = parseSealpostHeaders(all, 'x');
    assert.equal(two.pdfPasswordTicket, undefined);
    assert.match(two.notes[0]!, /2 different tickets, none used/);
  });

  test('E.164 numbers: a plus, 7 to 15 digits, typed separators dropped', () => {
    assert.equal(e164Number('+49 (151) 234-5678'), '+491512345678');
    assert.equal(e164Number('+1/555/0100200'), '+15550100200');
    for (const bad of ['0151 2345678', '+0151234567', '+123', '+1234567890123456', '+49 151 abc', '', `+49${' '.repeat(80)}1512345678`]) {
      assert.equal(e164Number(bad), undefined, bad.slice(0, 20));
    }
  });
});
