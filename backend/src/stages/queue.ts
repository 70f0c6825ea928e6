/**
 * Queue: one delivery per recipient, from the stored routes. The runner writes them in the same short
 * transaction that records the stage, so a message is queued exactly once.
 */
import type { QueuedDelivery } from './message-context.ts';
import type { Stage } from './stage.ts';

export const queueStage: Stage = {
  name: 'queue',
  reaches: 'queued',
  async run(context) {
    const routes = context.results.routes;
    if (!routes) throw new Error('the message has no stored routes to queue');
    const protectedRoutes = context.results.protected ?? {};
    const disarmed = context.results.guard?.disarmed;
    context.deliveries = routes.map((route): QueuedDelivery => {
      const done = protectedRoutes[route.recipient];
      const base = {
        messageId: context.id,
        tenantId: context.tenantId,
        recipient: route.recipient,
        route: route.route,
        protection: route.protection,
        // The delivery sends the stored protected copy; the mode is not asked again.
        // An unprotected route of a disarmed message sends the disarmed copy, never the message as received.
        protectedCopyId:
          done?.outcome === 'stored'
            ? done.copyId
            : route.protection === 'none' && disarmed?.recipients.includes(route.recipient)
              ? disarmed.copyId
              : null,
      };
      // The mode took it over in the protect stage: nothing is left to send for this recipient.
      if (done?.outcome === 'handled') {
        const reply = `handled by ${route.protection}`;
        context.trace.push({ messageId: context.id, tenantId: context.tenantId, step: 'delivered', detail: { recipient: route.recipient, reply } });
        return { ...base, status: 'delivered', heldRetry: false, lastReply: reply };
      }
      const held = route.held || done?.outcome === 'unavailable';
      // A held route waits for its mode; the delivery worker keeps retrying it and never sends it unprotected.
      const reason = route.held ? route.reason : done?.outcome === 'unavailable' ? `held: ${done.reason}` : null;
      return { ...base, status: held ? 'held' : 'queued', heldRetry: held, lastReply: reason };
    });
  },
};
