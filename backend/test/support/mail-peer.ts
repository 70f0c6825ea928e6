/**
 * A real SMTP server on loopback that plays a tenant's mail server or a remote MX: it records every
 * message it accepts, and a test can make it answer a recipient with a chosen reply.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  mailFrom: string;
  recipients: string[];
  raw: Buffer;
}

export type RecipientAnswer = (recipient: string, attempt: number) => { code: number; message: string } | undefined;

export class MailPeer {
  readonly received: ReceivedMail[] = [];
  connections = 0;
  answer: RecipientAnswer = () => undefined;
  private attempts = new Map<string, number>();
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  static async start(): Promise<MailPeer> {
    let peer!: MailPeer;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      disableReverseLookup: true,
      logger: false,
      onConnect(_session, callback) {
        peer.connections += 1;
        callback();
      },
      onRcptTo(address, _session, callback) {
        const attempt = (peer.attempts.get(address.address) ?? 0) + 1;
        peer.attempts.set(address.address, attempt);
        const answer = peer.answer(address.address, attempt);
        if (answer) return callback(Object.assign(new Error(answer.message), { responseCode: answer.code }));
        callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          peer.received.push({
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            recipients: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks),
          });
          for (const waiter of peer.waiters.splice(0)) waiter();
          callback();
        });
      },
    });
    // A client that disappears mid-conversation (a killed gateway) is normal here.
    server.on('error', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    peer = new MailPeer(server, (server.server.address() as AddressInfo).port);
    return peer;
  }

  /** Waits until at least `count` messages arrived, or fails after timeoutMs. */
  async waitForMessages(count: number, timeoutMs = 15_000): Promise<ReceivedMail[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} messages at the peer, got ${this.received.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
