/**
 * The tenant's content rules: keywords and RE2 patterns the admin wrote, matched on the subject, the
 * text body and HTML bodies as text (message-text.ts). Each rule that matches is one finding —
 * CONTENT_KEYWORD or CONTENT_PATTERN — whose reason names the rule and where it matched, never more of
 * the message than the rule itself. Keywords come first, in the order of their positions, then patterns.
 *
 * Keywords match case-insensitively as whole words or phrases, Unicode-aware: text and keyword are
 * NFC-normalised and lower-cased, runs of white space read as one space (a phrase may be wrapped over
 * lines), and a hit counts only when no letter, digit or mark touches it on either side ("invoice"
 * is not found in "invoices", "Überweisung" is found in German text). That is a native indexOf per
 * keyword, cheaper than one regular expression per keyword. Patterns run on re2js (linear time, no
 * back-references or lookaround; guard-policy-settings.ts refuses those when the admin writes them), compiled
 * once per policy and kept in a WeakMap keyed by the policy's content settings.
 *
 * Findings are capped: past MAX_RULE_FINDINGS one summary finding counts the rest.
 */
import { RE2JS } from 're2js';
import type { GuardCheck, GuardFinding } from '../contract.ts';
import { extractMessageText, type MessageText } from '../message-text.ts';
import type { ContentRule, GuardPolicy } from '../policy.ts';
import { compileRulePattern } from '../../guard-policy-settings.ts';

export const CONTENT_SCORES = {
  CONTENT_KEYWORD: 3,
  CONTENT_PATTERN: 3,
  /** Stands for every matching rule past the cap; one rule's worth. */
  CONTENT_MORE_MATCHES: 3,
  /** The text was too large or too deeply nested to read whole: said, not scored (the structure check scores nesting). */
  CONTENT_NOT_FULLY_READ: 0,
  /** A stored rule the filter cannot run (the settings schema refuses such rules; one in storage is reported). */
  CONTENT_RULE_INVALID: 0,
} as const;

export const MAX_RULE_FINDINGS = 20;

type ContentSettings = GuardPolicy['modules']['content'];
type Scope = ContentSettings['scope'][number];

const SCOPE_NAMES: Record<Scope, string> = { subject: 'the subject', text: 'the text body', html: 'the HTML body' };

type CompiledRule =
  | { rule: ContentRule; kind: 'keyword'; needle: string }
  | { rule: ContentRule; kind: 'pattern'; regex: RE2JS }
  | { rule: ContentRule; kind: 'invalid'; problem: string };

interface CompiledRules {
  rules: CompiledRule[];
  /**
   * All patterns as one alternation, each with its own case flag: one linear pass over a text says
   * whether any pattern matches it, so the usual message (no pattern matches) costs one pass instead of
   * one per pattern. Undefined when there are fewer than two patterns or the union does not compile.
   */
  anyPattern?: RE2JS;
}

const compiledRules = new WeakMap<ContentSettings, CompiledRules>();

function compile(settings: ContentSettings): CompiledRules {
  const cached = compiledRules.get(settings);
  if (cached) return cached;
  const rules = settings.rules.map((rule): CompiledRule => {
    if (rule.kind === 'keyword') return { rule, kind: 'keyword', needle: normalised(rule.text) };
    const result = compileRulePattern(rule.text, rule.caseSensitive);
    return 'regex' in result ? { rule, kind: 'pattern', regex: result.regex } : { rule, kind: 'invalid', problem: result.problem };
  });
  const patterns = rules.filter((r) => r.kind === 'pattern');
  let anyPattern: RE2JS | undefined;
  if (patterns.length > 1) {
    try {
      anyPattern = RE2JS.compile(patterns.map((r) => `(?${r.rule.caseSensitive ? '' : 'i'}:${r.rule.text})`).join('|'));
    } catch {
      anyPattern = undefined;
    }
  }
  const compiled = { rules, ...(anyPattern ? { anyPattern } : {}) };
  compiledRules.set(settings, compiled);
  return compiled;
}

/** Text as keywords are compared: composed, lower-case, white space runs as one space. */
function normalised(text: string): string {
  return text.normalize('NFC').toLowerCase().replace(/\s+/g, ' ');
}

const WORD_CHARACTER = /[\p{L}\p{N}\p{M}_]/u;

/** Whether the character ending just before `index` (before) or starting at `index` (after) is a word character. */
function isWordCharacterAt(text: string, index: number, before: boolean): boolean {
  if (index < 0 || index >= text.length) return false;
  let point = text.codePointAt(index)!;
  // Before a hit, a low surrogate is the second half of a character outside the BMP.
  if (before && point >= 0xdc00 && point <= 0xdfff && index > 0) point = text.codePointAt(index - 1)!;
  return WORD_CHARACTER.test(String.fromCodePoint(point));
}

/** Whether `needle` occurs in `haystack` with no word character touching it on either side. */
export function containsWholeWords(haystack: string, needle: string): boolean {
  if (!needle) return false;
  let from = 0;
  for (;;) {
    const at = haystack.indexOf(needle, from);
    if (at < 0) return false;
    const edgesOk =
      (!isWordCharacterAt(needle, 0, false) || !isWordCharacterAt(haystack, at - 1, true)) &&
      (!isWordCharacterAt(needle, needle.length - 1, true) || !isWordCharacterAt(haystack, at + needle.length, false));
    if (edgesOk) return true;
    from = at + 1;
  }
}

export const contentFilterCheck: GuardCheck = {
  name: 'content-filter',
  module: 'content',
  replayable: true,
  phase: 'message',
  run(context, signal) {
    const settings = context.policy.modules.content;
    if (settings.rules.length === 0) return [];
    const rules = compile(settings);
    const message = extractMessageText(context.header, {
      maxParts: context.policy.limits.maxParts,
      maxDepth: context.policy.limits.maxNestingDepth,
    });
    return contentFindings(rules, settings.scope, message, signal);
  },
};

function contentFindings({ rules, anyPattern }: CompiledRules, scope: readonly Scope[], message: MessageText, signal: AbortSignal): GuardFinding[] {
  const findings: GuardFinding[] = [];
  if (message.cut.length > 0) {
    findings.push({
      symbol: 'CONTENT_NOT_FULLY_READ',
      score: CONTENT_SCORES.CONTENT_NOT_FULLY_READ,
      reason: `the content rules did not see ${message.cut.join(', ')}`,
    });
  }
  const texts = scope.map((where) => ({ where, text: message[where] }));
  let lowered: Array<{ where: Scope; text: string }> | undefined;
  const patternTexts = anyPattern ? texts.filter(({ text }) => text.length > 0 && anyPattern.test(text)) : texts;
  let matched = 0;
  let more = 0;
  for (const compiled of rules) {
    if (signal.aborted) break;
    if (compiled.kind === 'invalid') {
      findings.push({
        symbol: 'CONTENT_RULE_INVALID',
        score: CONTENT_SCORES.CONTENT_RULE_INVALID,
        reason: `the pattern ${quoted(compiled.rule.text)} was not applied: it ${compiled.problem}`,
      });
      continue;
    }
    let where: Scope | undefined;
    if (compiled.kind === 'keyword') {
      lowered ??= texts.map(({ where, text }) => ({ where, text: normalised(text) }));
      where = lowered.find(({ text }) => containsWholeWords(text, compiled.needle))?.where;
    } else {
      where = patternTexts.find(({ text }) => text.length > 0 && compiled.regex.test(text))?.where;
    }
    if (!where) continue;
    matched += 1;
    if (matched > MAX_RULE_FINDINGS) {
      more += 1;
      continue;
    }
    findings.push(
      compiled.kind === 'keyword'
        ? { symbol: 'CONTENT_KEYWORD', score: CONTENT_SCORES.CONTENT_KEYWORD, reason: `keyword ${quoted(compiled.rule.text)} in ${SCOPE_NAMES[where]}` }
        : {
            symbol: 'CONTENT_PATTERN',
            score: CONTENT_SCORES.CONTENT_PATTERN,
            reason: `pattern ${quoted(compiled.rule.text)}${compiled.rule.description ? ` (${compiled.rule.description.slice(0, 60)})` : ''} in ${SCOPE_NAMES[where]}`,
          },
    );
  }
  if (more > 0) {
    findings.push({
      symbol: 'CONTENT_MORE_MATCHES',
      score: CONTENT_SCORES.CONTENT_MORE_MATCHES,
      reason: `${more} more content rule${more === 1 ? '' : 's'} matched beyond the first ${MAX_RULE_FINDINGS}`,
    });
  }
  return findings;
}

/** A rule as it appears in a reason: the admin's own text, shortened. */
function quoted(text: string): string {
  return `"${text.length > 60 ? `${text.slice(0, 57)}...` : text}"`;
}
