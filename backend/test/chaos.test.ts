/**
 * The small version of `npm run chaos`: the same code with a few hundred messages and two kills. It never
 * restarts the database: on PostgreSQL other test files share the server at the same time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { DEFAULT_CHAOS_OPTIONS, formatChaosReport, runChaos } from '../../scripts/chaos/run-chaos.ts';
import { createTestDatabase } from './support/database.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('chaos', () => {
  test('npm run chaos without DATABASE_URL explains that it needs PostgreSQL and exits 2', () => {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/chaos.ts', '--messages', '10'], { cwd: root, env, encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /DATABASE_URL is not set\. The chaos test needs PostgreSQL/);
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/chaos.ts', '--kills', 'many'], { cwd: root, env, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--kills must be a whole number >= 0 \(got "many"\)/);
  });

  test('a gateway killed twice with kill -9 while 300 messages arrive loses none, repeats few, and settles every message', async (t) => {
    const database = await createTestDatabase();
    try {
      const report = await runChaos({
        ...DEFAULT_CHAOS_OPTIONS,
        messages: 300,
        kills: 2,
        concurrency: 10,
        deliveryConcurrency: 6,
        databaseUrl: database.url,
        workDir: database.dataDir,
        // Limits against a hang, not speed targets: on a busy machine a restart on PGlite takes 10-20 s.
        sendTimeoutMs: 180_000,
        settleTimeoutMs: 60_000,
        log: (line) => t.diagnostic(line),
      });
      for (const line of formatChaosReport(report).split('\n')) if (line.trim()) t.diagnostic(line);
      assert.deepEqual(report.failures, [], 'the run found no failure');
      assert.equal(report.accepted, 300, 'every message was answered 250 in the end');
      assert.equal(report.killsDone, 2);
      assert.equal(report.lost, 0, 'no accepted message was lost');
      assert.equal(report.notFinal, 0, 'every message reached a final state');
      assert.equal(report.storedCopiesNotDelivered, 0);
      assert.ok(report.resentBecause250Lost <= report.bounds.resent, `resent ${report.resentBecause250Lost} <= ${report.bounds.resent}`);
      assert.ok(
        report.deliveredTwiceByGateway <= report.bounds.deliveredTwice,
        `delivered twice ${report.deliveredTwiceByGateway} <= ${report.bounds.deliveredTwice}`,
      );
      // Every 10th message asks for the portal: its notification (a message of its own) is delivered too.
      assert.deepEqual(Object.keys(report.states), ['delivered'], 'every message, notifications included, ended delivered');
      assert.ok(report.states.delivered! >= 300 + report.resentBecause250Lost + 30, `stored copies and 30 notifications delivered (${report.states.delivered})`);
    } finally {
      await database.cleanup();
    }
  });
});
