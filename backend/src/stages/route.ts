/**
 * Route: where each recipient goes and how it must be protected (messages/message-router.ts). A route whose
 * protection mode this gateway cannot apply is held, never sent in the clear.
 */
import { routeRecipients } from '../messages/message-router.ts';
import type { SecuredMode } from '../protect/protection-modes.ts';
import { requestFromStored, requireTenant, type StoredRoute } from './message-context.ts';
import type { Stage } from './stage.ts';

export const routeStage: Stage = {
  name: 'route',
  reaches: 'routed',
  async run(context, { directory, protectionModes }) {
    // A flagged message the policy sends to a catch-all address goes there instead of to its recipients.
    const catchAll = context.results.guard?.deliverTo;
    const recipients = catchAll ? [catchAll] : context.recipients;
    const routes = routeRecipients(context.direction, requireTenant(context), recipients, requestFromStored(context.results.request), directory);
    context.results.routes = routes.map((route): StoredRoute => {
      const held = route.protection !== 'none' && !protectionModes.handlerFor(route.protection as SecuredMode);
      return {
        ...route,
        held,
        reason: held ? `held: protection "${route.protection}" is not available yet; the message will not be sent unprotected` : route.reason,
      };
    });
    for (const route of context.results.routes) {
      context.trace.push({
        messageId: context.id,
        tenantId: context.tenantId,
        step: route.held ? 'held' : 'routed',
        detail: {
          recipient: route.recipient,
          route: route.route,
          protection: route.protection,
          reason: catchAll ? `flagged: the policy delivers flagged mail to ${catchAll} instead of ${context.recipients.join(', ')}` : route.reason,
        },
      });
    }
  },
};
