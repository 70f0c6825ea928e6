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
import { splitMessage } from '../mail/header-block.ts';
import { symbolSuffix } from '../smtp/smtp-hooks.ts';
import {
  ACTION_STRENGTH,
  strongestAction,
  type GuardAction,
  type GuardCheck,
  type GuardCheckContext,
  type GuardChange,
  type GuardDisarmResult,
  type GuardFacts,
  type GuardFinding,
  type GuardHeader,
  type GuardInput,
  type GuardRunner,
  type GuardVerdict,
  GUARD_HEADER_NAMES,
} from './contract.ts';
import { DEFAULT_GUARD_POLICY, type GuardModuleSettings, type GuardPolicy } from './policy.ts';

export interface GuardBudgets {
  /** Milliseconds a check may take unless it names its own budget. */
  ms: number;
  /** Bytes of the message a check may read unless it names its own budget. */
  bytes: number;
  /** Milliseconds a disarm step may take unless it names its own. */
  disarmMs: number;
}

/** Generous for checks that read a message in memory; a check that needs longer says so in its budget. */
/** Time a disarm step may take unless it names its own: it rewrites a whole message (a 25 MB one included). */
export const DEFAULT_DISARM_MS = 2000;

export const DEFAULT_GUARD_BUDGETS: GuardBudgets = { ms: 250, bytes: 16 * 1024 * 1024, disarmMs: DEFAULT_DISARM_MS };

export interface GuardRunnerOptions {
  checks: readonly GuardCheck[];
  /** The policy for a message: the tenant's policy its routing rules pick. */
  policyFor: (input: GuardInput) => GuardPolicy | Promise<GuardPolicy>;
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

  const runCheck = async (check: GuardCheck, input: GuardInput, policy: GuardPolicy): Promise<CheckAnswer> => {
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
    let headers: GuardHeader[] = [];
    let facts: GuardFacts = {};
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
        const answer = Array.isArray(result) ? { findings: result as unknown } : (result as { findings?: unknown; headers?: unknown; facts?: unknown } | null);
        const problem = answer && typeof answer === 'object' ? invalidFindings(answer.findings) ?? invalidHeaders(answer.headers) : `${typeof result} instead of a list of findings`;
        if (problem) throw new Error(`returned ${problem}`);
        findings.push(...(answer!.findings as GuardFinding[]));
        headers = (answer!.headers as GuardHeader[] | undefined) ?? [];
        facts = (answer!.facts as GuardFacts | undefined) ?? {};
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
    return { findings: applyModule(findings.map((f) => ({ ...f, check: check.name })), moduleSettings(check, policy)), headers, facts };
  };

  return async (input: GuardInput, runOptions = {}): Promise<GuardVerdict> => {
    const extra: GuardFinding[] = [...(input.smtpFindings ?? [])];
    let policy: GuardPolicy;
    try {
      policy = runOptions.policy ?? (await options.policyFor(input));
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
      (check) =>
        !policy.disabledChecks.has(check.name) &&
        moduleSettings(check, policy)?.enabled !== false &&
        (check.directions ?? ['inbound']).includes(input.direction),
    );
    const stored = runOptions.storedFindings;
    const perCheck = await Promise.all(
      active.map((check): CheckAnswer | Promise<CheckAnswer> =>
        stored && check.replayable === false
          ? { findings: applyModule(stored.filter((f) => f.check === check.name).map(withoutPolicyScore), moduleSettings(check, policy)), headers: [], facts: {} }
          : runCheck(check, input, policy),
      ),
    );
    const found = [...extra, ...perCheck.flatMap((answer) => answer.findings)];
    let verdict = decide(found, policy);
    let disarmed: GuardVerdict['disarmed'];
    const disarmers = active.filter((check) => check.disarm);
    if (runOptions.disarm !== false && disarmers.length > 0 && (verdict.action === 'deliver' || verdict.action === 'flag')) {
      const outcome = await runDisarmSteps(disarmers, input, policy, verdict);
      if (outcome.findings.length > 0) verdict = decide([...found, ...outcome.findings], policy);
      if (outcome.changes.length > 0 && (verdict.action === 'deliver' || verdict.action === 'flag')) {
        disarmed = { raw: outcome.raw, changes: outcome.changes };
      }
    }
    const headers = perCheck.flatMap((answer) => answer.headers);
    const facts = Object.assign({}, ...perCheck.map((answer) => answer.facts)) as GuardFacts;
    metrics?.verdicts.inc({ action: verdict.action });
    return {
      ...verdict,
      policy: { ...(policy.id ? { id: policy.id } : {}), name: policy.name },
      appliedPolicy: policy,
      ...(headers.length ? { headers } : {}),
      ...(Object.keys(facts).length ? { facts } : {}),
      ...(disarmed ? { disarmed } : {}),
    };
  };

  /**
   * The disarm steps, one after another, each on what the previous left. A step that throws or overruns
   * is a check failure scored by the policy (quarantine by default): a message is never delivered with a
   * step half-done, and the changes of the steps before it stand only if the verdict still delivers.
   */
  async function runDisarmSteps(
    steps: readonly GuardCheck[],
    input: GuardInput,
    policy: GuardPolicy,
    verdict: GuardVerdict,
  ): Promise<{ raw: Buffer; changes: GuardChange[]; findings: GuardFinding[] }> {
    let raw = input.raw;
    let header = input.header;
    const changes: GuardChange[] = [];
    const findings: GuardFinding[] = [];
    for (const step of steps) {
      const suffix = `${symbolSuffix(step.name)}_DISARM`;
      const budgetMs = step.disarmBudgetMs ?? budgets.disarmMs;
      const failure = (kind: 'TIMEOUT' | 'ERROR', reason: string): GuardFinding => ({
        symbol: `GUARD_${kind}_${suffix}`,
        score: policy.onCheckFailure.score,
        reason,
        action: policy.onCheckFailure.action,
        check: step.name,
      });
      const { truncated: _t, totalBytes: _b, ...base } = boundedContext({ ...input, raw, header }, policy, Number.POSITIVE_INFINITY);
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const started = performance.now();
      try {
        const work = Promise.resolve().then(() =>
          step.disarm!({ ...base, action: verdict.action as 'deliver' | 'flag', findings: verdict.findings }, controller.signal),
        );
        const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
          timer = setTimeout(() => resolve(TIMED_OUT), budgetMs);
        });
        const result = await Promise.race([work, timeout]);
        if (result === TIMED_OUT || performance.now() - started > budgetMs) {
          controller.abort(new Error(`${step.name} ran out of its ${budgetMs} ms to disarm`));
          work.catch(() => undefined);
          findings.push(failure('TIMEOUT', `${step.name} did not finish disarming the message within ${budgetMs} ms`));
          logger?.warn({ messageId: input.messageId, check: step.name, budgetMs }, 'guard disarm step overran its time');
          continue;
        }
        const problem = invalidDisarmResult(result);
        if (problem) throw new Error(`returned ${problem}`);
        const answer = result ?? {};
        findings.push(...applyModule((answer.findings ?? []).map((f) => ({ ...f, check: step.name })), moduleSettings(step, policy)));
        if (answer.raw && (answer.changes?.length ?? 0) > 0) {
          // A step must leave a message whose header can be read: otherwise its change is a failure.
          const split = splitMessage(answer.raw);
          if (split.outcome !== 'split') throw new Error('returned a message whose header cannot be read');
          raw = answer.raw;
          header = { fields: split.fields, body: split.body };
          changes.push(...answer.changes!.map((c) => ({ ...c, check: step.name })));
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        findings.push(failure('ERROR', `${step.name} could not disarm the message: ${oneLine(message)}`));
        logger?.warn({ err: error, messageId: input.messageId, check: step.name }, 'guard disarm step failed');
      } finally {
        clearTimeout(timer);
      }
      metrics?.checkSeconds.observe({ check: `${step.name}:disarm`, outcome: 'ok' }, (performance.now() - started) / 1000);
    }
    return { raw, changes, findings };
  }
}

/** Why a disarm step's answer cannot be used, or undefined when it can. */
function invalidDisarmResult(result: unknown): string | undefined {
  if (result === undefined) return undefined;
  if (!result || typeof result !== 'object') return `${typeof result} instead of a disarmed message`;
  const { raw, changes, findings } = result as GuardDisarmResult;
  if (raw !== undefined && !Buffer.isBuffer(raw)) return 'a message that is not bytes';
  if (raw !== undefined && (!Array.isArray(changes) || changes.length === 0)) return 'a changed message without saying what changed';
  if (changes !== undefined) {
    if (!Array.isArray(changes)) return 'changes that are not a list';
    for (const change of changes as unknown[]) {
      const { symbol, reason } = (change ?? {}) as Record<string, unknown>;
      if (typeof symbol !== 'string' || symbol.length === 0 || typeof reason !== 'string') return 'a change without a symbol and reason';
    }
  }
  return findings === undefined ? undefined : invalidFindings(findings);
}

interface CheckAnswer {
  findings: GuardFinding[];
  headers: GuardHeader[];
  facts: GuardFacts;
}

function moduleSettings(check: GuardCheck, policy: GuardPolicy): GuardModuleSettings | undefined {
  return check.module ? policy.modules[check.module] : undefined;
}

/**
 * A module's scoreDelta replaces the score of each of its findings that counts against the message
 * (positive), and its action (quarantine, reject) is forced by each of them. Findings that speak for the
 * message (negative) and notes (zero) are left as the check made them.
 */
function applyModule(findings: GuardFinding[], module: GuardModuleSettings | undefined): GuardFinding[] {
  if (!module || (module.scoreDelta === undefined && module.action === 'score')) return findings;
  return findings.map((finding) => {
    if (finding.score <= 0 || finding.symbol.startsWith('GUARD_')) return finding;
    const forced = module.action === 'score' ? finding.action : strongestAction(finding.action ?? 'deliver', module.action);
    const score = module.scoreDelta ?? finding.score;
    return {
      ...finding,
      score,
      ...(score !== finding.score ? { baseScore: finding.baseScore ?? finding.score } : {}),
      ...(forced && forced !== 'deliver' ? { action: forced } : {}),
    };
  });
}

/** A stored finding carries the score its policy gave it; the check's own is kept in baseScore. */
function withoutPolicyScore(finding: GuardFinding): GuardFinding {
  const { baseScore, ...rest } = finding;
  return baseScore === undefined ? rest : { ...rest, score: baseScore };
}

/**
 * Scores by policy (per-symbol overrides), the sum, then the strongest of the forced actions and the
 * thresholds': at the block threshold the policy's block action (quarantine or reject), at the flag
 * threshold a flag (or quarantine, when the policy quarantines instead of marking).
 */
export function decide(found: readonly GuardFinding[], policy: GuardPolicy): GuardVerdict {
  let score = 0;
  let forced: GuardAction = 'deliver';
  const findings = found.map((finding) => {
    const override = policy.scores[finding.symbol];
    const scored =
      override === undefined || override === finding.score ? finding : { ...finding, score: override, baseScore: finding.baseScore ?? finding.score };
    score += scored.score;
    if (scored.action) forced = strongestAction(forced, scored.action);
    return scored;
  });
  const { flag, block } = policy.thresholds;
  const byScore: GuardAction = score >= block ? policy.onBlock : score >= flag ? (policy.onFlag.quarantine ? 'quarantine' : 'flag') : 'deliver';
  const action = strongestAction(forced, byScore);
  // Rounded so that 0.1 + 0.2 reads as 0.3 in a trace.
  return {
    action,
    score: Math.round(score * 1000) / 1000,
    findings,
    ...(action !== byScore ? { forced: true } : {}),
  };
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
    helo: input.helo,
    tenant: input.tenant,
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

const HEADER_NAMES = new Set<string>(GUARD_HEADER_NAMES);

function invalidHeaders(headers: unknown): string | undefined {
  if (headers === undefined) return undefined;
  if (!Array.isArray(headers)) return 'headers that are not a list';
  for (const header of headers as unknown[]) {
    const { name, value } = (header ?? {}) as Record<string, unknown>;
    if (typeof name !== 'string' || !HEADER_NAMES.has(name)) return `a header the checks may not add (${String(name).slice(0, 40)})`;
    if (typeof value !== 'string' || /[\r\n\x00]/.test(value) || value.length > 8000) return `an invalid ${name} value`;
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
