/**
 * Senders first: while a burst of mail is accepted, the work behind the intake gives way within a
 * bounded backlog, and runs at full speed when the intake is quiet or the backlog has grown old.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IntakePriority } from '../src/work-signal.ts';

describe('the intake priority', () => {
  test('a quiet intake costs the background work nothing', () => {
    const priority = new IntakePriority({ share: 0.1, maxLagMs: 30_000 });
    priority.noteAccepted(2, 1000);
    assert.equal(priority.busy(1001), false);
    assert.equal(priority.pauseAfter(50, 1001), 0);
  });

  test('during a burst the background work pauses so that it takes its share of the time, at most a quarter second at once', () => {
    const priority = new IntakePriority({ share: 0.2, maxLagMs: 30_000 });
    priority.noteAccepted(20, 1000);
    assert.equal(priority.givingWay(1100), true);
    assert.equal(priority.pauseAfter(10, 1100), 40, 'ten ms of work, then forty ms for the intake: a fifth');
    assert.equal(priority.pauseAfter(500, 1100), 250);
  });

  test('the burst ends when no messages arrived within the window', () => {
    const priority = new IntakePriority({ share: 0.2, maxLagMs: 30_000, windowMs: 250 });
    priority.noteAccepted(20, 1000);
    assert.equal(priority.givingWay(1249), true);
    assert.equal(priority.givingWay(1251), false);
  });

  test('once the oldest waiting message is older than allowed, the background work runs at full speed again', () => {
    const priority = new IntakePriority({ share: 0.1, maxLagMs: 30_000 });
    priority.noteAccepted(50, 1000);
    priority.reportBacklog(29_000);
    assert.equal(priority.givingWay(1010), true);
    priority.reportBacklog(31_000);
    assert.equal(priority.givingWay(1010), false);
    assert.equal(priority.pauseAfter(100, 1010), 0);
  });

  test('a share of 1 turns the priority off', () => {
    const priority = new IntakePriority({ share: 1, maxLagMs: 30_000 });
    priority.noteAccepted(100, 1000);
    assert.equal(priority.givingWay(1001), false);
  });
});
