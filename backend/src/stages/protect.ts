/**
 * Protect: once per message, before anything is queued. Each route that asks for protection is handed to
 * its mode with the cleaned message (control headers and the subject trigger already removed, so no mode
 * seals them into what it protects), the parsed request and the sender. What the mode did is stored per
 * recipient, so a resumed message does not protect a recipient twice and a retried delivery never runs
 * protection again. A mode that is not available leaves the route held, never sent in the clear.
 */
import { isSealpostHeader, matchSubjectTrigger } from '../../../common/src/headers.ts';
import { headerValue, rewriteHeaders } from '../mail/header-block.ts';
import type { SecuredMode } from '../protect/protection-modes.ts';
import { requestFromStored, requireTenant, type MessageContext, type ProtectedRoute } from './message-context.ts';
import { readHeader } from './parse.ts';
import type { Stage } from './stage.ts';

/** The message without the sender's instructions to the gateway: what is protected and delivered. */
export function cleanedMessage(context: MessageContext): Buffer {
  const header = readHeader(context);
  const subject = headerValue(header.fields, 'subject');
  const trigger = subject === undefined ? undefined : matchSubjectTrigger(subject, requireTenant(context).subjectTriggers);
  return rewriteHeaders(header, { remove: isSealpostHeader, replace: trigger?.triggered ? { subject: trigger.subject } : undefined });
}

export const protectStage: Stage = {
  name: 'protect',
  reaches: 'protected',
  actsOutside: (context) => (context.results.routes ?? []).some((r) => r.protection !== 'none' && !r.held),
  async run(context, { protectionModes }) {
    const routes = (context.results.routes ?? []).filter((r) => r.protection !== 'none' && !r.held);
    if (routes.length === 0) return;
    const done = (context.results.protected ??= {});
    const request = requestFromStored(context.results.request);
    const sender = { mailFrom: context.mailFrom, from: headerValue(readHeader(context).fields, 'from')?.trim() };
    let cleaned: Buffer | undefined;
    for (const route of routes) {
      if (done[route.recipient]) continue;
      const handler = protectionModes.handlerFor(route.protection as SecuredMode);
      let result: ProtectedRoute;
      if (!handler) {
        result = { outcome: 'unavailable', reason: `protection "${route.protection}" is not available yet; the message will not be sent unprotected` };
      } else {
        cleaned ??= cleanedMessage(context);
        const outcome = await handler.protect({ messageId: context.id, tenantId: context.tenantId, recipient: route.recipient, raw: cleaned, sender, request });
        result =
          outcome.kind === 'handled'
            ? { outcome: 'handled', detail: outcome.detail }
            : outcome.kind === 'unavailable'
              ? { outcome: 'unavailable', reason: outcome.reason }
              : outcome.kind === 'refused'
                ? { outcome: 'refused', reason: outcome.reason, enhancedCode: outcome.enhancedCode }
                : // A mode that returns bytes to deliver protects again at delivery, until protected copies are stored.
                  { outcome: 'at_delivery', detail: outcome.detail };
      }
      done[route.recipient] = result;
      context.trace.push({
        messageId: context.id,
        tenantId: context.tenantId,
        step: 'protected',
        detail: { recipient: route.recipient, mode: route.protection, ...result },
      });
    }
  },
};
