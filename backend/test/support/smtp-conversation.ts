/**
 * A raw SMTP client for tests: every command and byte is ours to choose, so tests can speak like a
 * well-behaved mail server, an open-relay prober or a smuggler.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';

export interface SmtpReply {
  code: number;
  lines: string[];
  text: string;
}

export class SmtpConversation {
  private buffer = '';
  private waiting: Array<(reply: SmtpReply) => void> = [];
  private replies: SmtpReply[] = [];
  private closedError: Error | undefined;
  greeting!: SmtpReply;

  private constructor(private socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  static async open(port: number, options: { host?: string; localAddress?: string } = {}): Promise<SmtpConversation> {
    const socket = connectTcp({ port, host: options.host ?? '127.0.0.1', localAddress: options.localAddress });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const conversation = new SmtpConversation(socket);
    conversation.greeting = await conversation.readReply();
    return conversation;
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.parse();
    });
    socket.on('error', (error) => {
      this.closedError = error;
    });
    socket.on('close', () => {
      this.closedError ??= new Error('connection closed');
      for (const waiter of this.waiting.splice(0)) waiter({ code: 0, lines: [], text: 'connection closed' });
    });
  }

  private parse(): void {
    const pending: string[] = [];
    let index: number;
    while ((index = this.buffer.indexOf('\r\n')) >= 0) {
      const line = this.buffer.slice(0, index);
      this.buffer = this.buffer.slice(index + 2);
      pending.push(line);
      if (line.length < 4 || line[3] === ' ') {
        const lines = pending.splice(0);
        const reply = { code: Number(line.slice(0, 3)), lines, text: lines.map((l) => l.slice(4)).join('\n') };
        const waiter = this.waiting.shift();
        if (waiter) waiter(reply);
        else this.replies.push(reply);
      }
    }
    if (pending.length) this.buffer = `${pending.join('\r\n')}\r\n${this.buffer}`;
  }

  readReply(timeoutMs = 15_000): Promise<SmtpReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closedError) return Promise.resolve({ code: 0, lines: [], text: 'connection closed' });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no SMTP reply within the time limit')), timeoutMs);
      this.waiting.push((reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Writes and waits until the socket has flushed, as a sender that respects back-pressure does. */
  async writeAndDrain(data: string | Buffer): Promise<void> {
    if (!this.socket.write(data)) await new Promise((resolve) => this.socket.once('drain', resolve));
  }

  async command(line: string): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    return this.readReply();
  }

  async startTls(servername = 'localhost'): Promise<TLSSocket> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) throw new Error(`STARTTLS refused: ${reply.code} ${reply.text}`);
    this.socket.removeAllListeners('data');
    const secure = connectTls({ socket: this.socket, servername, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
    return secure;
  }

  /** MAIL, RCPT and DATA; the body is dot-stuffed and terminated here. Returns every reply. */
  async sendMessage(from: string, to: string[], data: string | Buffer): Promise<{ mail: SmtpReply; rcpt: SmtpReply[]; data?: SmtpReply; final?: SmtpReply }> {
    const mail = await this.command(`MAIL FROM:<${from}>`);
    const rcpt: SmtpReply[] = [];
    for (const recipient of to) rcpt.push(await this.command(`RCPT TO:<${recipient}>`));
    if (mail.code !== 250 || !rcpt.some((r) => r.code === 250)) return { mail, rcpt };
    const dataReply = await this.command('DATA');
    if (dataReply.code !== 354) return { mail, rcpt, data: dataReply };
    const body = Buffer.isBuffer(data) ? data.toString('binary') : data;
    const stuffed = body.replace(/(^|\r\n)\./g, '$1..');
    this.write(Buffer.from(`${stuffed}${stuffed.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'binary'));
    return { mail, rcpt, data: dataReply, final: await this.readReply() };
  }

  async quit(): Promise<void> {
    if (!this.closedError) {
      this.write('QUIT\r\n');
      await this.readReply(2000).catch(() => undefined);
    }
    this.socket.destroy();
  }
}

export function simpleMessage(options: { from: string; to: string; subject: string; body?: string; headers?: Record<string, string> }): string {
  const extra = Object.entries(options.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return (
    `From: <${options.from}>\r\nTo: <${options.to}>\r\nSubject: ${options.subject}\r\n` +
    `Message-ID: <${Math.random().toString(36).slice(2)}@test>\r\nDate: ${new Date().toUTCString()}\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n${extra}\r\n${options.body ?? 'Hello.'}\r\n`
  );
}
