/**
 * Adjustments of smtp-server's behaviour, installed once:
 * - Replies carry the enhanced status code that fits the cause (RFC 3463), e.g. "550 5.7.1" for relaying
 *   denied. smtp-server derives the code from the reply number alone (550 → 5.1.1), so a reply text that
 *   already starts with its own code is sent as it is.
 * - AUTH exists only on an encrypted connection: it is neither advertised nor accepted before STARTTLS,
 *   so no password can be sent in the clear.
 * - A server may have a command hook (setCommandHook) that sees every complete command line before it
 *   runs and may refuse it with a 421, which closes the connection: smtp-server has no hook for that,
 *   and per-connection command limits and the command timeout need it.
 * - A source route (`<@relay.example,@other.example:user@host>`) is marked on the parsed address.
 *   smtp-server removes the route before the hooks see the address (RFC 5321 says it should be ignored);
 *   the gateway refuses it instead, like the `%` and `!` forms, so nobody can name another hop.
 * The connection limits also read a few of SMTPConnection's private fields (connectionInternals); they
 * are read here only, so an update of smtp-server that renames them breaks one file and its tests.
 */
import type { SMTPServer, SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/** Sees a complete command line before it runs; a returned reply (421 …) is sent and closes the connection. */
export type CommandHook = (
  session: SMTPServerSession,
  command: { name: string; continuation: boolean },
) => { responseCode: 421; text: string } | undefined;

const commandHooks = new WeakMap<object, CommandHook>();

export function setCommandHook(server: SMTPServer, hook: CommandHook): void {
  commandHooks.set(server, hook);
}

interface ConnectionFields {
  id: string;
  session: SMTPServerSession;
  _server: object;
  _ready: boolean;
  _upgrading: boolean;
  _closing: boolean;
  _closed: boolean;
  _handlerPending?: boolean;
  _nextHandler: unknown;
  _dataStream: { readableLength: number; readableHighWaterMark: number } | false | null;
  _parser: { _dataMode: boolean; dataBytes: number } | false;
  send(code: number, data: unknown, context?: unknown): void;
}

/** What the session timeouts need to know about one connection. */
export interface ConnectionInternals {
  id: string;
  closing: boolean;
  /** The client waits for the gateway: a hook has not answered yet, or the message is being decided on. */
  awaitingServer: boolean;
  /** Message bytes received so far while the client sends DATA; undefined outside DATA. */
  dataBytes: number | undefined;
  send(code: number, text: string): void;
}

export function connectionInternals(connection: unknown): ConnectionInternals {
  const c = connection as ConnectionFields;
  const parser = c._parser || undefined;
  const stream = c._dataStream || undefined;
  const inData = Boolean(parser?._dataMode);
  // A full buffer in DATA means the gateway reads slower than the client sends: the wait is ours.
  const backPressure = inData && stream !== undefined && stream.readableLength >= stream.readableHighWaterMark;
  return {
    id: c.id,
    closing: c._closing || c._closed,
    // STARTTLS keeps its handler pending through the handshake, but finishing the handshake is the client's job.
    awaitingServer: (Boolean(c._handlerPending) && !c._upgrading) || (stream !== undefined && !inData) || backPressure,
    dataBytes: inData ? parser!.dataBytes : undefined,
    send: (code, text) => c.send(code, text),
  };
}

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
  const onCommand = (prototype as unknown as { _onCommand(command: Buffer, callback?: () => void): void })._onCommand;
  (prototype as unknown as { _onCommand: typeof onCommand })._onCommand = function onCommandWithHook(
    this: ConnectionFields,
    command: Buffer,
    callback?: () => void,
  ) {
    // Lines buffered during a TLS handshake or sent before the greeting are smtp-server's to discard.
    const hook = !this._upgrading && this._ready ? commandHooks.get(this._server) : undefined;
    if (hook) {
      const name = String(command ?? '').split(' ', 1)[0]!.toUpperCase();
      const refusal = hook(this.session, { name, continuation: Boolean(this._nextHandler) });
      if (refusal) return this.send(refusal.responseCode, refusal.text);
    }
    return onCommand.call(this, command, callback);
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
