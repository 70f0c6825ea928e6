#!/usr/bin/env node
// Builds the browser parts (dist/portal, dist/addin) when they are missing or older than their sources,
// so `npm start` and the browser tests always serve what the repository holds.
// Usage: node scripts/ensure-built.mjs [--force]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const sources = ['portal', 'addin', 'common/src', 'manifest.xml', 'webpack.config.ts', 'package-lock.json'];
const outputs = ['dist/portal/index.html', 'dist/addin/taskpane.html', 'dist/addin/commands.html', 'dist/addin/try/index.html'];

function newest(path) {
  const full = join(root, path);
  if (!existsSync(full)) return 0;
  const stat = statSync(full);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = 0;
  for (const entry of readdirSync(full)) {
    if (entry === 'node_modules') continue;
    latest = Math.max(latest, newest(join(path, entry)));
  }
  return latest;
}

export function browserPartsAreCurrent() {
  if (!outputs.every((o) => existsSync(join(root, o)))) return false;
  const built = Math.min(...outputs.map((o) => statSync(join(root, o)).mtimeMs));
  return Math.max(...sources.map(newest)) <= built;
}

export function buildBrowserParts({ force = false, progress = false } = {}) {
  if (!force && browserPartsAreCurrent()) return true;
  const started = Date.now();
  console.log(
    'Building the portal and the Outlook add-in (webpack, production). This takes about a minute, longer on a',
    'small machine; later starts skip it until the sources change.',
  );
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'node_modules/webpack-cli/bin/cli.js'), '--config', 'webpack.config.ts', '--mode', 'production'],
    {
      cwd: root,
      // The progress lines come on stdout; webpack's own report is not needed here.
      stdio: ['ignore', progress ? 'inherit' : 'ignore', 'inherit'],
      env: { ...process.env, SEALPOST_BUILD_PROGRESS: progress ? '1' : '0' },
    },
  );
  if (result.status !== 0) {
    console.error('The browser build failed: run "npm run build" to see why.');
    return false;
  }
  console.log(`Built in ${Math.round((Date.now() - started) / 1000)} s.`);
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exit(buildBrowserParts({ force: process.argv.includes('--force'), progress: true }) ? 0 : 1);
}
