/**
 * The Sealpost gateway as a benchmark subject: a child process `node --import tsx backend/src/main.ts` with a fresh
 * database (a new PostgreSQL database, or embedded PGlite), a temporary data folder and a tenant file whose
 * connector admits 127.0.0.1 and whose outbound mail goes to the sink.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { makeTempDir, onRelease, sleep, spawnManaged, type ManagedChild } from './bench-resources.ts';

export const REPOSITORY_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ADMIN_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Metric names the benchmark reads (see backend/src/metrics.ts). */
export const METRIC = {
  received: 'sealpost_messages_received_total',
  rejected: 'sealpost_messages_rejected_total',
  delivered: 'sealpost_deliveries_delivered_total',
  deferred: 'sealpost_deliveries_deferred_total',
  bounced: 'sealpost_deliveries_bounced_total',
  queueDepth: 'sealpost_queue_depth',
  acceptSecondsCount: 'sealpost_smtp_accept_seconds_count',
  acceptSecondsSum: 'sealpost_smtp_accept_seconds_sum',
} as const;

/** Creates a uniquely named PostgreSQL database that is dropped again by the cleanup. */
export async function createBenchDatabase(): Promise<{ name: string; url: string }> {
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const name = `sealpost_bench_${stamp}_${process.pid}_${Math.random().toString(36).slice(2, 6)}`;
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query(`CREATE DATABASE "${name}"`);
  } catch (error) {
    throw new Error(`cannot create the benchmark database on 127.0.0.1:5432: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  onRelease(`drop database ${name}`, async () => {
    const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 5000 });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await admin.end().catch(() => undefined);
    }
  });
  return { name, url: `postgres://postgres@127.0.0.1:5432/${name}` };
}

export interface GatewayOptions {
  smtpPort: number;
  httpPort: number;
  sinkPort: number;
  /** undefined: embedded PGlite. */
  databaseUrl?: string;
  keep?: boolean;
  /**
   * Mail comes from the Internet: the tenant's connector is elsewhere (127.0.0.2), so the load generator on
   * 127.0.0.1 is an outside sender, its mail is scored by the inbound checks, and sender authentication asks
   * this DNS server.
   */
  inbound?: { dnsServer: string };
}

export function tenantFile(sinkPort: number, inbound = false): string {
  return `tenants:
  - name: Bench
    domains: [bench.test]
    connectors:
      - name: load-generator
        ips: [${inbound ? '127.0.0.2/32' : '127.0.0.1/32'}]
    mailServer: smtp://127.0.0.1:${sinkPort}
`;
}

/** Parses the Prometheus text format into name -> sum over all label sets. */
export function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    values.set(match[1]!, (values.get(match[1]!) ?? 0) + value);
  }
  return values;
}

export class SealpostGateway {
  private output = '';
  private warnings: string[] = [];

  private constructor(
    readonly options: GatewayOptions,
    readonly dataDir: string,
    private readonly process: ManagedChild,
  ) {
    const collect = (chunk: string) => {
      this.output = (this.output + chunk).slice(-8000);
      for (const line of chunk.split('\n')) if (line.trim() && this.warnings.length < 50) this.warnings.push(line.trim());
    };
    process.child.stdout!.setEncoding('utf8').on('data', collect);
    process.child.stderr!.setEncoding('utf8').on('data', collect);
  }

  static start(options: GatewayOptions): SealpostGateway {
    const root = makeTempDir('sealpost-bench-gateway-', options.keep);
    const dataDir = join(root, 'data');
    const configFile = join(root, 'tenants.yaml');
    writeFileSync(configFile, tenantFile(options.sinkPort, options.inbound !== undefined));
    const environment: NodeJS.ProcessEnv = {};
    // Start from the caller's environment without any Sealpost setting, so that only ours apply.
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('SEALPOST_') && key !== 'DATABASE_URL') environment[key] = value;
    }
    Object.assign(environment, {
      SEALPOST_DATA_DIR: dataDir,
      SEALPOST_SMTP_HOST: '127.0.0.1',
      SEALPOST_SMTP_PORT: String(options.smtpPort),
      SEALPOST_HTTP_HOST: '127.0.0.1',
      SEALPOST_HTTP_PORT: String(options.httpPort),
      SEALPOST_RELAY: `smtp://127.0.0.1:${options.sinkPort}`,
      SEALPOST_LOG_LEVEL: 'warn',
      SEALPOST_CONFIG: configFile,
    });
    if (options.databaseUrl) environment.DATABASE_URL = options.databaseUrl;
    if (options.inbound) {
      environment.SEALPOST_DNS_SERVERS = options.inbound.dnsServer;
      // The load generator's one address stands for the many servers real inbound mail comes from: the
      // per-address limits that protect the gateway from one abusive client would measure only themselves.
      Object.assign(environment, {
        SEALPOST_SMTP_MAX_CONNECTIONS_PER_ADDRESS: '1000',
        SEALPOST_SMTP_CONNECTIONS_PER_MINUTE_PER_ADDRESS: '1000000',
        SEALPOST_SMTP_MESSAGES_PER_MINUTE_PER_ADDRESS: '1000000',
      });
    }
    // BENCH_CPU_PROFILE=<folder>: the gateway writes a V8 CPU profile there when it stops (read it with cpu-profile-top.ts).
    const profile = process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`] : [];
    const child = spawnManaged('Sealpost gateway', process.execPath, [...profile, '--import', 'tsx', 'backend/src/main.ts'], {
      cwd: REPOSITORY_ROOT,
      env: environment,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new SealpostGateway(options, dataDir, child);
  }

  get pid(): number {
    return this.process.child.pid ?? 0;
  }

  hasExited(): boolean {
    return this.process.hasExited();
  }

  /** Last lines the gateway printed (it runs with log level warn, so these are warnings and errors). */
  outputTail(lines = 20): string {
    return this.output.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** First lines the gateway printed during the run. */
  printed(): string[] {
    return this.warnings;
  }

  private url(path: string): string {
    return `http://127.0.0.1:${this.options.httpPort}${path}`;
  }

  /** Waits until GET /readyz answers 200. */
  async waitReady(timeoutMs: number): Promise<number> {
    const started = Date.now();
    let last = 'no answer';
    while (Date.now() - started < timeoutMs) {
      if (this.process.hasExited()) {
        throw new Error(`the gateway exited during start-up (${await this.process.exited}):\n${this.outputTail()}`);
      }
      try {
        const response = await fetch(this.url('/readyz'), { signal: AbortSignal.timeout(2000) });
        if (response.status === 200) return Date.now() - started;
        last = `HTTP ${response.status}`;
      } catch (error) {
        last = (error as Error).message;
      }
      await sleep(200);
    }
    throw new Error(`the gateway was not ready within ${timeoutMs / 1000} s (${last}):\n${this.outputTail()}`);
  }

  /** No metrics token is needed: the benchmark's gateway has none set and /metrics answers loopback clients. */
  async metrics(): Promise<Map<string, number>> {
    const response = await fetch(this.url('/metrics'), { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
    return parseMetrics(await response.text());
  }

  stop(): Promise<void> {
    return this.process.stop(15_000);
  }
}
