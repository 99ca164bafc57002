// A client written from docs/protocol.md alone: a bare `ws` socket, JSON text frames out, every
// server frame kept as it came. Nothing of the project's own client library, so that a server
// change that breaks the document breaks the conformance suite, whatever the library does.
import WebSocket from 'ws';

/** A server event as received: JSON, checked only for what a case asserts. */
export type Received = Record<string, unknown> & { type: string };

export interface Closed {
  code: number;
  reason: string;
}

export class RawClient {
  /** Every event, in order. */
  readonly all: Received[] = [];
  /**
   * The events less `committed`: most promises are about the others, and how many committed points
   * come depends on pacing (at most two a second).
   */
  readonly events: Received[] = [];
  /** Frames that were not a JSON object with a string `type` (the protocol promises none). */
  readonly malformed: string[] = [];
  readonly closed: Promise<Closed>;
  private closedWith: Closed | null = null;
  private readonly waiters = new Set<() => void>();

  private readonly ws: WebSocket;
  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer, isBinary) => {
      const text = data.toString('utf8');
      let event: unknown;
      try {
        event = JSON.parse(text);
      } catch {
        event = null;
      }
      if (isBinary || typeof event !== 'object' || event === null || typeof (event as Received).type !== 'string') this.malformed.push(text);
      else {
        this.all.push(event as Received);
        if ((event as Received).type !== 'committed') this.events.push(event as Received);
      }
      this.wake();
    });
    ws.on('error', () => undefined); // the close code tells the story
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
        this.wake();
      }),
    );
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<RawClient> {
    const ws = new WebSocket(url, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a request (an object, as JSON), a raw text frame (a string) or audio (bytes). */
  send(message: object | string | Uint8Array): void {
    if (!this.isOpen) return; // the server may have closed already; what it did is what the case checks
    if (message instanceof Uint8Array) this.ws.send(message, { binary: true });
    else this.ws.send(typeof message === 'string' ? message : JSON.stringify(message), { binary: false });
  }

  /** Sends audio in frames of at most `frameBytes`. */
  sendAudio(pcm: Uint8Array, frameBytes = 3200): void {
    for (let i = 0; i < pcm.length; i += frameBytes) this.send(pcm.subarray(i, Math.min(pcm.length, i + frameBytes)));
  }

  /** The first event from index `from` on that is of `type` (and passes `where`); waits for it. */
  async next(type: string, where: (e: Received) => boolean = () => true, timeoutMs = 15_000): Promise<Received> {
    const found = await this.until(() => this.all.find((e) => e.type === type && where(e)), `a ${type} event`, timeoutMs);
    return found;
  }

  /** Waits for the close; fails when it does not come. */
  async close(timeoutMs = 15_000): Promise<Closed> {
    return this.until(() => this.closedWith ?? undefined, 'the server to close', timeoutMs);
  }

  /** Closes from the client side. */
  hangUp(): void {
    if (this.isOpen) this.ws.close(1000);
  }

  /** Drops the TCP connection without a close frame. */
  terminate(): void {
    this.ws.terminate();
  }

  /** Stops reading from the socket (a client that does not read its events). */
  stopReading(): void {
    this.ws.pause();
  }

  types(): string[] {
    return this.events.map((e) => e.type);
  }

  private async until<T>(found: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = found();
      if (value !== undefined) return value;
      if (this.closedWith && what !== 'the server to close') {
        throw new Error(`closed (${this.closedWith.code} ${this.closedWith.reason}) while waiting for ${what}; events: ${JSON.stringify(this.events).slice(0, 1500)}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; events: ${JSON.stringify(this.events).slice(0, 1500)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
  }
}
