// Inbound flow control of one websocket session: the idle timeout (no message for too long) and
// backpressure (stop reading while the stream is too far behind real work, resume at half). The
// session says when work was done (progressed), so resuming needs no polling.

export interface FlowControlOptions {
  idleTimeoutMs: number;
  /** Audio seconds behind at which reading pauses. */
  maxBacklogSeconds: number;
  /** Audio seconds the session's stream is behind now. */
  behindSeconds(): number;
  /** Called once when no message came for idleTimeoutMs. */
  onIdle(): void;
  pause(): void;
  resume(): void;
  /** Reading was paused (counted by the caller). */
  onPause(): void;
  /** The clock messages are timed with (ms; default performance.now). */
  now?: () => number;
}

export class FlowControl {
  private lastMessageAt: number;
  private readonly now: () => number;
  private idleTimer: NodeJS.Timeout | null = null;
  private paused = false;
  private stopped = false;

  private readonly o: FlowControlOptions;
  constructor(o: FlowControlOptions) {
    this.o = o;
    this.now = o.now ?? (() => performance.now());
    this.lastMessageAt = this.now();
    this.armIdleTimer(o.idleTimeoutMs);
  }

  /** A message arrived at `at` (ms, on the same clock). */
  received(at: number): void {
    this.lastMessageAt = at;
  }

  /** After audio was queued: pause reading if the stream is now too far behind. */
  checkBacklog(): void {
    const limit = this.o.maxBacklogSeconds;
    if (this.stopped || this.paused || this.o.behindSeconds() <= limit) return;
    this.paused = true;
    this.o.onPause();
    this.o.pause();
  }

  /** Some of the stream's backlog was worked off: resume reading once it is down to half the limit. */
  progressed(): void {
    if (!this.paused || this.stopped || this.o.behindSeconds() > this.o.maxBacklogSeconds / 2) return;
    this.paused = false;
    // The time spent paused was ours, not the client's silence: the idle timeout starts again.
    this.lastMessageAt = this.now();
    this.o.resume();
  }

  stop(): void {
    this.stopped = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
  }

  /** One timer per session, re-armed for the time left rather than reset on every frame. */
  private armIdleTimer(ms: number): void {
    this.idleTimer = setTimeout(() => {
      // While reading is paused, the client's messages wait unread: it is not idle.
      const idle = this.paused ? 0 : this.now() - this.lastMessageAt;
      if (idle >= this.o.idleTimeoutMs) this.o.onIdle();
      else this.armIdleTimer(this.o.idleTimeoutMs - idle);
    }, ms);
    this.idleTimer.unref();
  }
}
