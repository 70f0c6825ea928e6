/**
 * Size and structure: too many MIME parts, parts nested too deeply, header lines that are too long,
 * and MIME structure that does not hold together. Such messages are how parsers downstream (the tenant's
 * mail server, scanners, the portal) are made to give up or disagree about what a message contains.
 *
 * Limits come from the tenant's policy (defaults in policy.ts). The scan stops at the first limit
 * (mail/mime-structure.ts), so a hostile message costs no more than a legitimate large one.
 *
 * The same scan with absurd limits runs at the end of DATA (absurdStructureHook): a message nested 40
 * deep or with thousands of parts is refused before the 250, not accepted and bounced to a sender that
 * may be forged.
 */
import { scanMimeStructure, type MimeStructure } from '../../mail/mime-structure.ts';
import type { GuardCheck, GuardFinding, SmtpHook } from '../contract.ts';

export const MESSAGE_STRUCTURE_SCORES = {
  MIME_TOO_MANY_PARTS: 5,
  MIME_NESTING_TOO_DEEP: 6,
  HEADER_LINE_TOO_LONG: 2,
  MIME_MALFORMED: 2,
} as const;

export const messageStructureCheck: GuardCheck = {
  name: 'message-structure',
  module: 'structure',
  phase: 'message',
  run(context) {
    const { maxParts, maxNestingDepth, maxHeaderLineBytes } = context.policy.limits;
    const structure = scanMimeStructure(context.header, {
      maxParts,
      maxDepth: maxNestingDepth,
      maxBodyBytes: context.header.body.length,
    });
    return structureFindings(structure, { maxParts, maxNestingDepth, maxHeaderLineBytes });
  },
};

export function structureFindings(
  structure: MimeStructure,
  limits: { maxParts: number; maxNestingDepth: number; maxHeaderLineBytes: number },
): GuardFinding[] {
  const findings: GuardFinding[] = [];
  if (structure.limitReached === 'parts') {
    findings.push({
      symbol: 'MIME_TOO_MANY_PARTS',
      score: MESSAGE_STRUCTURE_SCORES.MIME_TOO_MANY_PARTS,
      reason: `the message has more than ${limits.maxParts} MIME parts (the limit is ${limits.maxParts}); the rest was not read`,
    });
  }
  if (structure.limitReached === 'depth') {
    findings.push({
      symbol: 'MIME_NESTING_TOO_DEEP',
      score: MESSAGE_STRUCTURE_SCORES.MIME_NESTING_TOO_DEEP,
      reason: `MIME parts are nested more than ${limits.maxNestingDepth} deep (the limit is ${limits.maxNestingDepth}); the rest was not read`,
    });
  }
  const longest = structure.longestHeaderLine;
  if (longest.bytes > limits.maxHeaderLineBytes) {
    const where = longest.part === 0 ? 'the message header' : `the header of MIME part ${longest.part + 1}`;
    findings.push({
      symbol: 'HEADER_LINE_TOO_LONG',
      score: MESSAGE_STRUCTURE_SCORES.HEADER_LINE_TOO_LONG,
      reason: `a ${longest.bytes}-byte line in ${printable(longest.field)} in ${where} (the limit is ${limits.maxHeaderLineBytes} bytes)`,
    });
  }
  if (structure.problems.length > 0) {
    findings.push({
      symbol: 'MIME_MALFORMED',
      score: MESSAGE_STRUCTURE_SCORES.MIME_MALFORMED,
      reason: `the MIME structure does not hold together: ${structure.problems.slice(0, 3).join('; ')}`,
    });
  }
  return findings;
}

/**
 * Nesting and part counts no real mail comes near: refused at the end of DATA. Only the first 8 MiB of
 * the body are read while the client waits: a body crafted as delimiter-like lines costs about a
 * microsecond a line, and structure past that point is still seen by the message-structure check.
 */
export const ABSURD_STRUCTURE = { maxParts: 5000, maxNestingDepth: 40, maxBodyBytes: 8 * 1024 * 1024 } as const;

export function absurdStructureHook(
  limits: { maxParts: number; maxNestingDepth: number; maxBodyBytes: number } = ABSURD_STRUCTURE,
): SmtpHook {
  return {
    name: 'absurd-structure',
    dataEnd(_session, message) {
      const structure = scanMimeStructure(message.header, {
        maxParts: limits.maxParts,
        maxDepth: limits.maxNestingDepth,
        maxBodyBytes: limits.maxBodyBytes,
      });
      if (structure.limitReached === 'depth') {
        return {
          refuse: {
            code: 554,
            enhanced: '5.6.0',
            message: `Message refused: MIME parts nested more than ${limits.maxNestingDepth} deep; no mail program writes that`,
          },
        };
      }
      if (structure.limitReached === 'parts') {
        return {
          refuse: {
            code: 554,
            enhanced: '5.6.0',
            message: `Message refused: more than ${limits.maxParts} MIME parts; send fewer attachments per message`,
          },
        };
      }
      return undefined;
    },
  };
}

/** A header name as it may appear in a reason: printable ASCII, short. */
function printable(name: string): string {
  const clean = name.replace(/[^\x21-\x7e]/g, '?').slice(0, 60);
  return clean ? `the ${clean} field` : 'a field without name';
}
