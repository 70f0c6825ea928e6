/**
 * The development mailbox: a tenant whose mail server is `mailbox:<folder>` gets each message written as
 * <folder>/<recipient>/<time>-<delivery id>.eml. Written to a temporary name, flushed and renamed, so a
 * file that exists is complete.
 */
import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';

export async function deliverToMailbox(folder: string, recipient: string, deliveryId: string, raw: Buffer): Promise<string> {
  const safeRecipient = recipient.toLowerCase().replace(/[^a-z0-9@._+-]/g, '_');
  const directory = join(folder, safeRecipient);
  await mkdir(directory, { recursive: true });
  const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${deliveryId}.eml`;
  const temporary = join(directory, `.${name}.tmp`);
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(raw);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const final = join(directory, name);
  await rename(temporary, final);
  return final;
}
