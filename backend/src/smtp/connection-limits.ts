/**
 * Who may hold an SMTP connection, and how fast an address may use it.
 *
 * The gateway has one pool of connection slots (maxClients). Without per-address limits one Internet
 * address could open them all and the tenant's own Exchange connector would be turned away. So:
 * - Internet clients share the pool minus a reserve that only tenant connectors may use;
 * - one Internet address (an IPv4 address, or an IPv6 /64, which one host usually owns whole) may hold
 *   only a few of the slots and open only so many connections a minute;
 * - an Internet connection may send only so many commands a minute, an address only so many messages.
 * Connectors are limited by the total alone: their load is the tenant's own mail.
 *
 * SMTP-AUTH connectors come from addresses not known up front: they count as Internet clients until
 * AUTH succeeds (so they cannot use the reserve), and as connectors from then on.
 *
 * Every refusal is a `421 4.7.0` with a reason the sender's administrator can act on.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type ClientKind = 'connector' | 'internet';

export type RefusalReason =
  /** Every slot is taken, by connectors too. */
  | 'server_full'
  /** The slots open to Internet clients are taken; the rest wait for tenant connectors. */
  | 'internet_slots_full'
  /** This address already holds its share of the slots. */
  | 'address_connections'
  /** This address opened too many connections in the last minute. */
  | 'address_connection_rate'
  /** This connection sent too many commands in the last minute. */
  | 'command_rate'
  /** This address started too many messages in the last minute. */
  | 'message_rate';

export interface Refusal {
  reason: RefusalReason;
  responseCode: 421;
  enhancedCode: '4.7.0';
  /** The reply text after the enhanced code. */
  text: string;
}

export interface ConnectionLimitSettings {
  /** All slots, connectors and Internet clients together. */
  maxClients: number;
  /** Slots that only tenant connectors may take; Internet clients share maxClients minus these. */
  connectorReservedSlots: number;
  maxConnectionsPerAddress: number;
  connectionsPerMinutePerAddress: number;
  commandsPerMinutePerConnection: number;
  messagesPerMinutePerAddress: number;
  /**
   * How many addresses' rate counters are remembered. Beyond it the least recently seen are forgotten,
   * so a flood of distinct source addresses costs bounded memory (at worst it resets some counters).
   */
  maxTrackedAddresses?: number;
}

/** One admitted connection; hand it back to release() when the connection closes. */
export interface ConnectionTicket {
  readonly kind: ClientKind;
  /** The address, or its /64 for IPv6, that the per-address limits count. */
  readonly addressGroup: string;
}

export type Admission = { admitted: true; ticket: ConnectionTicket } | { admitted: false; refusal: Refusal };

export const DEFAULT_MAX_TRACKED_ADDRESSES = 10_000;

/** A token bucket: `perMinute` tokens, refilled evenly, so a burst of a full minute's worth is allowed. */
class MinuteRate {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly perMinute: number,
    now: number,
  ) {
    this.tokens = perMinute;
    this.updatedAt = now;
  }

  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.perMinute, this.tokens + (elapsed * this.perMinute) / 60_000);
    this.updatedAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

interface AddressRates {
  connections: MinuteRate;
  messages: MinuteRate;
}

interface MutableTicket extends ConnectionTicket {
  kind: ClientKind;
  released: boolean;
  commands?: MinuteRate;
}

export class ConnectionLimits {
  private readonly counts: Record<ClientKind, number> = { connector: 0, internet: 0 };
  /** Open Internet connections per address group; an entry exists only while the count is above zero. */
  private readonly openByAddress = new Map<string, number>();
  /** Rate counters per address group, least recently seen first (Map keeps insertion order). */
  private readonly rates = new Map<string, AddressRates>();
  private readonly maxTracked: number;

  constructor(
    readonly settings: ConnectionLimitSettings,
    private readonly now: () => number = Date.now,
  ) {
    if (settings.connectorReservedSlots >= settings.maxClients) {
      throw new RangeError('the connector reserve must leave at least one slot for Internet clients');
    }
    this.maxTracked = settings.maxTrackedAddresses ?? DEFAULT_MAX_TRACKED_ADDRESSES;
  }

  /** Slots open to Internet clients. */
  get internetSlots(): number {
    return this.settings.maxClients - this.settings.connectorReservedSlots;
  }

  /** Decides whether a new connection may have a slot; a refusal says why. */
  admit(address: string, kind: ClientKind): Admission {
    const group = addressGroup(address);
    const total = this.counts.connector + this.counts.internet;
    if (kind === 'internet') {
      // The address's own limits first: their reason tells the sender what to change.
      if ((this.openByAddress.get(group) ?? 0) >= this.settings.maxConnectionsPerAddress) {
        return refused(
          'address_connections',
          `Too many connections from your address (at most ${this.settings.maxConnectionsPerAddress} at a time); close some and try again later`,
        );
      }
      if (!this.ratesOf(group).connections.take(this.now())) {
        return refused(
          'address_connection_rate',
          `Too many connections from your address (at most ${this.settings.connectionsPerMinutePerAddress} a minute); try again later`,
        );
      }
      if (this.counts.internet >= this.internetSlots || total >= this.settings.maxClients) {
        return refused('internet_slots_full', 'Too many connected clients, try again later');
      }
      this.openByAddress.set(group, (this.openByAddress.get(group) ?? 0) + 1);
    } else if (total >= this.settings.maxClients) {
      return refused('server_full', 'Too many connected clients, try again in a moment');
    }
    this.counts[kind] += 1;
    const ticket: MutableTicket = { kind, addressGroup: group, released: false };
    if (kind === 'internet') ticket.commands = new MinuteRate(this.settings.commandsPerMinutePerConnection, this.now());
    return { admitted: true, ticket };
  }

  /** An Internet connection that signed in as a connector (SMTP AUTH) is a connector from now on. */
  promoteToConnector(ticket: ConnectionTicket): void {
    const own = ticket as MutableTicket;
    if (own.released || own.kind === 'connector') return;
    this.leaveAddress(own.addressGroup);
    this.counts.internet -= 1;
    this.counts.connector += 1;
    own.kind = 'connector';
    own.commands = undefined;
  }

  /** Frees the ticket's slot; calling it twice is harmless. */
  release(ticket: ConnectionTicket): void {
    const own = ticket as MutableTicket;
    if (own.released) return;
    own.released = true;
    this.counts[own.kind] -= 1;
    if (own.kind === 'internet') this.leaveAddress(own.addressGroup);
  }

  /** Counts one command line of the connection; a refusal means the connection should be closed. */
  onCommand(ticket: ConnectionTicket): Refusal | undefined {
    const own = ticket as MutableTicket;
    if (!own.commands || own.commands.take(this.now())) return undefined;
    return {
      reason: 'command_rate',
      responseCode: 421,
      enhancedCode: '4.7.0',
      text: `Too many commands on this connection (at most ${this.settings.commandsPerMinutePerConnection} a minute); slow down and try again later`,
    };
  }

  /** Counts one message (a MAIL FROM) from the ticket's address. */
  onMessage(ticket: ConnectionTicket): Refusal | undefined {
    if (ticket.kind !== 'internet') return undefined;
    if (this.ratesOf(ticket.addressGroup).messages.take(this.now())) return undefined;
    return {
      reason: 'message_rate',
      responseCode: 421,
      enhancedCode: '4.7.0',
      text: `Too many messages from your address (at most ${this.settings.messagesPerMinutePerAddress} a minute); try again later`,
    };
  }

  /** Connections holding a slot now, by kind. */
  current(): Record<ClientKind, number> {
    return { ...this.counts };
  }

  /** How many addresses have rate counters or open connections: bounded by maxTrackedAddresses + maxClients. */
  trackedAddresses(): number {
    return this.rates.size + this.openByAddress.size;
  }

  private leaveAddress(group: string): void {
    const open = (this.openByAddress.get(group) ?? 1) - 1;
    if (open > 0) this.openByAddress.set(group, open);
    else this.openByAddress.delete(group);
  }

  private ratesOf(group: string): AddressRates {
    let rates = this.rates.get(group);
    if (rates) {
      // Seen again: move it to the end, away from eviction.
      this.rates.delete(group);
    } else {
      const now = this.now();
      rates = {
        connections: new MinuteRate(this.settings.connectionsPerMinutePerAddress, now),
        messages: new MinuteRate(this.settings.messagesPerMinutePerAddress, now),
      };
      while (this.rates.size >= this.maxTracked) {
        const oldest = this.rates.keys().next().value;
        if (oldest === undefined) break;
        this.rates.delete(oldest);
      }
    }
    this.rates.set(group, rates);
    return rates;
  }
}

function refused(reason: RefusalReason, text: string): Admission {
  return { admitted: false, refusal: { reason, responseCode: 421, enhancedCode: '4.7.0', text } };
}

/**
 * The unit the per-address limits count: an IPv4 address as it is, an IPv6 address by its /64
 * (one subscriber or server usually gets a whole /64 and can pick any address in it).
 * An IPv4-mapped IPv6 address counts as its IPv4 address.
 */
export function addressGroup(address: string): string {
  const plain = address.trim().toLowerCase();
  const mapped = plain.startsWith('::ffff:') ? plain.slice(7) : plain;
  if (isIPv4(mapped)) return mapped;
  if (!isIPv6(plain)) return plain;
  const groups = expandIPv6(plain);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : plain;
}

/** The eight 16-bit groups of an IPv6 address, without leading zeros; undefined if it does not parse. */
function expandIPv6(address: string): string[] | undefined {
  let text = address.split('%')[0]!;
  let tail: string[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // An embedded IPv4 address is the last two groups.
    const octets = text.slice(lastColon + 1).split('.').map(Number);
    tail = [((octets[0]! << 8) | octets[1]!).toString(16), ((octets[2]! << 8) | octets[3]!).toString(16)];
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<string>(missing).fill('0'), ...rest].map((g) => parseInt(g, 16).toString(16));
  return [...groups, ...tail];
}
