import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import type { GuardCheck, GuardFinding } from '../src/guard/contract.ts';
import { DEFAULT_GUARD_POLICY, resolveGuardPolicy, type GuardPolicy } from '../src/guard/policy.ts';
import { createGuardRunner, decide } from '../src/guard/runner.ts';
import { guardInput, plainText, withAttachments } from './support/crafted-mail.ts';

const finding = (symbol: string, score: number, action?: GuardFinding['action']): GuardFinding => ({
  symbol,
  score,
  reason: `${symbol} for the test`,
  ...(action ? { action } : {}),
});

const fixed = (name: string, findings: GuardFinding[]): GuardCheck => ({ name, phase: 'message', run: () => findings });
const defaults = () => DEFAULT_GUARD_POLICY;

describe('the guard runner', () => {
  test('a check that overruns its time budget becomes GUARD_TIMEOUT_<CHECK> and the message is quarantined, not delivered', async () => {
    let aborted = false;
    const slow: GuardCheck = {
      name: 'slow-lookup',
      phase: 'message',
      budget: { ms: 30 },
      run: (_context, signal) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => resolve([finding('NEVER_SEEN', 100)]), 2000);
          signal.addEventListener('abort', () => {
            aborted = true;
            clearTimeout(timer);
          });
        }),
    };
    const run = createGuardRunner({ checks: [slow, fixed('quick', [finding('QUICK', 1)])], policyFor: defaults });
    const started = performance.now();
    const verdict = await run(guardInput(plainText()));
    assert.ok(performance.now() - started < 1000, 'the runner stops waiting at the budget');
    assert.equal(verdict.action, 'quarantine');
    assert.ok(aborted, 'the check is told to stop');
    const timeout = verdict.findings.find((f) => f.symbol === 'GUARD_TIMEOUT_SLOW_LOOKUP');
    assert.ok(timeout, JSON.stringify(verdict.findings));
    assert.match(timeout.reason, /slow-lookup did not finish within 30 ms/);
    assert.equal(timeout.action, 'quarantine');
    assert.ok(!verdict.findings.some((f) => f.symbol === 'NEVER_SEEN'));
    assert.ok(verdict.findings.some((f) => f.symbol === 'QUICK'), 'the other checks still count');
  });

  test('a synchronous check that returns after its budget keeps its findings and still gets GUARD_TIMEOUT', async () => {
    const busy: GuardCheck = {
      name: 'busy',
      phase: 'message',
      budget: { ms: 5 },
      run: () => {
        const until = performance.now() + 25;
        while (performance.now() < until);
        return [finding('BUSY_FOUND', 1)];
      },
    };
    const verdict = await createGuardRunner({ checks: [busy], policyFor: defaults })(guardInput(plainText()));
    assert.deepEqual(verdict.findings.map((f) => f.symbol).sort(), ['BUSY_FOUND', 'GUARD_TIMEOUT_BUSY']);
    assert.equal(verdict.action, 'quarantine');
  });

  test('a check that throws, rejects or returns garbage becomes GUARD_ERROR_<CHECK>, never a crash or a pass', async () => {
    const throwing: GuardCheck = { name: 'throws', phase: 'message', run: () => { throw new Error('cannot read part 3'); } };
    const rejecting: GuardCheck = { name: 'rejects', phase: 'message', run: async () => Promise.reject(new TypeError('bad state')) };
    const garbage: GuardCheck = { name: 'garbage', phase: 'message', run: () => [{ symbol: 'X', score: Number.NaN, reason: 'nan' }] };
    const notAList: GuardCheck = { name: 'not-a-list', phase: 'message', run: () => 'fine' as unknown as GuardFinding[] };
    const verdict = await createGuardRunner({ checks: [throwing, rejecting, garbage, notAList], policyFor: defaults })(guardInput(plainText()));
    const bySymbol = new Map(verdict.findings.map((f) => [f.symbol, f]));
    assert.match(bySymbol.get('GUARD_ERROR_THROWS')!.reason, /throws failed: cannot read part 3/);
    assert.match(bySymbol.get('GUARD_ERROR_REJECTS')!.reason, /rejects failed: bad state/);
    assert.match(bySymbol.get('GUARD_ERROR_GARBAGE')!.reason, /X without a finite score/);
    assert.match(bySymbol.get('GUARD_ERROR_NOT_A_LIST')!.reason, /string instead of a list of findings/);
    assert.ok(!bySymbol.has('X'));
    assert.equal(verdict.action, 'quarantine');
  });

  test('what a failed check yields is the tenant policy: flag, or reject, with its score', async () => {
    const throwing: GuardCheck = { name: 'broken', phase: 'message', run: () => { throw new Error('boom'); } };
    const flagged = await createGuardRunner({
      checks: [throwing],
      policyFor: () => resolveGuardPolicy({ onCheckFailure: { action: 'flag', score: 2 } }),
    })(guardInput(plainText()));
    assert.equal(flagged.action, 'flag');
    assert.equal(flagged.score, 2);
    const rejected = await createGuardRunner({
      checks: [throwing],
      policyFor: () => resolveGuardPolicy({ onCheckFailure: { action: 'reject' } }),
    })(guardInput(plainText()));
    assert.equal(rejected.action, 'reject');
  });

  test('a check sees at most its byte budget of the message, and the verdict says it was truncated', async () => {
    const seen: Array<{ raw: number; body: number; truncated: boolean; total: number; fields: number }> = [];
    const measuring: GuardCheck = {
      name: 'measuring',
      phase: 'message',
      budget: { bytes: 4096 },
      run: (context) => {
        seen.push({ raw: context.raw.length, body: context.header.body.length, truncated: context.truncated, total: context.totalBytes, fields: context.header.fields.length });
        return [];
      },
    };
    const input = guardInput(withAttachments(1, 20_000));
    const verdict = await createGuardRunner({ checks: [measuring], policyFor: defaults })(input);
    const [view] = seen;
    assert.equal(view!.raw, 4096);
    assert.equal(view!.truncated, true);
    assert.equal(view!.total, input.raw.length);
    assert.equal(view!.fields, input.header.fields.length, 'header fields are always whole');
    assert.equal(view!.body, 4096 - (input.raw.length - input.header.body.length));
    const truncated = verdict.findings.find((f) => f.symbol === 'GUARD_TRUNCATED_MEASURING');
    assert.ok(truncated);
    assert.match(truncated.reason, new RegExp(`read the first 4096 of the message's ${input.raw.length} bytes`));
    assert.equal(truncated.score, 0);
    assert.equal(verdict.action, 'deliver');

    seen.length = 0;
    await createGuardRunner({ checks: [measuring], policyFor: defaults, budgets: { bytes: 10 } })(guardInput(plainText()));
    assert.equal(seen[0]!.truncated, false, "a check's own budget beats the runner's default");
    assert.equal(seen[0]!.raw, Buffer.byteLength(plainText()));
  });

  test('scores add up and the thresholds pick deliver, flag, quarantine or reject', () => {
    const policy = DEFAULT_GUARD_POLICY;
    assert.deepEqual(decide([], policy), { action: 'deliver', score: 0, findings: [] });
    assert.equal(decide([finding('A', 2), finding('B', 2.9)], policy).action, 'deliver');
    assert.equal(decide([finding('A', 2), finding('B', 3)], policy).action, 'flag');
    assert.equal(decide([finding('A', 4), finding('B', 6)], policy).action, 'flag');
    const blocked = decide([finding('A', 10), finding('B', 5)], policy);
    assert.equal(blocked.action, 'quarantine', 'a blocked message is quarantined by default');
    assert.equal(blocked.score, 15);
    const rejecting = resolveGuardPolicy({ onBlock: 'reject' });
    assert.equal(decide([finding('A', 10), finding('B', 5)], rejecting).action, 'reject');
    const quarantining = resolveGuardPolicy({ onFlag: { quarantine: true } });
    assert.equal(decide([finding('A', 6)], quarantining).action, 'quarantine', 'a policy may quarantine instead of marking');
    assert.equal(decide([finding('A', 0.1), finding('B', 0.2)], policy).score, 0.3);
    assert.equal(decide([finding('A', 20), finding('WELCOME', -11)], policy).action, 'flag', 'negative scores count too');
  });

  test('a forced action wins over a lower score, and the strongest forced action wins', () => {
    const policy = DEFAULT_GUARD_POLICY;
    assert.equal(decide([finding('VIRUS', 0, 'reject')], policy).action, 'reject');
    assert.equal(decide([finding('A', 1, 'flag'), finding('B', 0, 'quarantine')], policy).action, 'quarantine');
    assert.equal(decide([finding('A', 0, 'quarantine'), finding('B', 0, 'reject'), finding('C', 0, 'flag')], policy).action, 'reject');
    assert.equal(decide([finding('A', 16, 'flag')], policy).action, 'quarantine', 'a weak forced action does not lower a high score');
  });

  test("the tenant's thresholds, per-symbol scores and disabled checks apply", async () => {
    const policy: GuardPolicy = resolveGuardPolicy({
      thresholds: { flag: 2, block: 3 },
      scores: { REPLYTO_DOMAIN_DIFFERS: 2.5 },
      disabledChecks: ['message-structure'],
    });
    const decided = decide([finding('REPLYTO_DOMAIN_DIFFERS', 4)], policy);
    assert.equal(decided.score, 2.5);
    assert.equal(decided.findings[0]!.score, 2.5, 'the finding shows the score that counted');
    assert.equal(decided.action, 'flag');
    let structureRan = false;
    const structure: GuardCheck = { name: 'message-structure', phase: 'message', run: () => { structureRan = true; return [finding('MIME_TOO_MANY_PARTS', 50)]; } };
    const verdict = await createGuardRunner({ checks: [structure, fixed('other', [finding('OTHER', 3)])], policyFor: () => policy })(guardInput(plainText()));
    assert.equal(structureRan, false);
    assert.deepEqual(verdict.findings.map((f) => f.symbol), ['OTHER']);
    assert.equal(verdict.action, 'quarantine');
  });

  test('checks read inbound mail only unless they say otherwise', async () => {
    const inboundOnly = fixed('inbound-only', [finding('IN', 6)]);
    const both: GuardCheck = { ...fixed('both', [finding('BOTH', 1)]), directions: ['inbound', 'outbound'] };
    const run = createGuardRunner({ checks: [inboundOnly, both], policyFor: defaults });
    const outbound = await run(guardInput(plainText(), { direction: 'outbound' }));
    assert.deepEqual(outbound.findings.map((f) => f.symbol), ['BOTH']);
    assert.equal(outbound.action, 'deliver');
    assert.equal((await run(guardInput(plainText()))).action, 'flag');
  });

  test('a policy that cannot be read falls back to the defaults and says so, quarantining the message', async () => {
    const run = createGuardRunner({ checks: [], policyFor: () => { throw new Error('no tenant t-9'); } });
    const verdict = await run(guardInput(plainText()));
    assert.equal(verdict.action, 'quarantine');
    assert.match(verdict.findings[0]!.reason, /could not be read \(no tenant t-9\)/);
    assert.equal(verdict.findings[0]!.symbol, 'GUARD_POLICY_UNAVAILABLE');
  });

  test('per-check durations and verdicts are recorded as metrics', async () => {
    const registry = new Registry();
    const throwing: GuardCheck = { name: 'broken', phase: 'message', run: () => { throw new Error('x'); } };
    const run = createGuardRunner({ checks: [fixed('fine', []), throwing], policyFor: defaults, metrics: registry });
    await run(guardInput(plainText()));
    // A second runner on the same registry shares the series instead of failing to register.
    await createGuardRunner({ checks: [fixed('fine', [])], policyFor: defaults, metrics: registry })(guardInput(plainText()));
    const text = await registry.metrics();
    assert.match(text, /sealpost_guard_check_seconds_count\{check="fine",outcome="ok"\} 2/);
    assert.match(text, /sealpost_guard_check_seconds_count\{check="broken",outcome="error"\} 1/);
    assert.match(text, /sealpost_guard_verdicts_total\{action="quarantine"\} 1/);
    assert.match(text, /sealpost_guard_verdicts_total\{action="deliver"\} 1/);
  });

  test('two checks with one name are refused when the runner is made', () => {
    assert.throws(() => createGuardRunner({ checks: [fixed('same', []), fixed('same', [])], policyFor: defaults }), /two guard checks are named same/);
  });

  describe('disarm steps', () => {
    const stamp = (name: string, text: string): GuardCheck => ({
      name,
      phase: 'message',
      run: () => [],
      disarm: (context) => ({
        raw: Buffer.concat([context.raw, Buffer.from(`${text}\r\n`)]),
        changes: [{ symbol: `${name.toUpperCase()}_DONE`, reason: `${name} added a line` }],
      }),
    });

    test('steps run one after another on what the previous left, and the verdict carries the message and every change', async () => {
      const verdict = await createGuardRunner({ checks: [stamp('first', 'one'), stamp('second', 'two')], policyFor: defaults })(guardInput(plainText()));
      assert.equal(verdict.action, 'deliver');
      assert.ok(verdict.disarmed, 'the message was changed');
      assert.match(verdict.disarmed.raw.toString(), /one\r\ntwo\r\n$/);
      assert.deepEqual(
        verdict.disarmed.changes.map((c) => [c.check, c.symbol]),
        [
          ['first', 'FIRST_DONE'],
          ['second', 'SECOND_DONE'],
        ],
      );
    });

    test('a step that throws or overruns quarantines the message instead of delivering it half-changed', async () => {
      const broken: GuardCheck = { name: 'broken', phase: 'message', run: () => [], disarm: () => { throw new Error('the archive is unreadable'); } };
      const verdict = await createGuardRunner({ checks: [stamp('first', 'one'), broken], policyFor: defaults })(guardInput(plainText()));
      assert.equal(verdict.action, 'quarantine');
      assert.equal(verdict.disarmed, undefined, 'nothing is delivered, so no disarmed copy');
      const failure = verdict.findings.find((f) => f.symbol === 'GUARD_ERROR_BROKEN_DISARM');
      assert.match(failure?.reason ?? '', /broken could not disarm the message: the archive is unreadable/);

      const slow: GuardCheck = { name: 'slow', phase: 'message', disarmBudgetMs: 20, run: () => [], disarm: () => new Promise(() => undefined) };
      const late = await createGuardRunner({ checks: [slow], policyFor: defaults })(guardInput(plainText()));
      assert.equal(late.action, 'quarantine');
      assert.ok(late.findings.some((f) => f.symbol === 'GUARD_TIMEOUT_SLOW_DISARM'), JSON.stringify(late.findings));
    });

    test('a step that returns a message without saying what changed, or one whose header is unreadable, is a failure', async () => {
      const silent: GuardCheck = { name: 'silent', phase: 'message', run: () => [], disarm: (c) => ({ raw: c.raw, changes: [] }) };
      const garbled: GuardCheck = {
        name: 'garbled',
        phase: 'message',
        run: () => [],
        disarm: () => ({ raw: Buffer.alloc(300_000, 0x41), changes: [{ symbol: 'X', reason: 'x' }] }),
      };
      for (const check of [silent, garbled]) {
        const verdict = await createGuardRunner({ checks: [check], policyFor: defaults })(guardInput(plainText()));
        assert.equal(verdict.action, 'quarantine', check.name);
        assert.ok(verdict.findings.some((f) => f.symbol === `GUARD_ERROR_${check.name.toUpperCase()}_DISARM`), JSON.stringify(verdict.findings));
      }
    });

    test("a step's findings are scored with the rest, and a verdict that becomes a block delivers nothing", async () => {
      const blocking: GuardCheck = {
        name: 'blocking',
        phase: 'message',
        run: () => [],
        disarm: () => ({ findings: [finding('SANITISE_FAILED', 1, 'reject')] }),
      };
      const verdict = await createGuardRunner({ checks: [stamp('first', 'one'), blocking], policyFor: defaults })(guardInput(plainText()));
      assert.equal(verdict.action, 'reject');
      assert.equal(verdict.disarmed, undefined);
      assert.ok(verdict.findings.some((f) => f.symbol === 'SANITISE_FAILED' && f.check === 'blocking'));
    });

    test('steps do not run for a blocked message, nor when the caller only scores (simulation over past mail)', async () => {
      let ran = 0;
      const counting: GuardCheck = { name: 'counting', phase: 'message', run: () => [finding('BAD', 100)], disarm: () => { ran += 1; return undefined; } };
      const run = createGuardRunner({ checks: [counting], policyFor: defaults });
      assert.equal((await run(guardInput(plainText()))).action, 'quarantine');
      const onlyScored = await createGuardRunner({ checks: [stamp('first', 'one')], policyFor: defaults })(guardInput(plainText()), { disarm: false });
      assert.equal(onlyScored.disarmed, undefined);
      assert.equal(ran, 0);
    });
  });
});
