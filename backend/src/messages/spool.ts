/**
 * Durable acceptance: the encrypted raw message, its envelope and its trace entry commit in one
 * transaction before the SMTP reply. The pipeline picks spooled messages up from the same table.
 */
import { sql } from 'drizzle-orm';
import type { Database, Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { deliveries, messages, recipients } from '../db/schema.ts';
import { storableJson, storableOptionalText, storableText } from '../db/storable-text.ts';
import { recordTrace } from './message-trace.ts';
import type { KeyVault } from '../vault/key-vault.ts';

export type MessageDirection = 'inbound' | 'outbound' | 'notification';

export interface SpoolRequest {
  id: string;
  tenantId: string;
  direction: MessageDirection;
  mailFrom: string;
  recipients: string[];
  clientAddress: string;
  clientHelo?: string;
  tls: boolean;
  connectorName?: string;
  raw: Buffer;
  messageIdHeader?: string;
  traceDetail: Record<string, unknown>;
  /** What the SMTP conversation established, for the stages (stage_results.received). */
  received?: ReceivedFacts;
  /**
   * A message the gateway wrote for a route it already knows (a portal notification to its external
   * recipient): stored with its deliveries queued, so it does not pass through the stages a second time.
   */
  queuedFor?: 'external' | 'tenant-mail-server';
}

export interface ReceivedFacts {
  helo?: string;
  /** Findings of the SMTP-time hooks, which the guard counts with its own. */
  smtpFindings?: Array<{ symbol: string; score: number; reason: string; action?: 'flag' | 'quarantine' | 'reject' }>;
}

/** RFC 5322 caps a line at 998 bytes; a longer Message-ID is no use to anyone looking for it. */
const MAX_MESSAGE_ID_CHARS = 998;

/**
 * The request with every text that reaches a column made storable: envelope and header text can carry
 * NUL or broken UTF-16, and a refused insert would refuse the message for good.
 */
function storable(request: SpoolRequest): SpoolRequest {
  return {
    ...request,
    mailFrom: storableText(request.mailFrom),
    recipients: request.recipients.map((address) => storableText(address)),
    clientAddress: storableText(request.clientAddress),
    clientHelo: storableOptionalText(request.clientHelo) ?? undefined,
    connectorName: storableOptionalText(request.connectorName) ?? undefined,
    messageIdHeader: storableOptionalText(request.messageIdHeader, MAX_MESSAGE_ID_CHARS) ?? undefined,
    traceDetail: storableJson(request.traceDetail),
    received: request.received ? (storableJson(request.received as Record<string, unknown>) as ReceivedFacts) : undefined,
  };
}

function initialResults(request: SpoolRequest): Record<string, unknown> {
  return request.received ? { received: request.received } : {};
}

export async function spoolMessages(db: Database, vault: KeyVault, unchecked: SpoolRequest[]): Promise<void> {
  const prepared = await Promise.all(unchecked.map((request) => prepareSpool(vault, request)));
  await writePrepared(db, prepared);
}

/** A request made storable and sealed: what one spool statement writes. */
interface PreparedSpool {
  request: SpoolRequest;
  sealed: { content: Buffer; wrappedDataKey: Buffer };
  fingerprint: string;
}

async function prepareSpool(vault: KeyVault, unchecked: SpoolRequest): Promise<PreparedSpool> {
  const request = storable(unchecked);
  const sealed = await vault.seal(request.tenantId, request.id, request.raw);
  // Keyed: a plain hash of the plaintext would let anyone with the database confirm a guess.
  const fingerprint = await vault.fingerprint(request.tenantId, request.raw);
  return { request, sealed, fingerprint };
}

/** The messages, their recipients and their received steps in one transaction of one statement. */
async function writePrepared(db: Database, prepared: readonly PreparedSpool[]): Promise<void> {
  if (prepared.length === 0) return;
  const tenants = [...new Set(prepared.map((p) => p.request.tenantId))];
  await withTenants(db, tenants, (tx) => tx.execute(spoolStatement(prepared)));
}

function spoolStatement(prepared: readonly PreparedSpool[]) {
  const messageRows = prepared.map(
    ({ request, sealed, fingerprint }) => sql`(${request.id}::uuid, ${request.tenantId}::uuid, ${request.direction}, ${request.mailFrom},
              ${request.clientAddress}, ${request.clientHelo ?? null}, ${request.tls}::boolean, ${request.connectorName ?? null},
              ${request.raw.length}::int, ${request.messageIdHeader ?? null}, ${fingerprint},
              ${sealed.content}::bytea, ${sealed.wrappedDataKey}::bytea, ${JSON.stringify(initialResults(request))}::jsonb)`,
  );
  const recipientRows = prepared.flatMap(({ request }) =>
    request.recipients.map((address, position) => sql`(${request.id}::uuid, ${request.tenantId}::uuid, ${position}::int, ${address})`),
  );
  const traceRows = prepared.map(
    ({ request }) => sql`(${request.id}::uuid, ${request.tenantId}::uuid, 'received', ${JSON.stringify(receivedDetail(request))}::jsonb)`,
  );
  return sql`
    with stored as (
      insert into messages (id, tenant_id, direction, mail_from, client_address, client_helo, tls, connector_name,
                            size_bytes, message_id_header, content_sha256, content, wrapped_data_key, stage_results)
      values ${sql.join(messageRows, sql`, `)}
      returning id
    ), addressed as (
      insert into message_recipients (message_id, tenant_id, position, address) values ${sql.join(recipientRows, sql`, `)}
    )
    insert into message_trace (message_id, tenant_id, step, detail) values ${sql.join(traceRows, sql`, `)}`;
}

/**
 * Group commit for the SMTP intake. Every accepted message must be durable before its 250, and a commit
 * is a round trip and a log flush whatever it holds: messages that arrive while a commit is under way
 * wait for the next one and share it, so under load many sessions' messages commit together and the
 * commits per message fall, while a lone message still commits at once. A batch the database refuses is
 * written again message by message, so one message's unstorable data refuses only that message.
 */
export class SpoolWriter {
  private queue: Array<{ prepared: PreparedSpool[]; done: (failure?: { error: unknown }) => void }> = [];
  private inFlight = 0;
  /** Transactions committed and messages in them, for the tests and the metrics. */
  readonly written = { commits: 0, messages: 0 };

  constructor(
    private readonly db: Database,
    private readonly vault: KeyVault,
    private readonly options: { maxBatchMessages?: number; maxBatchBytes?: number; maxConcurrentCommits?: number } = {},
  ) {}

  /** Resolves once the requests are committed; rejects with the database's error for them. */
  async spool(requests: SpoolRequest[]): Promise<void> {
    const prepared = await Promise.all(requests.map((request) => prepareSpool(this.vault, request)));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ prepared, done: (failure) => (failure ? reject(failure.error) : resolve()) });
      this.pump();
    });
  }

  private pump(): void {
    const maxConcurrent = this.options.maxConcurrentCommits ?? 2;
    while (this.queue.length > 0 && this.inFlight < maxConcurrent) {
      const batch = this.takeBatch();
      this.inFlight += 1;
      void this.commit(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  private takeBatch(): typeof this.queue {
    const maxMessages = this.options.maxBatchMessages ?? 64;
    const maxBytes = this.options.maxBatchBytes ?? 32 * 1024 * 1024;
    const batch: typeof this.queue = [];
    let messages = 0;
    let bytes = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      const size = next.prepared.reduce((sum, p) => sum + p.sealed.content.length, 0);
      if (batch.length > 0 && (messages + next.prepared.length > maxMessages || bytes + size > maxBytes)) break;
      batch.push(this.queue.shift()!);
      messages += next.prepared.length;
      bytes += size;
    }
    return batch;
  }

  private async commit(batch: typeof this.queue): Promise<void> {
    try {
      await writePrepared(
        this.db,
        batch.flatMap((entry) => entry.prepared),
      );
      this.written.commits += 1;
      this.written.messages += batch.reduce((sum, entry) => sum + entry.prepared.length, 0);
      for (const entry of batch) entry.done();
    } catch (error) {
      if (batch.length === 1) return batch[0]!.done({ error });
      // One message's data may be what the database refused: each is written on its own, and gets its own answer.
      await Promise.all(
        batch.map((entry) =>
          writePrepared(this.db, entry.prepared).then(
            () => entry.done(),
            (own: unknown) => entry.done({ error: own }),
          ),
        ),
      );
    }
  }
}

function receivedDetail(request: SpoolRequest): Record<string, unknown> {
  return {
    direction: request.direction,
    mailFrom: request.mailFrom,
    recipients: request.recipients,
    client: request.clientAddress,
    helo: request.clientHelo,
    tls: request.tls,
    connector: request.connectorName,
    sizeBytes: request.raw.length,
    messageIdHeader: request.messageIdHeader,
    ...request.traceDetail,
  };
}

/**
 * For callers that already hold a transaction (a bounce created together with a delivery's failure, the
 * portal's notifications). Every request is sealed under its own data key; the rows of all requests are
 * written together, one statement a table, so a group of notifications costs what one does.
 */
export async function spoolWithin(q: Queryable, vault: KeyVault, requests: SpoolRequest[]): Promise<void> {
  if (requests.length === 0) return;
  const prepared = [];
  for (const request of requests.map(storable)) {
    const sealed = await vault.seal(request.tenantId, request.id, request.raw, q);
    // Keyed: a plain hash of the plaintext would let anyone with the database confirm a guess.
    const contentSha256 = await vault.fingerprint(request.tenantId, request.raw, q);
    prepared.push({ request, sealed, contentSha256 });
  }
  await q.insert(messages).values(
    prepared.map(({ request, sealed, contentSha256 }) => ({
      id: request.id,
      tenantId: request.tenantId,
      direction: request.direction,
      mailFrom: request.mailFrom,
      clientAddress: request.clientAddress,
      clientHelo: request.clientHelo ?? null,
      tls: request.tls,
      connectorName: request.connectorName ?? null,
      sizeBytes: request.raw.length,
      messageIdHeader: request.messageIdHeader ?? null,
      contentSha256,
      content: sealed.content,
      wrappedDataKey: sealed.wrappedDataKey,
      stageResults: initialResults(request),
      ...(request.queuedFor ? { state: 'routed', stage: 'queued' } : { state: 'received', stage: 'received' }),
    })),
  );
  await q
    .insert(recipients)
    .values(prepared.flatMap(({ request }) => request.recipients.map((address, position) => ({ messageId: request.id, tenantId: request.tenantId, position, address }))));
  const queued = prepared.map((p) => p.request).filter((request) => request.queuedFor);
  if (queued.length > 0) {
    await q.insert(deliveries).values(
      queued.flatMap((request) =>
        request.recipients.map((recipient) => ({
          messageId: request.id,
          tenantId: request.tenantId,
          recipient,
          route: request.queuedFor!,
          protection: 'none',
          status: 'queued',
        })),
      ),
    );
  }
  // Each message's received step comes before its routed steps (the trace is read in insertion order).
  await recordTrace(q, [
    ...prepared.map(({ request }) => ({ messageId: request.id, tenantId: request.tenantId, step: 'received' as const, detail: receivedDetail(request) })),
    ...queued.flatMap((request) =>
      request.recipients.map((recipient) => ({
        messageId: request.id,
        tenantId: request.tenantId,
        step: 'routed' as const,
        detail: {
          recipient,
          route: request.queuedFor!,
          protection: 'none',
          reason: request.queuedFor === 'external' ? 'gateway notification to an external address' : "gateway notification to the tenant's mail server",
        },
      })),
    ),
  ]);
}
