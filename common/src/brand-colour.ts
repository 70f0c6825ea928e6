/**
 * A tenant's brand colour: parsing, its contrast against white text (WCAG 2.1), and the 16-step ramp
 * Fluent UI builds its brand tokens from (shade 80 is the colour itself: buttons, links, focus).
 * Shared by the tenant-file check (backend) and the portal's theme, so both judge a colour the same way.
 */

/** White button text on the brand colour must reach WCAG AA for normal text. */
export const MIN_BRAND_CONTRAST = 4.5;

const HEX_COLOUR = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;

export type Rgb = readonly [number, number, number];

/** `#1a2b3c` or `#abc`; undefined for anything else. */
export function parseHexColour(value: string): Rgb | undefined {
  const text = value.trim();
  if (!HEX_COLOUR.test(text)) return undefined;
  const digits = text.length === 4 ? [...text.slice(1)].map((d) => d + d).join('') : text.slice(1);
  return [0, 2, 4].map((i) => parseInt(digits.slice(i, i + 2), 16)) as unknown as Rgb;
}

export function toHex([r, g, b]: Rgb): string {
  return `#${[r, g, b].map((c) => Math.round(Math.min(255, Math.max(0, c))).toString(16).padStart(2, '0')).join('')}`;
}

function relativeLuminance([r, g, b]: Rgb): number {
  const linear = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/** The WCAG contrast ratio of white text on this colour (1 to 21). */
export function contrastWithWhite(colour: Rgb): number {
  return 1.05 / (relativeLuminance(colour) + 0.05);
}

function mix(colour: Rgb, toward: Rgb, amount: number): Rgb {
  return colour.map((c, i) => c + (toward[i]! - c) * amount) as unknown as Rgb;
}

/** The same hue darkened just enough for white text to be readable on it. */
export function readableVariant(colour: Rgb): Rgb {
  let amount = 0;
  let candidate = colour;
  while (contrastWithWhite(candidate) < MIN_BRAND_CONTRAST && amount < 1) {
    amount = Math.min(1, amount + 0.02);
    candidate = mix(colour, [0, 0, 0], amount).map(Math.round) as unknown as Rgb;
  }
  return candidate;
}

/** Fluent UI's BrandVariants keys. */
export const BRAND_SHADES = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160] as const;
export type BrandShade = (typeof BRAND_SHADES)[number];

/**
 * Shade 80 is the colour; lower shades darken toward near-black, higher ones lighten toward near-white
 * (160 is a faint tint used for selected backgrounds).
 */
export function brandRamp(colour: Rgb): Record<BrandShade, string> {
  const ramp = {} as Record<BrandShade, string>;
  for (const shade of BRAND_SHADES) {
    if (shade <= 80) ramp[shade] = toHex(mix(colour, [0, 0, 0], ((80 - shade) / 70) * 0.8));
    else ramp[shade] = toHex(mix(colour, [255, 255, 255], ((shade - 80) / 80) * 0.92));
  }
  return ramp;
}
