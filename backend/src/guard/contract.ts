/**
 * The guard contract (Rspamd-style): a check reads one message and returns named findings — a symbol,
 * a score, a reason a person can read and, when the finding alone must decide, a forced action. The
 * runner (runner.ts) gives each check a time and byte budget, sums the scores by the tenant's policy and
 * picks one verdict. A check is one file under checks/ and knows nothing of the others.
 *
 * The SMTP-time hooks (connect, MAIL, RCPT, end of DATA) are the other half: they run before the 250
 * and may refuse with a 4xx/5xx. Their contract lives with the SMTP listener (smtp/smtp-hooks.ts),
 * which sits below the guard, and is re-exported here so a check and its hook are written against one place.
 */
import type { SplitMessage } from '../mail/header-block.ts';
import type { SmtpHookFinding } from '../smtp/smtp-hooks.ts';
import type { GuardPolicy } from './policy.ts';

export type {
  SmtpDataEnd,
  SmtpHook,
  SmtpHookFinding,
  SmtpHookResult,
  SmtpHookSession,
  SmtpRefusal,
} from '../smtp/smtp-hooks.ts';

export type GuardAction = 'deliver' | 'flag' | 'quarantine' | 'reject';

export interface GuardFinding {
  symbol: string;
  score: number;
  reason: string;
  action?: Exclude<GuardAction, 'deliver'>;
}

export interface GuardVerdict {
  action: GuardAction;
  score: number;
  findings: GuardFinding[];
}

export interface GuardInput {
  messageId: string;
  tenantId: string;
  direction: 'inbound' | 'outbound';
  mailFrom: string;
  recipients: string[];
  remoteAddress?: string;
  raw: Buffer;
  /** splitMessage(raw) from mail/header-block.ts. */
  header: SplitMessage;
}

export type GuardRunner = (input: GuardInput) => Promise<GuardVerdict>;

/**
 * What a check receives: the input seen through its byte budget. `raw` and `header.body` hold at most
 * the budget's bytes (the header fields are always whole: they are bounded when the message is
 * received); `truncated` says whether the check sees less than the message, and the runner adds a
 * finding saying so. `policy` is the tenant's, with defaults filled in.
 */
export interface GuardCheckContext extends Omit<GuardInput, 'raw' | 'header'> {
  raw: Buffer;
  header: SplitMessage;
  truncated: boolean;
  totalBytes: number;
  policy: GuardPolicy;
}

export interface GuardCheckBudget {
  /** Milliseconds; past it the check's answer is ignored and GUARD_TIMEOUT_<CHECK> found instead. */
  ms?: number;
  /** Bytes of the message the check may read. */
  bytes?: number;
}

export interface GuardCheck {
  /** kebab-case, unique; the tenant file disables a check by this name. */
  name: string;
  phase: 'message';
  /** The directions it reads; inbound only unless it says otherwise. */
  directions?: ReadonlyArray<'inbound' | 'outbound'>;
  budget?: GuardCheckBudget;
  /** Must stop work when `signal` aborts (the time budget ran out); the runner has moved on by then. */
  run(context: GuardCheckContext, signal: AbortSignal): Promise<GuardFinding[]> | GuardFinding[];
}

/** Which action wins when several apply: the strongest. */
export const ACTION_STRENGTH: Record<GuardAction, number> = { deliver: 0, flag: 1, quarantine: 2, reject: 3 };

export function strongestAction(a: GuardAction, b: GuardAction): GuardAction {
  return ACTION_STRENGTH[b] > ACTION_STRENGTH[a] ? b : a;
}

/**
 * A finding made at SMTP time is carried into the stored message and must read as a guard finding, and
 * a guard finding must be one an SMTP hook can return: this type fails to compile when the two drift apart.
 */
type Assignable<From extends To, To> = From;
export type SmtpFindingsAreGuardFindings = [Assignable<SmtpHookFinding, GuardFinding>, Assignable<GuardFinding, SmtpHookFinding>];
