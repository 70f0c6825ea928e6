/**
 * Two adjustments of smtp-server's behaviour, installed once:
 * - Replies carry the enhanced status code that fits the cause (RFC 3463), e.g. "550 5.7.1" for relaying
 *   denied. smtp-server derives the code from the reply number alone (550 → 5.1.1), so a reply text that
 *   already starts with its own code is sent as it is.
 * - AUTH exists only on an encrypted connection: it is neither advertised nor accepted before STARTTLS,
 *   so no password can be sent in the clear.
 */
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

const OWN_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;
let installed = false;

export function adjustSmtpServer(): void {
  if (installed) return;
  installed = true;
  const prototype = SMTPConnection.prototype as unknown as {
    send(code: number, data: unknown, context?: unknown): void;
    _isSupported(command: string): boolean;
    secure: boolean;
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
