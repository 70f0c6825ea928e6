// Regex lint: patterns in the source must not backtrack super-linearly, because many of them see
// outside input (addresses, headers, HTML/CSS, URLs) and one crafted line could freeze the process.
// Import layers: a folder of backend/src imports only from folders below it (see BACKEND_LAYERS).
// Run with `npm run lint`; backend/test/regex-lint.test.ts and import-layers.test.ts run this config inside `npm test`.
import tsParser from '@typescript-eslint/parser';
import regexp from 'eslint-plugin-regexp';

/**
 * The folders of backend/src, top to bottom. A file may import from its own folder and from folders
 * further down this list, never from one further up. gateway.ts and main.ts (the composition root, which
 * wires the parts together) sit above all of them; the other files at the root of backend/src (config.ts,
 * logger.ts, metrics.ts, work-signal.ts, start-failure.ts) sit below all of them.
 */
export const BACKEND_LAYERS = [
  'http', // Fastify app and routes, thin over the services below
  'deployment', // set-up help for Exchange and the sample tenant, used by the setup routes and the start
  'portal', // portal messages, threads, magic links, sessions, replies, housekeeping
  'delivery', // the outbound queue, SMTP client, retries, bounces
  'stages', // the ordered stages after the 250 and their runner
  'guard', // inbound checks, policies, the runner
  'protect', // outbound protection modes and their order
  'certs', // certificate and key stores (not yet written; its place is kept)
  'smtp', // listeners, connection trust, SMTP-time hooks, receive and store
  'messages', // the message store (spool), trace, routes and directions
  'mail', // message code with no state: header block, MIME limits, outgoing message, addresses
  'audit', // the append-only audit log (seals details with the vault's keys)
  'vault', // the key hierarchy, including the audit chain's keys
  'tenants', // the tenant directory, branding, secrets
  'db', // schema, migrations, the database client
];

/** The root files that wire everything and may import any folder. */
const COMPOSITION_ROOT = ['backend/src/gateway.ts', 'backend/src/main.ts'];

/**
 * Known, named exceptions, each with its reason. config.ts is at the bottom but validates settings that
 * belong to two stateless helpers: the header-size limits (mail/header-section.ts) and the brand colour
 * and logo checks (tenants/branding.ts); neither reads configuration or the database.
 */
const LAYER_EXCEPTIONS = {
  'backend/src/config.ts': ['mail/header-section.ts', 'tenants/branding.ts'],
};

const escapeRegex = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const BROWSER_CODE = { regex: '(?:^|/)(?:portal|addin)/src(?:/|$)', message: 'Backend code must not import browser code (portal/src, addin/src).' };
const COMPOSITION_ROOT_IMPORT = (up) => ({
  regex: `^${escapeRegex(up)}(?:gateway|main)\\.ts$`,
  message: 'Only the start wires the parts: nothing imports gateway.ts or main.ts.',
});

/** One rule setting per folder and depth: relative paths climb a known number of levels to backend/src. */
function layerRules() {
  const configs = [];
  const maxDepth = 4;
  BACKEND_LAYERS.forEach((folder, index) => {
    const above = BACKEND_LAYERS.slice(0, index);
    for (let depth = 1; depth <= maxDepth; depth += 1) {
      const up = '../'.repeat(depth);
      const patterns = [BROWSER_CODE, COMPOSITION_ROOT_IMPORT(up)];
      if (above.length > 0) {
        patterns.push({
          regex: `^${escapeRegex(up)}(?:${above.join('|')})(?:/|$)`,
          message: `${folder}/ sits below ${above.join(', ')} (eslint.config.js, BACKEND_LAYERS): move the shared piece down or inject it.`,
        });
      }
      configs.push({
        files: [`backend/src/${folder}/${'*/'.repeat(depth - 1)}*.{ts,tsx}`],
        rules: { 'no-restricted-imports': ['error', { patterns }] },
      });
    }
  });
  // The root utilities (config.ts, logger.ts, …) are below every folder.
  for (const file of ['backend/src/*.ts', ...Object.keys(LAYER_EXCEPTIONS)]) {
    const allowed = LAYER_EXCEPTIONS[file] ?? [];
    const allowedPart = allowed.length > 0 ? `(?!(?:${allowed.map(escapeRegex).join('|')})$)` : '';
    configs.push({
      files: [file],
      ignores: file === 'backend/src/*.ts' ? [...COMPOSITION_ROOT, ...Object.keys(LAYER_EXCEPTIONS)] : [],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              BROWSER_CODE,
              COMPOSITION_ROOT_IMPORT('./'),
              {
                regex: `^\\./${allowedPart}(?:${BACKEND_LAYERS.join('|')})(?:/|$)`,
                message: 'The files at the root of backend/src are below every folder; only gateway.ts and main.ts import folders.',
              },
            ],
          },
        ],
      },
    });
  }
  configs.push(
    { files: COMPOSITION_ROOT, rules: { 'no-restricted-imports': ['error', { patterns: [BROWSER_CODE] }] } },
    {
      files: ['common/**/*.{ts,tsx}'],
      rules: {
        'no-restricted-imports': [
          'error',
          { patterns: [{ regex: '(?:^|/)backend(?:/|$)', message: 'common/ is shared with the browser code: it must not import the backend.' }] },
        ],
      },
    },
  );
  return configs;
}

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
  ...layerRules(),
];
