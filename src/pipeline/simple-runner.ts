// Simple mode: every sample goes to the model, in consecutive chunks. Audio that queues while the
// channel's inferences are in flight is batched into the next call, so the chunks tile the audio
// exactly and grow when the model is slow. Results are sent in order.
import type { Model } from '../model/index.ts';
import type { ChannelRunner } from './channel-runner.ts';
import { inferSegment } from './inference.ts';
import type { OrderedOutput } from './ordered-output.ts';

export class SimpleRunner implements ChannelRunner {
  private queued: Float32Array[] = [];
  private queuedSamples = 0;
  private nextStart = 0;
  private inflight = 0;
  private aborted = false;

  constructor(
    private readonly channel: number,
    private readonly model: Model,
    private readonly out: OrderedOutput,
    private readonly maxInflight: number,
  ) {}

  push(samples: Float32Array): void {
    if (samples.length === 0 || this.aborted) return;
    this.queued.push(samples);
    this.queuedSamples += samples.length;
    this.dispatch(false);
  }

  finalize(): Promise<void> {
    this.dispatch(true);
    return this.out.drained();
  }

  end(): Promise<void> {
    return this.finalize();
  }

  abort(): void {
    this.aborted = true;
    this.out.abort();
  }

  /** Sends what has queued as one chunk while a slot is free (or regardless, when forced). */
  private dispatch(force: boolean): void {
    while (this.queuedSamples > 0 && !this.aborted && (force || this.inflight < this.maxInflight)) {
      const audio = concat(this.queued, this.queuedSamples);
      const span = { channel: this.channel, start: this.nextStart, end: this.nextStart + audio.length };
      this.nextStart = span.end;
      this.queued = [];
      this.queuedSamples = 0;
      this.inflight++;
      const result = inferSegment(this.model, audio, span).finally(() => {
        this.inflight--;
        this.dispatch(false);
      });
      this.out.enqueue(result);
    }
  }
}

function concat(parts: Float32Array[], total: number): Float32Array {
  if (parts.length === 1) return parts[0];
  const out = new Float32Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
