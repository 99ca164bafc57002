// What a session needs of its websocket (app.ts adapts the ws library's socket; tests may fake it).
export interface SessionSocket {
  send(text: string): void;
  close(code: number, reason: string): void;
  /** Drops the connection without a closing handshake (a client that does not read). */
  terminate(): void;
  /** Stop / start reading from the socket (inbound backpressure). */
  pause(): void;
  resume(): void;
  readonly isOpen: boolean;
  /** Bytes queued for sending that the client has not taken yet. */
  readonly bufferedAmount: number;
}
