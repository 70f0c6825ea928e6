/**
 * Queue: one delivery per recipient, from the stored routes. The runner writes them in the same short
 * transaction that records the stage, so a message is queued exactly once.
 */
import { sql } from 'drizzle-orm';
import type { Stage } from './stage.ts';

export const queueStage: Stage = {
  name: 'queue',
  reaches: 'queued',
  async run(context) {
    const routes = context.results.routes;
    if (!routes) throw new Error('the message has no stored routes to queue');
    context.deliveries = routes.map((route) => ({
      messageId: context.id,
      tenantId: context.tenantId,
      recipient: route.recipient,
      route: route.route,
      protection: route.protection,
      status: route.held ? 'held' : 'queued',
      // A held route waits for its mode; the delivery worker keeps retrying it and never sends it unprotected.
      heldRetry: route.held,
      lastReply: route.held ? route.reason : null,
    }));
  },
};
