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
import type { ClickLinks } from './click-links.ts';
import type { SmtpHookFinding } from '../smtp/smtp-hooks.ts';
import type { GuardPolicy } from './policy.ts';
import type { GuardModuleName } from '../guard-policy-settings.ts';

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
  /** The check that found it (set by the runner). */
  check?: string;
  /** The check's own score, when the policy replaced it (a module's scoreDelta, a per-symbol score). */
  baseScore?: number;
}

/** A header a check adds to the delivered message; only these names, so a check cannot rewrite the message. */
export const GUARD_HEADER_NAMES = ['Authentication-Results'] as const;
export interface GuardHeader {
  name: (typeof GUARD_HEADER_NAMES)[number];
  /** The field's value, unfolded; the stage folds it. */
  value: string;
}

/**
 * What the checks established about the message beyond its score, for the actions after the verdict
 * (a rejection notice goes only to a sender the authentication check verified).
 */
export interface GuardFacts {
  /** SPF passed for the envelope sender's domain, or DKIM passed for it, and DMARC did not fail. */
  senderVerified?: boolean;
  /** The DMARC result for the From domain (pass, fail, none, temperror, permerror). */
  dmarc?: string;
  /** The country of the connecting address, when a GeoIP database knows it. */
  country?: string;
}

export interface GuardVerdict {
  action: GuardAction;
  score: number;
  findings: GuardFinding[];
  /** The policy that decided (undefined only in verdicts stored before policies had names). */
  policy?: { id?: string; name: string };
  /** Headers the checks add to the delivered message. */
  headers?: GuardHeader[];
  facts?: GuardFacts;
  /**
   * The message as the checks' disarm steps left it (attachments removed, links rewritten), for a message
   * that is delivered or flagged; absent when no step changed it. The stage stores it encrypted and the
   * deliveries send it; `changes` says what was changed, for the trace and the recipient.
   */
  disarmed?: { raw: Buffer; changes: GuardChange[] };
  /** Whether an action was forced by a finding (a module's action, a check that failed) rather than by the sum. */
  forced?: boolean;
  /**
   * The whole policy that decided, for acting on the verdict (marking, notifications). Not stored with the
   * message: the stage keeps what it needs later.
   */
  appliedPolicy?: GuardPolicy;
}

/** What the tenant directory knows that checks may read: its domains and members. */
export interface GuardTenant {
  id: string;
  name: string;
  domains: readonly string[];
  members: ReadonlyArray<{ email: string; name?: string }>;
}

export interface GuardInput {
  messageId: string;
  tenantId: string;
  direction: 'inbound' | 'outbound';
  mailFrom: string;
  recipients: string[];
  remoteAddress?: string;
  /** The name the client gave in HELO/EHLO. */
  helo?: string;
  raw: Buffer;
  /** splitMessage(raw) from mail/header-block.ts. */
  header: SplitMessage;
  /** The tenant as the directory knows it (its domains and members); absent in some tests. */
  tenant?: GuardTenant;
  /** Findings made at SMTP time (before the 250), carried into the verdict. */
  smtpFindings?: readonly GuardFinding[];
}

/** One change a disarm step made to the delivered message: what, and why, in words a recipient can read. */
export interface GuardChange {
  /** The check that made it (set by the runner). */
  check?: string;
  symbol: string;
  reason: string;
}

/**
 * What a disarm step receives: the whole message as the previous steps left it (never truncated: what is
 * delivered must be whole), the verdict so far, and the policy.
 */
export interface GuardDisarmContext extends Omit<GuardCheckContext, 'truncated' | 'totalBytes'> {
  action: 'deliver' | 'flag';
  findings: readonly GuardFinding[];
}

/**
 * What a disarm step returns: the message with its changes (or no raw when it changed nothing), and
 * findings that count against the message when disarming failed or found more (a sanitiser that could not
 * clean an attachment and whose policy says block). New findings are scored with the rest; a verdict that
 * becomes quarantine or reject delivers nothing, disarmed or not.
 */
export interface GuardDisarmResult {
  raw?: Buffer;
  changes?: GuardChange[];
  findings?: GuardFinding[];
}

export interface GuardRunOptions {
  /** Whether the disarm steps run (default true); a simulation only scores. */
  disarm?: boolean;
  /** Decide under this policy instead of the one the tenant's routing rules pick (simulation). */
  policy?: GuardPolicy;
  /**
   * Findings stored with an earlier verdict: checks that are not replayable contribute these instead of
   * running again (simulation over past mail).
   */
  storedFindings?: readonly GuardFinding[];
}

export type GuardRunner = (input: GuardInput, options?: GuardRunOptions) => Promise<GuardVerdict>;

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

/** What a check returns: its findings, or its findings with headers and facts for the stage. */
export type GuardCheckResult = GuardFinding[] | { findings: GuardFinding[]; headers?: GuardHeader[]; facts?: GuardFacts };

export interface GuardCheck {
  /** kebab-case, unique; the tenant file disables a check by this name. */
  name: string;
  /**
   * The policy module the check belongs to: the module's switch turns it off, and the module's scoreDelta
   * and action apply to its findings with a positive score (the runner applies them; the check need not).
   */
  module?: GuardModuleName;
  /**
   * Whether a stored message may be checked again later with the same answer (policy simulation over past
   * mail). A check that asks the outside world (DNS) at the time of receipt is not: its stored findings are reused.
   */
  replayable?: boolean;
  phase: 'message';
  /** The directions it reads; inbound only unless it says otherwise. */
  directions?: ReadonlyArray<'inbound' | 'outbound'>;
  budget?: GuardCheckBudget;
  /**
   * Time for the disarm step (milliseconds, default the runner's disarm budget). A step that overruns is
   * a check failure (GUARD_TIMEOUT_<CHECK>_DISARM, the policy's onCheckFailure), never a message
   * delivered half-changed.
   */
  disarmBudgetMs?: number;
  /**
   * Changes the message that is let through (deliver or flag): removes what the check found dangerous,
   * rewrites what must be re-checked later. Steps run one after another in the order of the checks, each
   * on what the previous left.
   */
  disarm?(context: GuardDisarmContext, signal: AbortSignal): Promise<GuardDisarmResult | undefined> | GuardDisarmResult | undefined;
  /** Must stop work when `signal` aborts (the time budget ran out); the runner has moved on by then. */
  run(context: GuardCheckContext, signal: AbortSignal): Promise<GuardCheckResult> | GuardCheckResult;
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

/**
 * What checks may use from outside the message, given by the gateway (or a test) when it builds them:
 * the tenants, their policies, the operator's GeoIP database and the DNS sender authentication asks.
 */
export interface GuardServices {
  /** The gateway's host name: the authserv-id of Authentication-Results. */
  hostname: string;
  /** The tenant directory: which tenant an address belongs to, its domains and members. */
  directory: { tenantForAddress(address: string): { id: string } | undefined };
  /** The policy a message with this envelope gets (for SMTP-time hooks, which know only the envelope). */
  policies: { policyFor(envelope: { tenantId: string; mailFrom: string; recipients: readonly string[] }): Promise<GuardPolicy> };
  /** The country (ISO 3166-1 alpha-2) of an address; absent when the operator has no GeoIP database. */
  geoip?: GeoIpLookup;
  /**
   * DNS for sender authentication, in mailauth's resolver shape: (name, rrtype) → answers, throwing an
   * error with code ENOTFOUND/ENODATA for no answer and ETIMEOUT (or another code) when DNS failed.
   */
  resolver?: (name: string, rrtype: string) => Promise<unknown>;
  /** Follows a link through its redirects (link protection, for policies that say so); only to public addresses. */
  linkFollower?: (url: string, signal?: AbortSignal) => Promise<{ hops: string[]; status?: number; loginForm: boolean; stopped?: string }>;
  /** The follower's time for one link. */
  linkFollowTimeoutMs?: number;
  /** Signs the links that policies with `rewrite` send through the click check. */
  clickLinks?: ClickLinks;
}

export interface GeoIpLookup {
  /** undefined when the database does not know the address. */
  country(ip: string): string | undefined;
  /** Where the database came from, for the policy view ("/var/lib/geoip/GeoLite2-Country.mmdb, built 2026-11-28"). */
  readonly description: string;
}
