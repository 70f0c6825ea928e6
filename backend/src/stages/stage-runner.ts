/**
 * The runner of the stages after the 250. It leases a batch of messages in one short transaction
 * (FOR UPDATE SKIP LOCKED, so any number of gateway processes share the work), runs each stage outside any
 * transaction, and commits what the stage decided for the whole batch, with its trace steps, in one short
 * transaction. A message records the last stage it passed: a restart resumes after it, and a stage it has
 * passed never runs again. The lease is renewed while the runner works; the lease of a process that died
 * expires and any process takes the message over.
 *
 * A stage that throws is retried with back-off a few times, then the message is held (state held) with a
 * trace step naming the stage and the reason; a header section that cannot be read whole is held at once.
 * Nothing held is delivered until an operator releases it (stages/message-release.ts).
 */
import { hostname as osHostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { queryRows, type Database } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { deliveries as deliveriesTable } from '../db/schema.ts';
import { storableJson } from '../db/storable-text.ts';
import type { CertificateStore } from '../certs/certificate-store.ts';
import type { Logger } from '../logger.ts';
import { UnreadableHeaderError } from '../mail/header-section.ts';
import { recordTrace, type TraceEntry } from '../messages/message-trace.ts';
import { insertProtectedCopies } from '../protect/protected-copies.ts';
import type { ProtectionModes } from '../protect/protection-modes.ts';
import { spoolWithin, type MessageDirection } from '../messages/spool.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { WorkerLoop, type IntakePriority } from '../work-signal.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { classifyStage } from './classify.ts';
import { guardStage, type GuardRunner } from './guard.ts';
import { stageIndex, type MessageContext, type StagePoint, type StageResults } from './message-context.ts';
import { parseStage, readHeader } from './parse.ts';
import { protectStage } from './protect.ts';
import { queueStage } from './queue.ts';
import { requestStage } from './request.ts';
import { routeStage } from './route.ts';
import type { GuardNoticeDeps, Stage, StageDeps } from './stage.ts';

/** The stored message could not be decrypted (its integrity check failed): no retry changes that. */
class UnopenableMessageError extends Error {
  override name = 'UnopenableMessageError';
  constructor(cause: string) {
    super(`the stored message cannot be decrypted (${cause})`);
  }
}

class UnopenableMessage {
  constructor(
    readonly context: MessageContext,
    readonly error: UnopenableMessageError,
  ) {}
}

/** The stages in their order. */
export const STAGES: readonly Stage[] = [parseStage, classifyStage, requestStage, guardStage, routeStage, protectStage, queueStage];

export interface StageRunnerOptions {
  db: Database;
  vault: KeyVault;
  directory: TenantDirectory;
  protectionModes: ProtectionModes;
  logger: Logger;
  pollMs: number;
  heldRetryMs: number;
  batchSize?: number;
  /**
   * Batches worked at once while batches wait on stages that act outside (a portal store, a check waiting
   * on DNS): the next batch is parsed and routed meanwhile. Batches that only compute are worked one at a
   * time, which leaves the database to the SMTP intake (measured: extra lanes halved relay acceptance).
   */
  parallelBatches?: number;
  /** How long a claim lasts without renewal; the claims of a process that died come back after it. */
  leaseSeconds?: number;
  workerId?: string;
  /** Senders first: while a burst is accepted the stages take a bounded share of the thread. */
  intakePriority?: IntakePriority;
  /** The inbound checks (guard/); without them inbound mail is recorded as "no checks configured". */
  guard?: GuardRunner;
  /** What the guard's quarantine and rejection notices need; without it none are sent. */
  notices?: GuardNoticeDeps;
  /** The tenants' certificate stores, for auto-import from signed inbound mail. */
  certificates?: CertificateStore;
  /** Members' keys and the CRL source, for inbound S/MIME. */
  memberKeys?: StageDeps['memberKeys'];
  crls?: StageDeps['crls'];
  pgpKeys?: StageDeps['pgpKeys'];
  memberPgpKeys?: StageDeps['memberPgpKeys'];
  storedKeys?: StageDeps['storedKeys'];
  internalCopies?: StageDeps['internalCopies'];
  /** The stages to run, in order; the default is STAGES. */
  stages?: readonly Stage[];
  /** The first retry after a stage failed; it doubles with every attempt, up to an hour. */
  retryBaseMs?: number;
  /** Attempts before a failing stage holds the message. */
  maxAttempts?: number;
  /** Called when deliveries were queued, so the delivery worker can start at once. */
  onRouted: () => void;
}

const DEFAULT_LEASE_SECONDS = 60;
const DEFAULT_RETRY_BASE_MS = 10_000;
const DEFAULT_MAX_ATTEMPTS = 10;
const DEFAULT_PARALLEL_BATCHES = 3;

interface ClaimedMessage {
  id: string;
  tenant_id: string;
  direction: MessageDirection;
  mail_from: string;
  client_address: string;
  connector_name: string | null;
  content: Buffer | Uint8Array;
  wrapped_data_key: Buffer | Uint8Array;
  pipeline_attempts: number;
  stage: string;
  stage_results: StageResults;
  received_at: Date | string;
}

/** What one message's stage left to write. */
interface StageOutcome {
  context: MessageContext;
  stage: StagePoint;
  state: string;
  attempts: number;
  /** Seconds until the next attempt after a failure. */
  retryInSeconds?: number;
  /** The message leaves this runner (done, stopped, held or waiting for a retry). */
  releaseLease: boolean;
}

export class StageRunner extends WorkerLoop {
  private readonly workerId: string;
  private readonly stages: readonly Stage[];
  private leaseTimer: NodeJS.Timeout | undefined;
  private working = 0;
  /** When the oldest message of the latest batch was received (ms since the epoch). */
  private oldestClaimed = Date.now();

  constructor(private readonly options: StageRunnerOptions) {
    super();
    this.workerId = options.workerId ?? `${osHostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.stages = options.stages ?? STAGES;
  }

  override start(): void {
    super.start();
    const leaseSeconds = this.options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    this.leaseTimer = setInterval(() => {
      if (this.working === 0) return;
      this.options.db
        .execute(sql`select sealpost_renew_pipeline_leases(${this.workerId}, ${leaseSeconds})`)
        .catch((error: unknown) => this.options.logger.warn({ err: error }, 'renewing message leases failed'));
    }, Math.max(1000, (leaseSeconds * 1000) / 3));
    this.leaseTimer.unref();
  }

  override async stop(): Promise<void> {
    clearInterval(this.leaseTimer);
    const stopping = super.stop();
    this.wakeLanes();
    await stopping;
  }

  protected async run(): Promise<void> {
    const lanes = Array.from({ length: Math.max(1, this.options.parallelBatches ?? DEFAULT_PARALLEL_BATCHES) }, (_, lane) => this.runLane(lane));
    await Promise.all(lanes);
  }

  private laneWaiters: Array<() => void> = [];
  /** Whether the latest batch had a stage that acts outside; only then do the extra lanes work. */
  private lastBatchActedOutside = false;

  private waitForLaneZero(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.options.pollMs);
      this.laneWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wakeLanes(): void {
    for (const wake of this.laneWaiters.splice(0)) wake();
  }

  private async runLane(lane: number): Promise<void> {
    while (this.running) {
      // The extra lanes work only while batches wait on the outside, and not while the stages give way to
      // a burst at intake (one lane then takes the stages' whole share).
      if (lane > 0 && (!this.lastBatchActedOutside || this.options.intakePriority?.givingWay())) {
        await this.waitForLaneZero();
        continue;
      }
      let claimed = 0;
      const started = performance.now();
      try {
        claimed = await this.runBatch();
      } catch (error) {
        this.options.logger.error({ err: error, lane }, 'stage batch failed; retrying shortly');
      }
      // While a burst is being accepted, the stages give way to the intake (IntakePriority).
      if (claimed > 0) this.options.intakePriority?.reportBacklog(Date.now() - this.oldestClaimed);
      const pause = claimed > 0 ? (this.options.intakePriority?.pauseAfter(performance.now() - started) ?? 0) : 0;
      if (pause > 0) await sleep(pause);
      if (claimed === 0 && this.running) {
        // One lane listens for new work; the others poll, so a burst is taken up within one poll.
        if (lane === 0) await this.signal.wait(this.options.pollMs);
        else await this.waitForLaneZero();
      } else if (lane === 0) {
        // More work may wait: the other lanes look now rather than after a whole poll.
        this.wakeLanes();
      }
    }
  }

  /** Leases up to one batch of messages and takes them through the stages; returns how many were leased. */
  async runBatch(): Promise<number> {
    this.working += 1;
    try {
      const claimed = await this.claim();
      if (claimed.length === 0) return 0;
      this.oldestClaimed = Math.min(...claimed.map((m) => new Date(m.received_at).getTime()));
      const loaded = await this.load(claimed);
      const contexts = loaded.filter((c): c is MessageContext => !(c instanceof UnopenableMessage));
      const unopenable = loaded.filter((c): c is UnopenableMessage => c instanceof UnopenableMessage);
      // A stored message that cannot be decrypted stays so: it is held at once, with the reason.
      if (unopenable.length > 0) await this.commit(unopenable.map((u) => this.failed(parseStage, u.context, u.error)));
      let queued = 0;
      const deps: StageDeps = {
        db: this.options.db,
        directory: this.options.directory,
        protectionModes: this.options.protectionModes,
        vault: this.options.vault,
        guard: this.options.guard,
        notices: this.options.notices,
        certificates: this.options.certificates,
        memberKeys: this.options.memberKeys,
        crls: this.options.crls,
        pgpKeys: this.options.pgpKeys,
        memberPgpKeys: this.options.memberPgpKeys,
        storedKeys: this.options.storedKeys,
        internalCopies: this.options.internalCopies,
      };
      let active = contexts;
      // The latest outcome of each message not yet written. Stages that only compute (parse, classify,
      // request, route, queue) are written together; before and after a stage that waits on something
      // outside or acts on the world (guard checks, protection), what came before is written, so a crash
      // there resumes right at that stage and never repeats what it did.
      const pending = new Map<string, StageOutcome>();
      let actedOutside = false;
      const flush = async () => {
        if (pending.size === 0) return;
        const outcomes = [...pending.values()];
        pending.clear();
        const queuedBy = new Map(
          outcomes.map((o) => [
            o.context.id,
            (o.context.deliveries?.filter((d) => d.status === 'queued').length ?? 0) + (o.context.spool?.length ?? 0),
          ]),
        );
        const kept = await this.commit(outcomes);
        for (const id of kept) queued += queuedBy.get(id) ?? 0;
        const lost = new Set(outcomes.filter((o) => !kept.has(o.context.id)).map((o) => o.context.id));
        if (lost.size > 0) active = active.filter((c) => !lost.has(c.id));
      };
      for (const stage of this.stages) {
        const due = active.filter((c) => stageIndex(c.stage) < stageIndex(stage.reaches));
        if (due.length === 0) continue;
        const checkpoint = due.some((c) => stage.actsOutside?.(c, deps) ?? false);
        actedOutside ||= checkpoint;
        if (checkpoint) await flush();
        const stillDue = due.filter((c) => active.includes(c));
        const outcomes = await Promise.all(stillDue.map((context) => this.runStage(stage, context, deps)));
        for (const outcome of outcomes) pending.set(outcome.context.id, outcome);
        const leaving = new Set(outcomes.filter((o) => o.releaseLease).map((o) => o.context.id));
        if (checkpoint) await flush();
        active = active.filter((c) => !leaving.has(c.id));
      }
      await flush();
      this.lastBatchActedOutside = actedOutside;
      if (queued > 0) this.options.onRouted();
      return claimed.length;
    } finally {
      this.working -= 1;
    }
  }

  /** The lease: a short transaction that marks the batch as this runner's until the lease ends. */
  private async claim(): Promise<ClaimedMessage[]> {
    const leaseSeconds = this.options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    return this.options.db.transaction(async (tx) => {
      // A lost claim only means the message is claimed again once the lease has passed.
      await tx.execute(sql`set local synchronous_commit = off`);
      // Claimed across tenants by the one function allowed to (drizzle/0007_tenant_isolation.sql); each
      // message is then read and written in its own tenant's scope.
      return queryRows<ClaimedMessage>(
        tx,
        sql`select id, tenant_id, direction, mail_from, client_address, connector_name, content, wrapped_data_key,
                   pipeline_attempts, stage, stage_results, received_at
            from sealpost_claim_pipeline(${this.workerId}, ${leaseSeconds}, ${this.options.batchSize ?? 50})`,
      );
    });
  }

  private async load(claimed: ClaimedMessage[]): Promise<Array<MessageContext | UnopenableMessage>> {
    const { db, vault, directory } = this.options;
    const recipientRows = await withTenants(db, claimed.map((m) => m.tenant_id), (tx) =>
      queryRows<{ message_id: string; address: string }>(
        tx,
        sql`select message_id, address from message_recipients
          where message_id in (${sql.join(claimed.map((m) => sql`${m.id}::uuid`), sql`, `)})
          order by message_id, position`,
      ),
    );
    const recipientsByMessage = new Map<string, string[]>();
    for (const row of recipientRows) {
      const list = recipientsByMessage.get(row.message_id) ?? [];
      list.push(row.address);
      recipientsByMessage.set(row.message_id, list);
    }
    return Promise.all(
      claimed.map(async (message): Promise<MessageContext | UnopenableMessage> => {
        let raw: Buffer;
        try {
          raw = await vault.open(message.tenant_id, message.id, {
            content: Buffer.from(message.content),
            wrappedDataKey: Buffer.from(message.wrapped_data_key),
          });
        } catch (error) {
          const context: MessageContext = {
            id: message.id,
            tenantId: message.tenant_id,
            direction: message.direction,
            mailFrom: message.mail_from,
            clientAddress: message.client_address,
            connectorName: message.connector_name,
            recipients: [],
            raw: Buffer.alloc(0),
            results: message.stage_results ?? {},
            stage: (stageIndex(message.stage) > 0 ? message.stage : 'received') as StagePoint,
            attempts: message.pipeline_attempts,
            trace: [],
          };
          return new UnopenableMessage(context, new UnopenableMessageError((error as Error).message));
        }
        return {
          id: message.id,
          tenantId: message.tenant_id,
          tenant: directory.tenantById(message.tenant_id),
          direction: message.direction,
          mailFrom: message.mail_from,
          clientAddress: message.client_address,
          connectorName: message.connector_name,
          recipients: recipientsByMessage.get(message.id) ?? [],
          raw,
          results: message.stage_results ?? {},
          stage: (stageIndex(message.stage) > 0 ? message.stage : 'received') as StagePoint,
          attempts: message.pipeline_attempts,
          trace: [],
        };
      }),
    );
  }

  private async runStage(stage: Stage, context: MessageContext, deps: StageDeps): Promise<StageOutcome> {
    try {
      // A message resumed past the parse stage reads its header from the same stored bytes.
      if (stage !== parseStage && stageIndex(context.stage) >= stageIndex('parsed')) readHeader(context);
      await stage.run(context, deps);
      context.stage = stage.reaches;
      if (context.stopped) return { context, stage: stage.reaches, state: context.stopped.state, attempts: context.attempts, releaseLease: true };
      const last = stage.reaches === 'queued';
      // Every recipient taken over by its mode in the protect stage: the message is already done.
      const done = last && context.deliveries!.length > 0 && context.deliveries!.every((d) => d.status === 'delivered');
      return { context, stage: stage.reaches, state: done ? 'delivered' : last ? 'routed' : 'received', attempts: context.attempts, releaseLease: last };
    } catch (error) {
      return this.failed(stage, context, error as Error);
    }
  }

  private failed(stage: Stage, context: MessageContext, error: Error): StageOutcome {
    const attempts = context.attempts + 1;
    const unreadable = error instanceof UnreadableHeaderError || error instanceof UnopenableMessageError;
    const hold = unreadable || attempts >= (this.options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.options.logger.error({ err: error, messageId: context.id, stage: stage.name }, `stage ${stage.name} failed`);
    const base = { messageId: context.id, tenantId: context.tenantId };
    context.trace.push({ ...base, step: 'pipeline_error', detail: { stage: stage.name, error: error.message, attempts, willRetry: !hold } });
    context.deliveries = undefined;
    if (hold) {
      const reason = unreadable
        ? `${error.message}: the message cannot be read, so it is held until an operator releases it`
        : `${error.message} (after ${attempts} attempts)`;
      context.results.held = { stage: stage.name, reason, transient: !unreadable };
      context.trace.push({ ...base, step: 'held', detail: { stage: stage.name, reason } });
      return { context, stage: context.stage, state: 'held', attempts, releaseLease: true };
    }
    const retryMs = Math.min(3_600_000, (this.options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS) * 2 ** (attempts - 1));
    return { context, stage: context.stage, state: 'received', attempts, retryInSeconds: retryMs / 1000, releaseLease: true };
  }

  /**
   * Writes one stage's outcome for the batch in one short transaction: the stage reached, its results, the
   * state, the trace steps and (for the queue stage) the deliveries. Only messages this runner still leases
   * are written; returns their ids.
   */
  private async commit(outcomes: StageOutcome[]): Promise<Set<string>> {
    const { db, heldRetryMs } = this.options;
    const written = await withTenants(db, outcomes.map((o) => o.context.tenantId), async (tx) => {
      // Until deliveries are queued or a mode has acted, a lost commit only repeats a stage that computes.
      const acted = outcomes.some((o) => o.context.deliveries || o.context.results.protected || o.context.protectedCopies || o.context.spool);
      if (!acted) await tx.execute(sql`set local synchronous_commit = off`);
      const kept = new Set<string>();
      for (let i = 0; i < outcomes.length; i += 500) {
        const rows = outcomes.slice(i, i + 500).map(
          (o) =>
            sql`(${o.context.id}, ${o.stage}, ${JSON.stringify(storableJson(o.context.results as Record<string, unknown>))}, ${o.state},
                 ${o.attempts}, ${o.retryInSeconds ?? null}, ${o.releaseLease})`,
        );
        const written = await queryRows<{ id: string }>(
          tx,
          sql`update messages m
              set stage = v.stage, stage_results = v.results::jsonb, state = v.state, pipeline_attempts = v.attempts::int,
                  pipeline_next_at = case when v.retry_in is null then m.pipeline_next_at
                                          else now() + make_interval(secs => v.retry_in::double precision) end,
                  pipeline_lease_owner = case when v.release::boolean then null else m.pipeline_lease_owner end,
                  pipeline_locked_until = case when v.release::boolean then null else m.pipeline_locked_until end
              from (values ${sql.join(rows, sql`, `)}) as v(id, stage, results, state, attempts, retry_in, release)
              where m.id = v.id::uuid and m.pipeline_lease_owner = ${this.workerId} and m.state = 'received'
              returning m.id`,
        );
        for (const row of written) kept.add(row.id);
      }
      const keptOutcomes = outcomes.filter((o) => kept.has(o.context.id));
      // Before the deliveries that send them; written even when a later group of the message failed, since
      // the stored result already names them.
      await insertProtectedCopies(tx, keptOutcomes.flatMap((o) => o.context.protectedCopies ?? []));
      // A verdict's notices, queued with the verdict that sends them: one is never without the other.
      await spoolWithin(tx, this.options.vault, keptOutcomes.flatMap((o) => o.context.spool ?? []));
      const deliveryRows = keptOutcomes.flatMap((o) => o.context.deliveries ?? []);
      for (let i = 0; i < deliveryRows.length; i += 1000) {
        await tx.insert(deliveriesTable).values(
          deliveryRows.slice(i, i + 1000).map(({ heldRetry, ...row }) => ({
            ...row,
            nextAttemptAt: heldRetry ? sql`now() + make_interval(secs => ${heldRetryMs / 1000})` : sql`now()`,
            finishedAt: row.status === 'delivered' ? sql`now()` : null,
          })),
        );
      }
      const trace: TraceEntry[] = keptOutcomes.flatMap((o) => o.context.trace);
      for (let i = 0; i < trace.length; i += 1000) await recordTrace(tx, trace.slice(i, i + 1000));
      return kept;
    });
    // Written: the next stages start a fresh trace; the deliveries are queued.
    for (const outcome of outcomes) {
      if (!written.has(outcome.context.id)) continue;
      outcome.context.trace = [];
      outcome.context.deliveries = undefined;
      outcome.context.protectedCopies = undefined;
      outcome.context.spool = undefined;
    }
    return written;
  }
}
