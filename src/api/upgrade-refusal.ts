// @hono/node-ws answers an upgrade the app refuses (a 401 from auth, a 404) with the bare status line:
// the app's headers (WWW-Authenticate) and its JSON error body are dropped, so a client cannot say why.
// This keeps the app's answer to each upgrade request and, when node-ws ends the socket with its bare
// refusal, writes that answer instead.
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Hono } from 'hono';

export interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

// Set by the app, read by node-ws; these describe the connection or the body, which we write ourselves.
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length', 'te', 'trailer']);

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Registers the middleware that keeps the app's answer to upgrade requests (call it before any
 * middleware that may refuse one) and returns what wraps node-ws's `injectWebSocket`.
 */
export function keepUpgradeRefusals<S extends EventEmitter>(app: Hono): (server: S, inject: (server: S) => void) => void {
  const answers = new WeakMap<IncomingMessage, Answer>();

  app.use('*', async (c, next) => {
    await next();
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (!incoming || c.req.header('upgrade')?.toLowerCase() !== 'websocket') return;
    answers.set(incoming, { status: c.res.status, headers: c.res.headers, body: Buffer.from(await c.res.clone().arrayBuffer()) });
  });

  return (server, inject) => {
    const before = new Set(server.listeners('upgrade'));
    inject(server);
    for (const listener of server.listeners('upgrade')) {
      if (before.has(listener)) continue;
      const nodeWs = listener as UpgradeListener;
      server.off('upgrade', nodeWs);
      server.on('upgrade', ((req, socket, head) => {
        const end = socket.end.bind(socket);
        // Only node-ws's bare refusal, which carries the status the app answered, is replaced: ws ends
        // the socket too when the handshake itself is bad, after the app let the upgrade through.
        socket.end = ((...args: Parameters<typeof end>) => {
          const answer = answers.get(req);
          const refusal = typeof args[0] === 'string' && answer && args[0].startsWith(`HTTP/1.1 ${answer.status} `);
          return refusal ? end(httpResponse(answer)) : end(...args);
        }) as typeof socket.end;
        nodeWs(req, socket, head);
      }) satisfies UpgradeListener);
    }
  };
}

/** An HTTP/1.1 answer written straight to an upgrade's socket (which then closes). */
export function httpResponse({ status, headers, body }: Answer): Buffer {
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`, 'Connection: close'];
  headers.forEach((value, name) => {
    if (!NOT_FORWARDED.has(name)) lines.push(`${name}: ${value}`);
  });
  lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}
