import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Runs the repository's eslint.config.js (the same check as `npm run lint`) over the given patterns. */
async function lint(patterns: string[], overrideConfig?: ESLint.Options['overrideConfig']) {
  const eslint = new ESLint({ cwd: root, overrideConfig, errorOnUnmatchedPattern: false });
  return eslint.lintFiles(patterns);
}

describe('the regular-expression lint', () => {
  test('no pattern in backend, common, addin, portal or scripts can backtrack super-linearly', async () => {
    const results = await lint(['backend', 'common', 'addin', 'portal', 'scripts']);
    assert.ok(results.length > 100, `the lint saw ${results.length} files; it must see the whole source`);
    const problems = results.flatMap((result) =>
      result.messages
        .filter((message) => message.severity === 2 || message.fatal)
        .map((message) => `${result.filePath.slice(root.length)}:${message.line}:${message.column} ${message.ruleId ?? 'parse'}: ${message.message}`),
    );
    assert.deepEqual(problems, [], `super-linear or broken patterns:\n${problems.join('\n')}`);
  });

  test('the lint catches the kind of pattern that froze the gateway, so the check above can fail', async () => {
    const eslint = new ESLint({ cwd: root });
    const [result] = await eslint.lintText(
      [
        'export const ADDRESS = /^[^\\s@]+(?:\\.[^\\s@]+)*@example\\.org$/;',
        "export const trim = (s: string) => s.replace(/\\/+$/, '');",
        'export const URL_FUNCTION = /url\\(\\s*([^)]*)\\)/;',
      ].join('\n'),
      { filePath: `${root}backend/src/lint-probe.ts` },
    );
    const rules = new Set(result!.messages.map((m) => `${m.line} ${m.ruleId}`));
    assert.ok(rules.has('1 regexp/no-super-linear-backtracking'), [...rules].join(', '));
    assert.ok(rules.has('2 regexp/no-super-linear-move'), [...rules].join(', '));
    assert.ok(rules.has('3 regexp/no-super-linear-backtracking'), [...rules].join(', '));
  });
});
