/** Prometheus metrics of one gateway process. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface GatewayMetrics {
  registry: Registry;
  received: Counter<'direction'>;
  rejected: Counter<'reason'>;
  delivered: Counter;
  deferred: Counter;
  bounced: Counter;
  acceptSeconds: Histogram;
  queueDepth: Gauge<'status'>;
  /** SMTP connections holding a slot now, by kind (connector, internet). */
  smtpConnections: Gauge<'kind'>;
  /** Connections and commands refused by the connection limits, by reason (see connection-limits.ts). */
  smtpRefused: Counter<'reason'>;
  /** Connections closed because they made no progress or lived too long, by phase. */
  smtpTimeouts: Counter<'phase'>;
  /** The configured connection limits, so dashboards can draw them next to the counts. */
  smtpLimits: Gauge<'limit'>;
}

export function createMetrics(queueDepth: () => Promise<Record<string, number>>): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sealpost_process_' });
  return {
    registry,
    received: new Counter({
      name: 'sealpost_messages_received_total',
      help: 'Messages accepted with 250 (durably spooled), by direction',
      labelNames: ['direction'],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'sealpost_messages_rejected_total',
      help: 'Messages or recipients refused during the SMTP conversation, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    delivered: new Counter({
      name: 'sealpost_deliveries_delivered_total',
      help: 'Recipient deliveries accepted by the next hop',
      registers: [registry],
    }),
    deferred: new Counter({
      name: 'sealpost_deliveries_deferred_total',
      help: 'Recipient delivery attempts that failed temporarily and will be retried',
      registers: [registry],
    }),
    bounced: new Counter({
      name: 'sealpost_deliveries_bounced_total',
      help: 'Recipient deliveries that failed permanently or expired',
      registers: [registry],
    }),
    acceptSeconds: new Histogram({
      name: 'sealpost_smtp_accept_seconds',
      help: 'Time from the end of DATA to the 250 reply (spooling durably)',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'sealpost_queue_depth',
      help: 'Deliveries waiting in the queue, by status',
      labelNames: ['status'],
      registers: [registry],
      async collect() {
        const depth = await queueDepth().catch(() => ({}) as Record<string, number>);
        this.reset();
        for (const [status, count] of Object.entries(depth)) this.set({ status }, count);
      },
    }),
    smtpConnections: new Gauge({
      name: 'sealpost_smtp_connections',
      help: 'SMTP connections holding a slot, by kind (connector or internet)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    smtpRefused: new Counter({
      name: 'sealpost_smtp_refused_total',
      help: 'SMTP connections or commands refused with 421 by the connection limits, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    smtpTimeouts: new Counter({
      name: 'sealpost_smtp_timeouts_total',
      help: 'SMTP connections closed with 421 for lack of progress (command, data) or age (lifetime)',
      labelNames: ['phase'],
      registers: [registry],
    }),
    smtpLimits: new Gauge({
      name: 'sealpost_smtp_limit',
      help: 'Configured SMTP connection limits (slots, per-address and per-minute limits, timeouts in seconds)',
      labelNames: ['limit'],
      registers: [registry],
    }),
  };
}
