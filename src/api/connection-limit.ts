// The cap on open connections: a few clients that connect and never start a stream must not hold
// every file descriptor of an instance. Every socket that asks for an upgrade is counted from then
// until it closes, whatever becomes of it. Past the cap an upgrade is answered 503 with the
// protocol's JSON error before anything else looks at it, decided in the same tick as the count,
// so that a burst of connections can neither pass the cap nor be refused below it.
import type { IncomingMessage } from 'node:http';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Instruments } from '../telemetry/instruments.ts';
import { ATTR } from '../telemetry/names.ts';
import type { Admission } from './admission.ts';
import { httpResponse } from './upgrade-refusal.ts';

/** Seconds a refused client is told to wait before it tries again. */
export const RETRY_AFTER_S = 5;

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Puts the cap in front of the server's upgrade listeners (call once they are all installed). */
export function capConnections(server: EventEmitter, admission: Admission, metrics: Instruments): void {
  for (const listener of server.listeners('upgrade') as UpgradeListener[]) {
    server.off('upgrade', listener);
    server.on('upgrade', ((req, socket, head) => {
      if (admission.connections >= admission.maxConnections) return refuse(socket, admission.maxConnections, metrics);
      admission.connections++;
      socket.once('close', () => admission.connections--);
      listener(req, socket, head);
    }) satisfies UpgradeListener);
  }
}

function refuse(socket: Duplex, max: number, metrics: Instruments): void {
  metrics.protocolErrors.add(1, { [ATTR.code]: 'too_many_connections' });
  const message = `the server holds its limit of ${max} connections: try again later, or another instance`;
  const body = Buffer.from(JSON.stringify({ type: 'error', code: 'too_many_connections', message }));
  const headers = new Headers({ 'content-type': 'application/json', 'retry-after': String(RETRY_AFTER_S) });
  socket.on('error', () => undefined); // a client that left already
  socket.end(httpResponse({ status: 503, headers, body }));
}
