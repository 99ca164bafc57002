// Simple mode: every sample goes to the model, in consecutive chunks, through one model channel
// (a streaming model keeps its state there and runs the chunks in order). Audio that queues while
// the channel's inferences are in flight is batched into the next call, so the chunks tile the
// audio exactly and grow when the model is slow. Results are sent in order.
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';
import type { Model, ModelChannel } from '../model/index.ts';
import type { ChannelBacklog, ChannelRunner } from './channel-runner.ts';
import { inferSegment } from './inference.ts';
import type { OrderedOutput } from './ordered-output.ts';
import { finalLatency, type EndpointOf, type StreamContext } from './stream-context.ts';

export class SimpleRunner implements ChannelRunner {
  private queued: Float32Array[] = [];
  private queuedSamples = 0;
  private nextStart = 0;
  private inflight = 0;
  private inflightSamples = 0;
  private aborted = false;

  private readonly channel: number;
  private readonly model: ModelChannel;
  private readonly out: OrderedOutput;
  private readonly maxInflight: number;
  private readonly ctx: StreamContext;
  constructor(
    channel: number,
    model: Model,
    out: OrderedOutput,
    maxInflight: number,
    ctx: StreamContext,
  ) {
    this.channel = channel;
    this.model = model.openChannel();
    this.out = out;
    this.maxInflight = maxInflight;
    this.ctx = ctx;
  }

  push(samples: Float32Array): void {
    if (samples.length === 0 || this.aborted) return;
    this.queued.push(samples.slice()); // the caller reuses its buffer
    this.queuedSamples += samples.length;
    this.dispatch();
  }

  finalize(at: number): Promise<void> {
    this.dispatch({ endpoint: 'finalize', at });
    return this.out.drained();
  }

  async end(at: number): Promise<void> {
    this.dispatch({ endpoint: 'end_of_audio', at });
    await this.out.drained();
    this.model.close();
  }

  abort(): void {
    this.aborted = true;
    this.out.abort();
    this.model.close();
  }

  backlog(): ChannelBacklog {
    return { model: (this.queuedSamples + this.inflightSamples) / MODEL_SAMPLE_RATE };
  }

  openFrom(): number {
    return this.nextStart;
  }

  /** Sends what has queued as one chunk while a slot is free, or regardless when forced by a request. */
  private dispatch(forced?: { endpoint: EndpointOf<'simple'>; at: number }): void {
    while (this.queuedSamples > 0 && !this.aborted && (forced || this.inflight < this.maxInflight)) {
      const audio = concat(this.queued, this.queuedSamples);
      const span = { channel: this.channel, start: this.nextStart, end: this.nextStart + audio.length };
      this.nextStart = span.end;
      this.queued = [];
      this.queuedSamples = 0;
      this.inflight++;
      this.inflightSamples += audio.length;
      const readyAt = forced ? forced.at : this.ctx.arrivals.arrivalOf(span.end);
      const result = inferSegment(this.model, audio, span, this.ctx).finally(() => {
        this.inflight--;
        this.inflightSamples -= span.end - span.start;
        this.dispatch();
        this.ctx.progress();
      });
      this.out.enqueue(result, finalLatency(this.ctx, forced?.endpoint ?? 'chunk', readyAt));
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
