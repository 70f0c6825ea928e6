/**
 * A tenant's guard policy with its defaults. The tenant file's `guard:` section (config.ts) names only
 * what differs; everything else comes from DEFAULT_GUARD_POLICY.
 *
 * Defaults, and why:
 * - flag at 5, quarantine at 10, reject at 15 (Rspamd's add_header 6 / reject 15, a step lower for
 *   flagging because a flag only moves mail to the junk folder);
 * - a check that times out or fails forces **quarantine** (score 0): a message a check could not read
 *   must neither be delivered as if it were clean nor be lost, and quarantine is where an admin can look
 *   at it. A tenant may soften this to `flag` or harden it to `reject`, never to deliver;
 * - structure limits far above real mail: 200 parts, nesting 12 deep, and 998-byte header lines
 *   (RFC 5322 2.1.1's limit; a longer one scores only a little, as some real senders break it).
 */
import type { GuardSettings } from '../config.ts';
import type { GuardAction } from './contract.ts';

export interface GuardPolicy {
  thresholds: { flag: number; quarantine: number; reject: number };
  /** Per-symbol scores that replace a check's own. */
  scores: Readonly<Record<string, number>>;
  disabledChecks: ReadonlySet<string>;
  onCheckFailure: { action: Exclude<GuardAction, 'deliver'>; score: number };
  limits: { maxParts: number; maxNestingDepth: number; maxHeaderLineBytes: number };
}

export const DEFAULT_GUARD_POLICY: GuardPolicy = {
  thresholds: { flag: 5, quarantine: 10, reject: 15 },
  scores: {},
  disabledChecks: new Set<string>(),
  onCheckFailure: { action: 'quarantine', score: 0 },
  limits: { maxParts: 200, maxNestingDepth: 12, maxHeaderLineBytes: 998 },
};

export function resolveGuardPolicy(settings: GuardSettings | undefined): GuardPolicy {
  if (!settings) return DEFAULT_GUARD_POLICY;
  const defaults = DEFAULT_GUARD_POLICY;
  return {
    thresholds: settings.thresholds ?? defaults.thresholds,
    scores: { ...settings.scores },
    disabledChecks: new Set(settings.disabledChecks ?? []),
    onCheckFailure: {
      action: settings.onCheckFailure?.action ?? defaults.onCheckFailure.action,
      score: settings.onCheckFailure?.score ?? defaults.onCheckFailure.score,
    },
    limits: {
      maxParts: settings.limits?.maxParts ?? defaults.limits.maxParts,
      maxNestingDepth: settings.limits?.maxNestingDepth ?? defaults.limits.maxNestingDepth,
      maxHeaderLineBytes: settings.limits?.maxHeaderLineBytes ?? defaults.limits.maxHeaderLineBytes,
    },
  };
}
