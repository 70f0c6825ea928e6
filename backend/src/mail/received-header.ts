/** The Received trace field (RFC 5321 section 4.4) the gateway puts on top of every message it accepts. */
import { formatField } from './header-block.ts';

export interface ReceivedInfo {
  helo?: string;
  clientHostname?: string;
  clientAddress: string;
  byHost: string;
  tls?: { protocol?: string; cipher?: string };
  authenticated: boolean;
  queueId: string;
  recipient?: string;
  at: Date;
}

export function receivedHeader(info: ReceivedInfo): Buffer {
  const protocol = `ESMTP${info.tls ? 'S' : ''}${info.authenticated ? 'A' : ''}`;
  const address = info.clientAddress.replace(/^::ffff:/, '');
  const literal = address.includes(':') ? `IPv6:${address}` : address;
  const helo = sanitize(info.helo) || 'unknown';
  const reverse = sanitize(info.clientHostname);
  const tls = info.tls ? ` (version=${sanitize(info.tls.protocol)} cipher=${sanitize(info.tls.cipher)})` : '';
  const forClause = info.recipient ? ` for <${sanitize(info.recipient)}>` : '';
  const value =
    `from ${helo} (${reverse && !reverse.startsWith('[') ? `${reverse} ` : ''}[${literal}]) ` +
    `by ${info.byHost} (Sealpost) with ${protocol}${tls} id ${info.queueId}${forClause}; ${rfc5322Date(info.at)}`;
  return formatField('Received', value);
}

function sanitize(value: string | undefined): string {
  return (value ?? '').replace(/[^\x21-\x7e]/g, '').replace(/[()<>;]/g, '').slice(0, 255);
}

export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}
