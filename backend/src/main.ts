/** Starts Sealpost: `npm start`. Configuration comes from the environment (see backend/src/config.ts). */
import { ConfigurationError, loadConfig } from './config.ts';
import { startGateway } from './gateway.ts';
import { createLogger } from './logger.ts';
import { explainStartFailure } from './start-failure.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigurationError) {
      process.stderr.write(`Sealpost cannot start.\n${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  let gateway;
  try {
    gateway = await startGateway(config, logger);
  } catch (error) {
    const explanation = explainStartFailure(error, config);
    if (!explanation) throw error;
    process.stderr.write(`Sealpost cannot start.\n${explanation}\n`);
    process.exit(2);
  }

  if (gateway.masterKeyFile) {
    logger.warn(
      { file: gateway.masterKeyFile },
      'using a master key generated into the data folder; production needs a managed key in SEALPOST_MASTER_KEY',
    );
  }
  if (gateway.auditSigningKeyFile) {
    logger.warn(
      { file: gateway.auditSigningKeyFile },
      'audit checkpoints are signed with a key generated into the data folder; production needs a key kept elsewhere in SEALPOST_AUDIT_SIGNING_KEY_FILE',
    );
  }
  if (gateway.selfSignedTls) {
    logger.warn('STARTTLS uses a self-signed certificate; set SEALPOST_TLS_CERT and SEALPOST_TLS_KEY for production');
  }
  logger.info(
    { smtpPort: gateway.smtpPort, httpPort: gateway.httpPort, database: gateway.database.kind, dataDir: config.dataDir },
    'Sealpost is running',
  );
  if (gateway.demo) {
    const { domain, mailboxFolder, apiToken } = gateway.demo;
    const lines = [
      '',
      'Sealpost runs with a demo tenant (no SEALPOST_CONFIG was given).',
      `  Send a first message:   swaks --server 127.0.0.1:${gateway.smtpPort} --from someone@example.org --to alice@${domain}`,
      `  Then look at:           ${mailboxFolder}/alice@${domain}/   (from this machine it arrives from the Internet)`,
      `  As the tenant's Exchange (127.0.0.2), to the portal:`,
      `                          swaks --server 127.0.0.1:${gateway.smtpPort} --local-interface 127.0.0.2 --from admin@${domain} --to client@example.org --header 'X-Sealpost-Encrypt: portal'`,
      `  List messages (API):    curl -H "Authorization: Bearer <token>" http://127.0.0.1:${gateway.httpPort}/api/admin/messages`,
      `  Portal:                 ${config.http.publicUrl}/portal/   (members sign in there, recipients open their links)`,
      `  Outlook add-in:         ${config.http.publicUrl}/addin/manifest.xml`,
      ...(gateway.addinTryUrl
        ? [`  Try the task pane:      ${gateway.addinTryUrl}   (in a browser on this machine; no Entra ID, demo only; SEALPOST_ADDIN_TRY=off turns it off)`]
        : []),
      apiToken
        ? `  Demo API token:         ${apiToken}   (shown once; it is stored hashed)`
        : '  Demo API token:         shown when the demo tenant was created; a new one: npm run api-token -- --tenant Demo',
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'stopping');
    gateway.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`Sealpost failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
