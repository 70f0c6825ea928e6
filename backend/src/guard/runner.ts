/**
 * The guard runner: runs every check on one message within its time and byte budget, sums the scores
 * by the tenant's policy and picks one verdict. It never throws and never lets a failure pass silently:
 * - a check that overruns its time yields GUARD_TIMEOUT_<CHECK>, one that throws (or returns something
 *   that is not a list of findings) GUARD_ERROR_<CHECK>; both carry the policy's onCheckFailure score and
 *   forced action (quarantine by default, see policy.ts);
 * - a check that reads only the first bytes of a large message yields GUARD_TRUNCATED_<CHECK> (score 0),
 *   so the verdict says what was not read;
 * - the action is the strongest of the forced actions and of the score's threshold
 *   (reject > quarantine > flag > deliver).
 *
 * Time budgets stop waiting for asynchronous checks. A synchronous check cannot be interrupted inside
 * one process; when it returns after its budget its findings are kept and GUARD_TIMEOUT_<CHECK> is added,
 * so an overrun is never silent. Checks run concurrently; synchronous ones one after another.
 */
import { Histogram, Counter, type Registry } from 'prom-client';
import type { Logger } from '../logger.ts';
import { symbolSuffix } from '../smtp/smtp-hooks.ts';
import {
  ACTION_STRENGTH,
  strongestAction,
  type GuardAction,
  type GuardCheck,
  type GuardCheckContext,
  type GuardFinding,
  type GuardInput,
  type GuardRunner,
  type GuardVerdict,
} from './contract.ts';
import { DEFAULT_GUARD_POLICY, type GuardPolicy } from './policy.ts';

export interface GuardBudgets {
  /** Milliseconds a check may take unless it names its own budget. */
  ms: number;
  /** Bytes of the message a check may read unless it names its own budget. */
  bytes: number;
}

/** Generous for checks that read a message in memory; a check that needs longer says so in its budget. */
export const DEFAULT_GUARD_BUDGETS: GuardBudgets = { ms: 250, bytes: 16 * 1024 * 1024 };

export interface GuardRunnerOptions {
  checks: readonly GuardCheck[];
  policyFor: (tenantId: string) => GuardPolicy;
  budgets?: Partial<GuardBudgets>;
  logger?: Logger;
  /** Per-check durations and verdicts are recorded in this registry (sealpost_guard_*). */
  metrics?: Registry;
}

type CheckOutcome = 'ok' | 'timeout' | 'error';

const TIMED_OUT = Symbol('timed out');

export function createGuardRunner(options: GuardRunnerOptions): GuardRunner {
  const names = new Set<string>();
  for (const check of options.checks) {
    if (names.has(check.name)) throw new Error(`two guard checks are named ${check.name}`);
    names.add(check.name);
  }
  const budgets: GuardBudgets = { ...DEFAULT_GUARD_BUDGETS, ...options.budgets };
  const metrics = options.metrics ? guardMetrics(options.metrics) : undefined;
  const logger = options.logger;

  const runCheck = async (check: GuardCheck, input: GuardInput, policy: GuardPolicy): Promise<GuardFinding[]> => {
    const suffix = symbolSuffix(check.name);
    const budgetMs = check.budget?.ms ?? budgets.ms;
    const budgetBytes = check.budget?.bytes ?? budgets.bytes;
    const context = boundedContext(input, policy, budgetBytes);
    const failure = (kind: 'TIMEOUT' | 'ERROR', reason: string): GuardFinding => ({
      symbol: `GUARD_${kind}_${suffix}`,
      score: policy.onCheckFailure.score,
      reason,
      action: policy.onCheckFailure.action,
    });
    const findings: GuardFinding[] = [];
    if (context.truncated) {
      findings.push({
        symbol: `GUARD_TRUNCATED_${suffix}`,
        score: 0,
        reason: `${check.name} read the first ${budgetBytes} of the message's ${context.totalBytes} bytes`,
      });
    }
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let outcome: CheckOutcome = 'ok';
    const started = performance.now();
    try {
      const work = Promise.resolve().then(() => check.run(context, controller.signal));
      const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMED_OUT), budgetMs);
      });
      const result = await Promise.race([work, timeout]);
      const elapsed = performance.now() - started;
      if (result === TIMED_OUT) {
        controller.abort(new Error(`${check.name} ran out of its ${budgetMs} ms`));
        work.catch(() => undefined);
        outcome = 'timeout';
        findings.push(failure('TIMEOUT', `${check.name} did not finish within ${budgetMs} ms; the message was not fully checked`));
      } else {
        const problem = invalidFindings(result);
        if (problem) throw new Error(`returned ${problem}`);
        findings.push(...(result as GuardFinding[]));
        if (elapsed > budgetMs) {
          outcome = 'timeout';
          findings.push(failure('TIMEOUT', `${check.name} took ${Math.round(elapsed)} ms, more than its ${budgetMs} ms`));
        }
      }
    } catch (error) {
      outcome = 'error';
      const message = error instanceof Error ? error.message : String(error);
      findings.push(failure('ERROR', `${check.name} failed: ${oneLine(message)}; the message was not fully checked`));
      logger?.warn({ err: error, messageId: input.messageId, check: check.name }, 'guard check failed');
    } finally {
      clearTimeout(timer);
    }
    if (outcome === 'timeout') logger?.warn({ messageId: input.messageId, check: check.name, budgetMs }, 'guard check overran its time');
    metrics?.checkSeconds.observe({ check: check.name, outcome }, (performance.now() - started) / 1000);
    return findings;
  };

  return async (input: GuardInput): Promise<GuardVerdict> => {
    const extra: GuardFinding[] = [];
    let policy: GuardPolicy;
    try {
      policy = options.policyFor(input.tenantId);
    } catch (error) {
      policy = DEFAULT_GUARD_POLICY;
      logger?.error({ err: error, messageId: input.messageId, tenantId: input.tenantId }, 'guard policy unavailable; defaults apply');
      extra.push({
        symbol: 'GUARD_POLICY_UNAVAILABLE',
        score: policy.onCheckFailure.score,
        reason: `the tenant's guard policy could not be read (${oneLine(error instanceof Error ? error.message : String(error))}); defaults applied`,
        action: policy.onCheckFailure.action,
      });
    }
    const active = options.checks.filter(
      (check) => !policy.disabledChecks.has(check.name) && (check.directions ?? ['inbound']).includes(input.direction),
    );
    const perCheck = await Promise.all(active.map((check) => runCheck(check, input, policy)));
    const verdict = decide([...extra, ...perCheck.flat()], policy);
    metrics?.verdicts.inc({ action: verdict.action });
    return verdict;
  };
}

/** Scores by policy (per-symbol overrides), the sum, then the strongest of forced and threshold actions. */
export function decide(found: readonly GuardFinding[], policy: GuardPolicy): GuardVerdict {
  let score = 0;
  let forced: GuardAction = 'deliver';
  const findings = found.map((finding) => {
    const override = policy.scores[finding.symbol];
    const scored = override === undefined ? finding : { ...finding, score: override };
    score += scored.score;
    if (scored.action) forced = strongestAction(forced, scored.action);
    return scored;
  });
  const { flag, quarantine, reject } = policy.thresholds;
  const byScore: GuardAction = score >= reject ? 'reject' : score >= quarantine ? 'quarantine' : score >= flag ? 'flag' : 'deliver';
  // Rounded so that 0.1 + 0.2 reads as 0.3 in a trace.
  return { action: strongestAction(forced, byScore), score: Math.round(score * 1000) / 1000, findings };
}

function boundedContext(input: GuardInput, policy: GuardPolicy, budgetBytes: number): GuardCheckContext {
  const totalBytes = input.raw.length;
  const truncated = totalBytes > budgetBytes;
  const headerBytes = totalBytes - input.header.body.length;
  const bodyBytes = Math.max(0, budgetBytes - headerBytes);
  return {
    messageId: input.messageId,
    tenantId: input.tenantId,
    direction: input.direction,
    mailFrom: input.mailFrom,
    recipients: input.recipients,
    remoteAddress: input.remoteAddress,
    raw: truncated ? input.raw.subarray(0, budgetBytes) : input.raw,
    header: truncated ? { fields: input.header.fields, body: input.header.body.subarray(0, bodyBytes) } : input.header,
    truncated,
    totalBytes,
    policy,
  };
}

const ACTIONS = new Set(Object.keys(ACTION_STRENGTH));

/** Why a check's answer is not a list of findings, or undefined when it is. */
function invalidFindings(result: unknown): string | undefined {
  if (!Array.isArray(result)) return `${typeof result} instead of a list of findings`;
  for (const finding of result as unknown[]) {
    if (!finding || typeof finding !== 'object') return 'a finding that is not an object';
    const { symbol, score, reason, action } = finding as Record<string, unknown>;
    if (typeof symbol !== 'string' || symbol.length === 0 || symbol.length > 100) return 'a finding without a symbol';
    if (typeof score !== 'number' || !Number.isFinite(score)) return `${symbol} without a finite score`;
    if (typeof reason !== 'string') return `${symbol} without a reason`;
    if (action !== undefined && (typeof action !== 'string' || !ACTIONS.has(action) || action === 'deliver')) {
      return `${symbol} with the unknown action ${String(action)}`;
    }
  }
  return undefined;
}

function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim().slice(0, 300);
}

interface GuardMetrics {
  checkSeconds: Histogram<'check' | 'outcome'>;
  verdicts: Counter<'action'>;
}

/** Registered once per registry: several runners in one process (tests) share the same series. */
function guardMetrics(registry: Registry): GuardMetrics {
  const existing = registry.getSingleMetric('sealpost_guard_check_seconds') as Histogram<'check' | 'outcome'> | undefined;
  const existingVerdicts = registry.getSingleMetric('sealpost_guard_verdicts_total') as Counter<'action'> | undefined;
  return {
    checkSeconds:
      existing ??
      new Histogram({
        name: 'sealpost_guard_check_seconds',
        help: 'Time one guard check took on one message, by check and outcome (ok, timeout, error)',
        labelNames: ['check', 'outcome'],
        buckets: [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1],
        registers: [registry],
      }),
    verdicts:
      existingVerdicts ??
      new Counter({
        name: 'sealpost_guard_verdicts_total',
        help: 'Guard verdicts by action (deliver, flag, quarantine, reject)',
        labelNames: ['action'],
        registers: [registry],
      }),
  };
}
