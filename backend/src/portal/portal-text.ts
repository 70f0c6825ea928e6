/** Small text helpers the portal's mails, listings and refusals share. */

/** The first words of a message, on one line, for listings. */
export function previewOf(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${Math.ceil(bytes / 1024)} KB`;
}
