/**
 * "https://x.example///" → "https://x.example". A loop instead of `/\/+$/`: that pattern restarts at every
 * slash of a long run that is not at the end, which is quadratic in the run's length.
 */
export function withoutTrailingSlashes(value: string): string {
  let end = value.length;
  while (end > 0 && value.charCodeAt(end - 1) === 0x2f) end -= 1;
  return end === value.length ? value : value.slice(0, end);
}
