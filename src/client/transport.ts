// What a stream needs of a websocket connection, whatever carries it: Node's `ws` (connection.ts) or a
// browser's WebSocket (browser-connection.ts). The event log behind `Connection.next` is shared by both.
// No Node APIs: the page loads this file as it is (src/api/page.ts).
import type { ServerEvent } from '../api/protocol.ts';

export type EventType = ServerEvent['type'];
export type EventOf<T extends EventType> = Extract<ServerEvent, { type: T }>;
export type EventPredicate = (e: ServerEvent) => boolean;

export interface CloseInfo {
  code: number;
  reason: string;
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
  /** Drop the TCP connection without a close handshake (a browser can only close it). */
  terminate(): void;
}

/** Opens a connection to `addr`; rejects with a message that says why it could not. */
export type Connect = (addr: string, headers: Record<string, string> | undefined, options: ConnectOptions) => Promise<Connection>;

/** The address with a `token` query parameter masked, for messages. */
export function redactAddr(addr: string): string {
  return addr.replace(/([?&]token=)[^&#]*/g, '$1***');
}

/** A readable message for connection errors (Node's multi-address connect gives an AggregateError with no message). */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    const parts = [...new Set(err.errors.map((e) => describeError(e)))];
    return parts.join('; ');
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return err.message || (typeof code === 'string' ? code : '') || err.name;
  }
  return String(err);
}

/** The server events of one connection, and the waiters of `next`. */
export interface EventLog {
  readonly events: ServerEvent[];
  readonly invalidFrames: string[];
  readonly closed: Promise<CloseInfo>;
  /** A text frame from the server. */
  received(text: string): void;
  /** The socket closed: pending waiters reject. */
  ended(info: CloseInfo): void;
  next: Connection['next'];
}

export function eventLog(onEvent?: (e: ServerEvent) => void): EventLog {
  const events: ServerEvent[] = [];
  const invalidFrames: string[] = [];
  let cursor = 0;
  let closeInfo: CloseInfo | undefined;
  interface Waiter {
    matches: EventPredicate;
    resolve: (e: ServerEvent) => void;
    reject: (err: Error) => void;
    timer: ReturnType<typeof setTimeout>;
  }
  const waiters: Waiter[] = [];
  let resolveClosed!: (c: CloseInfo) => void;
  const closed = new Promise<CloseInfo>((r) => (resolveClosed = r));

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
  const closedError = (info: CloseInfo) => new Error(`connection closed (${info.code} ${info.reason}) before a matching event; unmatched events: ${pending()}`);

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
        rej(closedError(closeInfo));
      }
    });
  }

  return {
    events,
    invalidFrames,
    closed,
    next,
    received(text) {
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
    },
    ended(info) {
      closeInfo = info;
      for (const w of waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(closedError(info));
      }
      resolveClosed(info);
    },
  };
}
