/**
 * The SMTP listener: one port, STARTTLS, SIZE, 8BITMIME, SMTPUTF8, PIPELINING, enhanced status codes.
 * It decides who is speaking (a tenant connector or the Internet), refuses relaying and smuggling,
 * and answers 250 only after the message is spooled durably.
 */
import { randomUUID } from 'node:crypto';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import type { Database } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { headerValue, isSpamVerdictHeader, rewriteHeaders, splitMessage, type SplitMessage } from '../mail/header-block.ts';
import { intakeHeaderLimits, smtpReplyForHeaderRefusal } from '../mail/header-section.ts';
import { classifyStorageError } from '../db/storage-errors.ts';
import { isSealpostHeader } from '../../../common/src/headers.ts';
import type { ConnectorInfo, TenantDirectory, TenantInfo } from '../tenants/tenant-directory.ts';
import { verifyPassword } from '../tenants/secrets.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { addressForReply, checkAddressSyntax } from '../mail/address-syntax.ts';
import { ConnectionLimits, type ConnectionLimitSettings, type ConnectionTicket, type Refusal } from './connection-limits.ts';
import { startSessionTimeouts } from './session-timeouts.ts';
import { adjustSmtpServer, hadSourceRoute, setCommandHook, smtpError } from './smtp-server-adjustments.ts';
import { readMessageData } from './message-intake.ts';
import { receivedHeader } from '../mail/received-header.ts';
import { SmtpHooks, type SmtpHook, type SmtpHookFinding, type SmtpHookOutcome, type SmtpHookSession } from './smtp-hooks.ts';
import { SpoolWriter, type SpoolRequest } from '../messages/spool.ts';

export interface SmtpListenerOptions {
  db: Database;
  vault: KeyVault;
  directory: TenantDirectory;
  logger: Logger;
  metrics: GatewayMetrics;
  hostname: string;
  tls: { cert: Buffer; key: Buffer };
  maxMessageBytes: number;
  /** SEALPOST_MAX_HEADER_BYTES: a larger header section is refused, never cut (header-section.ts). */
  maxHeaderBytes: number;
  maxRecipients: number;
  maxMessagesPerConnection: number;
  maxConnectionSeconds: number;
  maxClients: number;
  /** Per-address limits for Internet clients and the slots reserved for connectors (connection-limits.ts). */
  connectionLimits: Omit<ConnectionLimitSettings, 'maxClients'>;
  /** Seconds a client may take for its next complete command, and without message data in DATA. */
  idleSeconds: number;
  dataIdleSeconds: number;
  /** Called after messages were spooled, so the pipeline can start at once. */
  onSpooled: (messageIds: string[]) => void;
  /**
   * SMTP-time hooks (smtp-hooks.ts), run in this order for Internet clients before each reply; a refusal
   * is sent instead of the 2xx, findings travel with the message into its trace.
   */
  hooks?: readonly SmtpHook[];
  /**
   * Hooks run for a tenant's connector only (at RCPT and at the end of DATA), with the tenant's id in
   * their session: outbound checks that can refuse before the 250 instead of bouncing after it.
   */
  connectorHooks?: readonly SmtpHook[];
  /**
   * Splits one tenant's recipients of an Internet message into groups that are decided alike (one
   * inbound policy each): each group becomes a message of its own, with its own verdict, as a message
   * to two recipients whose policies differ must not take the stricter or the laxer for both.
   */
  inboundRecipientGroups?: (envelope: { tenantId: string; mailFrom: string; recipients: string[] }) => Promise<string[][]>;
}

/** Who is sending this transaction. */
type Sender =
  | { kind: 'connector'; tenant: TenantInfo; connector: ConnectorInfo }
  | { kind: 'internet' };

interface ConnectionState {
  connectedAt: number;
  messages: number;
  ipConnectors: ConnectorInfo[];
  authConnector?: ConnectorInfo;
  sender?: Sender;
  /** The slot this connection holds; undefined until admitted, and for a refused connection. */
  ticket?: ConnectionTicket;
  /** Findings of SMTP-time hooks: at connect (for every message on the connection), and in this transaction. */
  connectFindings: SmtpHookFinding[];
  transactionFindings: SmtpHookFinding[];
}

export function createSmtpListener(options: SmtpListenerOptions): SMTPServer {
  adjustSmtpServer();
  const { directory, logger, metrics } = options;
  // Messages of concurrent sessions commit together (group commit); each still gets its 250 only once committed.
  const spooler = new SpoolWriter(options.db, options.vault);
  const states = new Map<string, ConnectionState>();
  const stateOf = (session: SMTPServerSession): ConnectionState => {
    let state = states.get(session.id);
    if (!state) {
      state = {
        connectedAt: Date.now(),
        messages: 0,
        ipConnectors: directory.connectorsForAddress(session.remoteAddress),
        connectFindings: [],
        transactionFindings: [],
      };
      states.set(session.id, state);
    }
    return state;
  };

  const limits = new ConnectionLimits({ ...options.connectionLimits, maxClients: options.maxClients });
  const hooks = new SmtpHooks(options.hooks ?? [], logger);
  const connectorHooks = new SmtpHooks(options.connectorHooks ?? [], logger);
  /** A hook's refusal as the reply smtp-server sends, counted and logged with the hook's name. */
  const hookRefusal = (session: SMTPServerSession, phase: string, outcome: SmtpHookOutcome) => {
    const refusal = outcome.refuse!;
    metrics.rejected.inc({ reason: 'smtp_hook' });
    logger.info(
      { session: session.id, address: session.remoteAddress, hook: refusal.hook, phase, code: refusal.code, enhanced: refusal.enhanced },
      'SMTP hook refused',
    );
    return smtpError(refusal.code, refusal.enhanced, refusal.message);
  };
  const showConnections = () => {
    const current = limits.current();
    metrics.smtpConnections.set({ kind: 'connector' }, current.connector);
    metrics.smtpConnections.set({ kind: 'internet' }, current.internet);
  };
  showConnections();
  const configured: Record<string, number> = {
    max_clients: options.maxClients,
    internet_slots: limits.internetSlots,
    ...snakeCased(options.connectionLimits),
    idle_seconds: options.idleSeconds,
    data_idle_seconds: options.dataIdleSeconds,
    max_connection_seconds: options.maxConnectionSeconds,
  };
  for (const [limit, value] of Object.entries(configured)) metrics.smtpLimits.set({ limit }, value);
  // A flood is refused thousands of times a second: the counter takes every refusal, the log one line per
  // reason every 10 seconds (with the count it stands for), so the log cannot be flooded through us.
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  const refuse = (session: SMTPServerSession, refusal: Refusal) => {
    metrics.smtpRefused.inc({ reason: refusal.reason });
    const now = Date.now();
    const last = lastLogged.get(refusal.reason);
    if (last && now - last.at < 10_000) {
      last.suppressed += 1;
      return;
    }
    lastLogged.set(refusal.reason, { at: now, suppressed: 0 });
    logger.info(
      { session: session.id, address: session.remoteAddress, reason: refusal.reason, alsoRefusedSinceLastLine: last?.suppressed ?? 0 },
      'SMTP client refused by a connection limit',
    );
  };

  const server: SMTPServer = new SMTPServer({
    name: options.hostname,
    banner: 'Sealpost ESMTP',
    key: options.tls.key,
    cert: options.tls.cert,
    size: options.maxMessageBytes,
    authOptional: true,
    // AUTH is offered only after STARTTLS, and only when some connector signs in with a password.
    allowInsecureAuth: false,
    disabledCommands: directory.hasSmtpAuthConnectors ? [] : ['AUTH'],
    authMethods: ['PLAIN', 'LOGIN'],
    hideSTARTTLS: false,
    hide8BITMIME: false,
    hideSMTPUTF8: false,
    hidePIPELINING: false,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: true,
    hideREQUIRETLS: true,
    disableReverseLookup: true,
    // The slots are counted in onConnect (connection-limits.ts): smtp-server's own maxClients would turn a
    // tenant connector away like anyone else once Internet clients hold every slot.
    maxClients: 0,
    // A backstop only: session-timeouts.ts closes idle connections first, with a reason.
    socketTimeout: (Math.max(options.idleSeconds, options.dataIdleSeconds) + 30) * 1000,
    closeTimeout: 10_000,
    logger: false,

    onConnect(session, callback) {
      const state = stateOf(session);
      const admission = limits.admit(session.remoteAddress, state.ipConnectors.length > 0 ? 'connector' : 'internet');
      if (!admission.admitted) {
        refuse(session, admission.refusal);
        const { responseCode, enhancedCode, text } = admission.refusal;
        return callback(smtpError(responseCode, enhancedCode, text));
      }
      state.ticket = admission.ticket;
      showConnections();
      timeouts.watch(session.id);
      // Connectors are known by address here; one that signs in later passes these hooks like the Internet.
      if (state.ipConnectors.length > 0 || !hooks.has('connect')) return callback();
      hooks.run('connect', hookSession(session)).then(
        (outcome) => {
          state.connectFindings.push(...outcome.findings);
          callback(outcome.refuse ? hookRefusal(session, 'connect', outcome) : undefined);
        },
        (error: unknown) => callback(error as Error),
      );
    },

    onClose(session) {
      const state = states.get(session.id);
      if (state?.ticket) {
        limits.release(state.ticket);
        showConnections();
      }
      timeouts.forget(session.id);
      states.delete(session.id);
    },

    onAuth(auth, session, callback) {
      const connector = auth.username ? directory.connectorForSmtpUser(String(auth.username)) : undefined;
      const fail = () => callback(smtpError(535, '5.7.8', 'Authentication credentials invalid'));
      if (!connector?.smtpAuthPasswordHash || typeof auth.password !== 'string') return fail();
      verifyPassword(auth.password, connector.smtpAuthPasswordHash).then(
        (ok) => {
          if (!ok) return fail();
          const state = stateOf(session);
          state.authConnector = connector;
          // Signed in as a connector: from now on it counts as one (see connection-limits.ts).
          if (state.ticket) {
            limits.promoteToConnector(state.ticket);
            showConnections();
          }
          callback(null, { user: connector.id });
        },
        () => fail(),
      );
    },

    onMailFrom(address, session, callback) {
      const state = stateOf(session);
      if (state.messages >= options.maxMessagesPerConnection) {
        return callback(smtpError(421, '4.7.0', 'Too many messages on one connection; please reconnect to send more'));
      }
      const mailFrom = address.address;
      // The null reverse-path <> is how bounces are sent, so it is a valid sender.
      const syntax = checkAddressSyntax(mailFrom, { sourceRoute: hadSourceRoute(address), nullPathAllowed: true });
      if (!syntax.valid) {
        return callback(smtpError(553, '5.1.7', `Sender address <${addressForReply(mailFrom)}> is not a valid address: ${syntax.problem}`));
      }
      state.sender = identifySender(state, mailFrom, directory);
      state.transactionFindings = [];
      if (state.sender.kind !== 'internet' || !hooks.has('mailFrom')) return callback();
      hooks.run('mailFrom', { ...hookSession(session), mailFrom }, mailFrom).then(
        (outcome) => {
          state.transactionFindings.push(...outcome.findings);
          callback(outcome.refuse ? hookRefusal(session, 'mailFrom', outcome) : undefined);
        },
        (error: unknown) => callback(error as Error),
      );
    },

    onRcptTo(address, session, callback) {
      const state = stateOf(session);
      const recipient = address.address;
      const syntax = checkAddressSyntax(recipient, { sourceRoute: hadSourceRoute(address) });
      if (!syntax.valid) {
        return callback(smtpError(553, '5.1.3', `Recipient address <${addressForReply(recipient)}> is not a valid address: ${syntax.problem}`));
      }
      if (session.envelope.rcptTo.length >= options.maxRecipients) {
        metrics.rejected.inc({ reason: 'too_many_recipients' });
        return callback(smtpError(452, '4.5.3', `Too many recipients; at most ${options.maxRecipients} per message`));
      }
      const sender = state.sender ?? { kind: 'internet' };
      if (sender.kind === 'internet' && !directory.tenantForAddress(recipient)) {
        metrics.rejected.inc({ reason: 'relay_denied' });
        const domain = recipient.slice(recipient.lastIndexOf('@') + 1);
        return callback(smtpError(550, '5.7.1', `Relaying denied: this gateway does not accept mail for ${domain}`));
      }
      if (sender.kind === 'connector') {
        if (!connectorHooks.has('rcptTo')) return callback();
        connectorHooks.run('rcptTo', { ...hookSession(session), tenantId: sender.tenant.id }, recipient).then(
          (outcome) => {
            state.transactionFindings.push(...outcome.findings);
            callback(outcome.refuse ? hookRefusal(session, 'rcptTo', outcome) : undefined);
          },
          (error: unknown) => callback(error as Error),
        );
        return;
      }
      if (!hooks.has('rcptTo')) return callback();
      hooks.run('rcptTo', hookSession(session), recipient).then(
        (outcome) => {
          state.transactionFindings.push(...outcome.findings);
          callback(outcome.refuse ? hookRefusal(session, 'rcptTo', outcome) : undefined);
        },
        (error: unknown) => callback(error as Error),
      );
    },

    onData(stream, session, callback) {
      const endOfDataAt = { at: 0 };
      stream.once('end', () => {
        endOfDataAt.at = performance.now();
      });
      const headerLimits = intakeHeaderLimits(options.maxHeaderBytes);
      readMessageData(stream, options.maxMessageBytes, headerLimits)
        .then(async (intake) => {
          if (intake.outcome === 'too_large') {
            metrics.rejected.inc({ reason: 'too_large' });
            throw smtpError(552, '5.3.4', `Message too big: the limit is ${options.maxMessageBytes} bytes`);
          }
          if (intake.outcome === 'bare_line_ending') {
            metrics.rejected.inc({ reason: 'bare_line_ending' });
            throw smtpError(
              550,
              '5.6.0',
              `Message refused: bare ${intake.kind} at byte ${intake.offset}; lines must end with CRLF (RFC 5321 2.3.8)`,
            );
          }
          if (intake.outcome === 'header_refused') {
            metrics.rejected.inc({ reason: intake.refusal.outcome });
            const reply = smtpReplyForHeaderRefusal(intake.refusal);
            throw smtpError(reply.code, reply.enhanced, reply.text);
          }
          const state = stateOf(session);
          // The intake checked the same limits while reading; splitting cannot refuse now, but if it ever did
          // the message is refused rather than spooled with fields unread.
          const message = splitMessage(intake.data, headerLimits);
          if (message.outcome !== 'split') {
            const reply = smtpReplyForHeaderRefusal(message);
            throw smtpError(reply.code, reply.enhanced, reply.text);
          }
          const findings = [...state.connectFindings, ...state.transactionFindings];
          const sender = state.sender ?? { kind: 'internet' };
          if (sender.kind === 'internet' && hooks.has('dataEnd')) {
            const outcome = await hooks.run('dataEnd', hookSession(session), { raw: intake.data, header: message });
            if (outcome.refuse) throw hookRefusal(session, 'dataEnd', outcome);
            findings.push(...outcome.findings);
          }
          if (sender.kind === 'connector' && connectorHooks.has('dataEnd')) {
            const outcome = await connectorHooks.run('dataEnd', { ...hookSession(session), tenantId: sender.tenant.id }, { raw: intake.data, header: message });
            if (outcome.refuse) throw hookRefusal(session, 'dataEnd', outcome);
            findings.push(...outcome.findings);
          }
          const requests = await buildSpoolRequests(session, state, message, options, findings);
          try {
            await spooler.spool(requests);
          } catch (error) {
            // Data the database refuses will be refused on every retry: say so with a 5xx instead of
            // having the sender retry for days.
            const failure = classifyStorageError(error);
            if (failure.kind === 'permanent') {
              metrics.rejected.inc({ reason: 'unstorable' });
              logger.warn({ err: error, session: session.id, sqlState: failure.code }, 'message refused: the database refuses its data');
              throw smtpError(554, '5.6.0', `Message refused: ${failure.reason}; sending it again will not help`);
            }
            logger.error({ err: error, session: session.id, sqlState: failure.code }, 'spooling failed; the client is asked to retry');
            throw smtpError(451, '4.3.0', 'Temporary failure storing the message; please try again later');
          }
          state.messages += 1;
          for (const request of requests) {
            metrics.received.inc({ direction: request.direction });
            logger.info(
              { messageId: request.id, direction: request.direction, tenantId: request.tenantId, size: request.raw.length },
              'message accepted',
            );
          }
          if (endOfDataAt.at) metrics.acceptSeconds.observe((performance.now() - endOfDataAt.at) / 1000);
          options.onSpooled(requests.map((r) => r.id));
          callback(null, `2.6.0 Ok: queued as ${requests.map((r) => r.id).join(', ')}`);
        })
        .catch((error: unknown) => {
          stream.resume();
          if (error && typeof error === 'object' && 'responseCode' in error) return callback(error as unknown as Error);
          logger.error({ err: error, session: session.id }, 'message intake failed');
          callback(smtpError(451, '4.3.0', 'Temporary failure processing the message; please try again later'));
        });
    },
  });

  const timeouts = startSessionTimeouts(
    server,
    { idleSeconds: options.idleSeconds, dataIdleSeconds: options.dataIdleSeconds, maxConnectionSeconds: options.maxConnectionSeconds },
    (sessionId, phase) => {
      metrics.smtpTimeouts.inc({ phase });
      logger.info({ session: sessionId, phase }, 'SMTP connection closed for lack of progress');
    },
  );
  setCommandHook(server, (session, command) => {
    const state = states.get(session.id);
    if (!state?.ticket) return undefined;
    timeouts.noteCommand(session.id);
    const refusal =
      limits.onCommand(state.ticket) ??
      (command.name === 'MAIL' && !command.continuation ? limits.onMessage(state.ticket) : undefined);
    if (!refusal) return undefined;
    refuse(session, refusal);
    return { responseCode: refusal.responseCode, text: `${refusal.enhancedCode} ${refusal.text}` };
  });
  server.on('close', () => timeouts.stop());
  server.on('error', (error: Error & { syscall?: string }) => {
    // A listen failure is the start's to report, with the setting to change; the rest are one client's problem.
    if (error.syscall === 'listen') return;
    logger.warn({ err: error }, 'SMTP connection error');
  });
  return server;
}

function snakeCased(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), value]));
}

function identifySender(state: ConnectionState, mailFrom: string, directory: TenantDirectory): Sender {
  const fromConnector = (connector: ConnectorInfo): Sender | undefined => {
    const tenant = directory.tenantById(connector.tenantId);
    return tenant ? { kind: 'connector', tenant, connector } : undefined;
  };
  if (state.authConnector) return fromConnector(state.authConnector) ?? { kind: 'internet' };
  if (state.ipConnectors.length === 0) return { kind: 'internet' };
  // Several tenants may share a sending platform's addresses: the sender's domain picks the tenant.
  const senderTenant = mailFrom ? directory.tenantForAddress(mailFrom) : undefined;
  const byDomain = senderTenant && state.ipConnectors.find((c) => c.tenantId === senderTenant.id);
  if (byDomain) return fromConnector(byDomain) ?? { kind: 'internet' };
  const tenantIds = new Set(state.ipConnectors.map((c) => c.tenantId));
  if (tenantIds.size === 1) return fromConnector(state.ipConnectors[0]!) ?? { kind: 'internet' };
  return { kind: 'internet' };
}

/** What a hook may know of the conversation: the client and the transaction so far. */
function hookSession(session: SMTPServerSession): SmtpHookSession {
  const mailFrom = session.envelope.mailFrom ? (session.envelope.mailFrom as SMTPServerAddress).address : undefined;
  const sizeArgument = session.envelope.mailFrom ? ((session.envelope.mailFrom as SMTPServerAddress).args || undefined)?.SIZE : undefined;
  const declaredSize = typeof sizeArgument === 'string' && /^\d{1,15}$/.test(sizeArgument) ? Number(sizeArgument) : undefined;
  return {
    id: session.id,
    remoteAddress: session.remoteAddress,
    helo: session.hostNameAppearsAs || undefined,
    tls: Boolean(session.secure),
    mailFrom,
    recipients: session.envelope.rcptTo.map((r) => r.address),
    ...(declaredSize !== undefined ? { declaredSize } : {}),
  };
}

async function buildSpoolRequests(
  session: SMTPServerSession,
  state: ConnectionState,
  message: SplitMessage,
  options: SmtpListenerOptions,
  smtpFindings: SmtpHookFinding[],
): Promise<SpoolRequest[]> {
  const sender: Sender = state.sender ?? { kind: 'internet' };
  const mailFrom = session.envelope.mailFrom ? (session.envelope.mailFrom as SMTPServerAddress).address : '';
  const allRecipients = session.envelope.rcptTo.map((r) => r.address);
  const tlsInfo = session.secure ? tlsDetails(session) : undefined;

  // Internet mail: every control header, and every verdict header only the gateway may write, is removed
  // before anything reads the message.
  const gatewayOnly = (name: string) => isSealpostHeader(name) || isSpamVerdictHeader(name);
  const spoofed = sender.kind === 'internet' ? message.fields.filter((f) => gatewayOnly(f.name)).map((f) => f.name) : [];

  const groups = new Map<string, string[]>();
  if (sender.kind === 'connector') {
    groups.set(sender.tenant.id, allRecipients);
  } else {
    for (const recipient of allRecipients) {
      const tenant = options.directory.tenantForAddress(recipient);
      if (!tenant) continue;
      const list = groups.get(tenant.id) ?? [];
      list.push(recipient);
      groups.set(tenant.id, list);
    }
  }

  const split = sender.kind === 'internet' ? options.inboundRecipientGroups : undefined;
  const envelopes: Array<{ tenantId: string; recipients: string[]; splitFrom?: string[] }> = [];
  for (const [tenantId, tenantRecipients] of groups) {
    const parts = split && tenantRecipients.length > 1 ? await split({ tenantId, mailFrom, recipients: tenantRecipients }) : [tenantRecipients];
    for (const recipients of parts) {
      if (recipients.length > 0) envelopes.push({ tenantId, recipients, ...(parts.length > 1 ? { splitFrom: tenantRecipients } : {}) });
    }
  }
  const messageIdHeader = headerValue(message.fields, 'message-id');
  const at = new Date();
  return envelopes.map(({ tenantId, recipients: groupRecipients, splitFrom }) => {
    const id = randomUUID();
    const received = receivedHeader({
      helo: session.hostNameAppearsAs,
      clientHostname: session.clientHostname,
      clientAddress: session.remoteAddress,
      byHost: options.hostname,
      tls: tlsInfo,
      authenticated: Boolean(state.authConnector),
      queueId: id,
      recipient: groupRecipients.length === 1 ? groupRecipients[0] : undefined,
      at,
    });
    const raw = rewriteHeaders(message, {
      prepend: [received],
      remove: sender.kind === 'internet' ? gatewayOnly : undefined,
    });
    return {
      id,
      tenantId,
      direction: sender.kind === 'connector' ? 'outbound' : 'inbound',
      mailFrom,
      recipients: groupRecipients,
      clientAddress: session.remoteAddress,
      clientHelo: session.hostNameAppearsAs,
      tls: Boolean(session.secure),
      connectorName: sender.kind === 'connector' ? sender.connector.name : undefined,
      raw,
      messageIdHeader,
      traceDetail: {
        tlsProtocol: tlsInfo?.protocol,
        authenticated: Boolean(state.authConnector),
        removedControlHeaders: spoofed.length > 0 ? spoofed : undefined,
        smtpFindings: smtpFindings.length > 0 ? smtpFindings : undefined,
        // The recipients of the SMTP transaction, when their policies differ and the message was split.
        splitByPolicy: splitFrom,
      },
      received: { helo: session.hostNameAppearsAs, ...(smtpFindings.length > 0 ? { smtpFindings } : {}) },
    } satisfies SpoolRequest;
  });
}

function tlsDetails(session: SMTPServerSession): { protocol?: string; cipher?: string } {
  const info = session as unknown as { tlsOptions?: { name?: string; version?: string; standardName?: string } };
  const options = info.tlsOptions;
  return { protocol: options?.version, cipher: options?.standardName ?? options?.name };
}

