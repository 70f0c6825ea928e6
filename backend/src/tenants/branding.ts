/**
 * A tenant's branding from the tenant file: the name shown to recipients, a logo and a brand colour.
 * Checked once at start-up, so the portal and the mails only ever see values that are safe to show:
 * a colour white text stays readable on, and a logo that is a small PNG, JPEG or SVG image held as a
 * data: URL (a file path next to the tenant file is read and turned into one).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { MIN_BRAND_CONTRAST, contrastWithWhite, parseHexColour, readableVariant, toHex } from '../../../common/src/brand-colour.ts';

/** Logos appear in a header and in every notification mail: a small image is plenty. */
export const MAX_LOGO_BYTES = 64 * 1024;

export type LogoType = 'image/png' | 'image/jpeg' | 'image/svg+xml';

export interface TenantBranding {
  name?: string;
  /** Lower-case #rrggbb, readable under white text. */
  colour?: string;
  /** data:<type>;base64,<bytes> of a checked PNG, JPEG or SVG. */
  logo?: string;
}

export interface Logo {
  contentType: LogoType;
  bytes: Buffer;
}

/** Why a colour is refused, with a readable colour of the same hue to use instead; undefined when it is fine. */
export function colourProblem(value: string): string | undefined {
  const rgb = parseHexColour(value);
  if (!rgb) return `"${value.slice(0, 40)}" is not a hex colour such as #0f6cbd`;
  const contrast = contrastWithWhite(rgb);
  if (contrast >= MIN_BRAND_CONTRAST) return undefined;
  return (
    `${value} is too light for white button text (contrast ${contrast.toFixed(1)}:1, at least ${MIN_BRAND_CONTRAST}:1 is needed); ` +
    `a darker shade of it such as ${toHex(readableVariant(rgb))} works`
  );
}

export function normaliseColour(value: string): string {
  return toHex(parseHexColour(value)!);
}

/** The image type its first bytes declare; undefined for anything that is not PNG, JPEG or SVG. */
function sniffLogo(bytes: Buffer): LogoType | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  const head = bytes.subarray(0, 1024).toString('utf8').replace(/^\uFEFF/, '').trimStart();
  if ((head.startsWith('<?xml') || head.startsWith('<svg') || head.startsWith('<!--')) && head.includes('<svg')) return 'image/svg+xml';
  return undefined;
}

function checkedLogo(bytes: Buffer, source: string): Logo {
  if (bytes.length === 0) throw new Error(`${source} is empty`);
  if (bytes.length > MAX_LOGO_BYTES) {
    throw new Error(`${source} is ${Math.ceil(bytes.length / 1024)} KiB; a logo may have at most ${MAX_LOGO_BYTES / 1024} KiB`);
  }
  const contentType = sniffLogo(bytes);
  if (!contentType) throw new Error(`${source} is not a PNG, JPEG or SVG image`);
  return { contentType, bytes };
}

const DATA_URL_PREFIX = /^data:(image\/(?:png|jpeg|svg\+xml));base64,/i;

/**
 * The logo as written in the tenant file: a data: URL of a PNG, JPEG or SVG, or a file path (relative
 * paths are read next to the tenant file). Answers the checked logo as a data: URL.
 */
export function resolveLogo(value: string, tenantFileFolder: string): string {
  const declared = DATA_URL_PREFIX.exec(value);
  let logo: Logo;
  if (declared) {
    const encoded = value.slice(declared[0].length);
    if (encoded.length > Math.ceil(MAX_LOGO_BYTES / 3) * 4 + 4) {
      throw new Error(`the data: URL holds more than ${MAX_LOGO_BYTES / 1024} KiB; a logo may have at most ${MAX_LOGO_BYTES / 1024} KiB`);
    }
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) throw new Error('the data: URL is not valid base64');
    logo = checkedLogo(Buffer.from(encoded, 'base64'), 'the data: URL');
    if (logo.contentType !== declared[1]!.toLowerCase()) throw new Error(`the data: URL says ${declared[1]} but holds ${logo.contentType}`);
  } else if (value.startsWith('data:')) {
    throw new Error('a data: URL logo must be base64-encoded image/png, image/jpeg or image/svg+xml');
  } else {
    const path = isAbsolute(value) ? value : join(tenantFileFolder, value);
    let size: number;
    try {
      size = statSync(path).size;
    } catch (error) {
      throw new Error(`cannot read ${path}: ${(error as Error).message}`);
    }
    if (size > MAX_LOGO_BYTES) throw new Error(`${path} is ${Math.ceil(size / 1024)} KiB; a logo may have at most ${MAX_LOGO_BYTES / 1024} KiB`);
    logo = checkedLogo(readFileSync(path), path);
  }
  return `data:${logo.contentType};base64,${logo.bytes.toString('base64')}`;
}

/** The bytes of a logo stored by resolveLogo. */
export function decodeLogo(dataUrl: string): Logo | undefined {
  const declared = DATA_URL_PREFIX.exec(dataUrl);
  if (!declared) return undefined;
  return { contentType: declared[1]!.toLowerCase() as LogoType, bytes: Buffer.from(dataUrl.slice(declared[0].length), 'base64') };
}

/**
 * The opaque id the portal asks for a tenant's branding by (it travels in the tenant's links). A hash of
 * the random tenant id: it names no tenant and cannot be guessed from a tenant's name or domain.
 */
export function brandingKey(tenantId: string): string {
  return createHash('sha256').update(`sealpost:branding:${tenantId}`).digest('base64url').slice(0, 22);
}
