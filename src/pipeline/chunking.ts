// Simple mode's chunking: when a channel's queued audio goes to the model, and in pieces of what
// length. A chunk goes once `minSamples` are queued and a call slot is free, taking what is queued
// up to `maxSamples`; a finalize or stop sends everything queued at once, in pieces of at most
// `maxSamples` (the last one may be shorter than the minimum).
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';

/**
 * Longest chunk the operator or a stream may ask for: Whisper's 30 s window (a longer chunk costs
 * it a second window; every backend here is content with less).
 */
export const MAX_CHUNK_MS = 30_000;

export interface ChunkPolicy {
  /** Model calls in flight per channel; audio queued meanwhile joins the next chunk. */
  maxInflight: number;
  /** 16 kHz samples queued before a chunk goes (fewer only when flushed). */
  minSamples: number;
  /** Longest chunk, in 16 kHz samples (≥ minSamples, ≥ 1). */
  maxSamples: number;
}

const msToSamples = (ms: number) => Math.round((ms * MODEL_SAMPLE_RATE) / 1000);

/** The policy for a stream asking for chunks of at least `minMs` (a longer minimum than `maxMs` raises the maximum to it). */
export function chunkPolicy(maxInflight: number, minMs: number, maxMs: number): ChunkPolicy {
  const minSamples = msToSamples(minMs);
  return { maxInflight, minSamples, maxSamples: Math.max(1, minSamples, msToSamples(maxMs)) };
}

/** A channel's audio waiting for the model, in order; chunks are taken from the front. */
export class AudioQueue {
  private parts: Float32Array[] = [];
  /** Samples of parts[0] already taken. */
  private offset = 0;
  private queued = 0;

  get length(): number {
    return this.queued;
  }

  /** Keeps a copy of `samples` (the caller may reuse its buffer). */
  push(samples: Float32Array): void {
    if (samples.length === 0) return;
    this.parts.push(samples.slice());
    this.queued += samples.length;
  }

  /** Removes and returns the first `count` samples (at most `length`). */
  take(count: number): Float32Array {
    const n = Math.min(count, this.queued);
    const first = this.parts[0];
    if (this.offset === 0 && first?.length === n) {
      this.parts.shift();
      this.queued -= n;
      return first; // the common case: one whole part, no copy
    }
    const out = new Float32Array(n);
    let filled = 0;
    while (filled < n) {
      const part = this.parts[0];
      const used = Math.min(part.length - this.offset, n - filled);
      out.set(part.subarray(this.offset, this.offset + used), filled);
      filled += used;
      this.offset += used;
      if (this.offset === part.length) {
        this.parts.shift();
        this.offset = 0;
      }
    }
    this.queued -= n;
    return out;
  }
}
