/**
 * The SMTP client the delivery queue sends with. Connections are pooled per target (host:port) and reused
 * with RSET, so a burst to one relay does not pay a greeting per message. Every outcome is per recipient,
 * with the remote reply kept for the trace and for bounces; `send` never throws.
 */
import SMTPConnection from 'nodemailer/lib/smtp-connection';

export interface SmtpTarget {
  host: string;
  port: number;
  implicitTls?: boolean;
  requireTls?: boolean;
  auth?: { user: string; pass: string };
}

export interface DeliveryEnvelope {
  mailFrom: string;
  recipients: string[];
  smtpUtf8?: boolean;
  eightBitMime?: boolean;
}

export type RecipientStatus = 'delivered' | 'deferred' | 'failed';

export interface RecipientOutcome {
  recipient: string;
  status: RecipientStatus;
  code?: number;
  enhancedCode?: string;
  reply: string;
}

export interface SendResult {
  remote: string;
  tls: boolean;
  outcomes: RecipientOutcome[];
}

export interface SmtpDeliveryClientOptions {
  heloName: string;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  maxConnectionsPerTarget?: number;
  maxMessagesPerConnection?: number;
  idleTimeoutMs?: number;
  tlsRejectUnauthorized?: boolean;
}

interface PooledConnection {
  connection: SMTPConnection;
  messages: number;
  broken: boolean;
  idleTimer?: NodeJS.Timeout;
}

interface TargetPool {
  idle: PooledConnection[];
  open: number;
  /** Connections being reset after a message: about to be idle, cheaper to wait for than a new greeting. */
  resetting: number;
  waiting: Array<() => void>;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  rejectedErrors?: SmtpError[];
  recipient?: string;
}

const ENHANCED = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/;

export class SmtpDeliveryClient {
  private readonly pools = new Map<string, TargetPool>();
  private closed = false;
  private readonly settings: Required<SmtpDeliveryClientOptions>;

  constructor(options: SmtpDeliveryClientOptions) {
    this.settings = {
      connectTimeoutMs: 30_000,
      commandTimeoutMs: 120_000,
      maxConnectionsPerTarget: 20,
      maxMessagesPerConnection: 500,
      idleTimeoutMs: 10_000,
      tlsRejectUnauthorized: false,
      ...options,
    };
  }

  async send(target: SmtpTarget, envelope: DeliveryEnvelope, message: Buffer): Promise<SendResult> {
    const remote = `${target.host}:${target.port}`;
    let pooled: PooledConnection;
    try {
      pooled = await this.acquire(target);
    } catch (error) {
      return { remote, tls: false, outcomes: everyone(envelope, 'deferred', describeConnectionError(error as SmtpError, remote)) };
    }
    const tls = Boolean((pooled.connection as unknown as { secure?: boolean }).secure);
    try {
      const info = await new Promise<{ accepted: string[]; rejectedErrors?: SmtpError[]; response: string }>((resolve, reject) => {
        pooled.connection.send(
          { from: envelope.mailFrom, to: envelope.recipients, use8BitMime: envelope.eightBitMime, size: message.length } as never,
          message,
          (error, result) => (error ? reject(error) : resolve(result as never)),
        );
      });
      pooled.messages += 1;
      const outcomes: RecipientOutcome[] = [];
      for (const recipient of envelope.recipients) {
        const rejected = info.rejectedErrors?.find((e) => e.recipient === recipient);
        outcomes.push(rejected ? outcomeFromError(recipient, rejected) : { recipient, status: 'delivered', code: 250, enhancedCode: enhancedOf(info.response), reply: info.response });
      }
      return { remote, tls, outcomes };
    } catch (error) {
      const failure = error as SmtpError;
      if (failure.code !== 'EENVELOPE' && failure.code !== 'EMESSAGE') pooled.broken = true;
      return { remote, tls, outcomes: outcomesFromFailure(envelope, failure, remote) };
    } finally {
      this.release(target, pooled);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pool of this.pools.values()) {
      for (const pooled of pool.idle.splice(0)) {
        if (pooled.idleTimer) clearTimeout(pooled.idleTimer);
        quit(pooled.connection);
      }
      for (const waiter of pool.waiting.splice(0)) waiter();
    }
  }

  private poolFor(target: SmtpTarget): TargetPool {
    const key = `${target.implicitTls ? 'smtps' : 'smtp'}://${target.host}:${target.port}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = { idle: [], open: 0, resetting: 0, waiting: [] };
      this.pools.set(key, pool);
    }
    return pool;
  }

  private async acquire(target: SmtpTarget): Promise<PooledConnection> {
    const pool = this.poolFor(target);
    for (;;) {
      if (this.closed) throw Object.assign(new Error('the delivery client is shutting down'), { code: 'ECLOSED' });
      const idle = pool.idle.pop();
      if (idle) {
        if (idle.idleTimer) clearTimeout(idle.idleTimer);
        if (!idle.broken && isUsable(idle.connection)) return idle;
        pool.open -= 1;
        quit(idle.connection);
        continue;
      }
      if (pool.open < this.settings.maxConnectionsPerTarget && pool.resetting <= pool.waiting.length) {
        pool.open += 1;
        try {
          return await this.connect(target);
        } catch (error) {
          pool.open -= 1;
          pool.waiting.shift()?.();
          throw error;
        }
      }
      await new Promise<void>((resolve) => pool.waiting.push(resolve));
    }
  }

  private release(target: SmtpTarget, pooled: PooledConnection): void {
    const pool = this.poolFor(target);
    const retire = pooled.broken || this.closed || pooled.messages >= this.settings.maxMessagesPerConnection || !isUsable(pooled.connection);
    if (retire) {
      pool.open -= 1;
      quit(pooled.connection);
      pool.waiting.shift()?.();
      return;
    }
    pool.resetting += 1;
    pooled.connection.reset((error) => {
      pool.resetting -= 1;
      if (error) {
        pooled.broken = true;
        pool.open -= 1;
        quit(pooled.connection);
      } else {
        pooled.idleTimer = setTimeout(() => {
          const index = pool.idle.indexOf(pooled);
          if (index >= 0) {
            pool.idle.splice(index, 1);
            pool.open -= 1;
            quit(pooled.connection);
          }
        }, this.settings.idleTimeoutMs);
        pooled.idleTimer.unref();
        pool.idle.push(pooled);
      }
      pool.waiting.shift()?.();
    });
  }

  private connect(target: SmtpTarget): Promise<PooledConnection> {
    const connection = new SMTPConnection({
      host: target.host,
      port: target.port,
      secure: Boolean(target.implicitTls),
      requireTLS: Boolean(target.requireTls),
      opportunisticTLS: !target.requireTls,
      name: this.settings.heloName,
      connectionTimeout: this.settings.connectTimeoutMs,
      greetingTimeout: this.settings.connectTimeoutMs,
      socketTimeout: this.settings.commandTimeoutMs,
      tls: { rejectUnauthorized: this.settings.tlsRejectUnauthorized, minVersion: 'TLSv1.2' },
    } as never);
    const pooled: PooledConnection = { connection, messages: 0, broken: false };
    // Errors after connecting (a peer that goes away while idle) only retire the connection.
    connection.on('error', () => {
      pooled.broken = true;
    });
    connection.on('end', () => {
      pooled.broken = true;
    });
    return new Promise((resolve, reject) => {
      // A connection that fails before the greeting is reported as an 'error' event, not to the callback.
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        connection.close();
        reject(error);
      };
      connection.once('error', fail);
      connection.once('end', () => fail(Object.assign(new Error(`the connection to ${target.host}:${target.port} closed before the greeting`), { code: 'ECONNECTION' })));
      connection.connect((error?: Error) => {
        if (error) return fail(error);
        if (settled) return;
        const ready = () => {
          settled = true;
          connection.removeListener('error', fail);
          resolve(pooled);
        };
        if (!target.auth) return ready();
        connection.login({ user: target.auth.user, pass: target.auth.pass } as never, (loginError?: Error | null) => {
          if (loginError) return fail(loginError);
          ready();
        });
      });
    });
  }
}

function isUsable(connection: SMTPConnection): boolean {
  const state = connection as unknown as { _destroyed?: boolean; _closing?: boolean; _socket?: { destroyed?: boolean } };
  return !state._destroyed && !state._closing && !state._socket?.destroyed;
}

function quit(connection: SMTPConnection): void {
  try {
    connection.quit();
  } catch {
    connection.close();
  }
}

function enhancedOf(reply: string | undefined): string | undefined {
  return reply ? ENHANCED.exec(reply)?.[1] : undefined;
}

function statusForCode(code: number | undefined): RecipientStatus {
  return code !== undefined && code >= 500 && code < 600 ? 'failed' : 'deferred';
}

function outcomeFromError(recipient: string, error: SmtpError): RecipientOutcome {
  const reply = error.response ?? error.message;
  return { recipient, status: statusForCode(error.responseCode), code: error.responseCode, enhancedCode: enhancedOf(error.response), reply };
}

function everyone(envelope: DeliveryEnvelope, status: RecipientStatus, reply: string, code?: number, enhancedCode?: string): RecipientOutcome[] {
  return envelope.recipients.map((recipient) => ({ recipient, status, reply, code, enhancedCode }));
}

function outcomesFromFailure(envelope: DeliveryEnvelope, error: SmtpError, remote: string): RecipientOutcome[] {
  if (error.code === 'EENVELOPE' && error.rejectedErrors?.length && !error.responseCode) {
    return envelope.recipients.map((recipient) => {
      const rejected = error.rejectedErrors!.find((e) => e.recipient === recipient);
      return rejected ? outcomeFromError(recipient, rejected) : { recipient, status: 'deferred', reply: error.message };
    });
  }
  if (error.code === 'EENVELOPE' && error.rejectedErrors?.length) {
    // Every recipient was refused: each keeps its own reply.
    return envelope.recipients.map((recipient) => {
      const rejected = error.rejectedErrors!.find((e) => e.recipient === recipient);
      return rejected ? outcomeFromError(recipient, rejected) : outcomeFromError(recipient, error);
    });
  }
  if (error.responseCode) {
    // MAIL FROM or DATA was refused: it applies to every recipient of the transaction.
    return everyone(envelope, statusForCode(error.responseCode), error.response ?? error.message, error.responseCode, enhancedOf(error.response));
  }
  return everyone(envelope, 'deferred', describeConnectionError(error, remote));
}

function describeConnectionError(error: SmtpError, remote: string): string {
  const message = error.message || String(error);
  return message.includes(remote) ? message : `${message} (${remote})`;
}
