/**
 * Draws the add-in's icons (a white padlock on a round blue seal) as PNG files in addin/assets, in every
 * size the manifest names. Run with `node --import tsx scripts/make-addin-icons.ts`; the files are committed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

export const ADDIN_ICON_SIZES = [16, 20, 24, 32, 40, 48, 64, 80, 128] as const;

const SEAL = [0x0f, 0x6c, 0xbd] as const; // Fluent brand blue
const LOCK = [0xff, 0xff, 0xff] as const;
const SAMPLES = 4; // per axis: 16 samples per pixel for smooth edges

type Shade = 'none' | 'seal' | 'lock';

/** What covers a point of the unit square (0..1 on both axes). */
function shadeAt(x: number, y: number): Shade {
  const dx = x - 0.5;
  const dy = y - 0.5;
  if (dx * dx + dy * dy > 0.49 * 0.49) return 'none';
  // Lock body: a rounded rectangle in the lower half, with a keyhole.
  const body = { left: 0.3, right: 0.7, top: 0.45, bottom: 0.76, radius: 0.05 };
  if (insideRoundedRect(x, y, body)) {
    const keyhole = Math.hypot(x - 0.5, y - 0.57) < 0.045 || (Math.abs(x - 0.5) < 0.02 && y > 0.57 && y < 0.67);
    return keyhole ? 'seal' : 'lock';
  }
  // Shackle: the upper half of a ring above the body, with straight legs down to it.
  const ringX = x - 0.5;
  const ringY = y - 0.38;
  const distance = Math.hypot(ringX, ringY);
  const onRing = distance > 0.09 && distance < 0.145;
  if (onRing && ringY <= 0) return 'lock';
  if (ringY > 0 && y < body.top + 0.01 && ((ringX > -0.145 && ringX < -0.09) || (ringX > 0.09 && ringX < 0.145))) return 'lock';
  return 'seal';
}

function insideRoundedRect(x: number, y: number, r: { left: number; right: number; top: number; bottom: number; radius: number }): boolean {
  if (x < r.left || x > r.right || y < r.top || y > r.bottom) return false;
  const cx = Math.min(Math.max(x, r.left + r.radius), r.right - r.radius);
  const cy = Math.min(Math.max(y, r.top + r.radius), r.bottom - r.radius);
  return Math.hypot(x - cx, y - cy) <= r.radius;
}

/** RGBA pixels, averaged over SAMPLES² points per pixel. */
export function drawSeal(size: number): Buffer {
  const pixels = Buffer.alloc(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let covered = 0;
      for (let sy = 0; sy < SAMPLES; sy++) {
        for (let sx = 0; sx < SAMPLES; sx++) {
          const shade = shadeAt((px + (sx + 0.5) / SAMPLES) / size, (py + (sy + 0.5) / SAMPLES) / size);
          if (shade === 'none') continue;
          const color = shade === 'lock' ? LOCK : SEAL;
          r += color[0];
          g += color[1];
          b += color[2];
          covered++;
        }
      }
      const offset = (py * size + px) * 4;
      if (covered > 0) {
        pixels[offset] = Math.round(r / covered);
        pixels[offset + 1] = Math.round(g / covered);
        pixels[offset + 2] = Math.round(b / covered);
        pixels[offset + 3] = Math.round((255 * covered) / (SAMPLES * SAMPLES));
      }
    }
  }
  return pixels;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/** An 8-bit RGBA PNG (colour type 6), every row with filter 0. */
export function encodePng(size: number, rgba: Buffer): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8;
  header[9] = 6;
  const rows = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(rows, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const folder = new URL('../addin/assets/', import.meta.url);
  mkdirSync(folder, { recursive: true });
  for (const size of ADDIN_ICON_SIZES) {
    const png = encodePng(size, drawSeal(size));
    writeFileSync(new URL(`icon-${size}.png`, folder), png);
    console.log(`addin/assets/icon-${size}.png: ${png.length} bytes`);
  }
}
