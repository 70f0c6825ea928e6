/**
 * Three adjustments of smtp-server's behaviour, installed once:
 * - Replies carry the enhanced status code that fits the cause (RFC 3463), e.g. "550 5.7.1" for relaying
 *   denied. smtp-server derives the code from the reply number alone (550 → 5.1.1), so a reply text that
 *   already starts with its own code is sent as it is.
 * - AUTH exists only on an encrypted connection: it is neither advertised nor accepted before STARTTLS,
 *   so no password can be sent in the clear.
 * - A source route (`<@relay.example,@other.example:user@host>`) is marked on the parsed address.
 *   smtp-server removes the route before the hooks see the address (RFC 5321 says it should be ignored);
 *   the gateway refuses it instead, like the `%` and `!` forms, so nobody can name another hop.
 */
import type { SMTPServerAddress } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

const OWN_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;
let installed = false;

export function adjustSmtpServer(): void {
  if (installed) return;
  installed = true;
  const prototype = SMTPConnection.prototype as unknown as {
    send(code: number, data: unknown, context?: unknown): void;
    _isSupported(command: string): boolean;
    _parseAddressCommand(name: string, command: unknown): false | (SMTPServerAddress & { sourceRoute?: boolean });
    secure: boolean;
  };
  const parseAddressCommand = prototype._parseAddressCommand;
  prototype._parseAddressCommand = function parseAndMarkSourceRoute(this: typeof prototype, name: string, command: unknown) {
    const parsed = parseAddressCommand.call(this, name, command);
    if (parsed && namesSourceRoute(String(command ?? ''))) parsed.sourceRoute = true;
    return parsed;
  };
  const isSupported = prototype._isSupported;
  prototype._isSupported = function supportedOnlyWhenSafe(this: typeof prototype, command: string) {
    if (String(command).trim().toUpperCase() === 'AUTH' && !this.secure) return false;
    return isSupported.call(this, command);
  };
  const send = prototype.send;
  prototype.send = function sendWithOwnCode(code: number, data: unknown, context?: unknown) {
    const text = typeof data === 'string' ? data : undefined;
    return send.call(this, code, data, text && OWN_CODE.test(text) ? false : context);
  };
}

/** An error for smtp-server hooks: the reply number and text, which starts with its enhanced code. */
export function smtpError(responseCode: number, enhancedCode: string, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(`${enhancedCode} ${text}`), { responseCode });
}

/** "RCPT TO:<@relay:user@host>": the path after the first colon starts with "<@". */
function namesSourceRoute(command: string): boolean {
  const colon = command.indexOf(':');
  return colon >= 0 && command.slice(colon + 1).trimStart().startsWith('<@');
}

/** True when the client wrote a source route before this address (smtp-server has removed it already). */
export function hadSourceRoute(address: SMTPServerAddress): boolean {
  return (address as SMTPServerAddress & { sourceRoute?: boolean }).sourceRoute === true;
}
