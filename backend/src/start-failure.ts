/**
 * Why Sealpost could not start, in terms of the setting to change: a port that is taken names its
 * SEALPOST_*_PORT, an unreachable database names DATABASE_URL. Anything unrecognised is left to the caller.
 */
import type { Config } from './config.ts';

interface SystemError {
  code?: string;
  port?: number;
  address?: string;
  path?: string;
  message?: string;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET']);
const POSTGRES_REASONS: Record<string, string> = {
  '28P01': 'the password was refused',
  '28000': 'the user may not connect',
  '3D000': 'the database does not exist',
  '57P03': 'the server is starting up or shutting down',
  '53300': 'the server has no free connection',
};

/** The database URL without its password, for messages. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured URL';
  }
}

export function explainStartFailure(error: unknown, config: Config): string | undefined {
  const e = (error ?? {}) as SystemError;
  if ((e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') && typeof e.port === 'number') {
    const listeners = [
      { setting: 'SEALPOST_SMTP_PORT', hostSetting: 'SEALPOST_SMTP_HOST', port: config.smtp.port, host: config.smtp.host },
      { setting: 'SEALPOST_HTTP_PORT', hostSetting: 'SEALPOST_HTTP_HOST', port: config.http.port, host: config.http.host },
      ...(config.tunnel ? [{ setting: 'SEALPOST_TUNNEL_PORT', hostSetting: 'SEALPOST_TUNNEL_HOST', port: config.tunnel.port, host: config.tunnel.host }] : []),
    ];
    const listener = listeners.find((l) => l.port === e.port);
    const setting = listener?.setting ?? `port ${e.port}`;
    const where = e.address ?? listener?.host ?? '';
    if (e.code === 'EADDRINUSE') {
      return `${setting} ${e.port} is already in use on ${where}: another program (or another Sealpost) listens there. Stop it, or choose a free port, e.g. ${listener?.setting ?? 'the port setting'}=${e.port + 1}.`;
    }
    if (e.code === 'EACCES') {
      return `${setting} ${e.port} on ${where} needs privileges this process lacks (ports below 1024): choose a port above 1023 and forward to it, or grant the capability to bind it.`;
    }
    return `${listener?.hostSetting ?? 'The listen address'} ${where} is not an address of this machine: use 0.0.0.0, 127.0.0.1 or one of its own addresses.`;
  }

  const pgCode = typeof e.code === 'string' ? POSTGRES_REASONS[e.code] : undefined;
  const unreachable = (typeof e.code === 'string' && UNREACHABLE.has(e.code)) || /timeout exceeded when trying to connect|Connection terminated/i.test(e.message ?? '');
  if (config.databaseUrl && (pgCode || unreachable)) {
    const reason = pgCode ?? (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? 'its host name does not resolve' : e.code === 'ECONNREFUSED' ? 'the connection was refused' : 'it does not answer');
    return `DATABASE_URL ${withoutPassword(config.databaseUrl)} cannot be used: ${reason}. Check that PostgreSQL runs and the URL is right; without DATABASE_URL Sealpost uses its embedded database in SEALPOST_DATA_DIR.`;
  }

  if ((e.code === 'EACCES' || e.code === 'EROFS' || e.code === 'ENOSPC') && e.path?.startsWith(config.dataDir)) {
    return `SEALPOST_DATA_DIR ${config.dataDir} cannot be written (${e.code}): choose a folder this user may write, with free space.`;
  }
  return undefined;
}
