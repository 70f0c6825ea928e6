/** Starts and stops one gateway process: database, keys, tenants, SMTP listener, workers and HTTP API. */
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import type { SMTPServer } from 'smtp-server';
import { AuditCheckpointer } from './audit/audit-checkpointer.ts';
import { AuditCheckpointFile, loadOrCreateAuditSigningKey } from './audit/audit-checkpoints.ts';
import type { CheckpointSource } from './audit/audit-log.ts';
import type { Config } from './config.ts';
import { openDatabase, queryRows, type DatabaseHandle } from './db/client.ts';
import { allTenantIds, withTenants } from './db/tenant-scope.ts';
import { DeliveryWorker, type BounceLanguage } from './delivery/delivery-worker.ts';
import { SmtpDeliveryClient } from './delivery/smtp-client.ts';
import { ADDIN_TRY_PAGE_PATH } from '../../common/src/addin-api.ts';
import { EvaluationSignIns } from './http/addin-try-routes.ts';
import { createHttpApp, type HttpApp } from './http/app.ts';
import { createMetricsApp } from './http/operations-routes.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type GatewayMetrics } from './metrics.ts';
import { ProtectionModes, type ProtectionHandler } from './protect/protection-modes.ts';
import { HousekeepingWorker } from './portal/housekeeping.ts';
import { createPortal, type Portal } from './portal/portal.ts';
import { entraNonceKey } from './portal/entra-sign-in.ts';
import { languageFor } from './portal/portal-settings.ts';
import { senderQuotaHook } from './portal/sender-quota-hook.ts';
import { autoProtection, portalProtection, type PortalStorage } from './protect/portal-mode.ts';
import { TunnelPortalStorage, tunnelForwarder, type TunnelIdentity } from './portal/portal-tunnel.ts';
import { createTunnelListener, portalCopyReceiver, portalMailReceiver } from './portal/tunnel-listener.ts';
import { certificateLookup, smimeProtection } from './protect/smime-mode.ts';
import { pgpKeyLookup, pgpProtection } from './protect/pgp-mode.ts';
import { pdfProtection } from './protect/pdf-mode.ts';
import { passwordTicketKey } from './protect/pdf-passwords.ts';
import { PgpKeyStore } from './certs/pgp-keys.ts';
import { MemberPgpKeys } from './certs/pgp-member-keys.ts';
import { WkdLookup } from './certs/wkd-lookup.ts';
import { absurdStructureHook } from './guard/checks/message-structure.ts';
import type { GuardRunner, GuardServices } from './guard/contract.ts';
import { GuardPolicyStore } from './guard/policy-store.ts';
import { CertificateStore } from './certs/certificate-store.ts';
import { DirectoryLookup } from './certs/directory-lookup.ts';
import { MemberKeys } from './certs/member-keys.ts';
import { CrlSource } from './certs/smime-inbound.ts';
import { ClickLinks } from './guard/click-links.ts';
import { guardOutsideSources } from './guard/outside-sources.ts';
import { createTenantGuard, gatewayGuardChecks, gatewayGuardHooks } from './guard/tenant-guard.ts';
import { StageRunner } from './stages/stage-runner.ts';
import { createSmtpListener } from './smtp/smtp-listener.ts';
import type { SmtpHook } from './smtp/smtp-hooks.ts';
import { loadTlsMaterial } from './smtp/tls-certificate.ts';
import { applyTenantDefinitions, ensureDemoTenant, TenantDirectory, type DemoTenant } from './tenants/tenant-directory.ts';
import { KeyVault, loadOrCreateMasterKey } from './vault/key-vault.ts';
import { IntakePriority } from './work-signal.ts';

/** The stages' share of the thread while a burst is accepted (measured with npm run bench:smtp -- --inbound). */
const BURST_STAGE_SHARE = 0.1;

export interface Gateway {
  config: Config;
  database: DatabaseHandle;
  directory: TenantDirectory;
  vault: KeyVault;
  metrics: GatewayMetrics;
  /** The stages after the 250 (stages/stage-runner.ts). */
  pipeline: StageRunner;
  /** Inbound protection for the guard stage: checks, each tenant's policy, one verdict per message. */
  guard: GuardRunner;
  /** Each tenant's inbound policies. */
  policies: GuardPolicyStore;
  /** What the inbound checks use from outside the message (GeoIP, DNS), also for simulation. */
  guardServices: GuardServices;
  /** Each tenant's public certificates for S/MIME. */
  certificates: CertificateStore;
  /** Members' own S/MIME keys and the tenant CAs that issue them. */
  memberKeys: MemberKeys;
  /** Each tenant's OpenPGP public keys of correspondents. */
  pgpKeys: PgpKeyStore;
  /** Members' own OpenPGP key pairs. */
  memberPgpKeys: MemberPgpKeys;
  delivery: DeliveryWorker;
  smtp: SMTPServer;
  http: HttpApp;
  portal: Portal;
  housekeeping: HousekeepingWorker;
  auditCheckpointer: AuditCheckpointer;
  auditCheckpoints: CheckpointSource;
  smtpPort: number;
  httpPort: number;
  /** The separate metrics listener's port, when SEALPOST_METRICS_PORT is set. */
  metricsPort?: number;
  /** The S/MIME tunnel listener's port, when the portal runs on its own host (SEALPOST_TUNNEL_ROLE). */
  tunnelPort?: number;
  demo?: DemoTenant;
  /** The task pane's local try page, when the demo runs with it on. */
  addinTryUrl?: string;
  masterKeyFile?: string;
  /** Set when the audit signing key was generated into the data folder. */
  auditSigningKeyFile?: string;
  selfSignedTls: boolean;
  stop(): Promise<void>;
}

/** Parts another component may provide instead of the gateway's own, or in addition to them. */
export interface GatewayParts {
  /** The inbound checks the guard stage runs (default: the guard's checks under each tenant's policy). */
  guard?: GuardRunner;
  /** SMTP-time hooks run after the gateway's own (absurd MIME structure at the end of DATA). */
  smtpHooks?: readonly SmtpHook[];
  /** Protection modes registered besides the gateway's own (portal, auto); one of the same mode replaces it. */
  protectionModes?: readonly ProtectionHandler[];
  /** How recipients' Web Key Directories are reached (default: HTTPS on port 443 with the system's roots). */
  wkd?: WkdLookup;
}

export async function startGateway(config: Config, logger: Logger, parts: GatewayParts = {}): Promise<Gateway> {
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    onPoolError: (error) => logger.warn({ err: error }, 'database connection lost; it will be reopened'),
  });
  const { db } = database;
  const master = loadOrCreateMasterKey(config.masterKey, join(config.dataDir, 'master.key'));
  const vault = new KeyVault(db, master.key, config.audit.key);
  const auditCheckpoints: CheckpointSource = {
    file: new AuditCheckpointFile(config.audit.checkpointFile),
    signingKey: loadOrCreateAuditSigningKey(config.audit.signingKeyFile, join(config.dataDir, 'audit-signing.key')),
  };
  const auditCheckpointer = new AuditCheckpointer({
    db,
    keys: vault.auditKeys,
    ...auditCheckpoints,
    logger,
    intervalMs: config.audit.checkpointIntervalMs,
    everyEntries: config.audit.checkpointEveryEntries,
  });

  let demo: DemoTenant | undefined;
  if (config.tenants) await applyTenantDefinitions(db, config.tenants);
  else demo = await ensureDemoTenant(db, config.dataDir);
  const directory = new TenantDirectory(db);
  await directory.refresh();

  const metrics = createMetrics(async () => {
    // The queue of every tenant, as the operator's metrics show it.
    const rows = await withTenants(db, await allTenantIds(db), (tx) =>
      queryRows<{ status: string; count: string | number }>(
        tx,
        sql`select status, count(*) as count from deliveries where status in ('queued', 'held', 'delivering') group by status
            union all
            select 'routing' as status, count(*) as count from messages where state = 'received'`,
      ),
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
  });

  const policies = new GuardPolicyStore(db, { auditKeys: vault.auditKeys });
  const clickLinks = ClickLinks.fromMasterKey(master.key, config.http.publicUrl);
  const certificates = new CertificateStore(db, vault.auditKeys);
  const memberKeys = new MemberKeys(db, vault);
  const pgpKeys = new PgpKeyStore(db, vault.auditKeys);
  const memberPgpKeys = new MemberPgpKeys(db, vault);
  const guardServices: GuardServices = {
    hostname: config.smtp.hostname,
    directory,
    policies,
    ...(await guardOutsideSources(config.guard, logger)),
    clickLinks,
  };
  const guard =
    parts.guard ?? createTenantGuard({ policies, directory, logger, metrics: metrics.registry, checks: gatewayGuardChecks(guardServices) });
  const protectionModes = new ProtectionModes();
  const client = new SmtpDeliveryClient({ heloName: config.smtp.hostname });
  const tunnel = config.tunnel;
  const tunnelIdentity: TunnelIdentity | undefined = tunnel
    ? { certificate: tunnel.certificate, privateKey: tunnel.privateKey, peerCertificate: tunnel.peerCertificate }
    : undefined;
  const retry = {
    firstRetryMs: config.delivery.firstRetryMs,
    maxRetryMs: config.delivery.maxRetryMs,
    maxAgeMs: config.delivery.maxQueueAgeMs,
  };
  // The two workers wake each other: routed messages start deliveries, bounces go back to routing.
  let pipeline!: StageRunner;
  // Senders first (work-signal.ts): a burst is accepted at intake speed, the stages catch up behind it.
  const intakePriority =
    config.burstBacklogSeconds > 0 ? new IntakePriority({ share: BURST_STAGE_SHARE, maxLagMs: config.burstBacklogSeconds * 1000 }) : undefined;
  // Bounces speak the sender's language as the tenant's other notices do: the tenant's portal language,
  // else German for senders in .de/.at/.ch and English otherwise. The portal is made below.
  const bounceLanguage: BounceLanguage = async (q, tenantId, sender) => languageFor(await portal.tenants.settings(tenantId, q), sender);
  const delivery = new DeliveryWorker({
    bounceLanguage,
    intakePriority,
    db,
    vault,
    directory,
    protectionModes,
    client,
    logger,
    metrics,
    hostname: config.smtp.hostname,
    // The demo keeps everything on this machine: mail to outsiders lands in the development mailbox too.
    relay: config.relay ?? (demo ? `mailbox:${demo.mailboxFolder}` : undefined),
    retry,
    heldRetryMs: config.delivery.heldRetryMs,
    concurrency: config.delivery.concurrency,
    lockSeconds: config.delivery.leaseSeconds,
    pollMs: config.workerPollMs,
    onBounceSpooled: () => pipeline.signal.notify(),
    // The portal on its own host delivers nothing itself: all its mail goes to the gateway over the tunnel.
    ...(tunnel?.role === 'portal' ? { forward: tunnelForwarder({ identity: tunnelIdentity!, peer: tunnel.peer, client, hostname: config.smtp.hostname }) } : {}),
  });
  // What the route stage asks about recipients: the stores alone, no directories.
  const storedKeys = { smimeCertificates: certificateLookup(certificates), pgpKeys: pgpKeyLookup(pgpKeys) };
  pipeline = new StageRunner({
    intakePriority,
    db,
    vault,
    directory,
    protectionModes,
    logger,
    pollMs: config.workerPollMs,
    heldRetryMs: config.delivery.heldRetryMs,
    guard,
    certificates,
    memberKeys,
    crls: new CrlSource(),
    pgpKeys,
    memberPgpKeys,
    storedKeys,
    // Relay mode: colleagues a portal message also went to keep a copy in its conversation (portal made below).
    internalCopies: { storeInternalCopies: (request) => portal.copies.storeInternalCopies(request) },
    notices: {
      publicUrl: config.http.publicUrl,
      hostname: config.smtp.hostname,
      // The portal is made after the stage runner; notices are composed only once messages flow.
      branding: (tenantId) => portal.tenants.mailBranding(tenantId),
    },
    onRouted: () => delivery.signal.notify(),
  });

  const tls = await loadTlsMaterial({
    certFile: config.smtp.tlsCertFile,
    keyFile: config.smtp.tlsKeyFile,
    dataDir: config.dataDir,
    hostname: config.smtp.hostname,
  });
  const smtp = createSmtpListener({
    db,
    vault,
    directory,
    logger,
    metrics,
    hostname: config.smtp.hostname,
    tls,
    maxMessageBytes: config.smtp.maxMessageBytes,
    maxHeaderBytes: config.smtp.maxHeaderBytes,
    maxRecipients: config.smtp.maxRecipients,
    maxMessagesPerConnection: config.smtp.maxMessagesPerConnection,
    maxConnectionSeconds: config.smtp.maxConnectionSeconds,
    maxClients: config.smtp.maxClients,
    connectionLimits: {
      connectorReservedSlots: config.smtp.connectorReservedSlots,
      maxConnectionsPerAddress: config.smtp.maxConnectionsPerAddress,
      connectionsPerMinutePerAddress: config.smtp.connectionsPerMinutePerAddress,
      commandsPerMinutePerConnection: config.smtp.commandsPerMinutePerConnection,
      messagesPerMinutePerAddress: config.smtp.messagesPerMinutePerAddress,
    },
    idleSeconds: config.smtp.idleSeconds,
    dataIdleSeconds: config.smtp.dataIdleSeconds,
    onSpooled: (ids) => {
      intakePriority?.noteAccepted(ids.length);
      pipeline.signal.notify();
    },
    hooks: [absurdStructureHook(), ...gatewayGuardHooks(guardServices), ...(parts.smtpHooks ?? [])],
    // A sender whose portal storage is full hears so before the 250. The portal is made below; the hook
    // reads its settings only once mail arrives.
    connectorHooks: [senderQuotaHook({ db, directory, protectionModes, storedKeys, settings: (tenantId, q) => portal.tenants.settings(tenantId, q) })],
    // An embedding's own checks choose no policy per recipient; the tenants' policies do.
    inboundRecipientGroups: parts.guard ? undefined : (envelope) => policies.recipientGroups(envelope),
  });

  const portal = createPortal({
    db,
    vault,
    directory,
    logger,
    publicUrl: config.http.publicUrl,
    hostname: config.smtp.hostname,
    maxMessageBytes: config.smtp.maxMessageBytes,
    reading: config.portalReading,
    entra: { nonceKey: entraNonceKey(master.key), browserAuthority: config.entra.browserAuthority },
    // Notifications are stored already queued for delivery; replies and receipts go through the stages.
    onSpooled: () => {
      pipeline.signal.notify();
      delivery.signal.notify();
    },
    auditCheckpoints,
  });
  portal.opener.registerMetrics(metrics.registry);
  // What 'auto' and the previews know about recipients: the certificate and OpenPGP key stores.
  const directories = new DirectoryLookup();
  const recipientKeys = { smimeCertificates: certificateLookup(certificates, { lookup: directories, tenants: directory }), pgpKeys: pgpKeyLookup(pgpKeys) };
  // Where portal copies are stored: here, or on the portal's own host over the tunnel.
  const portalStorage: PortalStorage =
    tunnel?.role === 'gateway'
      ? new TunnelPortalStorage({ identity: tunnelIdentity!, peer: tunnel.peer, client, directory, hostname: config.smtp.hostname })
      : portal.copies;
  protectionModes.register(portalProtection(portalStorage));
  protectionModes.register(smimeProtection({ store: certificates, memberKeys, directory, directories }));
  // The password PDF is offered where a tenant turns it on (encryption.ways.pdf); its passwords are derived per
  // message and recipient, or told by the sender, sealed in a ticket the add-in API issues with the ticket key.
  const pdfTicketKey = passwordTicketKey(master.key);
  protectionModes.register(
    pdfProtection({
      portal: portalStorage,
      directory,
      maxMessageBytes: config.pdf.maxMessageBytes,
      passwordKey: createHmac('sha256', master.key).update('sealpost:pdf-password-key').digest(),
      ticketKey: pdfTicketKey,
    }),
  );
  protectionModes.register(pgpProtection({ store: pgpKeys, memberKeys: memberPgpKeys, directory, wkd: parts.wkd ?? new WkdLookup() }));
  protectionModes.register(autoProtection({ portal: portalStorage, directory, protectionModes, keys: recipientKeys }));
  const tunnelListener = tunnel
    ? createTunnelListener({
        identity: tunnelIdentity!,
        hostname: config.smtp.hostname,
        logger,
        // A message at the gateway's limit, base64-encoded twice (signed, then encrypted), with room for the seals.
        maxMessageBytes: Math.ceil(config.smtp.maxMessageBytes * 1.9) + 1024 * 1024,
        receive:
          tunnel.role === 'portal'
            ? portalCopyReceiver({ db, vault, directory, copies: portal.copies, onStored: () => delivery.signal.notify() })
            : portalMailReceiver({ db, vault, directory, onSpooled: () => delivery.signal.notify() }),
      })
    : undefined;
  for (const handler of parts.protectionModes ?? []) protectionModes.register(handler);
  const housekeeping = new HousekeepingWorker({
    db,
    vault,
    directory,
    tenants: portal.tenants,
    logger,
    publicUrl: config.http.publicUrl,
    hostname: config.smtp.hostname,
    onSpooled: () => pipeline.signal.notify(),
    intervalMs: config.housekeepingIntervalMs,
    // Soon after start, so expired content does not wait a whole interval after a restart.
    firstRunDelayMs: Math.min(config.housekeepingIntervalMs, 10_000),
  });

  let ready = false;
  // Known once the SMTP listener listens: the try page's Send goes to it from the demo's connector address.
  let smtpPort = 0;
  const smtpTarget = () => ({ host: reachableHost(config.smtp.host), port: smtpPort });
  const release = {
    db,
    vault,
    hostname: config.smtp.hostname,
    bounceLanguage,
    onReleased: () => {
      pipeline.signal.notify();
      delivery.signal.notify();
    },
  };
  const http = await createHttpApp({
    db,
    logger,
    metrics,
    isReady: () => ready,
    auditCheckpoints,
    release,
    guard: { db, directory, policies, guard, services: guardServices, release },
    certificates,
    memberKeys,
    pgp: { store: pgpKeys, memberKeys: memberPgpKeys },
    click: {
      clickLinks,
      directory,
      policies,
      ...(guardServices.linkFollower ? { follower: guardServices.linkFollower } : {}),
      followTimeoutMs: config.guard.linkFollowTimeoutMs,
    },
    metricsAccess: { token: config.metrics.token, onMainListener: config.metrics.port === undefined },
    portal,
    addin: {
      directory,
      protectionModes,
      entraAuthority: config.entra.authority,
      entraBrowserAuthority: config.entra.browserAuthority,
      publicUrl: config.http.publicUrl,
      gatewayHost: config.smtp.hostname,
      keys: recipientKeys,
      pdfTicketKey,
    },
    addinTry: config.addinTry && demo ? { signIns: new EvaluationSignIns(), smtpTarget } : undefined,
  });

  pipeline.start();
  delivery.start();
  housekeeping.start();
  auditCheckpointer.start();
  const refresher = setInterval(() => {
    directory.refresh().catch((error: unknown) => logger.warn({ err: error }, 'refreshing tenants failed'));
  }, 30_000);
  refresher.unref();

  let metricsHttp: Awaited<ReturnType<typeof createMetricsApp>> | undefined;
  let smtpListening = false;
  let tunnelListening = false;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      ready = false;
      clearInterval(refresher);
      if (smtpListening) await new Promise<void>((resolve) => smtp.close(() => resolve()));
      if (tunnelListening) await new Promise<void>((resolve) => tunnelListener!.close(() => resolve()));
      await pipeline.stop();
      await delivery.stop();
      await housekeeping.stop();
      await client.close();
      await http.close();
      await metricsHttp?.close();
      // After everything that writes audit entries (workers, portal requests), before the database closes:
      // the last entries get their checkpoint.
      await auditCheckpointer.stop();
      await database.close();
    })();
    return stopping;
  };

  try {
    // The portal on its own host takes no mail from the Internet or the tenants: only the tunnel.
    if (tunnel?.role !== 'portal') {
      await listenSmtp(smtp, config.smtp.port, config.smtp.host);
      smtpListening = true;
    }
    if (tunnelListener) {
      await listenSmtp(tunnelListener, tunnel!.port, tunnel!.host);
      tunnelListening = true;
    }
    await http.listen({ port: config.http.port, host: config.http.host });
    metricsHttp =
      config.metrics.port === undefined ? undefined : await createMetricsApp({ logger, metrics, token: config.metrics.token });
    if (metricsHttp) await metricsHttp.listen({ port: config.metrics.port, host: config.metrics.host });
  } catch (error) {
    // A listener that cannot start (a port in use) must not leave the workers and the other listeners
    // running: the caller names the setting and the process can end.
    await stop().catch((stopError: unknown) => logger.warn({ err: stopError }, 'stopping after a failed start failed'));
    throw error;
  }
  ready = true;

  smtpPort = smtpListening ? (smtp.server.address() as AddressInfo).port : 0;
  const tunnelPort = tunnelListening ? (tunnelListener!.server.address() as AddressInfo).port : undefined;
  const httpPort = (http.server.address() as AddressInfo).port;
  const metricsPort = metricsHttp ? (metricsHttp.server.address() as AddressInfo).port : undefined;

  return {
    config,
    database,
    directory,
    vault,
    metrics,
    pipeline,
    guard,
    policies,
    guardServices,
    certificates,
    memberKeys,
    pgpKeys,
    memberPgpKeys,
    delivery,
    smtp,
    http,
    portal,
    housekeeping,
    auditCheckpointer,
    auditCheckpoints,
    smtpPort,
    httpPort,
    metricsPort,
    ...(tunnelPort !== undefined ? { tunnelPort } : {}),
    demo,
    addinTryUrl: config.addinTry && demo ? `${config.http.publicUrl}${ADDIN_TRY_PAGE_PATH}` : undefined,
    masterKeyFile: master.generatedFile,
    auditSigningKeyFile: auditCheckpoints.signingKey.generatedFile,
    selfSignedTls: tls.selfSigned,
    stop,
  };
}

function listenSmtp(server: SMTPServer, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The SMTP listener's address as seen from this machine: a wildcard listener is reached on loopback. */
function reachableHost(listenHost: string): string {
  return listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '' ? '127.0.0.1' : listenHost;
}
