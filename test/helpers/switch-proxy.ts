// A TCP forwarder on 127.0.0.1 whose upstream the test switches: a stand-in for a load balancer that
// sends each new connection to a ready instance ("the same address reaches another instance").
// Connections already forwarded keep their upstream. It counts connections and client bytes per
// upstream, so that a test can wait for "the client opened a new connection" or "N bytes of audio went
// to instance A" instead of sleeping.
import { EventEmitter, once } from 'node:events';
import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';

export interface SwitchProxy {
  port: number;
  /** New connections go to this port from now on. */
  switchTo(upstreamPort: number): void;
  /** Connections forwarded to `upstreamPort` so far. */
  connections(upstreamPort: number): number;
  /** Bytes the clients sent to `upstreamPort` so far. */
  bytesTo(upstreamPort: number): number;
  /**
   * Stops forwarding, both ways, on every connection open now, without closing anything: each side
   * sees a silent peer (a half-open connection, as a dead network leaves it).
   */
  blackHole(): void;
  /** Drops every connection open now, both ways, without a websocket close (each side sees 1006). */
  reset(): void;
  /** Resolves once `predicate` holds (checked after every connection and every forwarded chunk). */
  until(predicate: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startSwitchProxy(upstreamPort: number): Promise<SwitchProxy> {
  let upstream = upstreamPort;
  const conns = new Map<number, number>();
  const bytes = new Map<number, number>();
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  const changed = new EventEmitter();

  const server = createServer((client) => {
    const port = upstream;
    conns.set(port, (conns.get(port) ?? 0) + 1);
    const target = createConnection({ host: '127.0.0.1', port });
    for (const s of [client, target]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {}); // a reset on one side ends the other below
    }
    client.on('data', (chunk: Buffer) => {
      bytes.set(port, (bytes.get(port) ?? 0) + chunk.length);
      changed.emit('change');
    });
    client.pipe(target);
    target.pipe(client);
    const pair: [Socket, Socket] = [client, target];
    pairs.add(pair);
    client.on('close', () => pairs.delete(pair));
    client.on('close', () => target.destroy());
    target.on('close', () => client.destroy());
    changed.emit('change');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  return {
    port: (server.address() as AddressInfo).port,
    switchTo: (port) => {
      upstream = port;
    },
    connections: (port) => conns.get(port) ?? 0,
    reset: () => {
      for (const [client, target] of pairs) {
        client.resetAndDestroy();
        target.resetAndDestroy();
      }
    },
    blackHole: () => {
      for (const [client, target] of pairs) {
        client.unpipe(target);
        target.unpipe(client);
        client.pause();
        target.pause();
      }
    },
    bytesTo: (port) => bytes.get(port) ?? 0,
    until: (predicate, what, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!predicate()) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`proxy: ${what} did not happen within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          changed.off('change', check);
        };
        changed.on('change', check);
        check();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
