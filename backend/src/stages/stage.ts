/** What one stage is: the point it brings a message to, and the work that gets it there. */
import type { PgpKeyStore } from '../certs/pgp-keys.ts';
import type { MemberPgpKeys } from '../certs/pgp-member-keys.ts';
import type { MemberKeys } from '../certs/member-keys.ts';
import type { CrlSource } from '../certs/smime-inbound.ts';
import type { CertificateStore } from '../certs/certificate-store.ts';
import type { Database } from '../db/client.ts';
import type { RecipientKeyLookup } from '../protect/method-resolution.ts';
import type { InternalCopyStorage } from '../protect/portal-mode.ts';
import type { ProtectionModes } from '../protect/protection-modes.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import type { MailBranding } from '../mail/branded-mail.ts';
import type { GuardRunner } from './guard.ts';
import type { MessageContext, StagePoint } from './message-context.ts';

export interface StageDeps {
  db: Database;
  directory: TenantDirectory;
  protectionModes: ProtectionModes;
  /** Seals what the stages store besides the message (protected copies). */
  vault: KeyVault;
  /** The inbound checks; without them the guard stage records that no checks are configured. */
  guard?: GuardRunner;
  /** What the guard's notices need: links to the portal, the gateway's name, the tenant's look. */
  notices?: GuardNoticeDeps;
  /** The tenants' certificate stores, which signed inbound mail fills (auto-import). */
  certificates?: CertificateStore;
  /** Members' keys, which decrypt inbound S/MIME to them; without them S/MIME is delivered as received. */
  memberKeys?: MemberKeys;
  /** Where signers' revocation lists are fetched from and cached. */
  crls?: CrlSource;
  /** The tenants' OpenPGP key stores, which signed inbound mail and Autocrypt headers fill. */
  pgpKeys?: PgpKeyStore;
  /** Members' OpenPGP key pairs, which decrypt inbound PGP/MIME to them. */
  memberPgpKeys?: MemberPgpKeys;
  /** What the certificate and key stores know about recipients (no directories): for mail whose encryption is only allowed. */
  storedKeys?: RecipientKeyLookup;
  /** Relay mode: the portal's copies for colleagues a portal message also went to; without it none are kept. */
  internalCopies?: InternalCopyStorage;
}

export interface GuardNoticeDeps {
  publicUrl: string;
  hostname: string;
  branding?: (tenantId: string) => MailBranding | undefined;
}

export interface Stage {
  /** The stage's name in traces and held reasons: parse, classify, request, guard, route, queue. */
  name: string;
  /** The point a message has reached once this stage has passed; stored in messages.stage. */
  reaches: Exclude<StagePoint, 'received'>;
  /**
   * Does the stage's work on the context: records its decision in context.results and its trace steps in
   * context.trace. Runs outside any database transaction; the runner commits the result. A thrown error
   * holds the message (after retries, unless it is an UnreadableHeaderError).
   */
  run(context: MessageContext, deps: StageDeps): Promise<void>;
  /**
   * True when, for this message, the stage waits on something outside the process or acts on the world
   * (runs the inbound checks, protects). The runner writes what came before such a stage and what it did
   * right after it; stages that only compute are written together with the next write.
   */
  actsOutside?(context: MessageContext, deps: StageDeps): boolean;
}
