import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AddinSettings } from '../../../common/src/addin-api.ts';
import { defaultChoice, expiryBounds, headersFor, validateExpiryDay } from './protection.ts';

const NOW = new Date('2026-03-10T09:00:00Z');
const base: AddinSettings = {
  tenantName: 'Acme',
  allowedModes: ['auto', 'portal'],
  tenantDomains: ['acme.test'],
  smartAlert: { externalRecipientsWithAttachments: true, keywords: [] },
  subjectTrigger: '[secure]',
};

describe('the expiry the task pane offers', () => {
  test('a tenant without default or maximum: no date is preset, any later day is allowed, and no Expires header is written', () => {
    const bounds = expiryBounds(base, NOW);
    assert.deepEqual(bounds, { min: '2026-03-11', defaultDay: '' });
    const choice = { ...defaultChoice(base, NOW), secure: true, mode: 'portal' as const };
    assert.equal(choice.expiryDay, '');
    assert.deepEqual(headersFor(choice, base), { 'X-Sealpost-Encrypt': 'portal' }, 'without a date the message does not expire');
    assert.equal(validateExpiryDay('', base, NOW), undefined, 'an empty date is no error');
    assert.equal(validateExpiryDay('2036-01-01', base, NOW), undefined, 'ten years ahead is fine without a maximum');
    assert.equal(validateExpiryDay('2026-03-10', base, NOW), 'past');
    assert.equal(validateExpiryDay('10.03.2027', base, NOW), 'missing', 'a date that cannot be read is asked for again');
  });

  test("a tenant's default presets the day, and its maximum bounds it", () => {
    const settings = { ...base, defaultExpiryDays: 30, maxExpiryDays: 20 };
    assert.deepEqual(expiryBounds(settings, NOW), { min: '2026-03-11', max: '2026-03-30', defaultDay: '2026-03-30' }, 'the default never passes the maximum');
    assert.equal(validateExpiryDay('2026-03-31', settings, NOW), 'too-late');
    const choice = { ...defaultChoice(settings, NOW), secure: true, mode: 'portal' as const };
    assert.equal(headersFor(choice, settings)['X-Sealpost-Expires'], '2026-03-30T23:59:59Z', 'readable to the end of that day');
  });
});
