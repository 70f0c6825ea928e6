/**
 * QR codes in a message's images, for the link filter: a phishing link printed as a QR code in an image
 * escapes every text scanner and is opened on a phone, outside the company's protection. PNG and JPEG
 * images (attachments and inline) are decoded with pure-JavaScript decoders (pngjs, jpeg-js) and read with
 * jsQR. Work is bounded: the size in the image's own header is read before decoding, an image above
 * MAX_PIXELS is not decoded, and at most MAX_IMAGES images a message are read.
 */
import jpeg from 'jpeg-js';
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';
import type { SplitMessage } from '../mail/header-block.ts';
import { contentTypeOf, scanMimeStructure, unfoldedValue } from '../mail/mime-structure.ts';
import { decodeQuotedPrintable } from './message-text.ts';

/** Two megapixels: a QR code a phone can read from a mail is far smaller; a photo is not worth the time. */
export const MAX_PIXELS = 2_000_000;
// jsqr is CommonJS whose typings name only a default export: under Node's ES module loader the module
// object is the function itself.
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;
const MAX_IMAGES = 4;
const MAX_IMAGE_BYTES = 8 * 1024 * 1024;

export interface FoundQrCode {
  /** The image's file name or content type. */
  image: string;
  text: string;
}

/** Width and height from a PNG's IHDR or a JPEG's first SOFn marker, without decoding. */
export function imageSize(bytes: Buffer): { kind: 'png' | 'jpeg'; width: number; height: number } | undefined {
  if (bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.toString('latin1', 12, 16) === 'IHDR') {
    return { kind: 'png', width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let at = 2;
    while (at + 9 < bytes.length) {
      if (bytes[at] !== 0xff) return undefined;
      const marker = bytes[at + 1]!;
      const length = bytes.readUInt16BE(at + 2);
      // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { kind: 'jpeg', height: bytes.readUInt16BE(at + 5), width: bytes.readUInt16BE(at + 7) };
      }
      at += 2 + length;
    }
  }
  return undefined;
}

/** The text of the QR code in an image, if it holds one it can read within the limits. */
export function qrCodeIn(bytes: Buffer): string | undefined {
  const size = imageSize(bytes);
  if (!size || size.width === 0 || size.height === 0 || size.width * size.height > MAX_PIXELS) return undefined;
  let rgba: { data: Uint8Array | Buffer; width: number; height: number };
  try {
    if (size.kind === 'png') {
      const png = PNG.sync.read(bytes);
      rgba = { data: png.data, width: png.width, height: png.height };
    } else {
      rgba = jpeg.decode(bytes, { useTArray: true, maxResolutionInMP: MAX_PIXELS / 1_000_000, maxMemoryUsageInMB: 64 });
    }
  } catch {
    return undefined;
  }
  const code = jsQR(new Uint8ClampedArray(rgba.data.buffer, rgba.data.byteOffset, rgba.data.length), rgba.width, rgba.height, { inversionAttempts: 'attemptBoth' });
  return code?.data || undefined;
}

/** The QR codes in the message's PNG and JPEG parts. */
export function qrCodesInMessage(message: SplitMessage, limits: { maxParts: number; maxDepth: number }): FoundQrCode[] {
  const structure = scanMimeStructure(message, { maxParts: limits.maxParts, maxDepth: limits.maxDepth, maxBodyBytes: message.body.length });
  const found: FoundQrCode[] = [];
  let images = 0;
  for (const part of structure.partList) {
    if (images >= MAX_IMAGES) break;
    if (part.bodyBytes === undefined) continue;
    const type = contentTypeOf(part.fields);
    const named = nameOf(part.fields, type.params);
    const looksLikeImage = type.value === 'image/png' || type.value === 'image/jpeg' || type.value === 'image/jpg' || /\.(png|jpe?g)$/i.test(named ?? '');
    if (!looksLikeImage) continue;
    images += 1;
    const encoded = message.body.subarray(part.contentOffset, part.contentOffset + Math.min(part.bodyBytes, (MAX_IMAGE_BYTES * 4) / 3 + 1024));
    const transfer = part.fields.find((f) => f.name.toLowerCase() === 'content-transfer-encoding');
    const encoding = transfer ? unfoldedValue(transfer).trim().toLowerCase() : '7bit';
    const bytes = encoding === 'base64' ? Buffer.from(encoded.toString('latin1'), 'base64') : encoding === 'quoted-printable' ? decodeQuotedPrintable(encoded) : encoded;
    const text = qrCodeIn(bytes);
    if (text) found.push({ image: named ?? type.value, text });
  }
  return found;
}

function nameOf(fields: SplitMessage['fields'], params: Record<string, string>): string | undefined {
  const disposition = fields.find((f) => f.name.toLowerCase() === 'content-disposition');
  const match = disposition ? /filename="?([^";]{1,200})/i.exec(unfoldedValue(disposition, 'utf8').slice(0, 1000)) : undefined;
  return match?.[1] ?? params.name;
}
