// One websocket connection of the streaming protocol (docs/protocol.md): `connect` gives a scriptable
// connection that collects the server's events; errors say why a connection could not be made.
import WebSocket from 'ws';
import { type Connection, type ConnectOptions, describeError, eventLog, redactAddr } from './transport.ts';

export * from './transport.ts';

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

    const log = eventLog(onEvent);
    let lastError: Error | undefined;
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
      log.received(buf.toString('utf8'));
    });
    ws.on('close', (code, reason) => {
      signal?.removeEventListener('abort', onAbort);
      if (!opened && !refused) reject(new ConnectError(`cannot connect to ${shown}: ${lastError ? describeError(lastError) : `closed (${code})`}`));
      log.ended({ code, reason: reason.toString('utf8') });
    });

    ws.on('open', () => {
      opened = true;
      const conn: Connection = {
        events: log.events,
        invalidFrames: log.invalidFrames,
        closed: log.closed,
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
        next: log.next,
        close(code = 1000, reason) {
          if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(code, reason);
          return log.closed;
        },
        terminate() {
          ws.terminate();
        },
      };
      resolve(conn);
    });
  });
}
