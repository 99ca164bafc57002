// Simple mode: every sample goes to the model, in consecutive chunks, through one model channel
// (a streaming model keeps its state there and runs the chunks in order). A chunk goes once the
// policy's minimum is queued and a call slot is free; audio that queues while the channel's
// inferences are in flight is batched into the next call, up to the policy's maximum (chunking.ts).
// So the chunks tile the audio exactly, grow when the model is slow, and stay bounded when audio
// arrives faster than real time. Results are sent in order.
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';
import type { Model, ModelChannel } from '../model/index.ts';
import type { ChannelBacklog, ChannelRunner } from './channel-runner.ts';
import { AudioQueue, type ChunkPolicy } from './chunking.ts';
import { inferSegment } from './inference.ts';
import type { OrderedOutput } from './ordered-output.ts';
import { finalLatency, reportedTime, type EndpointOf, type StreamContext } from './stream-context.ts';

export class SimpleRunner implements ChannelRunner {
  private readonly queue = new AudioQueue();
  private nextStart = 0;
  private inflight = 0;
  private inflightSamples = 0;
  private aborted = false;

  private readonly channel: number;
  private readonly model: ModelChannel;
  private readonly out: OrderedOutput;
  private readonly policy: ChunkPolicy;
  private readonly ctx: StreamContext;
  constructor(channel: number, model: Model, out: OrderedOutput, policy: ChunkPolicy, ctx: StreamContext) {
    this.channel = channel;
    this.model = model.openChannel();
    this.out = out;
    this.policy = policy;
    this.ctx = ctx;
  }

  push(samples: Float32Array): void {
    if (samples.length === 0 || this.aborted) return;
    this.queue.push(samples);
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
    // Audio short of the minimum waits for more audio, not for the model: it is no backlog (were it
    // counted, a minimum above limits.max_backlog_seconds would pause reading for good).
    const waiting = this.queue.length >= this.policy.minSamples ? this.queue.length : 0;
    return { model: (waiting + this.inflightSamples) / MODEL_SAMPLE_RATE };
  }

  openFrom(): number {
    return this.nextStart;
  }

  /**
   * Sends chunks while the minimum is queued and a slot is free, or, forced by a request, everything
   * queued at once; either way in pieces of at most the maximum.
   */
  private dispatch(forced?: { endpoint: EndpointOf<'simple'>; at: number }): void {
    const { maxInflight, minSamples, maxSamples } = this.policy;
    while (this.queue.length > 0 && !this.aborted && (forced || (this.inflight < maxInflight && this.queue.length >= minSamples))) {
      const audio = this.queue.take(maxSamples);
      const span = { channel: this.channel, start: this.nextStart, end: this.nextStart + audio.length };
      this.nextStart = span.end;
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
      // Once this chunk's result is out, everything before its end is settled.
      this.out.enqueue({ kind: 'settled', channel: this.channel, time: reportedTime(this.ctx, span.end) });
    }
  }
}
