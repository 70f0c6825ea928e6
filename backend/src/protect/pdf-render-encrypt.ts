/**
 * AES-256 encryption of the finished password PDF: the standard security handler of PDF 2.0, revision 6
 * (/V 5 /R 6, AESV3), with the user password the recipient is given and a random owner password.
 *
 * The PDF library's encrypt() builds the encryption dictionary (the password checks and wrapped keys
 * /U /UE /O /OE /Perms) and the file key. Encrypting the objects is done here, for two reasons:
 * - the library (2.11.1) encrypts only streams when it writes a document and leaves strings in plain
 *   text, so attachment names, the title and dates would be readable without the password, and
 *   readers, which decrypt every string, would show them as garbage;
 * - its AES is written in JavaScript (about 1.2 s for a 4.5 MB attachment), Node's takes 30 ms.
 * With revision 6 every object is encrypted with the same file key (no per-object key), AES-256-CBC
 * with a random 16-byte IV in front and PKCS#7 padding (ISO 32000-2, 7.6.3).
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import {
  PDFArray,
  PDFDict,
  PDFHexString,
  PDFName,
  PDFNumber,
  PDFStream,
  PDFString,
  type PDFDocument,
  type PDFObject,
} from '@cantoo/pdf-lib';

/** What readers may do once opened with the user password: read, print, copy text (for quoting and screen readers); not change. */
const PERMISSIONS = {
  printing: 'highResolution',
  copying: true,
  contentAccessibility: true,
  modifying: false,
  annotating: false,
  fillingForms: false,
  documentAssembly: false,
} as const;

function aes256(key: Buffer, data: Uint8Array): Buffer {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([iv, cipher.update(data), cipher.final()]);
}

/** A random owner password, which nobody needs: its only use would be to lift the permissions. */
function ownerPasswordFor(userPassword: string): string {
  let owner = randomBytes(32).toString('base64url');
  while (owner === userPassword) owner = randomBytes(32).toString('base64url');
  return owner;
}

/** The file key the library derived, checked to be what revision 6 uses; anything else stops the build. */
function fileKey(doc: PDFDocument): Buffer {
  const encryptRef = doc.context.trailerInfo.Encrypt;
  const dict = encryptRef ? doc.context.lookup(encryptRef) : undefined;
  const number = (name: string) => {
    const value = dict instanceof PDFDict ? dict.get(PDFName.of(name)) : undefined;
    return value instanceof PDFNumber ? value.asNumber() : undefined;
  };
  if (number('V') !== 5 || number('R') !== 6) throw new Error('the PDF library did not set up AES-256 encryption (V 5, R 6)');
  // Read from the library's security handler: the key is not part of its typed interface.
  const key = (doc.context.security as unknown as { encryptionKey?: unknown } | undefined)?.encryptionKey;
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new Error('the PDF library did not provide a 256-bit file key');
  return Buffer.from(key);
}

/** Encrypts the strings inside a direct object, depth first; dictionaries shared between objects only once. */
function encryptStrings(object: PDFObject, key: Buffer, seen: WeakSet<object>): PDFObject {
  if (object instanceof PDFString || object instanceof PDFHexString) {
    return PDFHexString.of(aes256(key, object.asBytes()).toString('hex'));
  }
  if (seen.has(object)) return object;
  if (object instanceof PDFDict) {
    seen.add(object);
    for (const [name, value] of object.entries()) {
      const encrypted = encryptStrings(value, key, seen);
      if (encrypted !== value) object.set(name, encrypted);
    }
  } else if (object instanceof PDFArray) {
    seen.add(object);
    for (let i = 0; i < object.size(); i += 1) {
      const value = object.get(i);
      const encrypted = encryptStrings(value, key, seen);
      if (encrypted !== value) object.set(i, encrypted);
    }
  }
  return object;
}

/**
 * Encrypts the document in place. Call last: the document is then only saved (without object streams,
 * whose content would otherwise be encrypted a second time).
 */
export async function encryptPdf(doc: PDFDocument, userPassword: string): Promise<void> {
  // Fonts and images become objects only when flushed; save() would otherwise create them unencrypted.
  await doc.flush();
  doc.encrypt({ userPassword, ownerPassword: ownerPasswordFor(userPassword), permissions: PERMISSIONS, algorithm: 'AES-256' });
  const key = fileKey(doc);
  const encryptRef = doc.context.trailerInfo.Encrypt;
  const seen = new WeakSet<object>();
  for (const [ref, object] of doc.context.enumerateIndirectObjects()) {
    // The encryption dictionary itself is never encrypted (ISO 32000-2, 7.6.2).
    if (ref === encryptRef) continue;
    if (object instanceof PDFStream) {
      encryptStrings(object.dict, key, seen);
      object.updateContents(aes256(key, object.getContents()));
    } else {
      const encrypted = encryptStrings(object, key, seen);
      if (encrypted !== object) doc.context.assign(ref, encrypted);
    }
  }
  // The objects are encrypted now: the library's writer must not encrypt them again. The trailer keeps
  // the /Encrypt reference and the /ID the library set.
  doc.context.security = undefined;
}
