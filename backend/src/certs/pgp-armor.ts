/**
 * OpenPGP ASCII armor (RFC 9580 §6.2) for whole messages, with node's base64. openpgp.js armors and
 * dearmors through its streaming layer at about 70 ms per megabyte on this machine, five times the cost
 * of the encryption itself for a large message (`npm run bench:protect`), so large payloads are armored
 * here. The CRC-24 checksum line is always written: GnuPG 2.2 misreads armor whose base64 ends without
 * padding when the checksum is missing. Small blocks (keys, signatures) keep openpgp.js's own armor.
 */

const CRC24_INIT = 0xb704ce;
const CRC24_POLY = 0x1864cfb;
const LINE = 64;

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i += 1) {
    let crc = i << 16;
    for (let bit = 0; bit < 8; bit += 1) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= CRC24_POLY;
    }
    table[i] = crc & 0xffffff;
  }
  return table;
})();

/** CRC-24 of RFC 9580 §6.1.1. */
export function crc24(data: Uint8Array): number {
  let crc = CRC24_INIT;
  for (let i = 0; i < data.length; i += 1) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 16) ^ data[i]!) & 0xff]!) & 0xffffff;
  return crc;
}

export type ArmorKind = 'MESSAGE' | 'SIGNATURE' | 'PUBLIC KEY BLOCK';

/** The armored block as bytes, lines ending in `eol` (CRLF for MIME), built without a string per line. */
export function armorBytes(kind: ArmorKind, data: Uint8Array, eol = '\r\n'): Buffer {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const base64 = Buffer.from(bytes.toString('base64'), 'latin1');
  const crc = crc24(bytes);
  const checksum = Buffer.from([crc >>> 16, (crc >>> 8) & 0xff, crc & 0xff]).toString('base64');
  const head = Buffer.from(`-----BEGIN PGP ${kind}-----${eol}${eol}`);
  const tail = Buffer.from(`=${checksum}${eol}-----END PGP ${kind}-----${eol}`);
  const newline = Buffer.from(eol);
  const out = Buffer.allocUnsafe(head.length + base64.length + Math.ceil(base64.length / LINE) * newline.length + tail.length);
  let at = head.copy(out, 0);
  for (let from = 0; from < base64.length; from += LINE) {
    at += base64.copy(out, at, from, Math.min(from + LINE, base64.length));
    at += newline.copy(out, at);
  }
  tail.copy(out, at);
  return out;
}

export function armor(kind: ArmorKind, data: Uint8Array): string {
  return armorBytes(kind, data, '\n').toString('latin1');
}

export class ArmorError extends Error {}

/** The data of the first armored block of `kind` in the text; its checksum, when it has one, must match. */
export function dearmor(text: string, kind: ArmorKind): Buffer {
  const begin = text.indexOf(`-----BEGIN PGP ${kind}-----`);
  if (begin < 0) throw new ArmorError(`no PGP ${kind} block`);
  const end = text.indexOf(`-----END PGP ${kind}-----`, begin);
  if (end < 0) throw new ArmorError(`the PGP ${kind} block has no END line`);
  // Armor header lines ("Version: …", "Comment: …") end at the first empty line; without one, the data starts on the next line.
  const firstLine = text.indexOf('\n', begin) + 1;
  const blank = /\r?\n\r?\n/.exec(text.slice(firstLine - 1, Math.min(end, firstLine + 4096)));
  const start = blank && text.slice(firstLine, firstLine - 1 + blank.index).includes(': ') ? firstLine - 1 + blank.index + blank[0].length : firstLine;
  // The checksum line starts with "=" (a base64 line never does); node's base64 reader skips the line ends.
  const checksumAt = text.lastIndexOf('\n=', end);
  const dataEnd = checksumAt > start ? checksumAt : end;
  const data = Buffer.from(text.slice(start, dataEnd), 'base64');
  if (checksumAt > start) {
    const checksum = text.slice(checksumAt + 2, end).trim();
    const crc = crc24(data);
    if (Buffer.from([crc >>> 16, (crc >>> 8) & 0xff, crc & 0xff]).toString('base64') !== checksum) throw new ArmorError(`the PGP ${kind} block's checksum does not match`);
  }
  return data;
}
