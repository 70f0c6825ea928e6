/**
 * The delivery queue worker. Deliveries are claimed with FOR UPDATE SKIP LOCKED, so several gateway
 * processes on one PostgreSQL deliver each message once; a claim that outlives its lock (a process that
 * died) is taken over. Temporary failures are retried with exponential back-off; a permanent failure, or a
 * message still undelivered after its maximum age, returns a delivery status notification to the envelope
 * sender (never to the null sender).
 */
import { hostname as osHostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import { queryRows, type Database, type Queryable, type Transaction } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { deliveries, messages } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { parseSealpostHeaders } from '../../../common/src/headers.ts';
import { protectionFor } from '../tenants/encryption-policy.ts';
import { controlHeaderLookup, headerValue, splitMessage } from '../mail/header-block.ts';
import { recordTrace, type TraceEntry } from '../messages/message-trace.ts';
import { deleteCopiesOfFinishedMessages, insertProtectedCopies, openProtectedCopy, sealProtectedCopy } from '../protect/protected-copies.ts';
import type { ProtectionModes, ProtectionOutcome, SecuredMode } from '../protect/protection-modes.ts';
import { spoolWithin } from '../messages/spool.ts';
import type { TenantDirectory, TenantInfo } from '../tenants/tenant-directory.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { WorkSignal, type IntakePriority } from '../work-signal.ts';
import { deliverToMailbox } from './development-mailbox.ts';
import { buildDeliveryStatusNotification, type DsnLanguage, type FailedRecipient } from './delivery-status-notification.ts';

/** The language of a bounce to `sender` of the tenant; read in the transaction that spools the bounce. */
export type BounceLanguage = (q: Queryable, tenantId: string, sender: string) => Promise<DsnLanguage>;
import { resolveMailExchangers, type ExchangerLookup } from './mail-exchangers.ts';
import { prepareOutgoingMessage, type OutgoingMarking, type OutgoingMessage, type OutgoingRoute } from '../mail/outgoing-message.ts';
import { deliveryMarking } from './verdict-marking.ts';
import type { StageResults } from '../stages/message-context.ts';
import { hasExpired, nextAttemptDelayMs, type RetryPolicy } from './retry-schedule.ts';
import type { DeliveryEnvelope, RecipientOutcome, SendResult, SmtpDeliveryClient, SmtpTarget } from './smtp-client.ts';
import { storableOptionalText, storableText } from '../db/storable-text.ts';

export interface DeliveryWorkerOptions {
  /** Senders first: while a burst is accepted, deliveries keep to a share of their concurrency. */
  intakePriority?: IntakePriority;
  db: Database;
  vault: KeyVault;
  directory: TenantDirectory;
  protectionModes: ProtectionModes;
  client: SmtpDeliveryClient;
  logger: Logger;
  metrics: GatewayMetrics;
  hostname: string;
  /** smtp://host:port: all outbound mail goes through this relay; without it, the recipient's MX. */
  relay?: string;
  retry: RetryPolicy;
  heldRetryMs: number;
  concurrency: number;
  pollMs: number;
  lockSeconds?: number;
  workerId?: string;
  resolveExchangers?: (domain: string) => Promise<ExchangerLookup>;
  /** Called when a bounce was spooled, so the pipeline routes it at once. */
  onBounceSpooled: () => void;
  /**
   * Sends every delivery another way instead of SMTP to its destination: the portal on its own host hands
   * all its mail to the gateway over the tunnel (portal/portal-tunnel.ts), with the route the gateway takes.
   */
  forward?: (delivery: { messageId: string; tenant: TenantInfo; route: OutgoingRoute; envelope: DeliveryEnvelope; raw: Buffer }) => Promise<SendResult>;
  /** The language a bounce to this sender is written in (the tenant's, as its other notices); unset: English. */
  bounceLanguage?: BounceLanguage;
}

const DEFAULT_LEASE_SECONDS = 60;

interface ClaimedDelivery {
  id: string;
  message_id: string;
  tenant_id: string;
  recipient: string;
  route: OutgoingRoute;
  protection: string;
  as_received: boolean;
  protected_copy_id: string | null;
  attempts: number;
  created_at: Date | string;
}

interface LoadedMessage {
  raw: Buffer;
  /** Fields the delivered copy gets from the stages: the inbound checks' verdict when they flagged it. */
  extraFields: Buffer[];
  /** The inbound checks' marks on the delivered copy (Authentication-Results, subject prefix). */
  marking?: OutgoingMarking;
  mailFrom: string;
  direction: string;
  receivedAt: Date;
  messageIdHeader?: string;
}

type Destination =
  | { kind: 'smtp'; target: SmtpTarget; label: string }
  | { kind: 'mx'; domain: string; label: string }
  | { kind: 'mailbox'; folder: string; label: string }
  | { kind: 'unavailable'; reason: string; label: string };

/** What happened to one delivery, ready to be written. */
interface DeliveryResult {
  delivery: ClaimedDelivery;
  status: 'delivered' | 'deferred' | 'failed' | 'held';
  reply: string;
  enhancedCode?: string;
  remote?: string;
  message?: LoadedMessage;
}

export class DeliveryWorker {
  readonly signal = new WorkSignal();
  private running = false;
  private loop: Promise<void> | undefined;
  private inFlight = 0;
  private pending: DeliveryResult[] = [];
  /** Results taken from `pending` and being written now. */
  private recording = 0;
  private flushing: Promise<void> | undefined;
  private readonly workerId: string;

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.workerId = options.workerId ?? `${osHostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  private leaseTimer: NodeJS.Timeout | undefined;

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
    // Claims are leases: this process renews its own while it works on them, so the claims of a process
    // that died come back to the queue within one lease.
    const leaseSeconds = this.options.lockSeconds ?? DEFAULT_LEASE_SECONDS;
    this.leaseTimer = setInterval(() => {
      if (this.inFlight === 0) return;
      this.options.db
        .execute(sql`select sealpost_renew_delivery_leases(${this.workerId}, ${leaseSeconds})`)
        .catch((error: unknown) => this.options.logger.warn({ err: error }, 'renewing delivery leases failed'));
    }, Math.max(1000, (leaseSeconds * 1000) / 3));
    this.leaseTimer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.leaseTimer);
    this.signal.notify();
    await this.loop;
    while (this.inFlight > 0) await this.signal.wait(50);
    await this.flush();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      // Deliveries sent but not yet recorded are sent again if this process dies, so they count against a
      // limit too: at most twice the concurrency is ever sent and unrecorded, which bounds the repeats a
      // crash can cause while recording falls behind.
      const unrecorded = this.pending.length + this.recording;
      // While a burst is accepted, deliveries keep to their share of the concurrency (IntakePriority).
      const priority = this.options.intakePriority;
      const concurrency = priority?.givingWay() ? Math.max(1, Math.ceil(this.options.concurrency * priority.share)) : this.options.concurrency;
      const room = Math.min(concurrency - this.inFlight, 2 * this.options.concurrency - this.inFlight - unrecorded);
      if (room > 0) {
        try {
          claimed = await this.claimAndDispatch(room);
        } catch (error) {
          this.options.logger.error({ err: error }, 'claiming deliveries failed; retrying shortly');
        }
      }
      if ((claimed === 0 || room - claimed <= 0) && this.running) {
        await this.signal.wait(claimed === 0 && this.inFlight === 0 ? this.options.pollMs : 250);
      }
    }
  }

  /** Claims due deliveries and starts them; returns how many were claimed. */
  async claimAndDispatch(limit: number): Promise<number> {
    const lockSeconds = this.options.lockSeconds ?? DEFAULT_LEASE_SECONDS;
    const claimed = await this.options.db.transaction(async (tx) => {
      await tx.execute(sql`set local synchronous_commit = off`);
      return queryRows<ClaimedDelivery>(
        tx,
        // Claimed across tenants by the one function allowed to (drizzle/0007_tenant_isolation.sql); the
        // messages and the outcomes are then read and written in the scope of the claimed tenants only.
        sql`select id, message_id, tenant_id, recipient, route, protection, as_received, protected_copy_id,
                   attempts, created_at
            from sealpost_claim_deliveries(${this.workerId}, ${lockSeconds}, ${limit})`,
      );
    });
    if (claimed.length === 0) return 0;

    const groups = new Map<string, ClaimedDelivery[]>();
    for (const delivery of claimed) {
      const destination = this.destinationFor(delivery);
      // Recipients that share a stored protected copy and a destination get it in one transaction.
      const key = `${delivery.message_id}|${delivery.route}|${delivery.protection}|${delivery.as_received}|${delivery.protected_copy_id ?? ''}|${destination.label}`;
      const group = groups.get(key) ?? [];
      group.push(delivery);
      groups.set(key, group);
    }
    // The messages of the whole claim are read with one query; each is decrypted when its group starts.
    const messageCache = new Map<string, Promise<LoadedMessage>>();
    const messageIds = [...new Set(claimed.map((d) => d.message_id))];
    const rows = await withTenants(this.options.db, claimed.map((d) => d.tenant_id), (tx) =>
      tx.select().from(messages).where(inArray(messages.id, messageIds)),
    );
    for (const row of rows) messageCache.set(row.id, this.openMessage(row));
    for (const group of groups.values()) {
      this.inFlight += group.length;
      this.deliverGroup(group, messageCache)
        .catch((error: unknown): DeliveryResult[] =>
          group.map((delivery) => ({ delivery, status: 'deferred', reply: `internal error: ${(error as Error).message}` })),
        )
        .then((results) => {
          this.inFlight -= group.length;
          this.pending.push(...results);
          this.scheduleFlush();
          this.signal.notify();
        });
    }
    return claimed.length;
  }

  private destinationFor(delivery: ClaimedDelivery): Destination {
    if (delivery.route === 'tenant-mail-server') {
      const tenant = this.options.directory.tenantById(delivery.tenant_id);
      if (!tenant?.mailServer) {
        return { kind: 'unavailable', reason: 'the tenant has no mail server configured', label: 'none' };
      }
      return parseDestination(tenant.mailServer);
    }
    if (this.options.relay) return parseDestination(this.options.relay);
    const domain = delivery.recipient.slice(delivery.recipient.lastIndexOf('@') + 1).toLowerCase();
    return { kind: 'mx', domain, label: `mx:${domain}` };
  }

  private async loadMessage(tenantId: string, messageId: string): Promise<LoadedMessage> {
    const [row] = await withTenants(this.options.db, tenantId, (tx) => tx.select().from(messages).where(eq(messages.id, messageId)));
    if (!row) throw new Error(`message ${messageId} is missing`);
    return this.openMessage(row);
  }

  private async openMessage(row: typeof messages.$inferSelect): Promise<LoadedMessage> {
    const raw = await this.options.vault.open(row.tenantId, row.id, { content: row.content, wrappedDataKey: row.wrappedDataKey });
    const marked = deliveryMarking((row.stageResults as StageResults).guard, this.options.hostname);
    return {
      raw,
      extraFields: marked.fields,
      marking: marked.marking,
      mailFrom: row.mailFrom,
      direction: row.direction,
      receivedAt: row.receivedAt,
      messageIdHeader: row.messageIdHeader ?? undefined,
    };
  }

  private async deliverGroup(group: ClaimedDelivery[], cache: Map<string, Promise<LoadedMessage>>): Promise<DeliveryResult[]> {
    const first = group[0]!;
    const tenant = this.options.directory.tenantById(first.tenant_id);
    let loading = cache.get(first.message_id);
    if (!loading) {
      loading = this.loadMessage(first.tenant_id, first.message_id);
      cache.set(first.message_id, loading);
    }
    const message = await loading;
    const results = (status: DeliveryResult['status'], reply: string, extra: Partial<DeliveryResult> = {}) =>
      group.map((delivery) => ({ delivery, status, reply, message, ...extra }));

    if (!tenant) return results('deferred', 'the tenant of this message is unknown to this gateway process');

    if (first.protection !== 'none') {
      if (first.protected_copy_id) return this.sendStoredCopy(group, tenant, first.protected_copy_id, message);
      const handler = this.options.protectionModes.handlerFor(first.protection as SecuredMode);
      if (!handler) {
        return results('held', `held: protection "${first.protection}" is not available yet; the message will not be sent unprotected`);
      }
      // The stages could not protect this route (its mode was not available then): it is protected now,
      // from the message without the sender's instructions to the gateway, and a copy to deliver is stored
      // so that later attempts send the same bytes.
      const cleaned = prepareOutgoingMessage(message.raw, 'external', [], tenant.subjectTriggers);
      if (cleaned.outcome === 'refused') return results('failed', cleaned.reason, { enhancedCode: '5.6.0' });
      // The sender's request (options such as a signature) and the sender, as the protect stage had them.
      const split = splitMessage(message.raw);
      const fields = split.outcome === 'split' ? split.fields : [];
      const request = parseSealpostHeaders(controlHeaderLookup(fields), headerValue(fields, 'subject'), tenant.subjectTriggers);
      const sender = { mailFrom: message.mailFrom, from: headerValue(fields, 'from')?.trim() };
      const base = { messageId: first.message_id, tenantId: tenant.id, raw: cleaned.raw, request, sender };
      if (handler.protectGroup) {
        const outcome = await handler.protectGroup({ ...base, recipients: group.map((d) => d.recipient) });
        return this.afterProtection(group, tenant, outcome, message);
      }
      const outcomes: DeliveryResult[] = [];
      for (const delivery of group) {
        // 'auto' needs to know again whether encryption is only allowed or mandatory for the recipient.
        const { requirement } = protectionFor(tenant.encryption, request, delivery.recipient);
        const outcome = await handler.protect({ ...base, recipient: delivery.recipient, ...(requirement ? { requirement } : {}) });
        outcomes.push(...(await this.afterProtection([delivery], tenant, outcome, message)));
      }
      return outcomes;
    }
    // The checks disarmed this message (an attachment removed, links rewritten): the stored copy is sent.
    if (first.protected_copy_id) return this.sendStoredCopy(group, tenant, first.protected_copy_id, message);
    return this.send(group, tenant, message.raw, message);
  }

  /** Acts on what a mode did at delivery; bytes to deliver are stored first, then sent. */
  private async afterProtection(
    group: ClaimedDelivery[],
    tenant: TenantInfo,
    outcome: ProtectionOutcome,
    message: LoadedMessage,
  ): Promise<DeliveryResult[]> {
    const first = group[0]!;
    switch (outcome.kind) {
      case 'handled':
        return group.map((delivery) => ({ delivery, status: 'delivered', reply: `handled by ${first.protection}`, message }));
      case 'unavailable':
        return group.map((delivery) => ({ delivery, status: 'held', reply: `held: ${outcome.reason}`, message }));
      case 'refused':
        return group.map((delivery) => ({ delivery, status: 'failed', reply: outcome.reason, enhancedCode: outcome.enhancedCode, message }));
      case 'deliver': {
        const { db, vault } = this.options;
        // Recipients the copy cannot serve stay held with the mode's reason; the copy serves the others.
        const unserved = new Set(outcome.unserved?.recipients ?? []);
        const served = group.filter((d) => !unserved.has(d.recipient));
        const waiting = group
          .filter((d) => unserved.has(d.recipient))
          .map((delivery): DeliveryResult => ({ delivery, status: 'held', reply: `held: ${outcome.unserved!.reason}`, message }));
        if (served.length === 0) return waiting;
        const recipients = served.map((d) => d.recipient);
        const copy = await sealProtectedCopy(vault, { tenantId: tenant.id, messageId: first.message_id, mode: first.protection, recipients, raw: outcome.raw });
        await withTenants(db, tenant.id, async (tx) => {
          await insertProtectedCopies(tx, [copy]);
          await tx
            .update(deliveries)
            .set({ protectedCopyId: copy.id })
            .where(inArray(deliveries.id, served.map((d) => d.id)));
        });
        return [...(await this.send(served, tenant, outcome.raw, message, { protectedCopy: true })), ...waiting];
      }
    }
  }

  /**
   * Sends the protected copy the stages stored for these deliveries, decrypted for this attempt only. A
   * copy that is gone or cannot be decrypted holds the deliveries: they are never sent unprotected, and
   * the mode is not asked again.
   */
  private async sendStoredCopy(group: ClaimedDelivery[], tenant: TenantInfo, copyId: string, message: LoadedMessage): Promise<DeliveryResult[]> {
    const copy = await openProtectedCopy(this.options.vault, this.options.db, tenant.id, copyId);
    if (copy.outcome !== 'opened') {
      const why = copy.outcome === 'missing' ? 'is missing' : `cannot be decrypted (${copy.reason})`;
      const reply = `held: the stored protected copy ${why}; the message will not be sent unprotected`;
      return group.map((delivery) => ({ delivery, status: 'held', reply, message }));
    }
    const strangers = group.filter((d) => !copy.recipients.includes(d.recipient));
    if (strangers.length > 0) {
      const reply = 'held: the stored protected copy does not serve this recipient; the message will not be sent unprotected';
      return group.map((delivery) => ({ delivery, status: 'held', reply, message }));
    }
    return this.send(group, tenant, copy.raw, message, { protectedCopy: true });
  }

  private async send(
    group: ClaimedDelivery[],
    tenant: TenantInfo,
    raw: Buffer,
    message: LoadedMessage,
    how: { protectedCopy?: boolean } = {},
  ): Promise<DeliveryResult[]> {
    const first = group[0]!;
    const recipientsOfGroup = group.map((d) => d.recipient);
    // An operator released this message past the stages: it goes to the tenant's mail server as it came.
    // A protected copy leaves exactly as its mode made it (from the cleaned message) on every attempt.
    const prepared: OutgoingMessage =
      first.as_received || (how.protectedCopy && first.route === 'external')
        ? { outcome: 'ready', raw }
      : prepareOutgoingMessage(raw, first.route, recipientsOfGroup, tenant.subjectTriggers, message.extraFields, message.marking, tenant.domains);
    if (prepared.outcome === 'refused') {
      // Permanent: the same bytes give the same answer on every attempt, so the sender is told at once.
      return group.map((delivery) => ({ delivery, status: 'failed', reply: prepared.reason, enhancedCode: '5.6.0', message }));
    }
    const outgoing = prepared.raw;
    const destination = this.destinationFor(first);
    const envelope = {
      mailFrom: message.mailFrom,
      recipients: recipientsOfGroup,
      smtpUtf8: /[^\x00-\x7f]/.test(message.mailFrom + recipientsOfGroup.join('')),
      eightBitMime: true,
    };
    const byRecipient = (outcomes: RecipientOutcome[], remote: string): DeliveryResult[] =>
      group.map((delivery) => {
        const outcome = outcomes.find((o: RecipientOutcome) => o.recipient === delivery.recipient);
        return {
          delivery,
          status: outcome?.status ?? 'deferred',
          reply: outcome ? `${outcome.code ?? ''} ${outcome.enhancedCode ?? ''} ${outcome.reply}`.replace(/\s+/g, ' ').trim() : 'no reply for this recipient',
          enhancedCode: outcome?.enhancedCode,
          remote,
          message,
        };
      });

    if (this.options.forward) {
      const result = await this.options.forward({ messageId: first.message_id, tenant, route: first.route, envelope, raw: outgoing });
      return byRecipient(result.outcomes, result.remote);
    }
    switch (destination.kind) {
      case 'unavailable':
        return group.map((delivery) => ({ delivery, status: 'deferred', reply: destination.reason, message }));
      case 'mailbox': {
        const written: DeliveryResult[] = [];
        for (const delivery of group) {
          const file = await deliverToMailbox(destination.folder, delivery.recipient, delivery.id, outgoing);
          written.push({ delivery, status: 'delivered', reply: `written to ${file}`, remote: 'mailbox', message });
        }
        return written;
      }
      case 'smtp': {
        const result = await this.options.client.send(destination.target, envelope, outgoing);
        return byRecipient(result.outcomes, result.remote);
      }
      case 'mx': {
        const lookup = await (this.options.resolveExchangers ?? resolveMailExchangers)(destination.domain);
        if ('permanentError' in lookup) {
          return group.map((delivery) => ({
            delivery,
            status: 'failed',
            reply: lookup.permanentError,
            enhancedCode: lookup.enhancedCode,
            message,
          }));
        }
        if ('temporaryError' in lookup) {
          return group.map((delivery) => ({ delivery, status: 'deferred', reply: lookup.temporaryError, message }));
        }
        let last: DeliveryResult[] = [];
        for (const host of lookup.hosts) {
          const result = await this.options.client.send({ host, port: 25 }, envelope, outgoing);
          last = byRecipient(result.outcomes, result.remote);
          // Only a host that could not be reached at all sends us to the next exchanger.
          if (!result.outcomes.every((o: RecipientOutcome) => o.status === 'deferred' && o.code === undefined)) break;
        }
        return last;
      }
    }
  }

  private scheduleFlush(): void {
    if (this.flushing || this.pending.length === 0) return;
    this.flushing = this.drainPending().finally(() => {
      this.flushing = undefined;
      this.scheduleFlush();
    });
  }

  private async drainPending(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, 500);
      this.recording = batch.length;
      try {
        await this.record(batch);
      } catch (error) {
        // The claims expire and the deliveries are retried: nothing is lost, at worst sent twice.
        this.options.logger.error({ err: error, count: batch.length }, 'recording delivery results failed');
      } finally {
        this.recording = 0;
        // Room to claim again.
        this.signal.notify();
      }
    }
  }

  private async flush(): Promise<void> {
    while (this.flushing || this.pending.length > 0) {
      this.scheduleFlush();
      await this.flushing;
    }
  }

  private async record(batch: DeliveryResult[]): Promise<void> {
    const { metrics, retry } = this.options;
    const now = new Date();
    let bounces = 0;
    await withTenants(this.options.db, batch.map((r) => r.delivery.tenant_id), async (tx) => {
      // A lost status update only means the delivery is attempted again.
      await tx.execute(sql`set local synchronous_commit = off`);
      const trace: TraceEntry[] = [];
      const updates: DeliveryUpdate[] = [];
      const finishedMessages: string[] = [];
      const failedByMessage = new Map<string, { message: LoadedMessage; tenantId: string; recipients: FailedRecipient[] }>();
      // Recipients that share a protected copy come back together, so the retry is again one transaction.
      const sharedDelays = new Map<string, number>();
      const retryDelay = (delivery: ClaimedDelivery): number => {
        if (!delivery.protected_copy_id) return nextAttemptDelayMs(delivery.attempts, retry);
        const key = `${delivery.protected_copy_id}|${delivery.attempts}`;
        const delay = sharedDelays.get(key) ?? nextAttemptDelayMs(delivery.attempts, retry);
        sharedDelays.set(key, delay);
        return delay;
      };

      for (const result of batch) {
        const { delivery } = result;
        const createdAt = new Date(delivery.created_at);
        const expired = (result.status === 'deferred' || result.status === 'held') && hasExpired(createdAt, now, retry);
        const base = { messageId: delivery.message_id, tenantId: delivery.tenant_id };
        const detail = { recipient: delivery.recipient, attempt: delivery.attempts, remote: result.remote, reply: result.reply };

        if (result.status === 'delivered') {
          metrics.delivered.inc();
          updates.push({ id: delivery.id, status: 'delivered', reply: result.reply, remote: result.remote, finished: true });
          finishedMessages.push(delivery.message_id);
          trace.push({ ...base, step: 'delivered', detail });
        } else if (result.status === 'failed' || expired) {
          metrics.bounced.inc();
          const status = result.status === 'failed' ? 'failed' : 'expired';
          updates.push({ id: delivery.id, status, reply: result.reply, remote: result.remote, finished: true });
          finishedMessages.push(delivery.message_id);
          trace.push({ ...base, step: status, detail });
          if (result.message) {
            const entry = failedByMessage.get(delivery.message_id) ?? {
              message: result.message,
              tenantId: delivery.tenant_id,
              recipients: [],
            };
            entry.recipients.push({
              recipient: delivery.recipient,
              action: 'failed',
              status: status === 'expired' ? (result.status === 'held' ? '5.7.0' : '4.4.7') : (result.enhancedCode ?? '5.0.0'),
              diagnosticCode: status === 'expired' ? `smtp; gave up after ${delivery.attempts} attempts: ${result.reply}` : `smtp; ${result.reply}`,
              remoteMta: result.remote,
              lastAttemptAt: now,
            });
            failedByMessage.set(delivery.message_id, entry);
          }
        } else {
          const held = result.status === 'held';
          if (!held) metrics.deferred.inc();
          const delayMs = held ? this.options.heldRetryMs : retryDelay(delivery);
          updates.push({
            id: delivery.id,
            status: held ? 'held' : 'queued',
            reply: result.reply,
            remote: result.remote,
            nextAttemptAt: new Date(now.getTime() + delayMs),
            finished: false,
          });
          trace.push({ ...base, step: held ? 'held' : 'deferred', detail: { ...detail, retryInSeconds: Math.round(delayMs / 1000) } });
        }
      }

      await applyDeliveryUpdates(tx, updates);
      await settleFinishedMessages(tx, finishedMessages);
      for (const [messageId, failure] of failedByMessage) {
        const spooled = await this.spoolBounce(tx, messageId, failure.tenantId, failure.message, failure.recipients);
        if (spooled) {
          bounces += 1;
          trace.push({ messageId, tenantId: failure.tenantId, step: 'bounce_sent', detail: { to: failure.message.mailFrom, bounceMessageId: spooled } });
        }
      }
      await recordTrace(tx, trace);
    });
    if (bounces > 0) this.options.onBounceSpooled();
  }

  /** Queues a delivery status notification to the envelope sender; never to the null sender. */
  private async spoolBounce(
    tx: Transaction,
    messageId: string,
    tenantId: string,
    message: LoadedMessage,
    failed: FailedRecipient[],
  ): Promise<string | undefined> {
    // Bounces themselves come from the null sender, so they never cause another bounce.
    if (!message.mailFrom) return undefined;
    const split = splitMessage(message.raw);
    const language = this.options.bounceLanguage ? await this.options.bounceLanguage(tx, tenantId, message.mailFrom) : 'en';
    const raw = buildDeliveryStatusNotification({
      language,
      reportingMta: this.options.hostname,
      from: `MAILER-DAEMON@${this.options.hostname}`,
      to: message.mailFrom,
      originalMessageId: message.messageIdHeader,
      originalSubject: split.outcome === 'split' ? headerValue(split.fields, 'subject') : undefined,
      arrivalDate: message.receivedAt,
      recipients: failed,
      originalMessage: message.raw,
      returnContent: 'headers',
    });
    const id = randomUUID();
    await spoolWithin(tx, this.options.vault, [
      {
        id,
        tenantId,
        direction: 'notification',
        mailFrom: '',
        recipients: [message.mailFrom],
        clientAddress: 'gateway',
        tls: false,
        raw,
        messageIdHeader: messageIdOf(raw),
        traceDetail: { bounceFor: messageId, failedRecipients: failed.map((f) => f.recipient) },
      },
    ]);
    return id;
  }
}

/** The Message-ID of a notification the gateway wrote itself. */
function messageIdOf(raw: Buffer): string | undefined {
  const split = splitMessage(raw);
  return split.outcome === 'split' ? headerValue(split.fields, 'message-id') : undefined;
}

interface DeliveryUpdate {
  id: string;
  status: string;
  reply: string;
  remote?: string;
  nextAttemptAt?: Date;
  finished: boolean;
}

/**
 * A message whose every delivery has ended gets its final state: delivered, bounced, or partly delivered.
 * The message rows are locked first (in id order, so two workers cannot deadlock), so that of two workers
 * finishing the last deliveries of one message at once, the second sees the first's result and settles it.
 */
async function settleFinishedMessages(tx: Transaction, messageIds: string[]): Promise<void> {
  const ids = [...new Set(messageIds)].sort();
  for (let i = 0; i < ids.length; i += 500) {
    const list = sql.join(ids.slice(i, i + 500).map((id) => sql`${id}::uuid`), sql`, `);
    await tx.execute(sql`select id from messages where id in (${list}) order by id for update`);
    await tx.execute(sql`
      update messages m set state = s.final
      from (select d.message_id,
                   case when bool_and(d.status = 'delivered') then 'delivered'
                        when bool_or(d.status = 'delivered') then 'partly_delivered'
                        else 'bounced' end as final
            from deliveries d
            where d.message_id in (${list})
            group by d.message_id
            having bool_and(d.status in ('delivered', 'failed', 'expired'))) s
      where m.id = s.message_id and m.state = 'routed'`);
  }
  // Nothing sends a protected copy again once every delivery of its message is final.
  await deleteCopiesOfFinishedMessages(tx, ids);
}

/** Writes the outcome of many deliveries with one statement per 500 rows. */
async function applyDeliveryUpdates(tx: Transaction, updates: DeliveryUpdate[]): Promise<void> {
  for (let i = 0; i < updates.length; i += 500) {
    const rows = updates
      .slice(i, i + 500)
      // Replies are quoted from remote servers: stored in storable form.
      .map((u) => sql`(${u.id}, ${u.status}, ${storableText(u.reply)}, ${storableOptionalText(u.remote)}, ${u.nextAttemptAt?.toISOString() ?? null}, ${u.finished})`);
    await tx.execute(sql`
      update deliveries d
      set status = v.status, last_reply = v.reply, last_remote = v.remote, locked_by = null, locked_until = null,
          next_attempt_at = coalesce(v.next_at::timestamptz, d.next_attempt_at),
          finished_at = case when v.finished::boolean then now() else d.finished_at end
      from (values ${sql.join(rows, sql`, `)}) as v(id, status, reply, remote, next_at, finished)
      where d.id = v.id::uuid`);
  }
}

export function parseDestination(url: string): Destination {
  if (url.startsWith('mailbox:')) return { kind: 'mailbox', folder: url.slice('mailbox:'.length), label: url };
  const parsed = new URL(url);
  const implicitTls = parsed.protocol === 'smtps:';
  const port = parsed.port ? Number(parsed.port) : implicitTls ? 465 : 25;
  const auth = parsed.username ? { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } : undefined;
  return { kind: 'smtp', target: { host: parsed.hostname, port, implicitTls, auth }, label: `${parsed.hostname}:${port}` };
}
