/**
 * Attachment filter: every attached file (and every file inside its ZIP archives) is identified from its
 * content and judged by the policy's rules per category, for macros, active PDF content, a name that lies
 * about the content, encrypted archives, bombs and archives nested too deep, and the admin's own name
 * patterns. Each rule adds its score, blocks the message (the policy's onBlock), or removes the file: the
 * disarm step then delivers the message without it and with a notice part that says what was removed and
 * why. A file is judged by its strongest rule: block over remove over score.
 */
import libmime from 'libmime';
import type { GuardCheck, GuardCheckContext, GuardDisarmContext, GuardFinding } from '../contract.ts';
import { inspectFile, globMatches, type FileFinding, type FileReport } from '../attachments.ts';
import { decodeQuotedPrintable } from '../message-text.ts';
import type { AttachmentRule, AttachmentSettings, GuardPolicy } from '../policy.ts';
import { editParts, type PartReplacement } from '../../mail/mime-edit.ts';
import { SanitiseError, sanitisedArchive, sanitisedByContent, type Sanitised } from '../sanitise.ts';
import { contentTypeOf, scanMimeStructure, unfoldedValue, type MimeStructure } from '../../mail/mime-structure.ts';
import type { HeaderField, SplitMessage } from '../../mail/header-block.ts';

/** Bytes of the message the filter reads: the largest message a policy may accept, with room for encoding. */
const FILTER_MAX_BYTES = 64 * 1024 * 1024;
/** Parts looked at; a message with more is the structure check's business. */
const MAX_PARTS = 1000;
const MAX_NAME_CHARS = 200;

const SYMBOLS: Record<FileFinding['kind'] | 'custom', string> = {
  category: 'ATTACH',
  macro: 'ATTACH_OFFICE_MACRO',
  'pdf-active': 'ATTACH_PDF_ACTIVE',
  mismatch: 'ATTACH_TYPE_MISMATCH',
  encrypted: 'ATTACH_ARCHIVE_ENCRYPTED',
  depth: 'ATTACH_ARCHIVE_DEPTH',
  bomb: 'ATTACH_ARCHIVE_BOMB',
  unreadable: 'ATTACH_UNREADABLE',
  uninspected: 'ATTACH_ARCHIVE_UNINSPECTED',
  custom: 'ATTACH_CUSTOM_RULE',
};
const CATEGORY_SYMBOLS = { executables: 'ATTACH_EXECUTABLE', scripts: 'ATTACH_SCRIPT', html: 'ATTACH_HTML' } as const;
const STRENGTH: Record<AttachmentRule['action'], number> = { allow: 0, score: 1, sanitise: 2, remove: 3, block: 4 };
/** How a finding's reason says what the disarm step will do; the step looks for these. */
const REMOVED = '; it is removed';
const CLEANED = '; it is cleaned';

interface Attachment {
  /** Index in the scan's partList. */
  part: number;
  name: string;
  /** The first bytes, enough to identify the type, and the whole file decoded when it is needed. */
  content: { head: Buffer; whole: () => Buffer };
}

/** Bytes decoded to identify a file; file-type reads at most 4100 and a ZIP's first entries fit. */
const HEAD_BYTES = 16 * 1024;

interface Judged {
  attachment: Attachment;
  report: FileReport;
  /** The strongest action of the rules that apply. */
  action: AttachmentRule['action'];
  findings: GuardFinding[];
}

export function attachmentFilterCheck(): GuardCheck {
  return {
    name: 'attachment-filter',
    module: 'attachments',
    replayable: true,
    phase: 'message',
    budget: { bytes: FILTER_MAX_BYTES, ms: 2000 },
    disarmBudgetMs: 3000,
    async run(context, signal) {
      const judged = await judgeMessage(context, context.policy, signal);
      if (judged === undefined) return [];
      return judged.flatMap((file) => file.findings);
    },
    async disarm(context, signal) {
      const mine = context.findings.filter((f) => f.check === 'attachment-filter');
      if (!mine.some((f) => f.reason.endsWith(REMOVED) || f.reason.endsWith(CLEANED))) return undefined;
      const structure = scan(context.header);
      const judged = await judgeMessage(context, context.policy, signal, structure);
      const removed: Array<{ file: Judged; why: string }> = [];
      const cleaned: Array<{ file: Judged; result: Sanitised }> = [];
      const findings: GuardFinding[] = [];
      const reasons = (file: Judged) => file.findings.map((f) => f.reason.replace(REMOVED, '').replace(CLEANED, '')).join('; ');
      for (const file of judged ?? []) {
        if (file.action === 'remove') removed.push({ file, why: reasons(file) });
        if (file.action !== 'sanitise') continue;
        signal.throwIfAborted();
        try {
          cleaned.push({ file, result: await sanitise(file, structure, context.policy.modules.attachments.archives.maxUnpackedBytes) });
        } catch (error) {
          if (!(error instanceof SanitiseError)) throw error;
          // The rule's onSanitiseFailure: the file goes, the message is blocked, or the failure counts.
          const rule = ruleOf(file, context.policy.modules.attachments);
          const failure = rule?.onSanitiseFailure ?? 'remove';
          const why = `${file.attachment.name} could not be cleaned: ${error.message}`;
          if (failure === 'remove') removed.push({ file, why: `${reasons(file)}; ${why}` });
          else findings.push({ symbol: 'ATTACH_SANITISE_FAILED', score: rule?.score ?? 0, reason: why, ...(failure === 'block' ? { action: context.policy.onBlock } : {}) });
        }
      }
      if (removed.length === 0 && cleaned.length === 0) return findings.length > 0 ? { findings } : undefined;
      const lines = [
        ...removed.map(({ file, why }) => `- ${file.attachment.name} was removed: ${why}`),
        ...cleaned.map(({ file, result }) => `- ${file.attachment.name}: ${result.removed}${result.fileName !== file.attachment.name ? ` (it is now ${result.fileName})` : ''}`),
      ];
      const notice =
        `Sealpost changed the attachments of this message before delivering it:\n${lines.join('\n')}\n\n` +
        'The message as it arrived is kept at the gateway; if you need the original, ask your administrator.\n';
      const replace: PartReplacement[] = cleaned.map(({ file, result }) => ({
        part: file.attachment.part,
        contentType: result.contentType,
        fileName: result.fileName,
        content: result.content,
      }));
      const raw = editParts(context.header, structure, { remove: removed.map(({ file }) => file.attachment.part), replace }, notice);
      return {
        raw,
        findings,
        changes: [
          ...removed.map(({ file, why }) => ({ symbol: 'ATTACH_REMOVED', reason: `${file.attachment.name} was removed: ${why}` })),
          ...cleaned.map(({ file, result }) => ({ symbol: 'ATTACH_SANITISED', reason: `${file.attachment.name}: ${result.removed}` })),
        ],
      };
    },
  };
}

/** The rule that asked for cleaning: the office rule for macros, the PDF rule for active content. */
function ruleOf(file: Judged, settings: AttachmentSettings): AttachmentRule | undefined {
  if (file.report.findings.some((f) => f.kind === 'macro')) return settings.categories.office;
  if (file.report.findings.some((f) => f.kind === 'pdf-active')) return settings.categories.pdf;
  return undefined;
}

/** Cleans one attachment by its type; a SanitiseError says why it could not be. */
async function sanitise(file: Judged, structure: MimeStructure, maxUnpackedBytes: number): Promise<Sanitised> {
  const part = structure.partList[file.attachment.part];
  if (file.attachment.part !== 0 && part?.delimiterOffset === undefined) {
    throw new SanitiseError('it is inside an attached message');
  }
  const content = file.attachment.content.whole();
  const detected = file.report.detected;
  // What needs cleaning inside an archive is cleaned there, and the archive is written anew around it.
  const prefix = `${file.attachment.name} › `;
  const inside = file.report.findings.filter((f) => (f.kind === 'macro' || f.kind === 'pdf-active') && f.path.startsWith(prefix)).map((f) => f.path.slice(prefix.length));
  if (inside.length > 0) {
    if (detected !== 'zip') throw new SanitiseError(`files inside ${detected ? `a ${detected} archive` : 'this archive'} cannot be cleaned`);
    if (inside.some((path) => path.includes(' › '))) throw new SanitiseError('a file that needs cleaning is in an archive inside the archive');
    return sanitisedArchive(content, file.attachment.name, new Set(inside), maxUnpackedBytes);
  }
  return sanitisedByContent(content, file.attachment.name);
}

function scan(message: SplitMessage): MimeStructure {
  return scanMimeStructure(message, { maxParts: MAX_PARTS, maxDepth: 100, maxBodyBytes: FILTER_MAX_BYTES });
}

/** Each attachment with the findings its rules give; undefined when the module has nothing to judge. */
async function judgeMessage(
  context: GuardCheckContext | GuardDisarmContext,
  policy: GuardPolicy,
  signal: AbortSignal,
  structure = scan(context.header),
): Promise<Judged[] | undefined> {
  const settings = policy.modules.attachments;
  const attachments = attachmentsOf(context.header, structure);
  if (attachments.length === 0) return undefined;
  const judged: Judged[] = [];
  for (const attachment of attachments) {
    signal.throwIfAborted();
    const report = await inspectFile(attachment.name, attachment.content, {
      limits: {
        maxDepth: settings.archives.maxDepth,
        maxEntries: settings.archives.maxEntries,
        maxUnpackedBytes: settings.archives.maxUnpackedBytes,
        maxRatio: settings.archives.maxRatio,
      },
      inspectArchives: settings.archives.inspect,
      macros: settings.macroDetection,
      pdfActive: settings.pdfActiveContent,
      signal,
    });
    judged.push(judge(attachment, report, settings, policy));
  }
  return judged;
}

function judge(attachment: Attachment, report: FileReport, settings: AttachmentSettings, policy: GuardPolicy): Judged {
  const applied: Array<{ symbol: string; reason: string; rule: AttachmentRule }> = [];
  const seen = new Set<string>();
  const apply = (symbol: string, reason: string, rule: AttachmentRule) => {
    if (rule.action === 'allow') return;
    const key = `${symbol}\n${reason}`;
    if (seen.has(key)) return;
    seen.add(key);
    applied.push({ symbol, reason, rule });
  };
  for (const finding of report.findings) {
    switch (finding.kind) {
      case 'category':
        // Office files and PDFs are judged by what they carry; archives by whether they could be read.
        if (finding.category === 'executables' || finding.category === 'scripts' || finding.category === 'html') {
          apply(CATEGORY_SYMBOLS[finding.category], finding.reason, settings.categories[finding.category]);
        }
        break;
      case 'macro':
        apply(SYMBOLS.macro, finding.reason, settings.categories.office);
        break;
      case 'pdf-active':
        apply(SYMBOLS['pdf-active'], finding.reason, settings.categories.pdf);
        break;
      case 'mismatch':
        apply(SYMBOLS.mismatch, finding.reason, settings.typeMismatch);
        break;
      case 'encrypted':
        apply(SYMBOLS.encrypted, finding.reason, settings.archives.onEncrypted);
        break;
      case 'depth':
        apply(SYMBOLS.depth, finding.reason, settings.archives.onDepthExceeded);
        break;
      case 'bomb':
        apply(SYMBOLS.bomb, finding.reason, settings.archives.onBomb);
        break;
      case 'unreadable':
      case 'uninspected':
        apply(SYMBOLS[finding.kind], finding.reason, settings.categories.archives);
        break;
    }
  }
  // The admin's patterns, on the attachment's name and the names inside its archives.
  const names = [attachment.name, ...report.findings.filter((f) => f.kind === 'category').map((f) => f.path.split(' › ').pop() ?? '')];
  for (const rule of settings.custom) {
    const hit = names.find((name) => name && globMatches(rule.pattern, name));
    if (hit) apply(SYMBOLS.custom, `${hit} matches the rule ${rule.pattern}`, rule);
  }
  const action = applied.reduce<AttachmentRule['action']>((strongest, a) => (STRENGTH[a.rule.action] > STRENGTH[strongest] ? a.rule.action : strongest), 'allow');
  const findings = applied.map(({ symbol, reason, rule }): GuardFinding => {
    const score = rule.action === 'block' || rule.action === 'score' ? rule.score : 0;
    if (action === 'block') return { symbol, score, reason, ...(rule.action === 'block' ? { action: policy.onBlock } : {}) };
    if (action === 'remove') return { symbol, score, reason: `${reason}${REMOVED}` };
    if (action === 'sanitise') return { symbol, score, reason: rule.action === 'sanitise' ? `${reason}${CLEANED}` : reason };
    return { symbol, score: rule.score, reason };
  });
  return { attachment, report, action, findings };
}

/**
 * The message's attached files: leaf parts with a file name, and leaf parts that are not text (an inline
 * image, an application/octet-stream without a name). The text and HTML bodies are not attachments.
 */
function attachmentsOf(message: SplitMessage, structure: MimeStructure): Attachment[] {
  const out: Attachment[] = [];
  for (const [index, part] of structure.partList.entries()) {
    if (part.bodyBytes === undefined) continue;
    const type = contentTypeOf(part.fields);
    if (type.value.startsWith('multipart/') || type.value === 'message/rfc822' || type.value === 'message/global') continue;
    const name = fileName(part.fields, type.params);
    if (!name && type.value.startsWith('text/')) continue;
    if (index === 0 && !name && structure.partList.length === 1 && type.value.startsWith('text/')) continue;
    const encoded = message.body.subarray(part.contentOffset, part.contentOffset + part.bodyBytes);
    out.push({ part: index, name: name ?? `(unnamed ${type.value} part)`, content: lazyDecoded(encoded, part.fields) });
  }
  return out;
}

function fileName(fields: HeaderField[], typeParams: Record<string, string>): string | undefined {
  const disposition = fields.find((f) => f.name.toLowerCase() === 'content-disposition');
  let name: string | undefined;
  if (disposition) {
    try {
      name = libmime.parseHeaderValue(unfoldedValue(disposition, 'utf8').slice(0, 4000)).params.filename;
    } catch {
      name = undefined;
    }
  }
  name ??= typeParams.name;
  if (!name) return undefined;
  let decoded = name;
  try {
    decoded = libmime.decodeWords(name);
  } catch {
    // An undecodable encoded word stays as written.
  }
  const printable = [...decoded].filter((c) => c.charCodeAt(0) > 0x1f && c.charCodeAt(0) !== 0x7f).join('');
  return printable.trim().slice(0, MAX_NAME_CHARS) || undefined;
}

function lazyDecoded(encoded: Buffer, fields: HeaderField[]): { head: Buffer; whole: () => Buffer } {
  const field = fields.find((f) => f.name.toLowerCase() === 'content-transfer-encoding');
  const encoding = field ? unfoldedValue(field).trim().toLowerCase() : '7bit';
  let whole: Buffer | undefined;
  const decodeWhole = () => (whole ??= decode(encoded, encoding));
  // Base64 in 76-character lines: 4 characters for 3 bytes, 78 bytes a line with the CRLF.
  const headChars = Math.ceil((HEAD_BYTES * 4) / 3 / 76) * 78;
  const head = encoded.length <= headChars * 2 ? decodeWhole() : decode(encoded.subarray(0, headChars), encoding).subarray(0, HEAD_BYTES);
  return { head, whole: decodeWhole };
}

function decode(encoded: Buffer, encoding: string): Buffer {
  if (encoding === 'base64') return Buffer.from(encoded.toString('latin1'), 'base64');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(encoded);
  return encoded;
}
