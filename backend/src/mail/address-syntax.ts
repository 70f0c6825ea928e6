/**
 * Syntax of the envelope addresses a client names in MAIL FROM and RCPT TO.
 *
 * A hand-written scanner instead of a regular expression: the pattern it replaces
 * (`[^…]+(?:\.[^…]+)*@…`) let one RCPT TO with 32 × "a." freeze the whole process for 42 s. This scanner
 * looks at every character once, and refuses anything longer than RFC 5321 allows before it looks at all.
 *
 * What is accepted is what the gateway accepted before, minus the forms that hide another route:
 * - local part: any characters but white space, `@ < > ( ) [ ] \ , ; : "` (so SMTPUTF8 local parts pass and
 *   quoted local parts are refused, as before), and now also not `%` or `!` (the percent hack and UUCP bang
 *   paths name another host to relay to);
 * - domain: at least two dot-separated ASCII labels of letters, digits and inner hyphens, each at most 63
 *   characters.
 */

/** RFC 5321 4.5.3.1.1: at most 64 octets in the local part. */
export const MAX_LOCAL_PART_OCTETS = 64;
/** RFC 5321 4.5.3.1.2: at most 255 octets in the domain. */
export const MAX_DOMAIN_OCTETS = 255;
/** RFC 5321 4.5.3.1.3: a path is at most 256 octets including the angle brackets, so 254 for the address. */
export const MAX_ADDRESS_OCTETS = 254;
const MAX_LABEL_CHARS = 63;

export type AddressSyntax =
  | { valid: true }
  | {
      valid: false;
      /** What is wrong, phrased to follow "is not a valid address: " in an SMTP reply. */
      problem: string;
      /** True for source routes and the `%` / `!` forms, which name another host to relay through. */
      routing: boolean;
    };

const ROUTING_PROBLEM = 'source routes and % or ! forms are not accepted; name the final mailbox only';

/** Characters the local part never holds (besides white space). */
const LOCAL_PART_FORBIDDEN = new Set(['@', '<', '>', '(', ')', '[', ']', '\\', ',', ';', '"']);

export interface AddressContext {
  /** The client wrote a source route before the address, which smtp-server has already removed. */
  sourceRoute?: boolean;
  /** MAIL FROM:<> (the null reverse-path of bounces) is allowed. */
  nullPathAllowed?: boolean;
}

/** Checks one envelope address (without angle brackets). Runs in time linear in its length, at most 254 octets. */
export function checkAddressSyntax(address: string, context: AddressContext = {}): AddressSyntax {
  if (context.sourceRoute) return refuse(ROUTING_PROBLEM, true);
  if (address === '' && context.nullPathAllowed) return { valid: true };
  // A UTF-8 octet takes at least one UTF-16 unit, so this bound is safe before counting octets.
  if (address.length > MAX_ADDRESS_OCTETS || Buffer.byteLength(address, 'utf8') > MAX_ADDRESS_OCTETS) {
    return refuse(`it is longer than ${MAX_ADDRESS_OCTETS} octets (RFC 5321 4.5.3.1.3)`);
  }
  if (address.startsWith('@')) return refuse(ROUTING_PROBLEM, true);
  const at = address.indexOf('@');
  if (at < 0) return refuse('it has no @domain');
  if (address.indexOf('@', at + 1) >= 0) return refuse('it has more than one @');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local === '') return refuse('the part before @ is empty');
  if (Buffer.byteLength(local, 'utf8') > MAX_LOCAL_PART_OCTETS) {
    return refuse(`the part before @ is longer than ${MAX_LOCAL_PART_OCTETS} octets (RFC 5321 4.5.3.1.1)`);
  }
  for (const char of local) {
    // ":" is what is left of a source route ("@relay:user@host") once a client omits the leading "@".
    if (char === '%' || char === '!' || char === ':') return refuse(ROUTING_PROBLEM, true);
    if (LOCAL_PART_FORBIDDEN.has(char) || isWhiteSpace(char)) {
      return refuse(`the part before @ holds ${describe(char)}, which needs quoting; quoted local parts are not accepted`);
    }
  }
  return checkDomain(domain);
}

function checkDomain(domain: string): AddressSyntax {
  if (domain.length > MAX_DOMAIN_OCTETS) return refuse(`the domain is longer than ${MAX_DOMAIN_OCTETS} octets`);
  let labels = 0;
  let labelStart = 0;
  for (let i = 0; i <= domain.length; i += 1) {
    if (i < domain.length && domain.charCodeAt(i) !== 0x2e) {
      if (!isLabelCharacter(domain.charCodeAt(i))) {
        return refuse(`the domain holds ${describe(domain[i]!)}; use letters, digits, hyphens and dots (A-labels for IDN)`);
      }
      continue;
    }
    const length = i - labelStart;
    if (length === 0) return refuse('the domain has an empty label');
    if (length > MAX_LABEL_CHARS) return refuse(`a domain label is longer than ${MAX_LABEL_CHARS} characters`);
    if (domain.charCodeAt(labelStart) === 0x2d || domain.charCodeAt(i - 1) === 0x2d) {
      return refuse('a domain label starts or ends with a hyphen');
    }
    labels += 1;
    labelStart = i + 1;
  }
  if (labels < 2) return refuse('the domain needs at least two labels, like example.org');
  return { valid: true };
}

function refuse(problem: string, routing = false): AddressSyntax {
  return { valid: false, problem, routing };
}

function isLabelCharacter(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39) || code === 0x2d;
}

/** The characters JavaScript's `\s` matches (trim() strips the same set), which addresses never held. */
function isWhiteSpace(char: string): boolean {
  return char.trim() === '';
}

function describe(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  const visible = code > 0x20 && code !== 0x7f && !isWhiteSpace(char);
  return visible ? `"${char}"` : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** An address as it may be echoed in a reply: short, printable. */
export function addressForReply(address: string): string {
  const printable = [...address.slice(0, 120)].map((c) => (c.codePointAt(0)! < 0x20 || c === '\x7f' ? '?' : c)).join('');
  return address.length > 120 ? `${printable}...` : printable;
}

/** Characters the add-in's loose check refuses (besides white space). */
const LOOSE_FORBIDDEN = new Set(['@', '<', '>', '"', ',', ';']);

/**
 * The add-in's loose check of what a user typed in Outlook: something@domain with a dot inside the domain,
 * no white space, angle brackets, quotes, commas or semicolons. It only decides whether the preview can
 * resolve a recipient; the SMTP listener applies checkAddressSyntax when the mail arrives.
 */
export function isPlausibleAddress(value: string): boolean {
  if (value.length > MAX_ADDRESS_OCTETS) return false;
  const at = value.indexOf('@');
  if (at < 1 || value.indexOf('@', at + 1) >= 0) return false;
  for (let i = 0; i < value.length; i += 1) {
    const char = value[i]!;
    if (i !== at && (LOOSE_FORBIDDEN.has(char) || isWhiteSpace(char))) return false;
  }
  // A dot with at least one character on either side.
  return value.slice(at + 2, -1).includes('.');
}
