// A stream's committed point (docs/protocol.md, `committed`): the least of its channels' settled
// times, sent when it advances, at most once per COMMIT_INTERVAL_MS (the latest value goes out when
// the interval is over). A client that loses its connection resumes from it: it must never
// decrease, and never pass anything not yet sent, which the channels guarantee by settling in
// order behind their own events.
import type { SendStream } from './events.ts';

/** At most two committed events a second per stream: each is a message the event loop sends. */
export const COMMIT_INTERVAL_MS = 500;

export class CommitTracker {
  private readonly settledAt: number[];
  private sent: number;
  private waiting: number | null = null;
  private lastSentAt = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  private readonly send: SendStream;
  private readonly now: () => number;
  /** `start`: the stream's first time (its time_offset); nothing is committed before it. */
  constructor(channels: number, start: number, send: SendStream, now: () => number = () => performance.now()) {
    this.settledAt = new Array<number>(channels).fill(start);
    this.sent = start;
    this.send = send;
    this.now = now;
  }

  /** `channel` has sent everything about audio before `time`. */
  settle(channel: number, time: number): void {
    if (this.stopped || time <= this.settledAt[channel]) return;
    this.settledAt[channel] = time;
    const committed = Math.min(...this.settledAt);
    if (committed <= (this.waiting ?? this.sent)) return;
    const wait = this.lastSentAt + COMMIT_INTERVAL_MS - this.now();
    if (wait <= 0) return this.emit(committed);
    this.waiting = committed;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      if (this.waiting !== null) this.emit(this.waiting);
    }, wait).unref();
  }

  /** The stream ended (its stream_end comes next) or was dropped: nothing more is sent. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private emit(time: number): void {
    this.waiting = null;
    this.sent = time;
    this.lastSentAt = this.now();
    this.send({ kind: 'committed', time });
  }
}
