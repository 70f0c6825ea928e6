#!/usr/bin/env node
// Runs every test of the repository with Node's test runner.
// Pass 1 runs all test files on embedded PGlite. When DATABASE_URL is set, pass 2 runs the files that
// use the database (they import test/support/database) again on that PostgreSQL.
// Usage: npm test [-- file-or-substring ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildBrowserParts } from './ensure-built.mjs';

const root = new URL('..', import.meta.url).pathname;
const roots = ['common', 'backend/test', 'addin', 'portal', 'e2e'];
const filters = process.argv.slice(2);

function findTests(dir) {
  let found = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (entry === 'node_modules') continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) found = found.concat(findTests(full));
    else if (entry.endsWith('.test.ts')) found.push(full);
  }
  return found;
}

const all = roots
  .flatMap((r) => findTests(join(root, r)))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
const usesDatabase = (file) => /support\/(database|test-gateway)/.test(readFileSync(join(root, file), 'utf8'));

const totals = { passed: 0, failed: 0, skipped: 0 };
function runPass(label, files, env) {
  if (files.length === 0) return;
  console.log(`\n=== ${label}: ${files.length} test files ===`);
  // The TAP report goes to a pipe rather than a file: with --test-force-exit the runner ends as soon as
  // the tests have, and only a pipe (written synchronously on Linux) is sure to hold the whole report.
  const result = spawnSync(
    process.execPath,
    [
      '--import', 'tsx',
      '--test',
      '--test-concurrency=1',
      // A test file whose tests have ended is ended even if it left a listener or a timer behind, and a
      // test that hangs fails after ten minutes, so one stuck file cannot hold up the whole run.
      '--test-force-exit',
      '--test-timeout=600000',
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      '--test-reporter=tap', '--test-reporter-destination=stderr',
      ...files,
    ],
    { cwd: root, stdio: ['inherit', 'inherit', 'pipe'], encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, ...env } },
  );
  const report = result.stderr ?? '';
  const count = (name) => Number(report.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
  if (!/^# tests \d+$/m.test(report)) {
    // No summary: the runner itself failed; show what it said.
    process.stderr.write(report.slice(-20_000));
    if (result.error) console.error(result.error);
  }
  const passed = count('pass');
  const failed = count('fail') + count('cancelled');
  totals.passed += passed;
  totals.failed += failed + (result.status !== 0 && failed === 0 ? 1 : 0);
  totals.skipped += count('skipped') + count('todo');
  console.log(`${label}: ${passed} passed, ${failed} failed (exit ${result.status})`);
}

if (filters.length === 0) {
  console.log('=== Type check (tsc --noEmit) ===');
  const typecheck = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (typecheck.status === 0) {
    totals.passed += 1;
    console.log('type check: passed');
  } else {
    totals.failed += 1;
    console.log('type check: failed');
  }
}

// Browser tests and the manifest checks serve the built portal and add-in: build them first when stale.
const needsBrowserParts = all.some((f) => f.startsWith('e2e/') || /\bdist\//.test(readFileSync(join(root, f), 'utf8')));
if (needsBrowserParts) {
  console.log('\n=== Browser build ===');
  if (buildBrowserParts()) {
    console.log('browser build: current');
  } else {
    totals.failed += 1;
    console.log('browser build: failed');
  }
}

runPass('PGlite', all, { SEALPOST_TEST_DATABASE: 'pglite' });
if (process.env.DATABASE_URL) {
  runPass('PostgreSQL', all.filter(usesDatabase), { SEALPOST_TEST_DATABASE: 'postgres' });
} else {
  console.log('\nDATABASE_URL is not set: the PostgreSQL pass is skipped.');
}
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed > 0 ? 1 : 0);
