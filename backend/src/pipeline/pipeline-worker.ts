/**
 * The route of one message: open the spooled message, classify it, read the sender's request, decide each
 * recipient's route and protection, and queue the deliveries. Messages are claimed with
 * FOR UPDATE SKIP LOCKED inside the routing transaction, so any number of gateway processes can share
 * the work and a crash leaves the message to be routed again.
 */
import { sql } from 'drizzle-orm';
import { parseSealpostHeaders, type SealpostRequest } from '../../../common/src/headers.ts';
import { queryRows, type Database, type Transaction } from '../db/client.ts';
import { deliveries, messages, recipients } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import type { ProtectionModes } from '../secure/protection-modes.ts';
import type { MessageDirection } from '../smtp/spool.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { WorkerLoop } from '../work-signal.ts';
import { controlHeaderLookup, headerValue, splitMessage } from './header-block.ts';
import { UnreadableHeaderError } from './header-section.ts';
import { routeRecipients } from './message-router.ts';
import { repliesToPortalMessage } from '../portal/threads.ts';
import { recordTrace, type TraceEntry } from './message-trace.ts';
import { asc, eq, inArray } from 'drizzle-orm';

export interface PipelineWorkerOptions {
  db: Database;
  vault: KeyVault;
  directory: TenantDirectory;
  protectionModes: ProtectionModes;
  logger: Logger;
  pollMs: number;
  heldRetryMs: number;
  batchSize?: number;
  /** Called when deliveries were queued, so the delivery worker can start at once. */
  onRouted: () => void;
}

interface ClaimedMessage {
  id: string;
  tenant_id: string;
  direction: MessageDirection;
  mail_from: string;
  content: Buffer | Uint8Array;
  wrapped_data_key: Buffer | Uint8Array;
  pipeline_attempts: number;
}

const MAX_PIPELINE_ATTEMPTS = 10;

interface RoutingPlan {
  messageId: string;
  deliveries: unknown[];
  trace: TraceEntry[];
  queued: number;
}

export class PipelineWorker extends WorkerLoop {
  constructor(private readonly options: PipelineWorkerOptions) {
    super();
  }

  protected async run(): Promise<void> {
    while (this.running) {
      let routed = 0;
      try {
        routed = await this.routeBatch();
      } catch (error) {
        this.options.logger.error({ err: error }, 'pipeline batch failed; retrying shortly');
      }
      if (routed === 0 && this.running) await this.signal.wait(this.options.pollMs);
    }
  }

  /** Routes up to one batch of spooled messages; returns how many were claimed. */
  async routeBatch(): Promise<number> {
    const { db, logger } = this.options;
    let queued = 0;
    const claimedCount = await db.transaction(async (tx) => {
      // Routing can be repeated safely after a crash, so its commit need not wait for the disk.
      await tx.execute(sql`set local synchronous_commit = off`);
      const claimed = await queryRows<ClaimedMessage>(
        tx,
        sql`select id, tenant_id, direction, mail_from, content, wrapped_data_key, pipeline_attempts
            from messages
            where state = 'received' and pipeline_next_at <= now()
            order by pipeline_next_at
            limit ${this.options.batchSize ?? 50}
            for update skip locked`,
      );
      const recipientsByMessage = new Map<string, string[]>();
      if (claimed.length > 0) {
        const rows = await tx
          .select({ messageId: recipients.messageId, address: recipients.address })
          .from(recipients)
          .where(inArray(recipients.messageId, claimed.map((m) => m.id)))
          .orderBy(asc(recipients.messageId), asc(recipients.position));
        for (const row of rows) {
          const list = recipientsByMessage.get(row.messageId) ?? [];
          list.push(row.address);
          recipientsByMessage.set(row.messageId, list);
        }
      }
      const plans: RoutingPlan[] = [];
      for (const message of claimed) {
        try {
          plans.push(await this.planRoute(tx, message, recipientsByMessage.get(message.id) ?? []));
        } catch (error) {
          logger.error({ err: error, messageId: message.id }, 'routing failed');
          const attempts = message.pipeline_attempts + 1;
          // A header section that cannot be read whole stays so: the message is held now, not retried.
          const giveUp = error instanceof UnreadableHeaderError || attempts >= MAX_PIPELINE_ATTEMPTS;
          await tx
            .update(messages)
            .set({
              pipelineAttempts: attempts,
              state: giveUp ? 'pipeline_failed' : 'received',
              pipelineNextAt: sql`now() + make_interval(secs => ${Math.min(3600, 5 * 2 ** attempts)})`,
            })
            .where(eq(messages.id, message.id));
          await recordTrace(tx, {
            messageId: message.id,
            tenantId: message.tenant_id,
            step: 'pipeline_error',
            detail: { error: (error as Error).message, attempts, willRetry: !giveUp },
          });
        }
      }
      // One write per kind for the whole batch, in chunks that stay under PostgreSQL's parameter limit.
      const rowsToInsert = plans.flatMap((p) => p.deliveries);
      for (let i = 0; i < rowsToInsert.length; i += 1000) {
        await tx.insert(deliveries).values(rowsToInsert.slice(i, i + 1000) as never);
      }
      const traceEntries = plans.flatMap((p) => p.trace);
      for (let i = 0; i < traceEntries.length; i += 1000) await recordTrace(tx, traceEntries.slice(i, i + 1000));
      if (plans.length > 0) {
        await tx.update(messages).set({ state: 'routed' }).where(inArray(messages.id, plans.map((p) => p.messageId)));
      }
      queued = plans.reduce((sum, p) => sum + p.queued, 0);
      return claimed.length;
    });
    if (queued > 0) this.options.onRouted();
    return claimedCount;
  }

  /** Decides the route of one message; the batch writes the result. */
  private async planRoute(tx: Transaction, message: ClaimedMessage, recipientAddresses: string[]): Promise<RoutingPlan> {
    const { vault, directory, protectionModes } = this.options;
    const tenant = directory.tenantById(message.tenant_id);
    if (!tenant) throw new Error(`tenant ${message.tenant_id} is unknown to this process`);
    const raw = await vault.open(
      message.tenant_id,
      message.id,
      { content: Buffer.from(message.content), wrappedDataKey: Buffer.from(message.wrapped_data_key) },
      tx,
    );
    const split = splitMessage(raw);
    if (split.outcome !== 'split') throw new UnreadableHeaderError(split);
    const lookup = (name: string) => headerValue(split.fields, name);
    // Only a tenant's own connector may ask for protection; Internet mail had these headers removed.
    const request: SealpostRequest =
      message.direction === 'outbound'
        ? parseSealpostHeaders(controlHeaderLookup(split.fields), lookup('subject'), tenant.subjectTriggers)
        : { options: [], notes: [] };
    // A member's reply (from Outlook) to a portal conversation stays in the portal.
    if (message.direction === 'outbound' && !request.mode && (await repliesToPortalMessage(tx, tenant.id, lookup('in-reply-to'), lookup('references')))) {
      Object.assign(request, { mode: 'portal', modeSource: 'header' });
      request.notes.push('a reply to a portal message: delivered through the portal');
    }

    const routes = routeRecipients(
      message.direction,
      tenant,
      recipientAddresses,
      request,
      directory,
    );
    const trace: TraceEntry[] = [
      {
        messageId: message.id,
        tenantId: tenant.id,
        step: 'classified',
        detail: { direction: message.direction, tenant: tenant.name },
      },
    ];
    if (request.mode || request.expiresAt || request.options.length || request.notes.length) {
      trace.push({
        messageId: message.id,
        tenantId: tenant.id,
        step: 'request',
        detail: {
          mode: request.mode,
          source: request.modeSource,
          failedClosed: request.failedClosed,
          expiresAt: request.expiresAt?.toISOString(),
          options: request.options,
          notes: request.notes,
        },
      });
    }

    const rows = routes.map((route) => {
      const needsHandler = route.protection !== 'none';
      const handler = needsHandler ? protectionModes.handlerFor(route.protection as never) : undefined;
      const held = needsHandler && !handler;
      return {
        messageId: message.id,
        tenantId: tenant.id,
        recipient: route.recipient,
        route: route.route,
        protection: route.protection,
        status: held ? 'held' : 'queued',
        nextAttemptAt: held ? sql`now() + make_interval(secs => ${this.options.heldRetryMs / 1000})` : sql`now()`,
        lastReply: held ? `held: protection "${route.protection}" is not available yet; the message will not be sent unprotected` : null,
      };
    });
    for (const route of routes) {
      const row = rows.find((r) => r.recipient === route.recipient)!;
      trace.push({
        messageId: message.id,
        tenantId: tenant.id,
        step: row.status === 'held' ? 'held' : 'routed',
        detail: { recipient: route.recipient, route: route.route, protection: route.protection, reason: row.lastReply ?? route.reason },
      });
    }
    return { messageId: message.id, deliveries: rows, trace, queued: rows.filter((r) => r.status === 'queued').length };
  }
}

