/**
 * The 'pgp' protection mode: the message is encrypted once, as PGP/MIME (RFC 3156), to the OpenPGP keys
 * of every recipient of the group — keys from the tenant's store, or, for this message only, from the
 * recipient domain's Web Key Directory — and signed inside the encryption with the sender's own key pair
 * when the sender asks (option `sign`) or the tenant always signs. Per recipient the trace names the key's
 * fingerprint, source and algorithm. A recipient without a usable key, or a signature that cannot be made,
 * leaves the recipient held, never sent in the clear or unsigned.
 */
import * as openpgp from 'openpgp';
import { algorithmName, encryptionProblem, type PgpKeyStore } from '../certs/pgp-keys.ts';
import { encryptEntity } from '../certs/pgp-mime.ts';
import type { MemberPgpKeys, OpenedPgpKey } from '../certs/pgp-member-keys.ts';
import { splitForSmime, withOuterFields } from '../certs/smime-mime.ts';
import type { WkdLookup } from '../certs/wkd-lookup.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { RecipientKeyLookup } from './method-resolution.ts';
import type { GroupProtectionContext, ProtectionHandler } from './protection-modes.ts';
import { signerAddress } from './smime-mode.ts';

export interface PgpModeDeps {
  store: PgpKeyStore;
  memberKeys?: MemberPgpKeys;
  directory?: TenantDirectory;
  /** The recipient domains' Web Key Directories, asked for recipients the store has no usable key for. */
  wkd?: WkdLookup;
}

interface ChosenKey {
  key: openpgp.PublicKey;
  fingerprint: string;
  source: string;
  algorithm: string;
  url?: string;
}

/** Which recipients the store has an unexpired key for, for the method resolution (the store alone: a preview does not wait on the Internet). */
export function pgpKeyLookup(store: PgpKeyStore): RecipientKeyLookup['pgpKeys'] {
  return async (tenantId, recipients) => new Set((await store.unexpiredForEach(tenantId, recipients)).keys());
}

/** Each recipient's first stored key that can take encrypted mail now; problems with the others for the trace. */
async function storedKeys(store: PgpKeyStore, tenantId: string, recipients: string[]): Promise<{ known: Map<string, ChosenKey>; problems: string[] }> {
  const known = new Map<string, ChosenKey>();
  const problems: string[] = [];
  for (const [address, rows] of await store.unexpiredForEach(tenantId, recipients)) {
    for (const row of rows) {
      try {
        const key = await openpgp.readKey({ binaryKey: new Uint8Array(row.keyData) });
        const problem = await encryptionProblem(key);
        if (problem) {
          problems.push(`${address}: the stored key ${row.fingerprint} cannot take encrypted mail (${problem})`);
          continue;
        }
        known.set(address, { key, fingerprint: row.fingerprint, source: row.source, algorithm: row.algorithm });
        break;
      } catch (error) {
        problems.push(`${address}: the stored key ${row.fingerprint} cannot be read (${String((error as Error).message ?? error).slice(0, 100)})`);
      }
    }
  }
  return { known, problems };
}

type SignOutcome = { kind: 'signing'; key: OpenedPgpKey; detail: Record<string, unknown> } | { kind: 'unavailable'; reason: string } | { kind: 'unsigned' };

async function signingKeyIfWanted(deps: PgpModeDeps, context: GroupProtectionContext): Promise<SignOutcome> {
  const tenant = deps.directory?.tenantById(context.tenantId);
  const asked = context.request?.options.includes('sign') ?? false;
  if (!asked && tenant?.pgp.sign !== 'always') return { kind: 'unsigned' };
  const address = signerAddress(context);
  if (!address) return { kind: 'unavailable', reason: 'a signature was asked for, but the message names no sender to sign as' };
  if (!deps.memberKeys || !tenant) return { kind: 'unavailable', reason: `no OpenPGP key is available to sign as ${address}` };
  let key = await deps.memberKeys.signingKey(context.tenantId, address);
  let generated = false;
  const member = tenant.members.find((m) => m.email.toLowerCase() === address);
  if (!key && tenant.pgp.autoGenerate && member) {
    await deps.memberKeys.generate(context.tenantId, address, { actor: 'sealpost (auto-generate)' }, member.name);
    key = await deps.memberKeys.signingKey(context.tenantId, address);
    generated = true;
  }
  if (!key) {
    return {
      kind: 'unavailable',
      reason: `${address} has no OpenPGP key pair to sign with: import or generate one for them (or set pgp.autoGenerate); held, never sent unsigned`,
    };
  }
  return { kind: 'signing', key, detail: { signer: address, fingerprint: key.fingerprint, source: key.source, ...(generated ? { generated: true } : {}) } };
}

export function pgpProtection(deps: PgpModeDeps): ProtectionHandler {
  const protectGroup: NonNullable<ProtectionHandler['protectGroup']> = async (context) => {
    const { known, problems } = await storedKeys(deps.store, context.tenantId, context.recipients);
    const tenant = deps.directory?.tenantById(context.tenantId);
    const wkdProblems: Array<{ recipient: string; problem: string }> = [];
    const timeout = tenant?.pgp.wkdTimeoutMs ?? false;
    if (deps.wkd && timeout !== false) {
      const unknown = context.recipients.filter((r) => !known.has(r));
      await Promise.all(
        unknown.map(async (recipient) => {
          const found = await deps.wkd!.keyFor(recipient, timeout);
          if (found.key) known.set(recipient, { key: found.key.key, fingerprint: found.key.fingerprint, source: 'wkd', algorithm: found.key.algorithm, url: found.key.url });
          else wkdProblems.push({ recipient, problem: found.problem ?? 'no key' });
        }),
      );
    }
    const chosen = context.recipients.flatMap((recipient) => {
      const key = known.get(recipient);
      return key ? [{ recipient, key }] : [];
    });
    const missing = context.recipients.filter((r) => !known.has(r));
    const reasonMissing = (who: string[]) => `no usable OpenPGP key is known for ${who.join(', ')}: held until one is, never sent unprotected`;
    if (chosen.length === 0) return { kind: 'unavailable', reason: reasonMissing(missing) };
    const signing = await signingKeyIfWanted(deps, context);
    if (signing.kind === 'unavailable') return signing;
    let raw: Buffer;
    try {
      const { outer, entity } = splitForSmime(context.raw);
      const encrypted = await encryptEntity(
        entity,
        chosen.map((c) => c.key.key),
        signing.kind === 'signing' ? signing.key.privateKey : undefined,
      );
      raw = withOuterFields(outer, encrypted);
    } catch (error) {
      return { kind: 'unavailable', reason: `OpenPGP failed: ${String((error as Error).message ?? error).slice(0, 200)}` };
    }
    const details = await Promise.all(
      chosen.map(async ({ recipient, key }) => {
        const subkey = await key.key.getEncryptionKey().catch(() => undefined);
        return {
          recipient,
          fingerprint: key.fingerprint,
          source: key.source,
          algorithm: key.algorithm,
          ...(subkey ? { encryptionKey: algorithmName(subkey) } : {}),
          ...(key.url ? { url: key.url } : {}),
        };
      }),
    );
    return {
      kind: 'deliver',
      raw,
      detail: {
        format: 'pgp-mime',
        keys: details,
        ...(signing.kind === 'signing' ? { signature: signing.detail } : {}),
        ...(problems.length > 0 ? { keyProblems: problems } : {}),
        ...(wkdProblems.length > 0 ? { wkdProblems } : {}),
      },
      ...(missing.length > 0 ? { unserved: { recipients: missing, reason: reasonMissing(missing) } } : {}),
    };
  };
  return {
    mode: 'pgp',
    protect: (context) => protectGroup({ ...context, recipients: [context.recipient] }),
    protectGroup,
  };
}
