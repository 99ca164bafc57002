// Inbound flow control of one websocket session: the idle timeout (no message for too long) and
// backpressure (stop reading while the stream is too far behind real work, resume at half).

/** While reading is paused, how often to look whether the stream has caught up. */
const BACKPRESSURE_CHECK_MS = 20;

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
}

export class FlowControl {
  private lastMessageAt = performance.now();
  private idleTimer: NodeJS.Timeout | null = null;
  private pausedTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  private readonly o: FlowControlOptions;
  constructor(o: FlowControlOptions) {
    this.o = o;
    this.armIdleTimer(o.idleTimeoutMs);
  }

  /** A message arrived at `at` (performance.now() ms). */
  received(at: number): void {
    this.lastMessageAt = at;
  }

  /** After audio was queued: pause reading if the stream is now too far behind. */
  checkBacklog(): void {
    const limit = this.o.maxBacklogSeconds;
    if (this.stopped || this.pausedTimer || this.o.behindSeconds() <= limit) return;
    this.o.onPause();
    this.o.pause();
    const check = () => {
      if (this.stopped) return;
      if (this.o.behindSeconds() <= limit / 2) {
        this.pausedTimer = null;
        this.o.resume();
      } else {
        this.pausedTimer = setTimeout(check, BACKPRESSURE_CHECK_MS);
      }
    };
    this.pausedTimer = setTimeout(check, BACKPRESSURE_CHECK_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.pausedTimer) clearTimeout(this.pausedTimer);
  }

  /** One timer per session, re-armed for the time left rather than reset on every frame. */
  private armIdleTimer(ms: number): void {
    this.idleTimer = setTimeout(() => {
      const idle = performance.now() - this.lastMessageAt;
      if (idle >= this.o.idleTimeoutMs) this.o.onIdle();
      else this.armIdleTimer(this.o.idleTimeoutMs - idle);
    }, ms);
    this.idleTimer.unref();
  }
}
