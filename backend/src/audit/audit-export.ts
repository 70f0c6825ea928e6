/**
 * An audit log export as a file: CSV for spreadsheets, JSON for programs. Both are written entry by entry
 * as they are read, never built whole in memory.
 *
 * CSV follows RFC 4180 with no judgement calls left to chance: every field is quoted, a quote inside is
 * doubled, lines end in CRLF, and line breaks inside a field stay inside its quotes. A spreadsheet treats
 * a cell that starts with = + - @ (or a tab or carriage return) as a formula, and audit fields carry text
 * from outside (addresses, file names), so such a cell is written with a leading apostrophe, which the
 * spreadsheet shows as text (the OWASP advice on CSV injection). The JSON export keeps every value as it is.
 */
import type { AuditEntry } from './audit-log.ts';
import type { AuditFilter } from './audit-search.ts';

export type AuditExportFormat = 'csv' | 'json';

/** An entry as the portal shows and exports it: no row id, no tenant id (the export is one tenant's). */
export interface ExportedAuditEntry {
  seq: number;
  at: string;
  action: string;
  actorId: string | null;
  actorAddress: string | null;
  clientIp: string | null;
  subjectId: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export function exportedEntry(entry: AuditEntry): ExportedAuditEntry {
  return {
    seq: entry.seq,
    at: entry.at.toISOString(),
    action: entry.action,
    actorId: entry.actorId,
    actorAddress: entry.actorAddress,
    clientIp: entry.clientIp,
    subjectId: entry.subjectId,
    details: entry.details,
    prevHash: entry.prevHash,
    hash: entry.hash,
  };
}

const FORMULA_START = new Set(['=', '+', '-', '@', '\t', '\r']);

/** One CSV field: quoted, inner quotes doubled, and text a spreadsheet would run as a formula made inert. */
export function csvField(value: string | number | null | undefined): string {
  const text = value === null || value === undefined ? '' : String(value);
  const inert = typeof value === 'string' && FORMULA_START.has(text.charAt(0)) ? `'${text}` : text;
  return `"${inert.replaceAll('"', '""')}"`;
}

export const csvLine = (fields: Array<string | number | null | undefined>): string => `${fields.map(csvField).join(',')}\r\n`;

export const AUDIT_CSV_COLUMNS = ['seq', 'at', 'action', 'actor_address', 'actor_id', 'client_ip', 'subject_id', 'details', 'hash', 'prev_hash'] as const;

/** The byte-order mark tells spreadsheet programs the file is UTF-8 (addresses and file names are not all ASCII). */
const UTF8_BOM = '\uFEFF';

export const auditCsvHeader = (): string => UTF8_BOM + csvLine([...AUDIT_CSV_COLUMNS]);

export function auditCsvRow(entry: ExportedAuditEntry): string {
  return csvLine([
    entry.seq,
    entry.at,
    entry.action,
    entry.actorAddress,
    entry.actorId,
    entry.clientIp,
    entry.subjectId,
    JSON.stringify(entry.details),
    entry.hash,
    entry.prevHash,
  ]);
}

export interface AuditExportHeading {
  exportedAt: string;
  filter: AuditFilter;
  /** The newest entry the export could include (entries written during the download are not in it). */
  throughSeq: number;
  /** The most entries one export holds. */
  cap: number;
  /** How many entries the file holds. */
  count: number;
  /** More entries matched than the cap: the file holds the newest `cap` of them. */
  capped: boolean;
}

/** The JSON file as it streams: the heading's fields, then `entries`, one entry at a time. */
export function auditJsonOpening(heading: AuditExportHeading): string {
  const filter = {
    ...heading.filter,
    ...(heading.filter.from ? { from: heading.filter.from.toISOString() } : {}),
    ...(heading.filter.to ? { to: heading.filter.to.toISOString() } : {}),
  };
  const head = JSON.stringify({ ...heading, filter });
  return `${head.slice(0, -1)},"entries":[\n`;
}

export const auditJsonEntry = (entry: ExportedAuditEntry, first: boolean): string => `${first ? '' : ',\n'}${JSON.stringify(entry)}`;

export const AUDIT_JSON_CLOSING = '\n]}\n';
