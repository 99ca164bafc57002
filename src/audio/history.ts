// A growable window of a channel's 16 kHz audio addressed by absolute sample index, so that a
// speech segment can be cut out once the VAD has found its bounds. Old audio is dropped as it
// stops being needed, so memory follows the longest open segment, not the stream length.
// Dropping only moves a start offset; the kept samples move to the front when an append needs the
// room, so each sample is moved a bounded number of times (dropping used to copy the kept audio
// once per 32 ms window, a main-thread hot spot at hundreds of streams).

export class AudioHistory {
  private buffer = new Float32Array(16_000);
  /** Absolute index of the first kept sample. */
  private base = 0;
  /** Where the first kept sample is in `buffer`. */
  private offset = 0;
  private length = 0;

  /** Samples the buffer can hold (memory held, for tests and diagnostics). */
  get capacity(): number {
    return this.buffer.length;
  }

  /** Absolute index one past the last sample appended. */
  get end(): number {
    return this.base + this.length;
  }

  append(samples: Float32Array): void {
    if (this.offset + this.length + samples.length > this.buffer.length) {
      const needed = this.length + samples.length;
      // Grow when the kept audio would fill more than half the buffer, else compact in place: that
      // leaves at least as much free room as was copied, which bounds the copying per sample.
      if (needed * 2 > this.buffer.length) {
        const grown = new Float32Array(Math.max(this.buffer.length * 2, needed));
        grown.set(this.buffer.subarray(this.offset, this.offset + this.length));
        this.buffer = grown;
      } else {
        this.buffer.copyWithin(0, this.offset, this.offset + this.length);
      }
      this.offset = 0;
    }
    this.buffer.set(samples, this.offset + this.length);
    this.length += samples.length;
  }

  /** A copy of [from, to); samples before the retained range, or not yet appended, read as zeros. */
  slice(from: number, to: number): Float32Array {
    const out = new Float32Array(Math.max(0, to - from));
    const a = Math.max(from, this.base);
    const b = Math.min(to, this.end);
    if (b > a) out.set(this.view(a, b), a - from);
    return out;
  }

  /** Copies [from, to) into `into` at `at`, as slice() would give it (zeros outside what is kept). */
  copyTo(from: number, to: number, into: Float32Array, at: number): void {
    const a = Math.max(from, this.base);
    const b = Math.min(to, this.end);
    if (b <= a) {
      into.fill(0, at, at + Math.max(0, to - from));
      return;
    }
    into.fill(0, at, at + a - from);
    into.set(this.view(a, b), at + a - from);
    into.fill(0, at + b - from, at + to - from);
  }

  /** Forgets every sample before `index`. */
  dropBefore(index: number): void {
    const drop = Math.min(Math.max(0, index - this.base), this.length);
    this.base += drop;
    this.offset += drop;
    this.length -= drop;
  }

  private view(from: number, to: number): Float32Array {
    return this.buffer.subarray(this.offset + from - this.base, this.offset + to - this.base);
  }
}
