/** Structured JSON logs; every line about a message carries its messageId. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'sealpost' }, timestamp: pino.stdTimeFunctions.isoTime });
}
