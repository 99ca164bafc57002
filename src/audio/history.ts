// A growable window of a channel's 16 kHz audio addressed by absolute sample index, so that a
// speech segment can be cut out once the VAD has found its bounds. Old audio is dropped as it
// stops being needed, so memory follows the longest open segment, not the stream length.

export class AudioHistory {
  private buffer = new Float32Array(16_000);
  /** Absolute index of buffer[0]. */
  private base = 0;
  private length = 0;

  /** Absolute index one past the last sample appended. */
  get end(): number {
    return this.base + this.length;
  }

  append(samples: Float32Array): void {
    if (this.length + samples.length > this.buffer.length) {
      const grown = new Float32Array(Math.max(this.buffer.length * 2, this.length + samples.length));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.buffer.set(samples, this.length);
    this.length += samples.length;
  }

  /** A copy of [from, to); samples before the retained range, or not yet appended, read as zeros. */
  slice(from: number, to: number): Float32Array {
    const out = new Float32Array(Math.max(0, to - from));
    const a = Math.max(from, this.base);
    const b = Math.min(to, this.end);
    if (b > a) out.set(this.buffer.subarray(a - this.base, b - this.base), a - from);
    return out;
  }

  /** Forgets every sample before `index`. */
  dropBefore(index: number): void {
    const drop = Math.min(Math.max(0, index - this.base), this.length);
    if (drop === 0) return;
    this.buffer.copyWithin(0, drop, this.length);
    this.base += drop;
    this.length -= drop;
  }
}
