/**
 * SMIMECapabilities (RFC 8551 §2.5.2, and the certificate extension of RFC 4262): the algorithms a
 * correspondent says it can read, from the signed attributes of its last signed message or from its
 * certificate. They decide how mail to it is encrypted: AES-256-GCM in AuthEnvelopedData only for
 * recipients that list it, RSA-OAEP unless the recipient lists algorithms and OAEP is not among them.
 */
import * as asn1js from 'asn1js';

export const SMIME_CAPABILITIES_OID = '1.2.840.113549.1.9.15';
export const CAPABILITY = {
  aes256Gcm: '2.16.840.1.101.3.4.1.46',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  rsaOaep: '1.2.840.113549.1.1.7',
  rsaEncryption: '1.2.840.113549.1.1.1',
} as const;
/** More than this many entries is no capability list a mail client writes. */
const MAX_CAPABILITIES = 64;

/** The capability OIDs of an SMIMECapabilities value (SEQUENCE OF SEQUENCE { OID, parameters }), in order. */
export function readCapabilities(value: asn1js.AsnType | undefined): string[] {
  if (!(value instanceof asn1js.Sequence)) return [];
  const found: string[] = [];
  for (const entry of value.valueBlock.value.slice(0, MAX_CAPABILITIES)) {
    if (!(entry instanceof asn1js.Sequence)) continue;
    const id = entry.valueBlock.value[0];
    if (id instanceof asn1js.ObjectIdentifier) found.push(id.valueBlock.toString());
  }
  return found;
}

/** The capabilities in DER bytes (an extension's value), or none when they cannot be read. */
export function readCapabilitiesDer(der: ArrayBuffer | Uint8Array): string[] {
  const parsed = asn1js.fromBER(der instanceof Uint8Array ? new Uint8Array(der).buffer : der);
  return parsed.offset === -1 ? [] : readCapabilities(parsed.result);
}

export interface EncryptionChoice {
  contentEncryption: 'aes-256-cbc' | 'aes-256-gcm';
  keyTransport: 'rsa-oaep' | 'rsa-pkcs1';
}

/** How to encrypt for one recipient, from what it advertised (undefined: nothing known). */
export function choiceFor(capabilities: readonly string[] | null | undefined): EncryptionChoice {
  const known = capabilities && capabilities.length > 0 ? new Set(capabilities) : undefined;
  return {
    contentEncryption: known?.has(CAPABILITY.aes256Gcm) ? 'aes-256-gcm' : 'aes-256-cbc',
    // A list that names algorithms but not OAEP comes from a client that may not read it.
    keyTransport: known && !known.has(CAPABILITY.rsaOaep) ? 'rsa-pkcs1' : 'rsa-oaep',
  };
}
