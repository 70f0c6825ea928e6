/**
 * Protect: once per message, before anything is queued. Each route that asks for protection is handed to
 * its mode with the cleaned message (control headers and the subject trigger already removed, so no mode
 * seals them into what it protects), the parsed request and the sender. What the mode did is stored per
 * recipient, so a resumed message does not protect a recipient twice and a retried delivery never runs
 * protection again: bytes a mode returns to deliver are stored once per (mode, group of recipients),
 * encrypted at rest, and the deliveries send exactly those. A mode that is not available leaves the route
 * held, never sent in the clear.
 *
 * Relay mode: when the portal stored the message for an external recipient and the message also went to
 * colleagues (delivered to them as mail), the portal keeps a copy for each colleague in that recipient's
 * thread, so a colleague reading the portal sees the whole conversation. With several external recipients,
 * each has their own conversation, and each colleague keeps a copy in every one of them.
 */
import { isSealpostHeader, matchSubjectTrigger } from '../../../common/src/headers.ts';
import { headerValue, rewriteHeaders } from '../mail/header-block.ts';
import { sealProtectedCopy } from '../protect/protected-copies.ts';
import type { InternalCopyStorage } from '../protect/portal-mode.ts';
import type { SecuredMode } from '../protect/protection-modes.ts';
import { requestFromStored, requireTenant, type MessageContext, type ProtectedRoute, type StoredRoute } from './message-context.ts';
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
  async run(context, { protectionModes, vault, internalCopies }) {
    const routes = (context.results.routes ?? []).filter((r) => r.protection !== 'none' && !r.held);
    if (routes.length === 0) return;
    const done = (context.results.protected ??= {});
    const request = requestFromStored(context.results.request);
    const sender = { mailFrom: context.mailFrom, from: headerValue(readHeader(context).fields, 'from')?.trim() };
    let cleaned: Buffer | undefined;
    // A mode that protects for a group is asked once per (mode, route); any other mode once per recipient.
    const groups = new Map<string, StoredRoute[]>();
    for (const route of routes) {
      if (done[route.recipient]) continue;
      const handler = protectionModes.handlerFor(route.protection as SecuredMode);
      const key = handler?.protectGroup ? `${route.protection}|${route.route}` : `${route.protection}|${route.route}|${route.recipient}`;
      groups.set(key, [...(groups.get(key) ?? []), route]);
    }
    for (const group of groups.values()) {
      const mode = group[0]!.protection;
      const record = (recipient: string, result: ProtectedRoute) => {
        done[recipient] = result;
        context.trace.push({ messageId: context.id, tenantId: context.tenantId, step: 'protected', detail: { recipient, mode, ...result } });
      };
      const recipients = group.map((r) => r.recipient);
      const handler = protectionModes.handlerFor(mode as SecuredMode);
      let result: ProtectedRoute;
      if (!handler) {
        result = { outcome: 'unavailable', reason: `protection "${mode}" is not available yet; the message will not be sent unprotected` };
      } else {
        cleaned ??= cleanedMessage(context);
        const base = { messageId: context.id, tenantId: context.tenantId, raw: cleaned, sender, request };
        const requirement = group[0]!.requirement;
        const outcome = handler.protectGroup
          ? await handler.protectGroup({ ...base, recipients })
          : await handler.protect({ ...base, recipient: recipients[0]!, ...(requirement ? { requirement } : {}) });
        if (outcome.kind === 'deliver') {
          const unserved = new Set(outcome.unserved?.recipients ?? []);
          const served = recipients.filter((r) => !unserved.has(r));
          // Stored once for the group, encrypted at rest; every delivery attempt sends these bytes.
          const copy = await sealProtectedCopy(vault, { tenantId: context.tenantId, messageId: context.id, mode, recipients: served, raw: outcome.raw });
          (context.protectedCopies ??= []).push(copy);
          result = { outcome: 'stored', copyId: copy.id, recipients: served, detail: outcome.detail };
          if (outcome.unserved) {
            for (const recipient of unserved) record(recipient, { outcome: 'unavailable', reason: outcome.unserved.reason });
          }
        } else {
          result =
            outcome.kind === 'handled'
              ? { outcome: 'handled', detail: outcome.detail }
              : outcome.kind === 'unavailable'
                ? { outcome: 'unavailable', reason: outcome.reason }
                : { outcome: 'refused', reason: outcome.reason, enhancedCode: outcome.enhancedCode };
        }
      }
      for (const recipient of recipients) if (!done[recipient]) record(recipient, result);
    }
    if (internalCopies) await keepInternalCopies(context, internalCopies, () => (cleaned ??= cleanedMessage(context)));
  },
};

/** Relay mode (see the file comment). Idempotent: a resumed message finds the copies it kept before. */
async function keepInternalCopies(context: MessageContext, storage: InternalCopyStorage, cleaned: () => Buffer): Promise<void> {
  if (context.direction !== 'outbound') return;
  const routes = context.results.routes ?? [];
  const colleagues = routes.filter((r) => r.route === 'tenant-mail-server').map((r) => r.recipient);
  if (colleagues.length === 0) return;
  // Each outsider's copy is its own conversation (thread); a colleague follows every one of them.
  const threadIds = new Set<string>();
  for (const route of routes) {
    const protectedAs = context.results.protected?.[route.recipient];
    if (protectedAs?.outcome === 'handled' && protectedAs.detail.deliveryMode === 'portal_secure' && typeof protectedAs.detail.threadId === 'string') {
      threadIds.add(protectedAs.detail.threadId);
    }
  }
  for (const threadId of threadIds) {
    const outcomes = await storage.storeInternalCopies({ messageId: context.id, tenantId: context.tenantId, raw: cleaned(), threadId, recipients: colleagues });
    for (const outcome of outcomes.filter((o) => o.outcome !== 'kept')) {
      context.trace.push({
        messageId: context.id,
        tenantId: context.tenantId,
        step: 'portal_copy',
        detail: { recipient: outcome.recipient, deliveryMode: 'relay', threadId, outcome: outcome.outcome, portalMessageId: outcome.portalMessageId, reason: outcome.reason },
      });
    }
  }
}
