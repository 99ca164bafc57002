// Events to one client, with outbound backpressure: a client that does not read its events has
// them pile up in the socket's buffer; past the limit the session is ended (slow_consumer), so
// memory stays bounded.
import type { ServerEvent } from './protocol.ts';
import type { SessionSocket } from './session-socket.ts';

export class Outbound {
  private overflowed = false;

  private readonly socket: SessionSocket;
  private readonly maxBufferedBytes: number;
  private readonly onOverflow: () => void;
  constructor(socket: SessionSocket, maxBufferedBytes: number, onOverflow: () => void) {
    this.socket = socket;
    this.maxBufferedBytes = maxBufferedBytes;
    this.onOverflow = onOverflow;
  }

  /** Sends one event; false when it could not be delivered (socket closed, or the client stopped reading). */
  send(event: ServerEvent): boolean {
    if (!this.socket.isOpen) return false;
    this.socket.send(JSON.stringify(event));
    if (this.overflowed || this.socket.bufferedAmount <= this.maxBufferedBytes) return !this.overflowed;
    this.overflowed = true;
    this.onOverflow();
    return false;
  }
}
