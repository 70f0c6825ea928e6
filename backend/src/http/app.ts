/** The Fastify application: one plugin per audience. */
import type { CheckpointSource } from '../audit/audit-log.ts';
import type { Database } from '../db/client.ts';
import type { MessageReleaseDeps } from '../delivery/message-release.ts';
import type { Logger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { addinManifestRoutes, addinRoutes } from './addin-routes.ts';
import { addinSignInRoutes } from './addin-sign-in-routes.ts';
import { addinTryRoutes, demoTenant, type EvaluationSignIns } from './addin-try-routes.ts';
import { adminRoutes } from './admin-routes.ts';
import { memberPgpKeyRoutes, pgpKeyRoutes } from './pgp-key-routes.ts';
import type { PgpKeyStore } from '../certs/pgp-keys.ts';
import type { MemberPgpKeys } from '../certs/pgp-member-keys.ts';
import { certificateRoutes } from './certificate-routes.ts';
import type { CertificateStore } from '../certs/certificate-store.ts';
import type { MemberKeys } from '../certs/member-keys.ts';
import { memberKeyRoutes } from './member-key-routes.ts';
import { clickRoutes, type ClickRoutesOptions } from './click-routes.ts';
import { guardRoutes, type GuardRoutesOptions } from './guard-routes.ts';
import { EntraTokenValidator } from './entra-tokens.ts';
import { operationsRoutes, type MetricsAccess } from './operations-routes.ts';
import { portalRoutes } from './portal-routes.ts';
import type { Portal } from '../portal/portal.ts';
import { problemAnsweringServer } from './problem-details.ts';
import { setupRoutes } from './setup-routes.ts';
import { staticPages } from './static-pages.ts';
import type { ProtectionModes } from '../protect/protection-modes.ts';
import type { RecipientKeyLookup } from '../protect/method-resolution.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';

export interface HttpAppOptions {
  db: Database;
  logger: Logger;
  metrics: GatewayMetrics;
  isReady: () => boolean;
  metricsAccess?: MetricsAccess;
  /** The signed audit checkpoints, exported to each tenant's admins for safekeeping elsewhere. */
  auditCheckpoints?: CheckpointSource;
  /** Releasing held and quarantined messages through the admin API. */
  release?: MessageReleaseDeps;
  portal?: Portal;
  /** The Outlook add-in's API and manifest, and the admin's Exchange setup. */
  addin?: {
    directory: TenantDirectory;
    protectionModes: ProtectionModes;
    entraAuthority: string;
    /** Where the portal's sign-in page sends browsers (config.entra.browserAuthority); the authority when not given. */
    entraBrowserAuthority?: string;
    publicUrl: string;
    gatewayHost: string;
    /** What the certificate and key stores know about recipients, for the per-recipient previews. */
    keys?: RecipientKeyLookup;
    /** Seals the tickets of sender-told PDF passwords; without it the add-in is offered none. */
    pdfTicketKey?: Uint8Array;
  };
  /**
   * The task pane's local try page and evaluation sign-in, for the embedded demo only (config.ts decides
   * whether it is wanted, the gateway whether the demo runs). Without it /addin/try/ and /api/addin-try/ are 404.
   */
  addinTry?: { signIns: EvaluationSignIns; smtpTarget: () => { host: string; port: number } };
  /** The public certificate store (/api/admin/certificates). */
  certificates?: CertificateStore;
  /** OpenPGP: correspondents' public keys (/api/admin/pgp-keys) and members' key pairs (/api/admin/member-pgp-keys). */
  pgp?: { store: PgpKeyStore; memberKeys: MemberPgpKeys };
  /** Members' own S/MIME keys and the tenant CA (/api/admin/member-keys). */
  memberKeys?: MemberKeys;
  /** The click check of links that link protection rewrote (/l/<token>). */
  click?: Omit<ClickRoutesOptions, 'db' | 'logger'>;
  /** MailGuard's policies, simulation and quarantine (/api/admin/guard, and /api/portal/guard for members). */
  guard?: Omit<GuardRoutesOptions, 'authenticate'>;
}

export type HttpApp = Awaited<ReturnType<typeof createHttpApp>>;

export async function createHttpApp(options: HttpAppOptions) {
  // Request lines are not logged: URLs can carry link tokens. Warnings and errors still are.
  const requestLogger = options.logger.child({ component: 'http' }, { level: 'warn' });
  // Click-check tokens carry a whole link (up to 2,048 characters): the router's 100-character limit on a
  // path parameter would refuse them; each route's schema still limits its own parameters.
  const app = problemAnsweringServer({ loggerInstance: requestLogger, bodyLimit: 1024 * 1024, routerOptions: { maxParamLength: 8192 } });
  await app.register(operationsRoutes, {
    db: options.db,
    metrics: options.metrics,
    isReady: options.isReady,
    metricsAccess: options.metricsAccess,
  });
  await app.register(adminRoutes, {
    prefix: '/api/admin',
    db: options.db,
    auditCheckpoints: options.auditCheckpoints,
    release: options.release,
    protection: options.addin ? { directory: options.addin.directory, protectionModes: options.addin.protectionModes, keys: options.addin.keys } : undefined,
  });
  if (options.certificates) await app.register(certificateRoutes, { prefix: '/api/admin/certificates', db: options.db, store: options.certificates });
  if (options.memberKeys && options.addin) {
    await app.register(memberKeyRoutes, { prefix: '/api/admin/member-keys', db: options.db, keys: options.memberKeys, directory: options.addin.directory });
  }
  if (options.pgp) {
    await app.register(pgpKeyRoutes, { prefix: '/api/admin/pgp-keys', db: options.db, store: options.pgp.store });
    if (options.addin) {
      await app.register(memberPgpKeyRoutes, { prefix: '/api/admin/member-pgp-keys', db: options.db, keys: options.pgp.memberKeys, directory: options.addin.directory });
    }
  }
  if (options.click) await app.register(clickRoutes, { db: options.db, logger: options.logger, ...options.click });
  if (options.guard) await app.register(guardRoutes, { prefix: '/api/admin/guard', ...options.guard });
  // One validator for the add-in's access tokens and the portal's ID tokens: one cache of the issuers' keys.
  const entraValidator = options.addin
    ? new EntraTokenValidator({ authorityBaseUrl: options.addin.entraAuthority, addinHost: new URL(options.addin.publicUrl).host })
    : undefined;
  if (options.portal) {
    const setup = options.addin ? { directory: options.addin.directory, gatewayHost: options.addin.gatewayHost } : undefined;
    const certificates = options.certificates && options.addin ? { store: options.certificates, memberKeys: options.memberKeys, directory: options.addin.directory } : undefined;
    const pgp = options.pgp && options.addin ? { ...options.pgp, directory: options.addin.directory } : undefined;
    const entra = entraValidator && options.addin ? { validator: entraValidator, directory: options.addin.directory } : undefined;
    await app.register(portalRoutes, { prefix: '/api/portal', portal: options.portal, setup, guard: options.guard, certificates, pgp, entra });
  }
  if (options.addin) {
    const { directory, protectionModes, entraAuthority, publicUrl, gatewayHost } = options.addin;
    await app.register(setupRoutes, { prefix: '/api/admin/setup', db: options.db, directory, gatewayHost });
    await app.register(addinManifestRoutes, { db: options.db, publicUrl });
    const addinTry = options.portal ? options.addinTry : undefined;
    const evaluationTenantId = addinTry ? () => demoTenant(directory)?.id : undefined;
    await app.register(addinSignInRoutes, { directory, entraAuthority, publicUrl, evaluationTenantId });
    if (options.portal) {
      const validator = entraValidator!;
      await app.register(addinRoutes, {
        prefix: '/api/addin',
        db: options.db,
        directory,
        portal: options.portal,
        protectionModes,
        keys: options.addin.keys,
        pdfTicketKey: options.addin.pdfTicketKey,
        validator,
        evaluationSignIns: addinTry?.signIns,
      });
    }
    if (addinTry) {
      await app.register(addinTryRoutes, { db: options.db, directory, signIns: addinTry.signIns, smtpTarget: addinTry.smtpTarget });
    }
  }
  const entraBrowserOrigin = options.addin ? new URL(options.addin.entraBrowserAuthority ?? options.addin.entraAuthority).origin : undefined;
  await app.register(staticPages, {
    addinTry: options.addin !== undefined && options.portal !== undefined && options.addinTry !== undefined,
    connectSources: entraBrowserOrigin ? [entraBrowserOrigin] : [],
  });
  return app;
}
