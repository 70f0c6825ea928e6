/**
 * Text from outside (header values, envelope addresses, HELO names, file names, remote replies) as the
 * database can hold it. PostgreSQL text refuses NUL (SQLSTATE 22021) and jsonb refuses the escape \u0000
 * and unpaired surrogates (22P05, 22P02); a refused insert is not a passing problem, so retrying it
 * never helps. Every writer of such text goes through this module, so the rule is written once:
 * NUL and unpaired surrogates become U+FFFD and the length is capped. Raw message bytes are not touched
 * (they are stored encrypted as bytea); only the copies of their text in columns are.
 */

/** The longest text a column gets unless its writer says otherwise. */
export const DEFAULT_MAX_STORED_CHARS = 10_000;
/** Nesting deeper than this in a JSON detail is replaced by a note (details are written by us, shallow). */
const MAX_JSON_DEPTH = 8;

export function storableText(value: string, maxChars = DEFAULT_MAX_STORED_CHARS): string {
  // Cut first, then repair: a cut through a surrogate pair leaves a lone half, which the repair replaces.
  const capped = value.length > maxChars ? `${value.slice(0, maxChars)}…` : value;
  return replaceUnstorable(capped);
}

/** NUL and surrogates without their partner become U+FFFD: one pass over the UTF-16 code units. */
function replaceUnstorable(text: string): string {
  let units: Uint16Array | undefined;
  for (let at = 0; at < text.length; at += 1) {
    const unit = text.charCodeAt(at);
    let bad = unit === 0;
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(at + 1);
      if (next >= 0xdc00 && next <= 0xdfff) at += 1;
      else bad = true;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      bad = true;
    }
    if (bad) {
      // Copied once, on the first bad unit; clean text (nearly all of it) is returned as it is.
      units ??= copyUnits(text);
      units[at] = 0xfffd;
    }
  }
  return units ? fromUnits(units) : text;
}

/** Back to a string in slices, so no call gets a million arguments. */
function fromUnits(units: Uint16Array): string {
  let text = '';
  for (let at = 0; at < units.length; at += 8192) text += String.fromCharCode(...units.subarray(at, at + 8192));
  return text;
}

function copyUnits(text: string): Uint16Array {
  const units = new Uint16Array(text.length);
  for (let at = 0; at < text.length; at += 1) units[at] = text.charCodeAt(at);
  return units;
}

/** storableText for values that may be absent. */
export function storableOptionalText(value: string | null | undefined, maxChars = DEFAULT_MAX_STORED_CHARS): string | null {
  return value === undefined || value === null ? null : storableText(value, maxChars);
}

/** A JSON value (trace detail, audit details) with every string and key made storable. */
export function storableJson<T>(value: T, maxChars = DEFAULT_MAX_STORED_CHARS): T {
  return clean(value, maxChars, 0) as T;
}

function clean(value: unknown, maxChars: number, depth: number): unknown {
  if (typeof value === 'string') return storableText(value, maxChars);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  if (depth >= MAX_JSON_DEPTH) return '[nested too deeply to store]';
  if (Array.isArray(value)) return value.map((item) => clean(item, maxChars, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[storableText(key, 200)] = clean(item, maxChars, depth + 1);
  return out;
}
