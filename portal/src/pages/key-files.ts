/** What the certificate and OpenPGP key pages share: where a key came from, in words, and saving a file. */
import type { Translate } from '../i18n.tsx';

export function sourceName(source: string, t: Translate): string {
  if (source === 'signed-mail') return t('sourceSignedMail');
  if (source === 'tenant-ca') return t('sourceTenantCa');
  if (source === 'autocrypt') return t('sourceAutocrypt');
  if (source === 'generated') return t('sourceGenerated');
  return t('sourceImport');
}

/** Saves text as a file in the browser. */
export function saveFile(name: string, text: string, type = 'application/x-pem-file'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  URL.revokeObjectURL(url);
}
