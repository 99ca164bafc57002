// One websocket connection of the streaming protocol (docs/protocol.md): `connect` gives a scriptable
// connection that collects the server's events; errors say why a connection could not be made.
import WebSocket from 'ws';
import type { ServerEvent } from '../api/protocol.ts';

export type EventType = ServerEvent['type'];
export type EventOf<T extends EventType> = Extract<ServerEvent, { type: T }>;
export type EventPredicate = (e: ServerEvent) => boolean;

export interface CloseInfo {
  code: number;
  reason: string;
}

/** What the server answered when it refused the websocket upgrade with a plain HTTP response. */
export interface Refusal {
  status: number;
  statusText: string;
  /** `code` of the server's JSON error body, when it has one (e.g. `unauthorized`). */
  code?: string;
  /** `message` (or `error`) of the server's JSON error body, when it has one. */
  message?: string;
}

/** Error for a connection that could not be established; `refusal` is set when the server refused the upgrade. */
export class ConnectError extends Error {
  readonly refusal?: Refusal;
  constructor(message: string, refusal?: Refusal, options?: ErrorOptions) {
    super(message, options);
    this.refusal = refusal;
    this.name = 'ConnectError';
  }

  /** The HTTP status when the upgrade was refused. */
  get status(): number | undefined {
    return this.refusal?.status;
  }
}

/** `401 unauthorized: a valid bearer token is required`: the status, the server's error code (else the status text) and message. */
export function describeRefusal(r: Refusal): string {
  const head = `${r.status} ${r.code ?? r.statusText}`.trimEnd();
  return r.message ? `${head}: ${r.message}` : head;
}

/** The address with a `token` query parameter masked, for messages. */
export function redactAddr(addr: string): string {
  return addr.replace(/([?&]token=)[^&#]*/g, '$1***');
}

export interface ConnectOptions {
  /** Handshake timeout (default 10000 ms). */
  timeoutMs?: number;
  /** Aborting closes the socket (or the handshake in progress). */
  signal?: AbortSignal;
  /** Called for every server event as it arrives, before `next` waiters are served. */
  onEvent?: (e: ServerEvent) => void;
}

export interface Connection {
  /** Every server event received so far, in order. */
  readonly events: ServerEvent[];
  /** Text frames from the server that were not JSON objects (should stay empty). */
  readonly invalidFrames: string[];
  /** Resolves once the socket is closed (never rejects); code 1006 when it dropped without a close frame. */
  readonly closed: Promise<CloseInfo>;
  readonly isOpen: boolean;
  /**
   * Send a request: an object is sent as JSON text, a string as a text frame verbatim (for malformed input),
   * bytes as one binary frame. Resolves once written to the socket; a failure only rejects if awaited.
   */
  send(data: object | string | Uint8Array): Promise<void>;
  /**
   * The next event (after the one the previous `next` returned) matching `predicate` or of the given type.
   * Events already received count, so there is no race between sending and waiting. Rejects on timeout
   * (default 30000 ms) or when the socket closes first.
   */
  next<T extends EventType>(type: T, timeoutMs?: number): Promise<EventOf<T>>;
  next(predicate?: EventPredicate, timeoutMs?: number): Promise<ServerEvent>;
  /** Close with a close frame (default 1000) and wait until the socket is closed. */
  close(code?: number, reason?: string): Promise<CloseInfo>;
  /** Drop the TCP connection without a close handshake. */
  terminate(): void;
}

/** A readable message for connection errors (Node's multi-address connect gives an AggregateError with no message). */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    const parts = [...new Set(err.errors.map((e) => describeError(e)))];
    return parts.join('; ');
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return err.message || code || err.name;
  }
  return String(err);
}

/** Enough for any JSON error body; a longer body (an HTML page from a proxy) is not read further. */
const MAX_ERROR_BODY = 16 * 1024;

/** `code` and `message` of a JSON error body (`{"code", "message"}` or `{"error"}`), else nothing. */
function errorBody(body: Buffer): { code?: string; message?: string } {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return {};
  }
  if (typeof json !== 'object' || json === null) return {};
  const { code, message, error } = json as Record<string, unknown>;
  const text = typeof message === 'string' ? message : typeof error === 'string' ? error : undefined;
  return { ...(typeof code === 'string' && { code: oneLine(code) }), ...(text !== undefined && { message: oneLine(text) }) };
}

/** Server text fit for a one-line report: whitespace runs (newlines included) collapsed, at most 300 characters. */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 299)}…` : flat;
}

/** Open a websocket to `addr` and start collecting server events. */
export function connect(addr: string, headers?: Record<string, string>, options: ConnectOptions = {}): Promise<Connection> {
  const { timeoutMs = 10_000, signal, onEvent } = options;
  const shown = redactAddr(addr);
  return new Promise<Connection>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ConnectError(`cannot connect to ${shown}: aborted`));
      return;
    }
    let ws: WebSocket;
    try {
      ws = new WebSocket(addr, { headers, handshakeTimeout: timeoutMs });
    } catch (err) {
      reject(new ConnectError(`cannot connect to ${shown}: ${describeError(err)}`, undefined, { cause: err }));
      return;
    }

    const events: ServerEvent[] = [];
    const invalidFrames: string[] = [];
    let cursor = 0;
    let closeInfo: CloseInfo | undefined;
    let lastError: Error | undefined;
    interface Waiter {
      matches: EventPredicate;
      resolve: (e: ServerEvent) => void;
      reject: (err: Error) => void;
      timer: NodeJS.Timeout;
    }
    const waiters: Waiter[] = [];

    const serveWaiters = () => {
      for (const w of [...waiters]) {
        let idx = -1;
        for (let i = cursor; i < events.length; i++) {
          if (w.matches(events[i])) {
            idx = i;
            break;
          }
        }
        if (idx < 0) continue;
        cursor = idx + 1;
        waiters.splice(waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(events[idx]);
      }
    };
    const pending = () => JSON.stringify(events.slice(cursor));

    function next<T extends EventType>(type: T, waitMs?: number): Promise<EventOf<T>>;
    function next(predicate?: EventPredicate, waitMs?: number): Promise<ServerEvent>;
    function next(predicate?: EventPredicate | EventType, waitMs = 30_000): Promise<ServerEvent> {
      const matches: EventPredicate = typeof predicate === 'string' ? (e) => e.type === predicate : (predicate ?? (() => true));
      return new Promise<ServerEvent>((res, rej) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          rej(new Error(`no matching event within ${waitMs} ms; unmatched events: ${pending()}`));
        }, waitMs);
        const waiter: Waiter = { matches, resolve: res, reject: rej, timer };
        waiters.push(waiter);
        serveWaiters();
        if (waiters.includes(waiter) && closeInfo) {
          waiters.splice(waiters.indexOf(waiter), 1);
          clearTimeout(timer);
          rej(new Error(`connection closed (${closeInfo.code} ${closeInfo.reason}) before a matching event; unmatched events: ${pending()}`));
        }
      });
    }

    let resolveClosed!: (c: CloseInfo) => void;
    const closed = new Promise<CloseInfo>((r) => (resolveClosed = r));
    let opened = false;

    const onAbort = () => ws.terminate();
    signal?.addEventListener('abort', onAbort, { once: true });

    // The server answered the upgrade with a plain HTTP response (e.g. 401, 503): read its (JSON) error
    // body so that the caller can say why. `refused` keeps the socket's own error/close from answering first.
    let refused = false;
    ws.on('unexpected-response', (req, res) => {
      refused = true;
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        const refusal: Refusal = { status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', ...errorBody(Buffer.concat(chunks)) };
        reject(new ConnectError(`cannot connect to ${shown}: HTTP ${describeRefusal(refusal)}`, refusal));
        req.destroy();
      };
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_ERROR_BODY) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', finish);
      res.on('close', finish); // also when the body is cut off (the handshake timeout or an abort destroys it)
      res.on('error', () => {});
    });
    ws.on('error', (err) => {
      lastError = err;
      if (!opened && !refused) reject(new ConnectError(`cannot connect to ${shown}: ${describeError(err)}`, undefined, { cause: err }));
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return; // the protocol has no binary server frames
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      const text = buf.toString('utf8');
      let event: unknown;
      try {
        event = JSON.parse(text);
      } catch {
        invalidFrames.push(text);
        return;
      }
      if (typeof event !== 'object' || event === null || Array.isArray(event)) {
        invalidFrames.push(text);
        return;
      }
      events.push(event as ServerEvent);
      onEvent?.(event as ServerEvent);
      serveWaiters();
    });
    ws.on('close', (code, reason) => {
      signal?.removeEventListener('abort', onAbort);
      closeInfo = { code, reason: reason.toString('utf8') };
      if (!opened && !refused) reject(new ConnectError(`cannot connect to ${shown}: ${lastError ? describeError(lastError) : `closed (${code})`}`));
      for (const w of waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`connection closed (${code} ${closeInfo.reason}) before a matching event; unmatched events: ${pending()}`));
      }
      resolveClosed(closeInfo);
    });

    ws.on('open', () => {
      opened = true;
      const conn: Connection = {
        events,
        invalidFrames,
        closed,
        get isOpen() {
          return ws.readyState === WebSocket.OPEN;
        },
        send(data) {
          const payload = data instanceof Uint8Array ? data : typeof data === 'string' ? data : JSON.stringify(data);
          const p = new Promise<void>((res, rej) => {
            ws.send(payload, { binary: data instanceof Uint8Array }, (err) => (err ? rej(err) : res()));
          });
          p.catch(() => {}); // fire-and-forget callers must not cause an unhandled rejection
          return p;
        },
        next,
        close(code = 1000, reason) {
          if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(code, reason);
          return closed;
        },
        terminate() {
          ws.terminate();
        },
      };
      resolve(conn);
    });
  });
}
