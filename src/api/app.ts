// The Hono application: HTTP routes and the two websocket routes.
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono, type Handler } from 'hono';
import type { WSContext } from 'hono/ws';
import type { WebSocket } from 'ws';
import { log } from '../log.ts';
import type { Mode } from '../pipeline/stream.ts';
import { bearerAuth } from './auth.ts';
import { capConnections } from './connection-limit.ts';
import { Heartbeat } from './heartbeat.ts';
import { pageRoutes } from './page.ts';
import { Session, type SessionDeps, type SessionSocket } from './session.ts';
import { keepUpgradeRefusals } from './upgrade-refusal.ts';

export type AppDeps = SessionDeps;

// @hono/node-ws reports socket errors (invalid UTF-8, oversized frames) as `new ErrorEvent(...)`, a
// browser global that Node does not have (not even Node 24: `typeof ErrorEvent` is 'undefined'):
// without this stand-in that throws and the error never reaches onError below
// (test/api/bad-input.test.ts checks it).
class SocketErrorEvent extends Event {
  readonly error: unknown;
  readonly message: string;
  constructor(type: string, init: { error?: unknown; message?: string } = {}) {
    super(type);
    this.error = init.error;
    this.message = init.message ?? (init.error instanceof Error ? init.error.message : '');
  }
}
(globalThis as { ErrorEvent?: unknown }).ErrorEvent ??= SocketErrorEvent;

export function createApp(deps: AppDeps) {
  const app = new Hono();
  const nodeWs = createNodeWebSocket({ app });
  type UpgradeServer = Parameters<typeof nodeWs.injectWebSocket>[0];
  const withRefusalBodies = keepUpgradeRefusals<UpgradeServer>(app); // before auth: a refused upgrade keeps its JSON error
  // ws enforces a hard cap itself (closing with 1009 and no event); ours is lower so that
  // oversized frames get the protocol's `frame_too_large` error first.
  nodeWs.wss.options.maxPayload = Math.max(4 * deps.config.limits.max_frame_bytes, 1 << 20);
  const sessions = new Set<Session>();
  const { tasks, telemetry } = deps.service;
  const heartbeat = new Heartbeat(deps.config.limits.ping_interval_ms, () => telemetry.metrics.deadPeers.add(1));
  const route = tasks.monitor('route');

  // Every HTTP request is one instance of the `route` task; its handler is one poll. Scrapes are
  // left out: nothing exported may change because someone scraped.
  app.use('*', async (c, next) => {
    if (c.req.path === '/metrics') return next();
    route.instrumented();
    const started = performance.now();
    try {
      await next();
    } finally {
      route.poll((performance.now() - started) / 1000);
      route.dropped();
    }
  });

  const { tokens, protect_metrics } = deps.config.auth;
  if (tokens.length > 0) {
    const auth = bearerAuth(tokens, telemetry.metrics);
    app.use('/api/v1/simple', auth);
    app.use('/api/v1/segmented', auth);
    if (protect_metrics) app.use('/metrics', auth);
  }

  app.get('/api/v1/health', (c) => {
    const recent = telemetry.panics.recentCount();
    return c.json(recent > 0 ? { status: 'degraded', panics: recent } : { status: 'healthy' });
  });

  app.get('/api/v1/ready', (c) => {
    const { admission } = deps;
    const body = {
      ready: admission.ready,
      active_streams: admission.active,
      connections: admission.connections,
      draining: admission.draining,
      warm: admission.warm,
      saturated: admission.saturated,
    };
    return c.json(body, admission.ready ? 200 : 503);
  });

  app.get('/metrics', async (c) => {
    const exposition = telemetry.render();
    if (!exposition) return c.text('metrics are disabled\n', 404);
    return c.body(await exposition, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });

  const websocket = (mode: Mode) =>
    nodeWs.upgradeWebSocket(() => {
      let session: Session | null = null;
      return {
        onOpen(_event, ws) {
          telemetry.metrics.activeConnections.add(1);
          const raw = ws.raw as WebSocket;
          heartbeat.add(raw);
          const opened = new Session(mode, deps, socketOf(ws));
          session = opened;
          sessions.add(opened);
          // Messages straight from `ws`, not through an `onMessage` here: @hono/node-ws copies every
          // binary message into a new ArrayBuffer and wraps it in a MessageEvent, a main-thread cost
          // per frame at hundreds of streams (docs/performance.md). Without `onMessage` it does
          // neither. With binaryType 'nodebuffer' (ws's default, set here so that it stays so) every
          // message is one Buffer (a Uint8Array) of its own, fragments joined, never reused.
          raw.binaryType = 'nodebuffer';
          raw.on('message', (data: Buffer, isBinary) => opened.receive(isBinary ? data : data.toString('utf8')));
        },
        onClose(_event, ws) {
          telemetry.metrics.activeConnections.add(-1);
          heartbeat.remove(ws.raw as WebSocket);
          if (session) {
            session.clientClosed();
            sessions.delete(session);
          }
        },
        onError(event) {
          log.warn({ err: (event as ErrorEvent).error }, 'websocket error');
        },
      };
    });

  // A plain HTTP request on a websocket route (no `Upgrade: websocket`) gets there after the upgrade
  // helper passed it on: 426 names what is missing (RFC 9110 §15.5.22) instead of a bare 404.
  const upgradeRequired: Handler = (c) =>
    c.json({ error: 'this route is a websocket: connect with a websocket client (Upgrade: websocket), see docs/protocol.md' }, 426, {
      upgrade: 'websocket',
      connection: 'Upgrade',
    });
  app.get('/api/v1/simple', websocket('simple'), upgradeRequired);
  app.get('/api/v1/segmented', websocket('segmented'), upgradeRequired);

  app.route('/', pageRoutes());

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((err, c) => {
    // A throw in a route handler is a panic of the `route` task.
    tasks.recordPanic('route', err);
    return c.json({ error: 'internal server error' }, 500);
  });

  const injectWebSocket = (server: UpgradeServer) => {
    withRefusalBodies(server, (s) => nodeWs.injectWebSocket(s));
    // Outermost: a full instance says so to every client, with or without a token.
    capConnections(server, deps.admission, telemetry.metrics);
  };
  return { app, injectWebSocket, sessions, heartbeat };
}

function socketOf(ws: WSContext): SessionSocket {
  const raw = ws.raw as WebSocket;
  return {
    send: (text) => ws.send(text),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => raw.terminate(),
    pause: () => raw.pause(),
    resume: () => raw.resume(),
    get isOpen() {
      return ws.readyState === 1;
    },
    get bufferedAmount() {
      return raw.bufferedAmount;
    },
  };
}
