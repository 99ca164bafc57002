// A connection (transport.ts) over the WHATWG WebSocket of browsers (and of Node, which has one too).
// A browser cannot set headers on a websocket: a token goes in the address (`?token=`), and a refused
// upgrade shows only as a failed connection, without the server's status or reason.
// No Node APIs: the page loads this file as it is (src/api/page.ts).
import { type Connect, type Connection, eventLog, redactAddr } from './transport.ts';

const DEFAULT_TIMEOUT_MS = 10_000;

export const connectWebSocket: Connect = (addr, headers, options) => {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, signal, onEvent } = options;
  const shown = redactAddr(addr);
  return new Promise<Connection>((resolve, reject) => {
    if (headers && Object.keys(headers).length > 0) {
      reject(new Error(`cannot connect to ${shown}: a browser websocket cannot send headers (${Object.keys(headers).join(', ')}); pass a token as ?token=`));
      return;
    }
    if (signal?.aborted) {
      reject(new Error(`cannot connect to ${shown}: aborted`));
      return;
    }
    const ws = new WebSocket(addr);
    ws.binaryType = 'arraybuffer';
    const log = eventLog(onEvent);
    let opened = false;
    /** Given up by this side: it counts as closed at once, whatever the socket still does. */
    let abandoned = false;

    const end = (code: number, reason: string) => {
      if (abandoned) return;
      abandoned = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', terminate);
      ws.onmessage = null;
      if (!opened) reject(new Error(`cannot connect to ${shown}: ${code === 1006 ? 'the connection failed or was refused' : `closed (${code}${reason ? ` ${reason}` : ''})`}`));
      log.ended({ code, reason });
    };
    // A dead peer never answers a close frame, and a browser may wait long for it: this side gives
    // the connection up at once (1006, as for a connection dropped without a close frame).
    function terminate() {
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(4000, 'given up');
      end(1006, '');
    }
    const timer = setTimeout(() => {
      if (!opened) terminate();
    }, timeoutMs);
    signal?.addEventListener('abort', terminate, { once: true });

    ws.onmessage = (event) => {
      if (typeof event.data === 'string') log.received(event.data); // the protocol has no binary server frames
    };
    ws.onclose = (event) => end(event.code, event.reason);
    ws.onopen = () => {
      if (abandoned) return;
      opened = true;
      clearTimeout(timer);
      resolve({
        events: log.events,
        invalidFrames: log.invalidFrames,
        closed: log.closed,
        get isOpen() {
          return !abandoned && ws.readyState === WebSocket.OPEN;
        },
        send(data) {
          try {
            if (abandoned || ws.readyState !== WebSocket.OPEN) throw new Error('the connection is closed');
            ws.send(data instanceof Uint8Array || typeof data === 'string' ? data : JSON.stringify(data));
            return Promise.resolve();
          } catch (err) {
            const failed = Promise.reject(err instanceof Error ? err : new Error(String(err)));
            failed.catch(() => {}); // fire-and-forget callers must not cause an unhandled rejection
            return failed;
          }
        },
        next: log.next,
        close(code = 1000, reason) {
          if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(code, reason);
          return log.closed;
        },
        terminate,
      });
    };
  });
};
