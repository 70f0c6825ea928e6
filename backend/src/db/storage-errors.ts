/**
 * Whether a failed write is worth retrying. SMTP has two answers for "could not store": 4xx (try again
 * later) and 5xx (do not). A sender told 451 for data the database will never take retries for days,
 * so the database's own SQLSTATE decides: data the database refuses is permanent, anything else
 * (connection lost, pool exhausted, serialization failure, disk full) is temporary.
 */

export type StorageFailure =
  | { kind: 'permanent'; code: string; reason: string }
  | { kind: 'temporary'; code?: string };

/** SQLSTATEs that no retry can fix, with words for the sender. */
const PERMANENT: Record<string, string> = {
  '22001': 'a value is longer than the database allows',
  '22021': 'it contains a character the database cannot store (such as NUL)',
  '22P05': 'it contains a character the database cannot store (such as \\u0000)',
  '22P02': 'it contains a value the database cannot read',
  '23502': 'a required value is missing',
  '23514': 'a value breaks a database rule',
  '54000': 'a value is larger than the database can index',
};

export function classifyStorageError(error: unknown): StorageFailure {
  const code = sqlState(error);
  if (!code) return { kind: 'temporary' };
  const reason = PERMANENT[code];
  if (reason) return { kind: 'permanent', code, reason };
  // The rest of class 22 (data exception) is about the value, never about the moment.
  if (code.startsWith('22')) return { kind: 'permanent', code, reason: `the database refuses its data (SQLSTATE ${code})` };
  return { kind: 'temporary', code };
}

/** The SQLSTATE of an error from pg or PGlite, also when a query builder wrapped it (in `cause`). */
function sqlState(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
