// When each piece of a stream's audio arrived, by 16 kHz sample index: the start of the
// final-result latency clock is "the audio that ended the segment arrived".

export class ArrivalClock {
  /** Parallel arrays: after the push that arrived at `times[i]`, the stream had `ends[i]` samples. */
  private ends: number[] = [];
  private times: number[] = [];
  private head = 0;

  mark(endSample: number, at: number): void {
    this.ends.push(endSample);
    this.times.push(at);
  }

  /** When the audio containing sample `sample - 1` arrived (the last known time if it has not). */
  arrivalOf(sample: number): number {
    let lo = this.head;
    let hi = this.ends.length - 1;
    if (hi < lo) return performance.now();
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid] >= sample) hi = mid;
      else lo = mid + 1;
    }
    return this.times[lo];
  }

  /** Forgets arrivals of audio wholly before `sample` (no segment can end there any more). */
  forget(sample: number): void {
    while (this.head < this.ends.length - 1 && this.ends[this.head] < sample) this.head++;
    if (this.head > 1024) {
      this.ends = this.ends.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}
