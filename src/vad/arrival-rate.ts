// How fast VAD requests arrive, from all channels together: an exponentially weighted count, so
// that the batching wait can tell whether anyone is likely to join a batch. At 10 streams (about one
// request every 10 ms) a 10 ms wait gathers about one other request and only delays a final; at 300
// streams the same wait gathers about 30 and cuts the VAD's CPU several times.

/** The estimate follows a change of load within about this long (two 100 ms frame periods). */
export const RATE_WINDOW_MS = 200;

export class ArrivalRate {
  private rate = 0;
  private last = -Infinity;

  /** Counts one arrival at `now` (ms, non-decreasing). */
  arrived(now: number): void {
    this.rate = this.perMs(now) + 1 / RATE_WINDOW_MS;
    this.last = now;
  }

  /** Arrivals expected in the next `ms`, at the rate seen up to `now`. */
  expectedWithin(ms: number, now: number): number {
    return this.perMs(now) * ms;
  }

  private perMs(now: number): number {
    return this.rate * Math.exp(-Math.max(0, now - this.last) / RATE_WINDOW_MS);
  }
}
