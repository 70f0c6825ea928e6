/**
 * Route: where each recipient goes and how it must be protected (messages/message-router.ts). A route whose
 * protection mode this gateway cannot apply is held, never sent in the clear.
 */
import { routeRecipients } from '../messages/message-router.ts';
import { resolveRecipientMethods } from '../protect/method-resolution.ts';
import type { SecuredMode } from '../protect/protection-modes.ts';
import { requestFromStored, requireTenant, type StoredRoute } from './message-context.ts';
import type { Stage } from './stage.ts';

export const routeStage: Stage = {
  name: 'route',
  reaches: 'routed',
  async run(context, { directory, protectionModes, storedKeys }) {
    // A flagged message the policy sends to a catch-all address goes there instead of to its recipients.
    const catchAll = context.results.guard?.deliverTo;
    const recipients = catchAll ? [catchAll] : context.recipients;
    const tenant = requireTenant(context);
    const routes = routeRecipients(context.direction, tenant, recipients, requestFromStored(context.results.request), directory);
    // Where encryption is only allowed, a recipient no way serves goes as it is, without a trip through
    // protection. The stores alone are asked (no directories): this runs for every message to outsiders.
    const allowed = routes.filter((r) => r.protection === 'auto' && r.requirement === 'allow');
    if (allowed.length > 0) {
      const resolutions = await resolveRecipientMethods({ directory, protectionModes, keys: storedKeys }, tenant.id, allowed.map((r) => r.recipient), 'allow');
      // The resolution answers addresses in lower case; the envelope keeps the case the sender wrote.
      const clear = new Map(resolutions.filter((r) => r.method === 'clear').map((r) => [r.recipient.toLowerCase(), r.reason]));
      for (const route of allowed) {
        const reason = clear.get(route.recipient.toLowerCase());
        if (reason !== undefined) Object.assign(route, { protection: 'none', requirement: undefined, reason: `${route.reason}: ${reason}` });
      }
    }
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
