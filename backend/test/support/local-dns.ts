/**
 * A real DNS server on loopback for the sender-authentication tests: UDP on 127.0.0.1 and a random port,
 * answering from a zone object, NXDOMAIN for names it does not know, and never answering names marked
 * silent (a DNS timeout). Also DKIM keys: a key pair, mailauth's signer and the TXT record to publish.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import { dkimSign } from 'mailauth';

export type Zone = Record<string, { TXT?: string[]; A?: string[]; MX?: Array<{ exchange: string; preference: number }> }>;

export interface LocalDns {
  server: string;
  zone: Zone;
  /** Names whose questions are never answered. */
  silent: Set<string>;
  queries: number;
  close(): Promise<void>;
}

export async function startLocalDns(zone: Zone): Promise<LocalDns> {
  const socket = createSocket('udp4');
  // Closing twice (a test that stops its gateway, then the suite's cleanup) is closing once.
  let closed: Promise<void> | undefined;
  const close = () => (closed ??= new Promise<void>((resolve) => socket.close(() => resolve())));
  const dns: LocalDns = { server: '', zone, silent: new Set(), queries: 0, close };
  socket.on('message', (message, peer) => {
    dns.queries++;
    let query: ReturnType<typeof dnsPacket.decode>;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase().replace(/\.$/, '');
    if (dns.silent.has(name)) return;
    const entry = dns.zone[name];
    const answers: dnsPacket.Answer[] = [];
    if (entry && question.type === 'TXT') for (const text of entry.TXT ?? []) answers.push({ type: 'TXT', name: question.name, ttl: 60, data: chunks(text) });
    if (entry && question.type === 'A') for (const ip of entry.A ?? []) answers.push({ type: 'A', name: question.name, ttl: 60, data: ip });
    if (entry && question.type === 'MX') for (const mx of entry.MX ?? []) answers.push({ type: 'MX', name: question.name, ttl: 60, data: mx });
    const reply = dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (entry ? 0 : 3), // rcode 3 = NXDOMAIN
      questions: query.questions,
      answers,
    });
    socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  // A server a test forgot to close (a gateway it killed rather than stopped) must not keep the test process alive.
  socket.unref();
  dns.server = `127.0.0.1:${socket.address().port}`;
  return dns;
}

/** TXT strings are at most 255 bytes each; a DKIM key is longer. */
function chunks(text: string): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < text.length; i += 255) out.push(Buffer.from(text.slice(i, i + 255)));
  return out.length > 0 ? out : [Buffer.alloc(0)];
}

export interface DkimKey {
  privateKey: string;
  /** The TXT record for <selector>._domainkey.<domain>. */
  record: string;
}

export function dkimKey(): DkimKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const der = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), record: `v=DKIM1; k=rsa; p=${der}` };
}

/** The message with a DKIM-Signature for d=domain s=selector prepended. */
export async function signDkim(raw: string, key: DkimKey, domain: string, selector: string): Promise<string> {
  const signed = await dkimSign(raw, {
    canonicalization: 'relaxed/relaxed',
    signatureData: [{ signingDomain: domain, selector, privateKey: key.privateKey }],
  } as unknown as Parameters<typeof dkimSign>[1]);
  if (signed.errors?.length || !signed.signatures.includes('DKIM-Signature')) throw new Error(`DKIM signing failed: ${JSON.stringify(signed.errors)}`);
  return signed.signatures + raw;
}
