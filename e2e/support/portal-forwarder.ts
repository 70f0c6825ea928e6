/**
 * A TCP forwarder on 127.0.0.1 that reaches the gateway from another loopback address, so the gateway
 * sees the same browser arrive from a different network. Browsers keep cookies per host, not per port:
 * a page loaded through the forwarder carries the session cookies of the gateway's own port.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface Forwarder {
  port: number;
  close(): Promise<void>;
}

export async function startForwarder(targetPort: number, fromAddress: string): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort, localAddress: fromAddress });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
