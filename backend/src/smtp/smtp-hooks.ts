/**
 * SMTP-time hooks (Haraka-style): code that sees a connection, its MAIL FROM, each RCPT TO and the
 * complete message before the gateway answers, and may refuse with a 4xx/5xx reply of its own. Refusing
 * before the 250 tells the real client; refusing later would mean bouncing to an envelope sender that
 * may well be forged.
 *
 * Hooks run for Internet clients only: a tenant's own connector is never refused by inbound checks. At
 * connect time the gateway knows connectors by address only, so a connector that signs in with SMTP AUTH
 * later passes the connect hooks like any Internet client (and none after signing in). Connector hooks are
 * a list of their own, run only for a tenant's connector (at RCPT and at the end of DATA): checks of the
 * tenant's outbound mail that can tell its sender before the 250, such as a full portal storage.
 *
 * A hook that throws or overruns its time is logged and leaves a finding on the message; it never
 * refuses and never crashes the connection, and the message goes on to the guard after the 250 like any other.
 */
import type { SplitMessage } from '../mail/header-block.ts';
import type { Logger } from '../logger.ts';

/** The same shape as a guard finding (guard/contract.ts), which this layer cannot import. */
export interface SmtpHookFinding {
  symbol: string;
  score: number;
  reason: string;
  action?: 'flag' | 'quarantine' | 'reject';
}

export interface SmtpRefusal {
  /** 4xx (try again later) or 5xx (permanent). */
  code: number;
  /** RFC 3463 enhanced status code whose class matches the code: 5.7.1 with 550, 4.7.1 with 450. */
  enhanced: string;
  message: string;
}

export type SmtpHookResult = undefined | void | { refuse: SmtpRefusal } | { findings: SmtpHookFinding[] };

/** What a hook may know about the conversation so far. */
export interface SmtpHookSession {
  id: string;
  remoteAddress: string;
  /** The name the client gave in HELO/EHLO, once it has. */
  helo?: string;
  tls: boolean;
  /** The envelope sender once MAIL FROM was accepted ('' for the null sender). */
  mailFrom?: string;
  /** Recipients accepted so far in this transaction. */
  recipients: readonly string[];
  /** The SIZE= the client declared in MAIL FROM (RFC 1870), when it did. */
  declaredSize?: number;
  /** The tenant whose connector is sending; only for connector hooks. */
  tenantId?: string;
}

export interface SmtpDataEnd {
  raw: Buffer;
  header: SplitMessage;
}

export interface SmtpHook {
  name: string;
  /** Milliseconds a hook may take before its answer is ignored (default: SMTP_HOOK_DEFAULT_MS). */
  budgetMs?: number;
  connect?(session: SmtpHookSession): SmtpHookResult | Promise<SmtpHookResult>;
  mailFrom?(session: SmtpHookSession, address: string): SmtpHookResult | Promise<SmtpHookResult>;
  rcptTo?(session: SmtpHookSession, address: string): SmtpHookResult | Promise<SmtpHookResult>;
  dataEnd?(session: SmtpHookSession, message: SmtpDataEnd): SmtpHookResult | Promise<SmtpHookResult>;
}

export type SmtpHookPhase = 'connect' | 'mailFrom' | 'rcptTo' | 'dataEnd';

export interface SmtpHookOutcome {
  refuse?: SmtpRefusal & { hook: string };
  findings: SmtpHookFinding[];
}

/** A client waits for each hook; a hook that needs longer is not worth keeping it waiting. */
export const SMTP_HOOK_DEFAULT_MS = 2000;

const TIMED_OUT = Symbol('timed out');

/** Runs the registered hooks of one phase in order; the first refusal ends the phase. */
export class SmtpHooks {
  constructor(
    private readonly hooks: readonly SmtpHook[],
    private readonly logger?: Logger,
  ) {}

  has(phase: SmtpHookPhase): boolean {
    return this.hooks.some((hook) => typeof hook[phase] === 'function');
  }

  async run(phase: 'connect', session: SmtpHookSession): Promise<SmtpHookOutcome>;
  async run(phase: 'mailFrom' | 'rcptTo', session: SmtpHookSession, address: string): Promise<SmtpHookOutcome>;
  async run(phase: 'dataEnd', session: SmtpHookSession, message: SmtpDataEnd): Promise<SmtpHookOutcome>;
  async run(phase: SmtpHookPhase, session: SmtpHookSession, argument?: string | SmtpDataEnd): Promise<SmtpHookOutcome> {
    const findings: SmtpHookFinding[] = [];
    for (const hook of this.hooks) {
      const handler = hook[phase] as ((s: SmtpHookSession, a?: unknown) => SmtpHookResult | Promise<SmtpHookResult>) | undefined;
      if (!handler) continue;
      const suffix = symbolSuffix(hook.name);
      const budgetMs = hook.budgetMs ?? SMTP_HOOK_DEFAULT_MS;
      let timer: NodeJS.Timeout | undefined;
      try {
        const answer = Promise.resolve().then(() => handler.call(hook, session, argument));
        const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
          timer = setTimeout(() => resolve(TIMED_OUT), budgetMs);
        });
        const result = await Promise.race([answer, timeout]);
        if (result === TIMED_OUT) {
          answer.catch(() => undefined);
          this.logger?.warn({ session: session.id, hook: hook.name, phase, budgetMs }, 'SMTP hook overran its time; its answer is ignored');
          findings.push({ symbol: `SMTP_HOOK_TIMEOUT_${suffix}`, score: 0, reason: `SMTP hook ${hook.name} (${phase}) took longer than ${budgetMs} ms` });
          continue;
        }
        if (!result) continue;
        if ('refuse' in result) {
          const problem = refusalProblem(result.refuse);
          if (problem) throw new Error(`refused with an invalid reply: ${problem}`);
          return { refuse: { ...result.refuse, message: oneLine(result.refuse.message), hook: hook.name }, findings };
        }
        if ('findings' in result && Array.isArray(result.findings)) findings.push(...result.findings);
      } catch (error) {
        this.logger?.warn({ err: error, session: session.id, hook: hook.name, phase }, 'SMTP hook failed; the message goes on to the guard');
        findings.push({
          symbol: `SMTP_HOOK_ERROR_${suffix}`,
          score: 0,
          reason: `SMTP hook ${hook.name} (${phase}) failed: ${oneLine(error instanceof Error ? error.message : String(error)).slice(0, 200)}`,
        });
      } finally {
        clearTimeout(timer);
      }
    }
    return { findings };
  }
}

/** "reply-to-domain" → "REPLY_TO_DOMAIN", for symbols named after a check or hook. */
export function symbolSuffix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_|_$/g, '') || 'UNNAMED';
}

function refusalProblem(refusal: SmtpRefusal): string | undefined {
  if (!Number.isInteger(refusal.code) || refusal.code < 400 || refusal.code > 599) return `code ${refusal.code} is not 4xx or 5xx`;
  const enhanced = /^([45])\.\d{1,3}\.\d{1,3}$/.exec(refusal.enhanced);
  if (!enhanced) return `enhanced code "${refusal.enhanced}" is not like 5.7.1`;
  if (enhanced[1] !== String(refusal.code)[0]) return `enhanced code ${refusal.enhanced} does not match ${refusal.code}`;
  if (typeof refusal.message !== 'string' || refusal.message.trim() === '') return 'the message is empty';
  return undefined;
}

/** A reply line must not break the SMTP conversation: no CR, LF or other control characters. */
function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim().slice(0, 400);
}
