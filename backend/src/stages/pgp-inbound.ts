/**
 * Inbound OpenPGP, in the guard stage beside S/MIME.
 * - Before the checks: PGP/MIME encrypted mail (RFC 3156) to members whose key pairs the tenant holds is
 *   decrypted (unless the tenant delivers it as received), so the checks see what the recipient will read.
 *   A signature — inside the encryption, or a multipart/signed message — is verified with the keys the
 *   store holds for the sender or the key the message carries, and the result is stated in an
 *   Authentication-Results field (`pgp=pass|fail|neutral`). What was done, with which key, or why nothing
 *   could be, is traced. A message that cannot be decrypted goes on as it came.
 * - After a delivered verdict: auto-import. An `Autocrypt` header, or a key the message carries whose
 *   signature on the message verifies, puts the sender's key into the tenant's store — only when the key
 *   is for the address the message is from and sender authentication verified that the message comes from
 *   that address's domain, or one forged message could plant a key for a partner's address.
 */
import addressparser from 'nodemailer/lib/addressparser';
import * as openpgp from 'openpgp';
import { readPgpKeys, type ParsedPgpKey, type PgpKeyStore } from '../certs/pgp-keys.ts';
import { pgpEncryptedPayload, pgpSignatureOf, readArmoredMessage } from '../certs/pgp-mime.ts';
import type { MemberPgpKeys } from '../certs/pgp-member-keys.ts';
import { decryptedMessage } from '../certs/smime-inbound.ts';
import type { GuardFacts, GuardHeader } from '../guard/contract.ts';
import { headerValue, headerValues, splitMessage, type SplitMessage } from '../mail/header-block.ts';
import { scanMimeStructure } from '../mail/mime-structure.ts';
import type { TraceEntry } from '../messages/message-trace.ts';
import type { SpoolRequest } from '../messages/spool.ts';
import { continuityNotices } from './certificate-import.ts';
import type { MessageContext } from './message-context.ts';
import type { GuardNoticeDeps } from './stage.ts';

export interface PgpInboundDeps {
  memberKeys: MemberPgpKeys;
  store: PgpKeyStore;
  hostname: string;
}

export interface PgpUnwrapped {
  decrypted?: { raw: Buffer; header: SplitMessage };
  headers: GuardHeader[];
  trace: TraceEntry[];
}

const MAX_KEY_PART_BYTES = 256 * 1024;
const comment = (text: string) => text.replace(/[()\\\r\n]/g, ' ').slice(0, 300);

function fromAddress(header: SplitMessage): string | undefined {
  const from = headerValue(header.fields, 'from');
  if (!from) return undefined;
  const addresses = addressparser(from.slice(0, 2000), { flatten: true });
  return addresses.length === 1 ? addresses[0]!.address?.trim().toLowerCase() || undefined : undefined;
}

/**
 * The public keys a message carries: in application/pgp-keys parts (as many signed messages do) and in an
 * Autocrypt header for the sender's address. They only verify a signature here; whether one is kept is
 * decided after the checks (importSenderPgpKey).
 */
async function carriedKeys(message: SplitMessage, from: string | undefined): Promise<ParsedPgpKey[]> {
  const found: ParsedPgpKey[] = [];
  for (const value of headerValues(message.fields, 'autocrypt')) {
    const parsed = autocryptHeader(value);
    if (!parsed || parsed.addr !== from) continue;
    try {
      found.push(...(await readPgpKeys(parsed.keydata)));
    } catch {
      // An unreadable Autocrypt key verifies nothing; the import step says why it was not kept.
    }
  }
  const structure = scanMimeStructure(message, { maxParts: 200, maxDepth: 20, maxBodyBytes: 64 * 1024 * 1024 });
  for (const part of structure.partList) {
    if (part.contentType !== 'application/pgp-keys' || part.bodyBytes === undefined || part.bodyBytes > MAX_KEY_PART_BYTES) continue;
    let content = message.body.subarray(part.contentOffset, part.contentOffset + part.bodyBytes);
    if ((headerValue(part.fields, 'content-transfer-encoding') ?? '').trim().toLowerCase() === 'base64') content = Buffer.from(content.toString('latin1'), 'base64');
    try {
      found.push(...(await readPgpKeys(content)));
    } catch {
      // A key part that cannot be read brings no key; the signature is then judged without it.
    }
  }
  return found;
}

interface SignatureOutcome {
  result: 'pass' | 'fail' | 'neutral';
  reason: string;
  signer?: string;
  fingerprint?: string;
  /** The key that verified it, when it came with the message (a candidate for auto-import). */
  carried?: ParsedPgpKey;
}

/** The keys to verify a signature from `from` with: the store's, then the ones the message carries. */
async function verificationKeys(deps: PgpInboundDeps, tenantId: string, from: string | undefined, message: SplitMessage): Promise<{ stored: openpgp.PublicKey[]; carried: ParsedPgpKey[] }> {
  const stored: openpgp.PublicKey[] = [];
  if (from) {
    for (const row of (await deps.store.unexpiredForEach(tenantId, [from])).get(from) ?? []) {
      try {
        stored.push(await openpgp.readKey({ binaryKey: new Uint8Array(row.keyData) }));
      } catch {
        // An unreadable stored key verifies nothing.
      }
    }
  }
  return { stored, carried: await carriedKeys(message, from) };
}

/** Judges the signatures openpgp.js reports: the first that verifies passes; a bad one fails; an unknown key is neutral. */
async function judge(
  signatures: Array<{ keyID: openpgp.KeyID; verified: Promise<true> }>,
  stored: openpgp.PublicKey[],
  carried: ParsedPgpKey[],
): Promise<SignatureOutcome> {
  if (signatures.length === 0) return { result: 'neutral', reason: 'not signed' };
  let outcome: SignatureOutcome = { result: 'neutral', reason: 'signed with a key this gateway does not know' };
  for (const signature of signatures) {
    const keyId = signature.keyID.toHex();
    const storedKey = stored.find((k) => k.getKeys(signature.keyID).length > 0);
    const carriedKey = carried.find((k) => k.key.getKeys(signature.keyID).length > 0);
    const key = storedKey ?? carriedKey?.key;
    if (!key) {
      outcome = { result: 'neutral', reason: `signed with key ${keyId}, which this gateway does not know` };
      continue;
    }
    try {
      await signature.verified;
      const signer = key.getUserIDs()[0];
      return {
        result: 'pass',
        reason: storedKey ? 'signature verified with the stored key' : 'signature verified with the key the message carries',
        fingerprint: key.getFingerprint().toLowerCase(),
        ...(signer ? { signer } : {}),
        ...(storedKey ? {} : { carried: carriedKey }),
      };
    } catch (error) {
      outcome = { result: 'fail', reason: `signature does not verify: ${String((error as Error).message ?? error).slice(0, 120)}`, fingerprint: key.getFingerprint().toLowerCase() };
    }
  }
  return outcome;
}

/** Decrypts PGP/MIME to members and judges OpenPGP signatures, before the checks. */
export async function unwrapPgp(context: MessageContext, header: SplitMessage, deps: PgpInboundDeps): Promise<PgpUnwrapped & { signature?: SignatureOutcome }> {
  const out: PgpUnwrapped & { signature?: SignatureOutcome } = { headers: [], trace: [] };
  const tenant = context.tenant;
  if (!tenant) return out;
  const step = (detail: Record<string, unknown>): TraceEntry => ({ messageId: context.id, tenantId: context.tenantId, step: 'pgp', detail });
  const from = fromAddress(header);
  let message = header;
  let signature: SignatureOutcome | undefined;
  const armored = pgpEncryptedPayload(header);
  if (armored) {
    if (!tenant.pgp.decrypt) {
      out.trace.push(step({ decrypted: false, reason: 'the tenant delivers OpenPGP as received' }));
      return out;
    }
    const keys = (await Promise.all([...new Set(context.recipients.map((r) => r.toLowerCase()))].map((r) => deps.memberKeys.decryptionKeys(context.tenantId, r)))).flat();
    if (keys.length === 0) {
      out.trace.push(step({ decrypted: false, reason: 'no recipient of the message has an OpenPGP key pair with this gateway' }));
      return out;
    }
    let decrypted: { data: Uint8Array; signatures: Array<{ keyID: openpgp.KeyID; verified: Promise<true> }> };
    let usedKey: string | undefined;
    try {
      const encrypted = await readArmoredMessage(armored);
      const wanted = new Set(encrypted.getEncryptionKeyIDs().map((id) => id.toHex()));
      const opening = keys.filter((k) => k.privateKey.getKeys().some((sub) => wanted.has(sub.getKeyID().toHex())));
      if (opening.length === 0) {
        out.trace.push(step({ decrypted: false, reason: 'the message was not encrypted for any key the recipients have with this gateway' }));
        return out;
      }
      usedKey = opening[0]!.fingerprint;
      const { stored } = await verificationKeys(deps, context.tenantId, from, header);
      const result = await openpgp.decrypt({ message: encrypted, decryptionKeys: opening.map((k) => k.privateKey), ...(stored.length > 0 ? { verificationKeys: stored } : {}), format: 'binary' });
      decrypted = { data: result.data as Uint8Array, signatures: result.signatures };
    } catch (error) {
      out.trace.push(step({ decrypted: false, reason: `the message cannot be decrypted: ${String((error as Error).message ?? error).slice(0, 160)}` }));
      return out;
    }
    const raw = decryptedMessage(header, canonical(Buffer.from(decrypted.data)));
    const split = splitMessage(raw);
    if (split.outcome !== 'split') {
      out.trace.push(step({ decrypted: false, reason: 'the decrypted content has no readable header section' }));
      return out;
    }
    message = split;
    out.decrypted = { raw, header: split };
    out.trace.push(step({ decrypted: true, recipientKey: usedKey }));
    if (decrypted.signatures.length > 0) {
      const { stored, carried } = await verificationKeys(deps, context.tenantId, from, split);
      // Keys the message carries (inside it, or in its Autocrypt header) are known only now: verify again with them.
      signature = carried.length > 0 ? await verifyAgain(armored, keys.map((k) => k.privateKey), stored, carried) : await judge(decrypted.signatures, stored, []);
    }
  }
  const detached = pgpSignatureOf(message);
  if (detached) {
    const { stored, carried } = await verificationKeys(deps, context.tenantId, from, message);
    try {
      const sig = await openpgp.readSignature({ armoredSignature: detached.armoredSignature });
      const verification = await openpgp.verify({
        message: await openpgp.createMessage({ binary: new Uint8Array(detached.signedContent) }),
        signature: sig,
        verificationKeys: [...stored, ...carried.map((c) => c.key)],
      });
      signature = await judge(verification.signatures, stored, carried);
    } catch (error) {
      signature = { result: 'fail', reason: `the signature cannot be read: ${String((error as Error).message ?? error).slice(0, 120)}` };
    }
  }
  if (signature) {
    out.signature = signature;
    out.trace.push(step({ signature: signature.result, reason: signature.reason, signer: signature.signer, fingerprint: signature.fingerprint }));
    const identity = from && signature.result === 'pass' ? ` header.from=${from}` : '';
    out.headers.push({ name: 'Authentication-Results', value: `${deps.hostname}; pgp=${signature.result} (${comment(signature.reason)})${identity}` });
  }
  return out;
}

/** Verifies the signature inside an encrypted message with the stored keys and those the decrypted message carried. */
async function verifyAgain(armored: string, decryptionKeys: openpgp.PrivateKey[], stored: openpgp.PublicKey[], carried: ParsedPgpKey[]): Promise<SignatureOutcome> {
  const result = await openpgp.decrypt({
    message: await readArmoredMessage(armored),
    decryptionKeys,
    verificationKeys: [...stored, ...carried.map((c) => c.key)],
    format: 'binary',
  });
  return judge(result.signatures, stored, carried);
}

/** MIME wants CRLF; content written with bare LF is brought to it. */
function canonical(entity: Buffer): Buffer {
  if (entity.includes('\r\n') || !entity.includes('\n')) return entity;
  return Buffer.from(entity.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
}

/** The Autocrypt header's attributes (addr, prefer-encrypt, keydata), when it has addr and keydata. */
export function autocryptHeader(value: string): { addr: string; preferEncrypt?: 'mutual'; keydata: Buffer } | undefined {
  const attributes = new Map<string, string>();
  for (const item of value.split(';')) {
    const at = item.indexOf('=');
    if (at <= 0) continue;
    attributes.set(item.slice(0, at).trim().toLowerCase(), item.slice(at + 1).trim());
  }
  const addr = attributes.get('addr')?.toLowerCase();
  const keydata = attributes.get('keydata');
  // Attributes this reader does not know and that are not marked optional (leading underscore) make the header unusable (Autocrypt Level 1).
  const unknown = [...attributes.keys()].some((k) => !['addr', 'prefer-encrypt', 'keydata'].includes(k) && !k.startsWith('_'));
  if (!addr || !keydata || unknown) return undefined;
  return { addr, ...(attributes.get('prefer-encrypt') === 'mutual' ? { preferEncrypt: 'mutual' as const } : {}), keydata: Buffer.from(keydata.replace(/\s+/g, ''), 'base64') };
}

/** After a delivered verdict: the sender's key into the store, from an Autocrypt header or a verified signature. */
export async function importSenderPgpKey(input: {
  context: MessageContext;
  header: SplitMessage;
  facts?: GuardFacts;
  store: PgpKeyStore;
  signature?: SignatureOutcome;
  notices?: GuardNoticeDeps;
  language: 'en' | 'de';
}): Promise<{ trace?: TraceEntry; spool: SpoolRequest[] }> {
  const traced = await importKey(input);
  const change = traced?.detail.outcome === 'changed' ? traced.detail : undefined;
  if (!change || !input.notices) return { ...(traced ? { trace: traced } : {}), spool: [] };
  const spool = await continuityNotices(input, 'pgp-key', {
    address: String(change.address),
    fingerprint: String(change.fingerprint),
    previousFingerprints: change.previousFingerprints as string[],
    values: { detail: `${String(change.algorithm)}, from ${String(change.source)}` },
  });
  return { trace: { ...traced!, detail: { ...traced!.detail, alerted: spool.flatMap((r) => r.recipients) } }, spool };
}

async function importKey(input: Parameters<typeof importSenderPgpKey>[0]): Promise<TraceEntry | undefined> {
  const { context, header } = input;
  if (!context.tenant?.pgp.autoImport) return undefined;
  const autocrypt = headerValues(header.fields, 'autocrypt');
  const carried = input.signature?.result === 'pass' ? input.signature.carried : undefined;
  if (autocrypt.length === 0 && !carried) return undefined;
  const trace = (detail: Record<string, unknown>): TraceEntry => ({ messageId: context.id, tenantId: context.tenantId, step: 'pgp-key', detail });
  const from = fromAddress(header);
  if (!from) return trace({ imported: false, reason: 'the message has no readable From address' });
  if (!input.facts?.senderVerified) {
    return trace({ imported: false, reason: 'sender authentication did not verify that the message comes from its domain (SPF or DKIM, with DMARC not failing)' });
  }
  let candidate: { key: ParsedPgpKey; source: 'autocrypt' | 'signed-mail'; preferEncrypt?: 'mutual' } | undefined;
  for (const value of autocrypt) {
    if (candidate) break;
    const parsed = autocryptHeader(value);
    if (!parsed) continue;
    if (parsed.addr !== from) return trace({ imported: false, source: 'autocrypt', reason: `the Autocrypt header is for ${parsed.addr}, but the message is from ${from}` });
    try {
      const [key] = await readPgpKeys(parsed.keydata);
      if (key) candidate = { key, source: 'autocrypt', ...(parsed.preferEncrypt ? { preferEncrypt: parsed.preferEncrypt } : {}) };
    } catch (error) {
      return trace({ imported: false, source: 'autocrypt', reason: `the Autocrypt key cannot be read: ${String((error as Error).message ?? error).slice(0, 120)}` });
    }
  }
  if (!candidate && carried) candidate = { key: carried, source: 'signed-mail' };
  if (!candidate) return trace({ imported: false, reason: 'the Autocrypt header is not usable (it needs addr and keydata)' });
  if (candidate.source === 'signed-mail' && !candidate.key.addresses.includes(from)) {
    return trace({ imported: false, source: candidate.source, reason: `the key names ${candidate.key.addresses.join(', ') || 'no address'}, but the message is from ${from}` });
  }
  const [result] = await input.store.add(context.tenantId, [{ ...candidate.key, addresses: [from] }], {
    source: candidate.source,
    by: from,
    messageId: context.id,
    ...(candidate.preferEncrypt ? { preferEncrypt: candidate.preferEncrypt } : {}),
  });
  return trace({
    imported: result!.outcome !== 'known',
    outcome: result!.outcome,
    source: candidate.source,
    address: from,
    fingerprint: candidate.key.fingerprint,
    algorithm: candidate.key.algorithm,
    ...(result!.previousFingerprints ? { previousFingerprints: result!.previousFingerprints } : {}),
  });
}
