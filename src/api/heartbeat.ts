// Dead-peer detection: every connection is pinged every interval, and a peer that answered neither
// of two pings in a row is dropped, so that a half-open connection (a client whose network went
// away without a FIN, a NAT that forgot the mapping) frees its stream slot within about two
// intervals instead of holding it until the idle timeout. One timer for all connections.

/** What the heartbeat needs of a websocket (ws's socket has all three). */
export interface Pingable {
  ping(): void;
  terminate(): void;
  on(event: 'pong', listener: () => void): unknown;
}

interface Peer {
  /** A ping is out and not answered yet. */
  awaiting: boolean;
  /** Pings in a row the peer did not answer. */
  missed: number;
}

export class Heartbeat {
  private readonly peers = new Map<Pingable, Peer>();
  private readonly timer: NodeJS.Timeout;

  private readonly onDead: () => void;
  constructor(intervalMs: number, onDead: () => void) {
    this.onDead = onDead;
    this.timer = setInterval(() => this.tick(), intervalMs).unref();
  }

  /** Watches `socket` until it is removed (its close) or found dead. */
  add(socket: Pingable): void {
    const peer: Peer = { awaiting: false, missed: 0 };
    this.peers.set(socket, peer);
    socket.on('pong', () => {
      peer.awaiting = false;
      peer.missed = 0;
    });
  }

  remove(socket: Pingable): void {
    this.peers.delete(socket);
  }

  stop(): void {
    clearInterval(this.timer);
    this.peers.clear();
  }

  private tick(): void {
    for (const [socket, peer] of this.peers) {
      if (peer.awaiting) peer.missed++;
      if (peer.missed >= 2) {
        this.peers.delete(socket);
        this.onDead();
        socket.terminate();
        continue;
      }
      peer.awaiting = true;
      socket.ping();
    }
  }
}
