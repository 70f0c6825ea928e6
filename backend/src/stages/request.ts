/**
 * Request: what the sender asked for (X-Sealpost-* headers and the subject trigger). Only a tenant's own
 * connector may ask: Internet mail had these headers removed when it was received. The delivered copy never
 * carries them (mail/outgoing-message.ts removes them with the subject trigger).
 */
import { parseSealpostHeaders, type SealpostRequest } from '../../../common/src/headers.ts';
import { controlHeaderLookup, headerValue } from '../mail/header-block.ts';
import { repliesToPortalMessage } from '../messages/portal-replies.ts';
import { requireTenant, storedRequest } from './message-context.ts';
import { readHeader } from './parse.ts';
import type { Stage } from './stage.ts';

export const requestStage: Stage = {
  name: 'request',
  reaches: 'requested',
  async run(context, { db }) {
    const tenant = requireTenant(context);
    const { fields } = readHeader(context);
    const lookup = (name: string) => headerValue(fields, name);
    const request: SealpostRequest =
      context.direction === 'outbound'
        ? parseSealpostHeaders(controlHeaderLookup(fields), lookup('subject'), tenant.subjectTriggers)
        : { options: [], notes: [] };
    // A member's reply (from Outlook) to a portal conversation stays in the portal.
    if (context.direction === 'outbound' && !request.mode && (await repliesToPortalMessage(db, tenant.id, lookup('in-reply-to'), lookup('references')))) {
      Object.assign(request, { mode: 'portal', modeSource: 'header' });
      request.notes.push('a reply to a portal message: delivered through the portal');
    }
    context.results.request = storedRequest(request);
    if (request.mode || request.expiresAt || request.options.length || request.notes.length || request.pdfPasswordTicket) {
      context.trace.push({
        messageId: context.id,
        tenantId: tenant.id,
        step: 'request',
        detail: {
          mode: request.mode,
          source: request.modeSource,
          failedClosed: request.failedClosed,
          expiresAt: request.expiresAt?.toISOString(),
          options: request.options,
          // That the sender tells the PDF's password; the ticket itself stays out of the trace.
          ...(request.pdfPasswordTicket ? { pdfPassword: 'sender-told (sealed ticket)' } : {}),
          notes: request.notes,
        },
      });
    }
  },
};
