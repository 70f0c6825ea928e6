/**
 * `npm run chaos`: the gateway crash test. 10,000 messages are sent from the tenant's connector while the
 * gateway is killed with kill -9 five times (and restarted at once on the same database and data folder) and
 * PostgreSQL is restarted once. Passes when no accepted message is lost, duplicates stay within their bounds
 * and every message ends in a final state; exits 1 otherwise, 2 on a usage or set-up error.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run chaos -- [--messages 10000] [--kills 5]
 *     [--concurrency 20] [--no-restart-postgres]
 *
 * DATABASE_URL names a PostgreSQL server on which the run may create (and afterwards drop) its own database.
 * The PostgreSQL restart uses pg_ctlcluster on this machine's cluster, so that server must be local.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { makeTempDir, onRelease, releaseAll } from './bench/bench-resources.ts';
import { DEFAULT_CHAOS_OPTIONS, formatChaosReport, runChaos } from './chaos/run-chaos.ts';

const run = promisify(execFile);

function usage(problem: string): never {
  process.stderr.write(
    `chaos: ${problem}\n` +
      'usage: DATABASE_URL=postgres://... npm run chaos -- [--messages N] [--kills N] [--concurrency N] [--no-restart-postgres]\n',
  );
  process.exit(2);
}

function positiveInteger(name: string, value: string | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < (allowZero ? 0 : 1)) usage(`--${name} must be a whole number ${allowZero ? '>= 0' : '>= 1'} (got "${value}")`);
  return number;
}

let options;
try {
  options = parseArgs({
    options: {
      messages: { type: 'string' },
      kills: { type: 'string' },
      concurrency: { type: 'string' },
      'restart-postgres': { type: 'boolean' },
      'no-restart-postgres': { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  }).values;
} catch (error) {
  usage((error as Error).message);
}
if (options.help) {
  process.stdout.write('usage: DATABASE_URL=postgres://... npm run chaos -- [--messages N] [--kills N] [--concurrency N] [--no-restart-postgres]\n');
  process.exit(0);
}
const messages = positiveInteger('messages', options.messages, DEFAULT_CHAOS_OPTIONS.messages);
const kills = positiveInteger('kills', options.kills, DEFAULT_CHAOS_OPTIONS.kills, true);
const concurrency = positiveInteger('concurrency', options.concurrency, DEFAULT_CHAOS_OPTIONS.concurrency);
if (options['restart-postgres'] && options['no-restart-postgres']) usage('--restart-postgres and --no-restart-postgres contradict each other');
const restartPostgres = !options['no-restart-postgres'];

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl) {
  usage(
    'DATABASE_URL is not set. The chaos test needs PostgreSQL: it restarts the database server independently of the ' +
      'gateway, which embedded PGlite (inside the gateway process) cannot do. Example: ' +
      'DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run chaos',
  );
}
if (!/^postgres(ql)?:\/\//.test(serverUrl)) usage(`DATABASE_URL must be a postgres:// URL (got "${serverUrl}")`);

/** The local cluster's version folder under /etc/postgresql (the first one, as `ls | head -n1` picks it). */
function clusterVersion(): string {
  try {
    const versions = readdirSync('/etc/postgresql').sort();
    if (versions[0]) return versions[0];
  } catch {
    // reported below
  }
  usage('no PostgreSQL cluster under /etc/postgresql: the PostgreSQL restart needs a local cluster (or pass --no-restart-postgres)');
}

async function clusterRunning(version: string): Promise<boolean> {
  try {
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'status']);
    return true;
  } catch {
    return false;
  }
}

async function createRunDatabase(url: string): Promise<string> {
  const name = `sealpost_chaos_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${process.pid}`;
  const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
    await admin.query(`create database "${name}"`);
  } catch (error) {
    usage(`cannot create a database on ${new URL(url).host}: ${(error as Error).message}`);
  } finally {
    await admin.end().catch(() => undefined);
  }
  onRelease(`drop database ${name}`, async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      await client.query(`drop database if exists "${name}" with (force)`);
    } finally {
      await client.end().catch(() => undefined);
    }
  });
  const own = new URL(url);
  own.pathname = `/${name}`;
  return own.toString();
}

async function finish(code: number, reason?: string): Promise<never> {
  if (reason) process.stderr.write(`chaos: ${reason}\n`);
  const forced = setTimeout(() => process.exit(code), 60_000);
  forced.unref();
  await releaseAll();
  process.exit(code);
}
process.on('SIGINT', () => void finish(130, 'interrupted'));
process.on('SIGTERM', () => void finish(143, 'terminated'));

async function main(): Promise<number> {
  const version = restartPostgres ? clusterVersion() : undefined;
  if (version) {
    // Whatever happens, PostgreSQL runs again when the script ends: registered first, so it runs last.
    onRelease('make sure PostgreSQL runs', async () => {
      if (!(await clusterRunning(version))) await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
    });
  }
  const databaseUrl = await createRunDatabase(serverUrl!);
  const workDir = makeTempDir('sealpost-chaos-');
  console.log(
    `chaos: ${messages} messages, ${kills} kills, ${restartPostgres ? 'one PostgreSQL restart' : 'no PostgreSQL restart'}, ${concurrency} sending sessions`,
  );
  const report = await runChaos({
    ...DEFAULT_CHAOS_OPTIONS,
    messages,
    kills,
    concurrency,
    databaseUrl,
    workDir,
    restartDatabase: version
      ? async () => {
          await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart'], { timeout: 120_000 });
        }
      : undefined,
    log: (line) => console.log(line),
  });
  console.log(formatChaosReport(report));
  return report.failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => finish(code),
  (error: unknown) => finish(1, `failed: ${(error as Error).stack ?? String(error)}`),
);
