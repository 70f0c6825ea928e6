/**
 * Parse: split the header section within the stored-message limits. A header section that cannot be read
 * whole stays so, and the message is held at once (an UnreadableHeaderError is never retried).
 */
import { splitMessage } from '../mail/header-block.ts';
import { UnreadableHeaderError } from '../mail/header-section.ts';
import type { MessageContext } from './message-context.ts';
import type { Stage } from './stage.ts';

/** Splits the stored bytes; every later stage reads the header through this. */
export function readHeader(context: MessageContext): NonNullable<MessageContext['header']> {
  if (context.header) return context.header;
  const split = splitMessage(context.raw);
  if (split.outcome !== 'split') throw new UnreadableHeaderError(split);
  context.header = { fields: split.fields, body: split.body };
  return context.header;
}

export const parseStage: Stage = {
  name: 'parse',
  reaches: 'parsed',
  async run(context) {
    const header = readHeader(context);
    const headerBytes = context.raw.length - header.body.length;
    context.results.parsed = { headerBytes, fields: header.fields.length };
    context.trace.push({
      messageId: context.id,
      tenantId: context.tenantId,
      step: 'parsed',
      detail: { headerBytes, fields: header.fields.length, sizeBytes: context.raw.length },
    });
  },
};
