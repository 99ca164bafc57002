// How many streams run and connections are open at once, and whether the service takes new ones
// (readiness).
import type { BacklogRegistry } from '../telemetry/backlog.ts';

export class Admission {
  active = 0;
  /** Open connections that asked for a websocket upgrade and were let through. */
  connections = 0;
  /** False until start-up work (model warm-up) is done. */
  warm = false;
  draining = false;
  private readonly idleWaiters: (() => void)[] = [];

  private readonly maxStreams: number;
  readonly maxConnections: number;
  private readonly saturationSeconds: number;
  /** The backlog of this service's own sessions. */
  private readonly backlog: BacklogRegistry;
  constructor(limits: { maxStreams: number; maxConnections: number; saturationSeconds: number }, backlog: BacklogRegistry) {
    this.backlog = backlog;
    this.maxStreams = limits.maxStreams;
    this.maxConnections = limits.maxConnections;
    this.saturationSeconds = limits.saturationSeconds;
  }

  /** Measured saturation: some stage is, on average per stream, this far behind real time. */
  get saturated(): boolean {
    const perStream = Math.max(1, this.active);
    return Object.values(this.backlog.totals()).some((seconds) => seconds / perStream > this.saturationSeconds);
  }

  get ready(): boolean {
    return this.warm && !this.draining && this.active < this.maxStreams && this.connections < this.maxConnections && !this.saturated;
  }

  /** Why a new stream cannot start now, or null when it can. */
  refusal(): 'too_many_streams' | 'shutting_down' | null {
    if (this.draining) return 'shutting_down';
    if (this.active >= this.maxStreams) return 'too_many_streams';
    return null;
  }

  acquire(): void {
    this.active++;
  }

  release(): void {
    this.active = Math.max(0, this.active - 1);
    if (this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Resolves once no stream is running (at once when none is). */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
