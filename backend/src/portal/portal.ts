/**
 * The portal's composition root: builds each of its services once, on shared options. Each service does
 * one job (see its file); who may see or act on a portal message is decided in visibility.ts alone.
 */
import type { CheckpointSource } from '../audit/audit-log.ts';
import type { Database } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { MessageOpener } from './message-opener.ts';
import { PortalLinks } from './portal-links.ts';
import { PortalMailbox } from './portal-mailbox.ts';
import { PortalReplies } from './portal-replies.ts';
import { RecipientCopies } from './recipient-copies.ts';
import { SecondFactors } from './second-factor.ts';
import { SentCopies } from './sent-copies.ts';
import { TenantPortal } from './tenant-portal.ts';
import { PortalEntraSignIn } from './entra-sign-in.ts';

export interface PortalOptions {
  db: Database;
  vault: KeyVault;
  directory: TenantDirectory;
  logger: Logger;
  publicUrl: string;
  hostname: string;
  /** The gateway's SMTP size limit: replies must fit through the tenant's mail server too. */
  maxMessageBytes: number;
  /** Called after mail was spooled, so the pipeline routes it at once. */
  onSpooled: () => void;
  /** Rate limits for asking for links: per address and per client IP, within windowSeconds. */
  linkRequestLimits?: { perAddress: number; perIp: number; windowSeconds: number };
  /** The signed checkpoints the audit chain is verified against (outside the database). */
  auditCheckpoints?: CheckpointSource;
  /** Bounds on opening stored messages (see Config.portalReading); defaults suit tests and small hosts. */
  reading?: { openConcurrency: number; openQueue: number; cacheBytes: number; cacheTtlMs: number };
  /** The organisation sign-in with Entra ID: the key its nonces are signed with and where browsers sign in. */
  entra?: { nonceKey: Uint8Array; browserAuthority: string };
}

export interface Portal {
  db: Database;
  /** Settings, limits, branding, links' addresses, the session as shown, the audit log. */
  tenants: TenantPortal;
  /** Storing copies for external recipients (the protection stage's portal mode). */
  copies: RecipientCopies;
  /** Opening magic links, fresh links, sign-in links. */
  links: PortalLinks;
  /** Decrypting, checking and parsing stored messages, bounded and cached. */
  opener: MessageOpener;
  /** Threads and messages a session may see; reading, attachments, deleting from one's view. */
  mailbox: PortalMailbox;
  /** The external recipient's replies. */
  replies: PortalReplies;
  /** What members sent: listing, revoking, changing expiry. */
  sent: SentCopies;
  /** Recipients' second factors: authenticator apps, passkeys, recovery codes. */
  factors: SecondFactors;
  /** Members' and admins' sign-in with their organisation's Entra ID account (without `entra` options: none). */
  entraSignIn?: PortalEntraSignIn;
}

export function createPortal(options: PortalOptions): Portal {
  const { db, vault, directory, logger, hostname, onSpooled } = options;
  const tenants = new TenantPortal({
    db,
    vault,
    directory,
    publicUrl: options.publicUrl,
    maxMessageBytes: options.maxMessageBytes,
    auditCheckpoints: options.auditCheckpoints,
  });
  const opener = new MessageOpener({ db, vault, logger, reading: options.reading });
  const factors = new SecondFactors({ db, vault, directory, publicUrl: options.publicUrl });
  return {
    db,
    tenants,
    copies: new RecipientCopies({ db, vault, directory, tenants, hostname, onSpooled }),
    links: new PortalLinks({ db, vault, directory, tenants, factors, hostname, onSpooled, linkRequestLimits: options.linkRequestLimits }),
    opener,
    mailbox: new PortalMailbox({ db, vault, directory, tenants, opener, hostname, onSpooled }),
    replies: new PortalReplies({ db, vault, tenants, hostname, onSpooled }),
    sent: new SentCopies({ db, vault, tenants }),
    factors,
    ...(options.entra ? { entraSignIn: new PortalEntraSignIn({ db, vault, directory, tenants, ...options.entra }) } : {}),
  };
}
