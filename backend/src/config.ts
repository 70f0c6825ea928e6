/**
 * Configuration, read once at start-up. Nothing else reads process.env.
 * An invalid value stops the start with a message that names the variable.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEFAULT_MAX_HEADER_BYTES, MAX_CONFIGURABLE_HEADER_BYTES } from './mail/header-section.ts';
import { withoutTrailingSlashes } from '../../common/src/trailing-slashes.ts';
import { colourProblem, normaliseColour, resolveLogo } from './tenants/branding.ts';
import { guardSectionSchema, ipRuleProblem } from './guard-policy-settings.ts';

export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const smtpUrl = z
  .string()
  .regex(/^(smtp|smtps):\/\/[^\s/:]+(:\d+)?\/?$/, 'must look like smtp://host:port or smtps://host:port');
const mailServerUrl = z
  .string()
  .regex(
    /^((smtp|smtps):\/\/[^\s/:]+(:\d+)?\/?|mailbox:.+)$/,
    'must look like smtp://host:port, smtps://host:port or mailbox:<folder>',
  );

const environmentSchema = z.object({
  SEALPOST_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  SEALPOST_DATABASE_POOL_SIZE: positiveInt.default(20),
  SEALPOST_SMTP_HOST: z.string().min(1).default('0.0.0.0'),
  SEALPOST_SMTP_PORT: port.default(2525),
  SEALPOST_HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  SEALPOST_HTTP_PORT: port.default(8080),
  SEALPOST_PUBLIC_URL: z.string().url('must be an absolute URL such as https://mail.example.com').optional(),
  SEALPOST_HOSTNAME: z.string().regex(/^[A-Za-z0-9.-]+$/, 'must be a host name').optional(),
  SEALPOST_RELAY: smtpUrl.optional(),
  /** The operator's GeoIP database (MaxMind mmdb format, a Country or City database) for country rules. */
  SEALPOST_GEOIP_DB: z.string().min(1).optional(),
  /**
   * DNS servers for sender authentication (SPF, DKIM, DMARC, ARC), as host or host:port, comma-separated;
   * the system's resolvers otherwise.
   */
  SEALPOST_DNS_SERVERS: z
    .string()
    .max(2000)
    // Split, then each entry checked on its own: no pattern over the whole list.
    .refine((list) => list.split(',').every((entry) => /^[^\s,]+$/.test(entry.trim())), 'must be a comma-separated list of host or host:port')
    .optional(),
  /** How long one DNS question of sender authentication may take before it counts as a temporary error. */
  SEALPOST_DNS_TIMEOUT_MS: positiveInt.default(2000),
  /** How long following one link (all its redirects) may take, for policies that follow links. */
  SEALPOST_LINK_FOLLOW_TIMEOUT_MS: positiveInt.default(3000),
  /**
   * Addresses or CIDR ranges that link following may reach although they are not public, comma-separated.
   * For tests with servers on loopback; empty in production, where only public addresses are followed.
   */
  SEALPOST_LINK_FOLLOW_ALLOW: z
    .string()
    .max(2000)
    .refine((list) => list.split(',').every((entry) => ipRuleProblem(entry.trim()) === undefined), 'must be a comma-separated list of addresses or CIDR ranges')
    .optional(),
  /**
   * Senders first: while a burst of mail arrives, the checks and deliveries behind it take a fifth of the
   * gateway's time until the oldest waiting message is this many seconds old. 0 turns it off.
   */
  SEALPOST_BURST_BACKLOG_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
  SEALPOST_MASTER_KEY: z.string().optional(),
  SEALPOST_TLS_CERT: z.string().optional(),
  SEALPOST_TLS_KEY: z.string().optional(),
  SEALPOST_CONFIG: z.string().optional(),
  SEALPOST_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SEALPOST_MAX_MESSAGE_BYTES: positiveInt.default(50 * 1024 * 1024),
  /** The largest message the password PDF takes; a larger one is held with the reason. */
  SEALPOST_PDF_MAX_MESSAGE_BYTES: positiveInt.default(50 * 1024 * 1024),
  SEALPOST_MAX_HEADER_BYTES: positiveInt
    .min(4096, 'must be at least 4096 bytes')
    .max(MAX_CONFIGURABLE_HEADER_BYTES, `must be at most ${MAX_CONFIGURABLE_HEADER_BYTES} bytes`)
    .default(DEFAULT_MAX_HEADER_BYTES),
  SEALPOST_MAX_RECIPIENTS: positiveInt.default(500),
  SEALPOST_MAX_MESSAGES_PER_CONNECTION: positiveInt.default(1000),
  SEALPOST_MAX_CONNECTION_SECONDS: positiveInt.default(1800),
  SEALPOST_MAX_CLIENTS: positiveInt.default(2000),
  // Per-address limits apply to Internet clients only; tenant connectors are limited by the total alone.
  // Default: a tenth of SEALPOST_MAX_CLIENTS (see loadConfig), so a smaller total never makes the start fail.
  SEALPOST_SMTP_CONNECTOR_RESERVED_SLOTS: z.coerce.number().int().min(0).optional(),
  SEALPOST_SMTP_MAX_CONNECTIONS_PER_ADDRESS: positiveInt.default(20),
  SEALPOST_SMTP_CONNECTIONS_PER_MINUTE_PER_ADDRESS: positiveInt.default(120),
  // A message to the recipient limit (500) takes about 500 commands, so one of those a minute must fit.
  SEALPOST_SMTP_COMMANDS_PER_MINUTE_PER_CONNECTION: positiveInt.default(1000),
  SEALPOST_SMTP_MESSAGES_PER_MINUTE_PER_ADDRESS: positiveInt.default(300),
  SEALPOST_SMTP_IDLE_SECONDS: positiveInt.default(60),
  SEALPOST_SMTP_DATA_IDLE_SECONDS: positiveInt.default(120),
  SEALPOST_MAX_QUEUE_AGE_HOURS: z.coerce.number().positive().default(120),
  SEALPOST_RETRY_FIRST_SECONDS: z.coerce.number().positive().default(60),
  SEALPOST_RETRY_MAX_SECONDS: z.coerce.number().positive().default(3600),
  SEALPOST_HELD_RETRY_SECONDS: z.coerce.number().positive().default(300),
  SEALPOST_WORKER_POLL_MS: positiveInt.default(1000),
  SEALPOST_DELIVERY_CONCURRENCY: positiveInt.default(50),
  SEALPOST_DELIVERY_LEASE_SECONDS: positiveInt.default(60),
  SEALPOST_HOUSEKEEPING_SECONDS: positiveInt.default(300),
  SEALPOST_AUDIT_KEY: z.string().optional(),
  SEALPOST_AUDIT_SIGNING_KEY_FILE: z.string().min(1).optional(),
  SEALPOST_AUDIT_CHECKPOINT_FILE: z.string().min(1).optional(),
  SEALPOST_AUDIT_CHECKPOINT_SECONDS: positiveInt.default(60),
  SEALPOST_AUDIT_CHECKPOINT_ENTRIES: positiveInt.default(100),
  SEALPOST_METRICS_TOKEN: z.string().min(24, 'must be at least 24 characters').max(512).regex(/^\S+$/, 'must not contain spaces').optional(),
  SEALPOST_METRICS_PORT: port.optional(),
  SEALPOST_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  SEALPOST_PORTAL_OPEN_CONCURRENCY: positiveInt.default(2),
  SEALPOST_PORTAL_OPEN_QUEUE: z.coerce.number().int().min(0).default(16),
  SEALPOST_PORTAL_CACHE_MB: positiveInt.default(64),
  SEALPOST_PORTAL_CACHE_SECONDS: positiveInt.default(300),
  SEALPOST_ADDIN_TRY: z.enum(['on', 'off'], { message: 'must be "on" or "off"' }).optional(),
  /**
   * The portal on its own host: `gateway` hands portal copies over the S/MIME tunnel to the portal host;
   * `portal` is that host (portal and tunnel, no public SMTP listener). Unset: both in one process.
   */
  SEALPOST_TUNNEL_ROLE: z.enum(['gateway', 'portal'], { message: 'must be "gateway" or "portal"' }).optional(),
  /** This side's tunnel certificate and private key (PEM files). */
  SEALPOST_TUNNEL_CERT: z.string().min(1).optional(),
  SEALPOST_TUNNEL_KEY: z.string().min(1).optional(),
  /** The other side's tunnel certificate (PEM file): the only signer this side accepts. */
  SEALPOST_TUNNEL_PEER_CERT: z.string().min(1).optional(),
  /** The other side's tunnel listener. */
  SEALPOST_TUNNEL_PEER: smtpUrl.optional(),
  /** Where this side's tunnel listener listens. */
  SEALPOST_TUNNEL_HOST: z.string().min(1).default('127.0.0.1'),
  SEALPOST_TUNNEL_PORT: port.default(2526),
  NODE_ENV: z.string().optional(),
  SEALPOST_ENTRA_AUTHORITY: z.string().url('must be an absolute URL such as https://login.microsoftonline.com').default('https://login.microsoftonline.com'),
  /**
   * The authority the portal's sign-in page sends browsers to, when it is not SEALPOST_ENTRA_AUTHORITY itself:
   * a gateway that reaches the issuer by another name (a test's loopback issuer, an egress proxy). MSAL in the
   * browser accepts only https authorities.
   */
  SEALPOST_ENTRA_BROWSER_AUTHORITY: z.string().url('must be an absolute https URL such as https://login.microsoftonline.com').startsWith('https://', 'must be an https URL: MSAL in the browser refuses any other').optional(),
});

const connectorSchema = z
  .strictObject({
    name: z.string().min(1),
    ips: z.array(z.string().min(1)).default([]),
    smtpAuth: z.strictObject({ user: z.string().min(1), passwordHash: z.string().min(1) }).optional(),
  })
  .refine((c) => c.ips.length > 0 || c.smtpAuth, { message: 'a connector needs ips or smtpAuth' });

const portalRoleSchema = z.enum(['owner', 'operator', 'analyst', 'auditor', 'contact']);

const memberSchema = z.strictObject({
  email: z.string().email(),
  role: portalRoleSchema.default('contact'),
  /** The member's name as mail shows it: a message from outside that shows this name is a warning sign. */
  name: z.string().trim().min(1).max(200).optional(),
});

export { GUARD_CHECK_NAMES, type GuardSettings } from './guard-policy-settings.ts';

const tenantSchema = z.strictObject({
  name: z.string().min(1),
  domains: z.array(z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i, 'must be a domain name')).min(1),
  connectors: z.array(connectorSchema).default([]),
  mailServer: mailServerUrl.optional(),
  members: z.array(memberSchema).default([]),
  apiTokens: z
    .array(z.strictObject({ name: z.string().min(1), token: z.string().min(24, 'API tokens need at least 24 characters') }))
    .default([]),
  subjectTriggers: z.array(z.string().min(1)).optional(),
  /** When Outlook asks at send time whether to send securely (the add-in's Smart Alerts). */
  smartAlert: z
    .strictObject({
      externalRecipientsWithAttachments: z.boolean().default(true),
      keywords: z.array(z.string().trim().min(1).max(100)).max(100).default([]),
    })
    .optional(),
  /**
   * Entra ID sign-in, for the Outlook add-in and the portal: the application (client) id and the allowed Entra
   * tenants; `portalSignIn` maps the application's app roles (`roles` claim) and security groups (`groups`
   * claim, object ids) to portal roles.
   */
  entra: z
    .strictObject({
      applicationId: z.string().uuid('must be the Entra application (client) id, a GUID'),
      tenantIds: z.array(z.string().uuid('must be an Entra tenant id, a GUID')).min(1),
      portalSignIn: z
        .strictObject({
          appRoles: z.record(z.string().trim().min(1).max(120), portalRoleSchema).optional(),
          groups: z.record(z.string().uuid('must be a group object id, a GUID'), portalRoleSchema).optional(),
        })
        .optional(),
    })
    .optional(),
  /** Inbound protection: thresholds, score overrides, disabled checks and limits (the guard's defaults otherwise). */
  guard: guardSectionSchema.optional(),
  /**
   * S/MIME: `autoImport: false` keeps signed inbound mail from filling the certificate store (on by default);
   * `sign: always` signs every S/MIME message (else only when the sender asks); `signatureForm: opaque`
   * wraps the signed content instead of the default detached multipart/signed; `autoIssue: true` lets the
   * tenant's CA issue a key to a member who asks for a signature and has none.
   */
  smime: z
    .strictObject({
      autoImport: z.boolean().optional(),
      sign: z.enum(['on-request', 'always']).optional(),
      signatureForm: z.enum(['detached', 'opaque']).optional(),
      autoIssue: z.boolean().optional(),
      /** Inbound S/MIME to members with keys here: decrypt (default), or deliver as received. */
      inbound: z.enum(['decrypt', 'as-received']).optional(),
      /** Roots that vouch for signers of inbound mail, besides the tenant's own CA: PEM text, or a PEM file next to the tenant file. */
      trustAnchors: z.array(z.string().min(1).max(1_000_000)).max(200).optional(),
      /**
       * Directories asked, in order, for the certificate of a recipient the store has none for (LDAP: the
       * entry whose mail is the address). The bind password comes from the environment variable named.
       */
      directories: z
        .array(
          z.strictObject({
            url: z.string().regex(/^ldaps?:\/\/[^\s]+$/, 'must be an ldap:// or ldaps:// URL'),
            baseDn: z.string().min(1).max(1000),
            bindDn: z.string().min(1).max(1000).optional(),
            bindPasswordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must name an environment variable').optional(),
            timeoutMs: z.number().int().min(100).max(30_000).optional(),
          }),
        )
        .max(10)
        .optional(),
    })
    .optional(),
  /**
   * Encryption policy for outbound mail to outsiders. `mode` applies to mail that asks for nothing: `off`
   * sends it as it is, `allow` (default) encrypts it when a way is at hand (a known certificate or key;
   * the PDF and the portal only where `onlyIfMandatory` lets them), `mandatory` never sends it in the
   * clear. `rules` give recipients (addresses, domains, `*.domain`) a mode of their own; a sender's
   * request for protection makes the message mandatory. `ways` switches S/MIME, OpenPGP or the portal off
   * for 'auto', and the password PDF on (off by default: it needs a way to give recipients the password).
   */
  encryption: z
    .strictObject({
      mode: z.enum(['off', 'allow', 'mandatory']).optional(),
      rules: z
        .array(
          z.strictObject({
            recipients: z.array(z.string().trim().toLowerCase().regex(/^(?:\*\.)?[^\s@*]+(?:@[^\s@*]+)?$/, 'must be an address, a domain or *.domain')).min(1).max(1000),
            mode: z.enum(['off', 'allow', 'mandatory']),
          }),
        )
        .max(200)
        .optional(),
      ways: z.strictObject({ smime: z.boolean().optional(), pgp: z.boolean().optional(), pdf: z.boolean().optional(), portal: z.boolean().optional() }).optional(),
      onlyIfMandatory: z.strictObject({ pdf: z.boolean().optional(), portal: z.boolean().optional() }).optional(),
    })
    .optional(),
  /**
   * The password PDF: how recipients get the password. `portal` (default): a portal message holds it,
   * behind the portal's link. `sms`: a text message to the number the sender gives (X-Sealpost-Sms), sent
   * through the provider's HTTP interface (POST JSON {to, from, text}, the bearer token from the named
   * environment variable); a recipient without a number, or an SMS that cannot be sent, falls back to the portal.
   * `senderPassword: true` lets senders tell recipients a password themselves (by phone, in person): the
   * add-in fetches one from the gateway with a sealed ticket the message carries (off by default).
   */
  pdf: z
    .strictObject({
      password: z.enum(['portal', 'sms']).optional(),
      senderPassword: z.boolean().optional(),
      sms: z
        .strictObject({
          url: z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL'),
          tokenEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must name an environment variable').optional(),
          from: z.string().trim().min(1).max(11).optional(),
          timeoutMs: z.number().int().min(100).max(30_000).optional(),
        })
        .optional(),
    })
    .refine((pdf) => pdf.password !== 'sms' || pdf.sms, { message: 'password: sms needs the sms provider (pdf.sms.url)' })
    .optional(),
  /**
   * OpenPGP: `autoImport: false` keeps signed inbound mail and Autocrypt headers from filling the key store
   * (on by default); `sign: always` signs every OpenPGP message (else only when the sender asks);
   * `autoGenerate: true` makes a key pair for a member who asks for a signature and has none; `inbound`
   * decrypts PGP/MIME to members with keys here (default) or delivers it as received; `wkd` asks the
   * recipient domain's Web Key Directory for a recipient the store has no key for (on by default).
   */
  pgp: z
    .strictObject({
      autoImport: z.boolean().optional(),
      sign: z.enum(['on-request', 'always']).optional(),
      autoGenerate: z.boolean().optional(),
      inbound: z.enum(['decrypt', 'as-received']).optional(),
      wkd: z.union([z.boolean(), z.strictObject({ timeoutMs: z.number().int().min(100).max(30_000) })]).optional(),
    })
    .optional(),
  /**
   * What recipients see: the name, a logo (a PNG, JPEG or SVG file next to the tenant file, or a data: URL)
   * and a brand colour white text is readable on. Without it the portal and the mails look like Sealpost.
   */
  branding: z
    .strictObject({
      name: z.string().trim().min(1).max(80).optional(),
      logo: z.string().min(1).max(200_000, 'a logo may have at most 64 KiB').optional(),
      colour: z
        .string()
        .max(40)
        .superRefine((value, context) => {
          const problem = colourProblem(value);
          if (problem) context.addIssue({ code: 'custom', message: problem });
        })
        .transform(normaliseColour)
        .optional(),
    })
    .optional(),
});

const fileSchema = z.strictObject({ tenants: z.array(tenantSchema).default([]) });

export type TenantDefinition = z.infer<typeof tenantSchema>;
export type ConnectorDefinition = z.infer<typeof connectorSchema>;

export interface Config {
  dataDir: string;
  databaseUrl?: string;
  databasePoolSize: number;
  smtp: {
    host: string;
    port: number;
    hostname: string;
    maxMessageBytes: number;
    maxHeaderBytes: number;
    maxRecipients: number;
    maxMessagesPerConnection: number;
    maxConnectionSeconds: number;
    maxClients: number;
    /** Slots only tenant connectors may take: Internet clients share maxClients minus these. */
    connectorReservedSlots: number;
    maxConnectionsPerAddress: number;
    connectionsPerMinutePerAddress: number;
    commandsPerMinutePerConnection: number;
    messagesPerMinutePerAddress: number;
    /** How long a client may take to send its next complete command (also after the greeting). */
    idleSeconds: number;
    /** How long a client may send no message data during DATA. */
    dataIdleSeconds: number;
    tlsCertFile?: string;
    tlsKeyFile?: string;
  };
  http: { host: string; port: number; publicUrl: string };
  relay?: string;
  /** The S/MIME tunnel to a portal on its own host (SEALPOST_TUNNEL_*); unset when both run in one process. */
  tunnel?: TunnelSettings;
  /** Inbound checks' outside sources: the GeoIP database and the DNS servers sender authentication asks. */
  guard: { geoipDatabase?: string; dnsServers?: string[]; dnsTimeoutMs: number; linkFollowTimeoutMs: number; linkFollowAllow: string[] };
  /** How old a burst's backlog may grow while the intake goes first (0: no priority). */
  burstBacklogSeconds: number;
  masterKey?: Buffer;
  /** The audit chain's keys and its signed checkpoints, all kept outside the database. */
  audit: {
    /** SEALPOST_AUDIT_KEY; without it the HMAC key is derived from the master key. */
    key?: Buffer;
    /** An Ed25519 private key (PEM); without it one is generated into the data folder. */
    signingKeyFile?: string;
    checkpointFile: string;
    checkpointIntervalMs: number;
    checkpointEveryEntries: number;
  };
  logLevel: z.infer<typeof environmentSchema>['SEALPOST_LOG_LEVEL'];
  delivery: {
    maxQueueAgeMs: number;
    firstRetryMs: number;
    maxRetryMs: number;
    heldRetryMs: number;
    concurrency: number;
    /** How long a claimed delivery stays with its process without renewal; a dead process's claims return after it. */
    leaseSeconds: number;
  };
  workerPollMs: number;
  /** How often the portal's housekeeping runs (expiry, retention, digests, old links and sessions). */
  housekeepingIntervalMs: number;
  /**
   * Who reads /metrics: with a token, only requests that carry it; with a port, a separate listener serves it
   * (and the main one does not); with neither, the main listener answers loopback clients only.
   */
  metrics: { token?: string; port?: number; host: string };
  /**
   * Opening a stored portal message (decrypt + parse) holds all of it in memory: how many may run at
   * once, how many may wait, and how much of the opened structure is kept for later views and for how long.
   */
  portalReading: { openConcurrency: number; openQueue: number; cacheBytes: number; cacheTtlMs: number };
  /** The password PDF: the largest message it takes. */
  pdf: { maxMessageBytes: number };
  /**
   * Where Entra ID tokens come from (the issuer of each Entra tenant is below it): the add-in's access tokens
   * and the portal's ID tokens. `browserAuthority` is where the portal's sign-in page sends browsers, the
   * authority itself unless SEALPOST_ENTRA_BROWSER_AUTHORITY names another.
   */
  entra: { authority: string; browserAuthority: string };
  /**
   * The local try page for the task pane (/addin/try/) and its evaluation sign-in. Wanted by default for the
   * embedded demo; it only ever serves the demo tenant, so the gateway turns it on only when that runs.
   */
  addinTry: boolean;
  /** Tenants from SEALPOST_CONFIG; undefined when no file is given (the demo tenant is created then). */
  tenants?: TenantDefinition[];
  configFile?: string;
}

/**
 * The keys valid inside the object at an issue's path, read from the schema itself, so that a suggestion
 * is always a key that belongs where the misspelt one stands and no list of keys can fall behind.
 */
function keysAt(path: readonly PropertyKey[], root: z.ZodType = fileSchema): readonly string[] {
  let schema: z.ZodType | undefined = root;
  for (const segment of path) {
    schema = unwrapSchema(schema);
    if (!schema) return [];
    const def = schema.def as { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType };
    if (def.type === 'array' && typeof segment === 'number') schema = def.element;
    else if (def.type === 'object' && typeof segment === 'string') schema = def.shape?.[segment];
    else if (def.type === 'record') schema = (def as unknown as { valueType: z.ZodType }).valueType;
    else return [];
  }
  const object = unwrapSchema(schema);
  const def = object?.def as { type: string; shape?: Record<string, z.ZodType> } | undefined;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

/** Looks through optional, default, pipe (transform) and refinement wrappers to the schema that holds the keys. */
function unwrapSchema(schema: z.ZodType | undefined): z.ZodType | undefined {
  let current = schema;
  for (let depth = 0; current && depth < 10; depth += 1) {
    const def = current.def as { type: string; innerType?: z.ZodType; in?: z.ZodType };
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else return current;
  }
  return current;
}

/**
 * Levenshtein distance of two short key names. Written here rather than taken from a package: keys are a
 * few dozen characters and this is the only use.
 */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase().slice(0, 100);
  const exact = known.find((k) => k.toLowerCase() === lower);
  if (exact) return exact;
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance <= Math.max(2, Math.floor(candidate.length / 4)) && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

/** Each issue on its own line, naming the field; an unknown key with the valid key it was probably meant to be. */
export function describeIssues(prefix: string, issues: z.core.$ZodIssue[], root: z.ZodType = fileSchema): string {
  return issues
    .map((issue) => {
      const where = `${prefix}${issue.path.length ? issue.path.join('.') : ''}`;
      if (issue.code === 'unrecognized_keys') {
        return issue.keys
          .map((key) => {
            const suggestion = nearestKey(key, keysAt(issue.path, root));
            return `${where ? `${where}.` : ''}${key}: unknown key${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`;
          })
          .join('\n');
      }
      return `${where}: ${issue.message}`;
    })
    .join('\n');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigurationError(`Invalid configuration:\n${describeIssues('', parsed.error.issues)}`);
  }
  const e = parsed.data;

  let masterKey: Buffer | undefined;
  if (e.SEALPOST_MASTER_KEY !== undefined) {
    masterKey = Buffer.from(e.SEALPOST_MASTER_KEY, 'base64');
    if (masterKey.length !== 32 || masterKey.toString('base64') !== e.SEALPOST_MASTER_KEY.trim()) {
      throw new ConfigurationError('Invalid configuration:\nSEALPOST_MASTER_KEY: must be 32 bytes in base64 (44 characters)');
    }
  }
  let auditKey: Buffer | undefined;
  if (e.SEALPOST_AUDIT_KEY !== undefined) {
    auditKey = Buffer.from(e.SEALPOST_AUDIT_KEY, 'base64');
    if (auditKey.length !== 32 || auditKey.toString('base64') !== e.SEALPOST_AUDIT_KEY.trim()) {
      throw new ConfigurationError('Invalid configuration:\nSEALPOST_AUDIT_KEY: must be 32 bytes in base64 (44 characters)');
    }
  }
  if ((e.SEALPOST_TLS_CERT === undefined) !== (e.SEALPOST_TLS_KEY === undefined)) {
    throw new ConfigurationError('Invalid configuration:\nSEALPOST_TLS_CERT and SEALPOST_TLS_KEY must be set together');
  }

  const connectorReservedSlots = e.SEALPOST_SMTP_CONNECTOR_RESERVED_SLOTS ?? Math.floor(e.SEALPOST_MAX_CLIENTS / 10);
  if (connectorReservedSlots >= e.SEALPOST_MAX_CLIENTS) {
    throw new ConfigurationError(
      `Invalid configuration:\nSEALPOST_SMTP_CONNECTOR_RESERVED_SLOTS: must be less than SEALPOST_MAX_CLIENTS (${e.SEALPOST_MAX_CLIENTS}), or no Internet client could connect`,
    );
  }

  let tenants: TenantDefinition[] | undefined;
  if (e.SEALPOST_CONFIG) {
    tenants = readTenantFile(e.SEALPOST_CONFIG);
  }

  const addinTry = addinTryWanted(e.SEALPOST_ADDIN_TRY, e.SEALPOST_CONFIG, e.NODE_ENV);
  const tunnel = tunnelSettings(e);

  const smtpHostname = e.SEALPOST_HOSTNAME ?? hostname();
  const dataDir = resolve(e.SEALPOST_DATA_DIR);
  return {
    dataDir,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.SEALPOST_DATABASE_POOL_SIZE,
    smtp: {
      host: e.SEALPOST_SMTP_HOST,
      port: e.SEALPOST_SMTP_PORT,
      hostname: smtpHostname,
      maxMessageBytes: e.SEALPOST_MAX_MESSAGE_BYTES,
      maxHeaderBytes: e.SEALPOST_MAX_HEADER_BYTES,
      maxRecipients: e.SEALPOST_MAX_RECIPIENTS,
      maxMessagesPerConnection: e.SEALPOST_MAX_MESSAGES_PER_CONNECTION,
      maxConnectionSeconds: e.SEALPOST_MAX_CONNECTION_SECONDS,
      maxClients: e.SEALPOST_MAX_CLIENTS,
      connectorReservedSlots,
      maxConnectionsPerAddress: e.SEALPOST_SMTP_MAX_CONNECTIONS_PER_ADDRESS,
      connectionsPerMinutePerAddress: e.SEALPOST_SMTP_CONNECTIONS_PER_MINUTE_PER_ADDRESS,
      commandsPerMinutePerConnection: e.SEALPOST_SMTP_COMMANDS_PER_MINUTE_PER_CONNECTION,
      messagesPerMinutePerAddress: e.SEALPOST_SMTP_MESSAGES_PER_MINUTE_PER_ADDRESS,
      idleSeconds: e.SEALPOST_SMTP_IDLE_SECONDS,
      dataIdleSeconds: e.SEALPOST_SMTP_DATA_IDLE_SECONDS,
      tlsCertFile: e.SEALPOST_TLS_CERT,
      tlsKeyFile: e.SEALPOST_TLS_KEY,
    },
    http: {
      host: e.SEALPOST_HTTP_HOST,
      port: e.SEALPOST_HTTP_PORT,
      publicUrl: (e.SEALPOST_PUBLIC_URL ?? `http://localhost:${e.SEALPOST_HTTP_PORT}`).replace(/\/$/, ''),
    },
    relay: e.SEALPOST_RELAY,
    ...(tunnel ? { tunnel } : {}),
    guard: {
      geoipDatabase: e.SEALPOST_GEOIP_DB === undefined ? undefined : resolve(e.SEALPOST_GEOIP_DB),
      dnsServers: e.SEALPOST_DNS_SERVERS?.split(',').map((s) => s.trim()),
      dnsTimeoutMs: e.SEALPOST_DNS_TIMEOUT_MS,
      linkFollowTimeoutMs: e.SEALPOST_LINK_FOLLOW_TIMEOUT_MS,
      linkFollowAllow: e.SEALPOST_LINK_FOLLOW_ALLOW?.split(',').map((s) => s.trim()).filter(Boolean) ?? [],
    },
    burstBacklogSeconds: e.SEALPOST_BURST_BACKLOG_SECONDS,
    masterKey,
    audit: {
      key: auditKey,
      signingKeyFile: e.SEALPOST_AUDIT_SIGNING_KEY_FILE === undefined ? undefined : resolve(e.SEALPOST_AUDIT_SIGNING_KEY_FILE),
      checkpointFile: resolve(dataDir, e.SEALPOST_AUDIT_CHECKPOINT_FILE ?? 'audit-checkpoints.jsonl'),
      checkpointIntervalMs: e.SEALPOST_AUDIT_CHECKPOINT_SECONDS * 1000,
      checkpointEveryEntries: e.SEALPOST_AUDIT_CHECKPOINT_ENTRIES,
    },
    logLevel: e.SEALPOST_LOG_LEVEL,
    delivery: {
      maxQueueAgeMs: e.SEALPOST_MAX_QUEUE_AGE_HOURS * 3600_000,
      firstRetryMs: e.SEALPOST_RETRY_FIRST_SECONDS * 1000,
      maxRetryMs: e.SEALPOST_RETRY_MAX_SECONDS * 1000,
      heldRetryMs: e.SEALPOST_HELD_RETRY_SECONDS * 1000,
      concurrency: e.SEALPOST_DELIVERY_CONCURRENCY,
      leaseSeconds: e.SEALPOST_DELIVERY_LEASE_SECONDS,
    },
    workerPollMs: e.SEALPOST_WORKER_POLL_MS,
    housekeepingIntervalMs: e.SEALPOST_HOUSEKEEPING_SECONDS * 1000,
    metrics: { token: e.SEALPOST_METRICS_TOKEN, port: e.SEALPOST_METRICS_PORT, host: e.SEALPOST_METRICS_HOST },
    pdf: { maxMessageBytes: e.SEALPOST_PDF_MAX_MESSAGE_BYTES },
    portalReading: {
      openConcurrency: e.SEALPOST_PORTAL_OPEN_CONCURRENCY,
      openQueue: e.SEALPOST_PORTAL_OPEN_QUEUE,
      cacheBytes: e.SEALPOST_PORTAL_CACHE_MB * 1024 * 1024,
      cacheTtlMs: e.SEALPOST_PORTAL_CACHE_SECONDS * 1000,
    },
    entra: {
      authority: withoutTrailingSlashes(e.SEALPOST_ENTRA_AUTHORITY),
      browserAuthority: withoutTrailingSlashes(e.SEALPOST_ENTRA_BROWSER_AUTHORITY ?? e.SEALPOST_ENTRA_AUTHORITY),
    },
    addinTry,
    tenants,
    configFile: e.SEALPOST_CONFIG,
  };
}

/**
 * The try page signs demo members in without Entra ID, so it belongs to the embedded demo only. The rule:
 * a tenant file (SEALPOST_CONFIG) or NODE_ENV=production is a real deployment; there it is off, and asking
 * for it stops the start. Without either it is on unless SEALPOST_ADDIN_TRY=off.
 */
function addinTryWanted(setting: 'on' | 'off' | undefined, configFile: string | undefined, nodeEnv: string | undefined): boolean {
  const production = configFile ? 'SEALPOST_CONFIG is set (tenants from a file are a real deployment)' : nodeEnv === 'production' ? 'NODE_ENV is production' : undefined;
  if (setting === 'on' && production) {
    throw new ConfigurationError(
      `Invalid configuration:\nSEALPOST_ADDIN_TRY: "on" is refused because ${production}. The try page signs demo members in ` +
        'without Entra ID and is for the embedded demo only: remove SEALPOST_ADDIN_TRY.',
    );
  }
  if (setting !== undefined) return setting === 'on';
  return production === undefined;
}

export interface TunnelSettings {
  role: 'gateway' | 'portal';
  /** DER. */
  certificate: Buffer;
  privateKey: KeyObject;
  /** DER. */
  peerCertificate: Buffer;
  peer: string;
  host: string;
  port: number;
}

/** The tunnel's settings, checked together: a role needs all four, and each file must hold what it names. */
function tunnelSettings(e: z.infer<typeof environmentSchema>): TunnelSettings | undefined {
  const named = { SEALPOST_TUNNEL_CERT: e.SEALPOST_TUNNEL_CERT, SEALPOST_TUNNEL_KEY: e.SEALPOST_TUNNEL_KEY, SEALPOST_TUNNEL_PEER_CERT: e.SEALPOST_TUNNEL_PEER_CERT, SEALPOST_TUNNEL_PEER: e.SEALPOST_TUNNEL_PEER };
  if (!e.SEALPOST_TUNNEL_ROLE) {
    const stray = Object.entries(named).find(([, value]) => value !== undefined);
    if (stray) throw new ConfigurationError(`Invalid configuration:\n${stray[0]}: is used only with SEALPOST_TUNNEL_ROLE (gateway or portal)`);
    return undefined;
  }
  const missing = Object.entries(named).filter(([, value]) => value === undefined).map(([name]) => name);
  if (missing.length > 0) throw new ConfigurationError(`Invalid configuration:\n${missing.join(', ')}: required with SEALPOST_TUNNEL_ROLE=${e.SEALPOST_TUNNEL_ROLE}`);
  const read = (name: string, file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigurationError(`Invalid configuration:\n${name}: cannot read ${file}: ${(error as Error).message}`);
    }
  };
  const certificate = (name: string, file: string) => {
    try {
      return Buffer.from(new X509Certificate(read(name, file)).raw);
    } catch (error) {
      if (error instanceof ConfigurationError) throw error;
      throw new ConfigurationError(`Invalid configuration:\n${name}: ${file} holds no PEM certificate`);
    }
  };
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(read('SEALPOST_TUNNEL_KEY', e.SEALPOST_TUNNEL_KEY!));
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    throw new ConfigurationError(`Invalid configuration:\nSEALPOST_TUNNEL_KEY: ${e.SEALPOST_TUNNEL_KEY} holds no PEM private key`);
  }
  const own = certificate('SEALPOST_TUNNEL_CERT', e.SEALPOST_TUNNEL_CERT!);
  if (!new X509Certificate(own).checkPrivateKey(privateKey)) {
    throw new ConfigurationError('Invalid configuration:\nSEALPOST_TUNNEL_KEY: is not the key of the certificate in SEALPOST_TUNNEL_CERT');
  }
  return {
    role: e.SEALPOST_TUNNEL_ROLE,
    certificate: own,
    privateKey,
    peerCertificate: certificate('SEALPOST_TUNNEL_PEER_CERT', e.SEALPOST_TUNNEL_PEER_CERT!),
    peer: e.SEALPOST_TUNNEL_PEER!,
    host: e.SEALPOST_TUNNEL_HOST,
    port: e.SEALPOST_TUNNEL_PORT,
  };
}

/** A trust anchor file named in the tenant file, relative to it; undefined when it cannot be read. */
function readAnchorFile(name: string, base: string): string | undefined {
  try {
    return readFileSync(resolve(base, name), 'utf8');
  } catch {
    return undefined;
  }
}

export function readTenantFile(path: string): TenantDefinition[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`SEALPOST_CONFIG: cannot read ${path}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigurationError(`SEALPOST_CONFIG: ${path} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  const parsed = fileSchema.safeParse(document ?? {});
  if (!parsed.success) {
    throw new ConfigurationError(`SEALPOST_CONFIG (${path}) is invalid:\n${describeIssues('', parsed.error.issues)}`);
  }
  const names = new Set<string>();
  const domains = new Set<string>();
  parsed.data.tenants.forEach((tenant, index) => {
    const anchors = tenant.smime?.trustAnchors;
    if (anchors) {
      tenant.smime!.trustAnchors = anchors.map((anchor, at) => {
        const pem = anchor.includes('-----BEGIN CERTIFICATE-----') ? anchor : readAnchorFile(anchor, dirname(resolve(path)));
        if (pem === undefined || !pem.includes('-----BEGIN CERTIFICATE-----')) {
          throw new ConfigurationError(`SEALPOST_CONFIG (${path}) is invalid:\ntenants.${index}.smime.trustAnchors.${at}: must be PEM certificates or a PEM file next to the tenant file (${anchor.slice(0, 80)})`);
        }
        return pem;
      });
    }
    const logo = tenant.branding?.logo;
    if (!logo) return;
    try {
      tenant.branding!.logo = resolveLogo(logo, dirname(resolve(path)));
    } catch (error) {
      throw new ConfigurationError(`SEALPOST_CONFIG (${path}) is invalid:\ntenants.${index}.branding.logo: ${(error as Error).message}`);
    }
  });
  for (const tenant of parsed.data.tenants) {
    if (names.has(tenant.name)) throw new ConfigurationError(`SEALPOST_CONFIG: tenant "${tenant.name}" appears twice`);
    names.add(tenant.name);
    for (const domain of tenant.domains) {
      const d = domain.toLowerCase();
      if (domains.has(d)) throw new ConfigurationError(`SEALPOST_CONFIG: domain ${d} belongs to two tenants`);
      domains.add(d);
    }
  }
  return parsed.data.tenants;
}
