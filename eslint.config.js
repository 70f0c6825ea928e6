// Regex lint: patterns in the source must not backtrack super-linearly, because many of them see
// outside input (addresses, headers, HTML/CSS, URLs) and one crafted line could freeze the process.
// Run with `npm run lint`; backend/test/regex-lint.test.ts runs the same config inside `npm test`.
import tsParser from '@typescript-eslint/parser';
import regexp from 'eslint-plugin-regexp';

export default [
  {
    ignores: ['**/node_modules/**', '**/dist/**', '.sealpost-test/**', 'e2e/**', 'infra/**'],
  },
  {
    files: [
      'backend/**/*.{ts,tsx,js,mjs}',
      'common/**/*.{ts,tsx,js,mjs}',
      'addin/**/*.{ts,tsx,js,mjs}',
      'portal/**/*.{ts,tsx,js,mjs}',
      'scripts/**/*.{ts,tsx,js,mjs}',
    ],
    languageOptions: {
      parser: tsParser,
      ecmaVersion: 'latest',
      sourceType: 'module',
      parserOptions: { ecmaFeatures: { jsx: true } },
    },
    // No comment can switch the check off: a pattern that must stay is exempted here, with its reason.
    // (Comments written for other linters are reported as warnings that have no effect.)
    linterOptions: { noInlineConfig: true, reportUnusedDisableDirectives: 'off' },
    plugins: { regexp },
    rules: {
      'regexp/no-super-linear-backtracking': 'error',
      // Also patterns used for a partial match (test, replace, search), which is how most of ours are used.
      'regexp/no-super-linear-move': ['error', { ignorePartial: false, ignoreSticky: false }],
      // Cheap, and from the same family: alternatives that overlap ((a|a)*) or can match nothing.
      'regexp/no-dupe-disjunctions': 'error',
      'regexp/no-empty-alternative': 'error',
    },
  },
];
