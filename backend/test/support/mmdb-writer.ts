/**
 * A small MaxMind DB (v2) writer for tests: the gateway reads the operator's GeoIP database, and no npm
 * package writes one, so tests build their own from a list of `{cidr, country}`.
 *
 * The file is an IPv6 tree (ip_version 6) of 24-bit records; IPv4 ranges sit under ::/96, where readers
 * look IPv4 addresses up. Each country is one data record {country: {iso_code}} (or, with `registeredOnly`,
 * {registered_country: {iso_code}}). Overlapping ranges: a later, longer range splits the earlier one.
 */
import { isIP } from 'node:net';

export interface MmdbRange {
  cidr: string;
  country: string;
  /** Write the code only as registered_country (the reader's fallback). */
  registeredOnly?: boolean;
}

type Slot = TreeNode | { data: number } | undefined;
interface TreeNode {
  children: [Slot, Slot];
}

export function buildMmdb(ranges: readonly MmdbRange[], options: { databaseType?: string; buildEpoch?: number } = {}): Buffer {
  const data: Buffer[] = [];
  let dataLength = 0;
  const dataOffsets = new Map<string, number>();
  const dataFor = (range: MmdbRange): number => {
    const key = `${range.registeredOnly ? 'r' : 'c'}:${range.country}`;
    let offset = dataOffsets.get(key);
    if (offset === undefined) {
      const record = encodeMap([[range.registeredOnly ? 'registered_country' : 'country', encodeMap([['iso_code', encodeString(range.country)]])]]);
      offset = dataLength;
      data.push(record);
      dataLength += record.length;
      dataOffsets.set(key, offset);
    }
    return offset;
  };

  const root: TreeNode = { children: [undefined, undefined] };
  for (const range of ranges) {
    const { bits, prefix } = cidrBits(range.cidr);
    const offset = dataFor(range);
    let node = root;
    for (let depth = 0; depth < prefix - 1; depth++) {
      const bit = bits[depth]!;
      const slot = node.children[bit];
      if (slot && 'children' in slot) {
        node = slot;
      } else {
        // An earlier, shorter range here is split: both halves keep its data.
        const next: TreeNode = { children: [slot, slot] };
        node.children[bit] = next;
        node = next;
      }
    }
    node.children[bits[prefix - 1]!] = { data: offset };
  }

  // Number the nodes breadth first; the root is node 0.
  const nodes: TreeNode[] = [];
  const index = new Map<TreeNode, number>();
  const queue: TreeNode[] = [root];
  while (queue.length > 0) {
    const node = queue.shift()!;
    index.set(node, nodes.length);
    nodes.push(node);
    for (const child of node.children) if (child && 'children' in child) queue.push(child);
  }
  const nodeCount = nodes.length;
  const recordValue = (slot: Slot): number => {
    if (!slot) return nodeCount;
    if ('children' in slot) return index.get(slot)!;
    return nodeCount + 16 + slot.data;
  };
  const tree = Buffer.alloc(nodeCount * 6);
  nodes.forEach((node, i) => {
    tree.writeUIntBE(recordValue(node.children[0]), i * 6, 3);
    tree.writeUIntBE(recordValue(node.children[1]), i * 6 + 3, 3);
  });

  const metadata = encodeMap([
    ['node_count', encodeUint(6, nodeCount)],
    ['record_size', encodeUint(5, 24)],
    ['ip_version', encodeUint(5, 6)],
    ['database_type', encodeString(options.databaseType ?? 'Sealpost-Test-Country')],
    ['languages', encodeArray([encodeString('en')])],
    ['binary_format_major_version', encodeUint(5, 2)],
    ['binary_format_minor_version', encodeUint(5, 0)],
    ['build_epoch', encodeUint(9, options.buildEpoch ?? Date.UTC(2026, 10, 28) / 1000)],
    ['description', encodeMap([['en', encodeString('Sealpost test GeoIP database')]])],
  ]);
  return Buffer.concat([
    tree,
    Buffer.alloc(16),
    ...data,
    Buffer.from([0xab, 0xcd, 0xef]),
    Buffer.from('MaxMind.com', 'ascii'),
    metadata,
  ]);
}

/** The range's address as 128 bits (IPv4 under ::/96) and its prefix length in that space. */
function cidrBits(cidr: string): { bits: number[]; prefix: number } {
  const [address = '', prefixText] = cidr.split('/');
  const family = isIP(address);
  if (family === 0) throw new Error(`${cidr} is no CIDR range`);
  const bytes = family === 4 ? [...new Array(12).fill(0), ...address.split('.').map(Number)] : ipv6Bytes(address);
  const prefix = (family === 4 ? 96 : 0) + Number(prefixText ?? (family === 4 ? 32 : 128));
  const bits: number[] = [];
  for (const byte of bytes) for (let b = 7; b >= 0; b--) bits.push((byte >> b) & 1);
  return { bits, prefix };
}

function ipv6Bytes(address: string): number[] {
  const [head = '', tail] = address.split('::');
  const groups = (text: string) => (text ? text.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/** The control byte(s) for a type and payload size (types above 7 are "extended"). */
function control(type: number, size: number): Buffer {
  const head: number[] = [];
  let sizeBits: number;
  const extra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 285) {
    sizeBits = 29;
    extra.push(size - 29);
  } else if (size < 65_821) {
    sizeBits = 30;
    extra.push((size - 285) >> 8, (size - 285) & 0xff);
  } else throw new Error('test data too large');
  if (type <= 7) head.push((type << 5) | sizeBits);
  else head.push(sizeBits, type - 7);
  return Buffer.from([...head, ...extra]);
}

function encodeString(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([control(2, bytes.length), bytes]);
}

function encodeUint(type: 5 | 6 | 9, value: number): Buffer {
  const bytes: number[] = [];
  for (let v = BigInt(value); v > 0n; v >>= 8n) bytes.unshift(Number(v & 0xffn));
  return Buffer.concat([control(type, bytes.length), Buffer.from(bytes)]);
}

function encodeMap(entries: ReadonlyArray<[string, Buffer]>): Buffer {
  return Buffer.concat([control(7, entries.length), ...entries.flatMap(([key, value]) => [encodeString(key), value])]);
}

function encodeArray(items: readonly Buffer[]): Buffer {
  return Buffer.concat([control(11, items.length), ...items]);
}
