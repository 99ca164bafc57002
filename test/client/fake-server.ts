// A throwaway websocket server for the client tests: records everything it receives and answers a script.
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { AudioFormat } from '../../src/api/protocol.ts';

/** A JSON text frame from the client (loosely typed: tests also send malformed requests). */
export interface ClientJson {
  request?: string;
  format?: AudioFormat;
  disconnect?: boolean;
  [key: string]: unknown;
}

export interface Received {
  kind: 'text' | 'binary';
  /** ms since the connection was accepted */
  at: number;
  text?: string;
  json?: ClientJson;
  bytes?: Buffer;
}

export interface FakeConnection {
  ws: WebSocket;
  path: string;
  headers: IncomingHttpHeaders;
  messages: Received[];
  /** Close code and reason as seen by the server. */
  closed: Promise<{ code: number; reason: string }>;
  send(event: object): void;
  /** Text frames: parsed JSON, or the raw text when it is not JSON. */
  texts(): Array<ClientJson | string>;
  binaries(): Buffer[];
}

export type Responder = (conn: FakeConnection, msg: Received) => void;

export interface FakeServer {
  port: number;
  url(path?: string): string;
  connections: FakeConnection[];
  /**
   * Resolves with the first connection accepted after this call: a test that shares the server
   * gets its own connection whatever other tests connected before it (tests run in any order).
   */
  nextConnection(): Promise<FakeConnection>;
  close(): Promise<void>;
}

export async function startFakeServer(
  respond: Responder = protocolResponder([]),
  opts: { verifyClient?: (info: { req: { headers: IncomingHttpHeaders } }, cb: (ok: boolean, code?: number) => void) => void } = {},
): Promise<FakeServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: opts.verifyClient });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const port = (wss.address() as AddressInfo).port;
  const connections: FakeConnection[] = [];
  const waiting = new Map<number, (c: FakeConnection) => void>();

  wss.on('connection', (ws, req) => {
    const t0 = performance.now();
    const messages: Received[] = [];
    const conn: FakeConnection = {
      ws,
      path: req.url ?? '',
      headers: req.headers,
      messages,
      closed: new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
      send: (event) => ws.send(JSON.stringify(event)),
      texts: () => messages.filter((m) => m.kind === 'text').map((m) => m.json ?? m.text!),
      binaries: () => messages.filter((m) => m.kind === 'binary').map((m) => m.bytes!),
    };
    connections.push(conn);
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      const at = performance.now() - t0;
      let msg: Received;
      if (isBinary) {
        msg = { kind: 'binary', at, bytes: buf };
      } else {
        const text = buf.toString('utf8');
        let json: ClientJson | undefined;
        try {
          json = JSON.parse(text) as ClientJson;
        } catch {
          json = undefined;
        }
        msg = { kind: 'text', at, text, json };
      }
      messages.push(msg);
      respond(conn, msg);
    });
    waiting.get(connections.length - 1)?.(conn);
    waiting.delete(connections.length - 1);
  });

  return {
    port,
    url: (path = '/api/v1/segmented') => `ws://127.0.0.1:${port}${path}`,
    connections,
    nextConnection: () => new Promise((resolve) => waiting.set(connections.length, resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

/**
 * Answers like the service at the end of a stream: on `stop`, sends `events`, then `stream_end` with the
 * duration of the audio received, then closes with 1000 when `disconnect` is true.
 */
export function protocolResponder(events: object[], opts: { eventsOnStart?: object[] } = {}): Responder {
  return (conn, msg) => {
    if (msg.kind !== 'text' || !msg.json) return;
    if (msg.json.request === 'start') for (const e of opts.eventsOnStart ?? []) conn.send(e);
    if (msg.json.request !== 'stop') return;
    // the stream is what came after the last start
    let i = conn.messages.length - 1;
    while (i >= 0 && conn.messages[i].json?.request !== 'start') i--;
    if (i < 0) return;
    const f = conn.messages[i].json!.format!;
    const bytes = conn.messages.slice(i).reduce((n, m) => n + (m.bytes?.length ?? 0), 0);
    const seconds = bytes / (f.sample_rate * f.channels * (f.bit_depth / 8));
    for (const e of events) conn.send(e);
    conn.send({ type: 'stream_end', channel_durations: Array(f.channels).fill(seconds) });
    if (msg.json.disconnect) conn.ws.close(1000, 'done');
  };
}

/** Deterministic pseudo-random generator (mulberry32), so a failing case can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

export { WebSocket };
