import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_THREAD_MESSAGES } from '../src/portal/threads.ts';
import { followsThread, replyRefusal, visibilityOf, withdrawalOf } from '../src/portal/visibility.ts';

const member = { address: 'alice@acme.example' };
const external = { address: 'bob@example.net' };
const stranger = { address: 'mallory@example.org' };
const thread = { memberAddress: member.address, externalAddress: external.address };
const NOW = Date.parse('2026-06-01T12:00:00Z');

type Row = Parameters<typeof visibilityOf>[2];
const sent = (extra: Partial<Row> = {}): Row => ({
  fromAddress: member.address,
  toAddress: external.address,
  direction: 'from-member',
  deliveryMode: 'portal_secure',
  revokedAt: null,
  expiresAt: null,
  deletedBySenderAt: null,
  deletedByRecipientAt: null,
  ...extra,
});
const replied = (extra: Partial<Row> = {}): Row => sent({ fromAddress: external.address, toAddress: member.address, direction: 'from-recipient', deliveryMode: 'relay', ...extra });
const colleague = { address: 'carol@acme.example' };
/** The member's message as kept for a colleague who got it as mail too (relay mode). */
const internalCopy = (extra: Partial<Row> = {}): Row => sent({ toAddress: colleague.address, deliveryMode: 'relay', ...extra });

describe('who may see a portal message', () => {
  test('the two parties of its thread see it, each in their relation; nobody else', () => {
    assert.deepEqual(visibilityOf(member, thread, sent(), NOW), { kind: 'visible', relation: 'author', viewerIsExternal: false });
    assert.deepEqual(visibilityOf(external, thread, sent(), NOW), { kind: 'visible', relation: 'addressee', viewerIsExternal: true });
    assert.deepEqual(visibilityOf(member, thread, replied(), NOW), { kind: 'visible', relation: 'addressee', viewerIsExternal: false });
    assert.deepEqual(visibilityOf(stranger, thread, sent(), NOW), { kind: 'hidden' });
  });

  test('an internal copy is seen by the colleague it was kept for, and by neither party of the thread', () => {
    assert.deepEqual(visibilityOf(colleague, thread, internalCopy(), NOW, true), { kind: 'visible', relation: 'addressee', viewerIsExternal: false });
    assert.equal(visibilityOf(external, thread, internalCopy(), NOW).kind, 'hidden', 'the external recipient never sees it');
    assert.equal(visibilityOf(member, thread, internalCopy(), NOW).kind, 'hidden', 'its author has the same message as the external copy');
    assert.equal(visibilityOf(stranger, thread, internalCopy({ toAddress: colleague.address }), NOW, true).kind, 'hidden', "another follower does not see a colleague's copy");
  });

  test('a colleague who follows the thread reads the whole conversation, as a follower; without a copy nothing', () => {
    assert.deepEqual(visibilityOf(colleague, thread, sent(), NOW, true), { kind: 'visible', relation: 'follower', viewerIsExternal: false });
    assert.deepEqual(visibilityOf(colleague, thread, replied(), NOW, true), { kind: 'visible', relation: 'follower', viewerIsExternal: false });
    assert.equal(visibilityOf(colleague, thread, sent(), NOW, false).kind, 'hidden');
    assert.equal(replyRefusal(false, { direction: 'from-member', noReply: false }, { messageCount: 1 }), 'not-the-recipient', 'a follower never replies in the portal');
    assert.equal(followsThread(colleague, [internalCopy()]), true);
    assert.equal(followsThread(colleague, [internalCopy({ deletedByRecipientAt: new Date(NOW) })]), false, 'deleting the copy ends following');
    assert.equal(followsThread(colleague, [sent(), replied()]), false);
  });

  test('deleting hides a message from the party who deleted it only', () => {
    const deletedBySender = sent({ deletedBySenderAt: new Date(NOW) });
    assert.equal(visibilityOf(member, thread, deletedBySender, NOW).kind, 'hidden');
    assert.equal(visibilityOf(external, thread, deletedBySender, NOW).kind, 'visible');
    const deletedByRecipient = sent({ deletedByRecipientAt: new Date(NOW) });
    assert.equal(visibilityOf(external, thread, deletedByRecipient, NOW).kind, 'hidden');
    assert.equal(visibilityOf(member, thread, deletedByRecipient, NOW).kind, 'visible');
  });

  test('a revoked or expired message is withdrawn from its external recipient, not from its sender', () => {
    const revoked = sent({ revokedAt: new Date(NOW - 1000) });
    assert.deepEqual(visibilityOf(external, thread, revoked, NOW), { kind: 'withdrawn', withdrawal: 'revoked', relation: 'addressee', viewerIsExternal: true });
    assert.equal(visibilityOf(member, thread, revoked, NOW).kind, 'visible');
    const expired = sent({ expiresAt: new Date(NOW) });
    assert.equal(visibilityOf(external, thread, expired, NOW).kind, 'withdrawn');
    assert.equal(visibilityOf(external, thread, sent({ expiresAt: new Date(NOW + 1) }), NOW).kind, 'visible');
    // Revoked wins over expired in what the recipient is told; deleted wins over both.
    assert.equal(withdrawalOf(sent({ revokedAt: new Date(NOW), expiresAt: new Date(NOW - 1) }), NOW), 'revoked');
    assert.equal(visibilityOf(external, thread, sent({ revokedAt: new Date(NOW), deletedByRecipientAt: new Date(NOW) }), NOW).kind, 'hidden');
  });

  test('the recipient\'s own replies are never withdrawn', () => {
    assert.equal(visibilityOf(external, thread, replied({ expiresAt: new Date(NOW - 1), revokedAt: new Date(NOW - 1) }), NOW).kind, 'visible');
  });

  test('only the external recipient replies, to what a member sent, while replies are allowed and the thread has room', () => {
    const room = { messageCount: 1 };
    assert.equal(replyRefusal(true, { direction: 'from-member', noReply: false }, room), undefined);
    assert.equal(replyRefusal(false, { direction: 'from-member', noReply: false }, room), 'not-the-recipient');
    assert.equal(replyRefusal(true, { direction: 'from-recipient', noReply: false }, room), 'not-the-recipient');
    assert.equal(replyRefusal(true, { direction: 'from-member', noReply: true }, room), 'replies-disabled');
    assert.equal(replyRefusal(true, { direction: 'from-member', noReply: false }, { messageCount: MAX_THREAD_MESSAGES }), 'thread-full');
  });
});
