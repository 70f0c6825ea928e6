/**
 * Timeouts that give slots back: a connection that holds a slot without making progress is closed
 * with `421 4.4.2` and a reason.
 *
 * smtp-server's own idle timeout (socketTimeout) restarts on every byte, so a client that trickles one
 * byte a minute would keep its slot for ever. Here progress is measured the way the protocol defines it:
 * - while the client owes a command (after the greeting or a reply), only a complete command line counts;
 *   this is the greeting, command and idle timeout in one (`idleSeconds`);
 * - while the client sends message data, any new data counts (`dataIdleSeconds`);
 * - while the client waits for the gateway (a hook is working, the message is being spooled), the clock
 *   stops: RFC 5321 4.5.3.2 has the client wait minutes for those replies;
 * - no connection lives longer than `maxConnectionSeconds`, whatever it does, so trickling message data
 *   is bounded too.
 *
 * One sweep over all connections every fraction of the shortest timeout, instead of a timer per
 * connection: 2,000 connections cost 2,000 cheap checks a second at most.
 */
import type { SMTPServer } from 'smtp-server';
import { connectionInternals } from './smtp-server-adjustments.ts';

export type TimeoutPhase = 'command' | 'data' | 'lifetime';

export interface SessionTimeoutSettings {
  idleSeconds: number;
  dataIdleSeconds: number;
  maxConnectionSeconds: number;
}

interface Progress {
  connectedAt: number;
  lastProgressAt: number;
  dataBytes: number;
}

export interface SessionTimeouts {
  /** Starts the clocks of an admitted connection. */
  watch(sessionId: string): void;
  /** A complete command line arrived. */
  noteCommand(sessionId: string): void;
  forget(sessionId: string): void;
  stop(): void;
}

export function startSessionTimeouts(
  server: SMTPServer,
  settings: SessionTimeoutSettings,
  onTimeout: (sessionId: string, phase: TimeoutPhase) => void,
  now: () => number = Date.now,
): SessionTimeouts {
  const watched = new Map<string, Progress>();
  const idleMs = settings.idleSeconds * 1000;
  const dataIdleMs = settings.dataIdleSeconds * 1000;
  const lifetimeMs = settings.maxConnectionSeconds * 1000;
  const sweepMs = Math.min(1000, Math.max(50, Math.floor(Math.min(idleMs, dataIdleMs) / 4)));

  const sweep = () => {
    const at = now();
    for (const connection of server.connections) {
      const internals = connectionInternals(connection);
      const progress = watched.get(internals.id);
      if (!progress || internals.closing) continue;
      if (at - progress.connectedAt >= lifetimeMs) {
        watched.delete(internals.id);
        onTimeout(internals.id, 'lifetime');
        internals.send(421, '4.4.2 Connection time limit reached, closing; please reconnect');
        continue;
      }
      if (internals.awaitingServer) {
        progress.lastProgressAt = at;
        continue;
      }
      const inData = internals.dataBytes !== undefined;
      if (!inData) progress.dataBytes = -1;
      if (inData && internals.dataBytes !== progress.dataBytes) {
        progress.dataBytes = internals.dataBytes!;
        progress.lastProgressAt = at;
        continue;
      }
      if (at - progress.lastProgressAt < (inData ? dataIdleMs : idleMs)) continue;
      watched.delete(internals.id);
      const phase: TimeoutPhase = inData ? 'data' : 'command';
      onTimeout(internals.id, phase);
      internals.send(
        421,
        inData
          ? `4.4.2 No message data within ${settings.dataIdleSeconds} s, closing; please reconnect and send again`
          : `4.4.2 No complete command within ${settings.idleSeconds} s, closing; please reconnect`,
      );
    }
  };
  const timer = setInterval(sweep, sweepMs);
  timer.unref();

  return {
    watch(sessionId) {
      const at = now();
      watched.set(sessionId, { connectedAt: at, lastProgressAt: at, dataBytes: -1 });
    },
    noteCommand(sessionId) {
      const progress = watched.get(sessionId);
      if (progress) progress.lastProgressAt = now();
    },
    forget(sessionId) {
      watched.delete(sessionId);
    },
    stop() {
      clearInterval(timer);
      watched.clear();
    },
  };
}
