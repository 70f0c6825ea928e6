/**
 * Writes the signed checkpoints: per tenant, the newest entry, after checking every entry since the tenant's
 * previous checkpoint — a checkpoint never vouches for a chain that does not verify. It runs at an interval,
 * sooner when this process has appended many entries, and once more when the process stops, so the
 * entries no checkpoint covers yet (what an attacker could still remove unseen) stay few.
 */
import { sql } from 'drizzle-orm';
import { queryRows, type Database } from '../db/client.ts';
import { allTenantIds, withTenants } from '../db/tenant-scope.ts';
import type { Logger } from '../logger.ts';
import { WorkerLoop } from '../work-signal.ts';
import type { AuditCheckpoint, AuditCheckpointFile, AuditSigningKey } from './audit-checkpoints.ts';
import type { AuditKeys } from '../vault/audit-keys.ts';
import { GENESIS_HASH, walkTenantChain, type AuditProblem } from './audit-log.ts';

export interface AuditCheckpointerOptions {
  db: Database;
  keys: AuditKeys;
  signingKey: AuditSigningKey;
  file: AuditCheckpointFile;
  logger: Logger;
  /** The longest time between two checkpoint runs. */
  intervalMs: number;
  /** A run starts early once this process has appended this many entries since the last one. */
  everyEntries: number;
}

export interface CheckpointRun {
  written: AuditCheckpoint[];
  /** Tenants whose chain did not verify since their last checkpoint: no checkpoint was written for them. */
  refused: AuditProblem[];
}

export class AuditCheckpointer extends WorkerLoop {
  private newest: Map<string, AuditCheckpoint> | undefined;
  private appendedSinceRun = 0;
  private current: Promise<CheckpointRun> | undefined;

  constructor(private readonly options: AuditCheckpointerOptions) {
    super();
    options.keys.onAppended((count) => {
      this.appendedSinceRun += count;
      if (this.appendedSinceRun >= options.everyEntries) this.signal.notify();
    });
  }

  /** Checkpoints every tenant whose chain grew; runs one at a time in this process. */
  checkpoint(now: Date = new Date()): Promise<CheckpointRun> {
    const run = (this.current ?? Promise.resolve(undefined)).catch(() => undefined).then(() => this.checkpointNow(now));
    this.current = run;
    return run;
  }

  override async stop(): Promise<void> {
    await super.stop();
    // The last entries of this process's life get their checkpoint too.
    try {
      await this.checkpoint();
    } catch (error) {
      this.options.logger.error({ err: error }, 'the final audit checkpoint failed');
    }
  }

  protected async run(): Promise<void> {
    // The first run is at start: entries from before an upgrade, or from a process that died, get their checkpoint now.
    let first = true;
    while (this.running) {
      if (!first) await this.signal.wait(this.options.intervalMs);
      first = false;
      if (!this.running) return;
      try {
        await this.checkpoint();
      } catch (error) {
        this.options.logger.error({ err: error }, 'writing audit checkpoints failed; it is tried again at the next interval');
      }
    }
  }

  private async checkpointNow(now: Date): Promise<CheckpointRun> {
    const { db, keys, signingKey, file, logger } = this.options;
    this.appendedSinceRun = 0;
    const newest = await this.newestCheckpoints();
    // This job serves every tenant; each tenant's chain is then read in that tenant's scope.
    const heads = await withTenants(db, await allTenantIds(db), (tx) =>
      queryRows<{ tenant_id: string; seq: string | number; hash: string }>(
        tx,
        sql`select distinct on (tenant_id) tenant_id, seq, hash from audit_log order by tenant_id, seq desc`,
      ),
    );
    const written: AuditCheckpoint[] = [];
    const refused: AuditProblem[] = [];
    for (const head of heads) {
      const tenantId = head.tenant_id;
      const previous = newest.get(tenantId);
      if (previous && previous.seq === Number(head.seq) && previous.hash === head.hash) continue;
      const problems: AuditProblem[] = [];
      if (previous) {
        // The walk starts after the checkpointed entry, so that entry itself is compared first.
        const [anchored] = await withTenants(db, tenantId, (tx) =>
          queryRows<{ id: number; hash: string }>(tx, sql`select id, hash from audit_log where tenant_id = ${tenantId}::uuid and seq = ${previous.seq}`),
        );
        if (!anchored) {
          problems.push({
            kind: 'truncated',
            tenantId,
            seq: previous.seq,
            id: null,
            reason: `the chain ends at entry ${Number(head.seq)}, before checkpoint ${previous.seq}`,
          });
        } else if (anchored.hash !== previous.hash) {
          problems.push({
            kind: 'checkpoint_mismatch',
            tenantId,
            seq: previous.seq,
            id: anchored.id,
            reason: `the entry is not the one checkpoint ${previous.seq} (signed ${previous.at}) vouches for: the chain was rewritten`,
          });
        }
      }
      const end =
        problems.length > 0
          ? undefined
          : await withTenants(db, tenantId, (tx) =>
              walkTenantChain(tx, keys, tenantId, {
                afterSeq: previous?.seq ?? 0,
                prevHash: previous?.hash ?? GENESIS_HASH,
                // Entries from before the chain was keyed are taken once, by the tenant's first checkpoint.
                legacy: previous ? 0 : 'prefix',
                report: (problem) => problems.push(problem),
              }),
            );
      if (problems.length > 0) {
        refused.push(...problems.slice(0, 10));
        logger.error(
          { tenantId, problems: problems.slice(0, 10) },
          'the audit chain does not verify since its last checkpoint; no checkpoint is written for this tenant — run npm run audit:verify',
        );
        continue;
      }
      if (!end || end.lastSeq === 0 || end.lastSeq === previous?.seq) continue;
      written.push(
        signingKey.sign({
          tenantId,
          seq: end.lastSeq,
          hash: end.lastHash,
          at: now.toISOString(),
          legacyThrough: previous?.legacyThrough ?? end.legacyThrough,
        }),
      );
    }
    await file.append(written);
    for (const checkpoint of written) newest.set(checkpoint.tenantId, checkpoint);
    return { written, refused };
  }

  /** This key's newest checkpoint per tenant, read from the file once; later ones are added as they are written. */
  private async newestCheckpoints(): Promise<Map<string, AuditCheckpoint>> {
    if (this.newest) return this.newest;
    const newest = new Map<string, AuditCheckpoint>();
    for await (const line of this.options.file.lines()) {
      const c = line.checkpoint;
      if (!c || this.options.signingKey.problemWith(c)) continue;
      const known = newest.get(c.tenantId);
      if (!known || c.seq > known.seq) newest.set(c.tenantId, c);
    }
    this.newest = newest;
    return newest;
  }
}
