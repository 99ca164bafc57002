// Segmented mode: Silero VAD over 512-sample windows finds speech; each speech segment yields
// `active`, interim segments (if asked for), `inactive` and one final segment from the model.
import { AudioHistory } from '../audio/history.ts';
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';
import type { Model } from '../model/index.ts';
import type { TaskPanic } from '../task.ts';
import type { VadRequestTiming } from '../task-timing.ts';
import { trace } from '@opentelemetry/api';
import type { SegmentEvent, Segmenter } from '../vad/segmenter.ts';
import { MAX_WINDOWS_PER_REQUEST, type SileroVad, type VadChannelState, type WindowSource } from '../vad/silero.ts';
import { VAD_WINDOW } from '../vad/window.ts';
import type { ChannelBacklog, ChannelRunner } from './channel-runner.ts';
import type { ChannelEvent } from './events.ts';
import { inferSegment } from './inference.ts';
import type { OrderedOutput } from './ordered-output.ts';
import { finalLatency, reportedTime, type EndpointOf, type StreamContext } from './stream-context.ts';

const seconds = (samples: number) => samples / MODEL_SAMPLE_RATE;
/** A channel in silence marks its settled point at most this often (samples: 0.5 s of audio). */
const SETTLE_EVERY = 8000;

export class SegmentedRunner implements ChannelRunner {
  private readonly history = new AudioHistory();
  private readonly vadState: VadChannelState;
  /** Samples the VAD has analysed; the rest of `history` waits for a whole window. */
  private analysed = 0;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private stopped = false;
  private inflightSamples = 0;
  /** Samples before which this channel's events have all been queued (its last settled mark). */
  private settledTo = 0;

  private readonly channel: number;
  private readonly vad: SileroVad;
  private readonly segmenter: Segmenter;
  private readonly model: Model;
  private readonly out: OrderedOutput;
  private readonly ctx: StreamContext;
  constructor(
    channel: number,
    vad: SileroVad,
    segmenter: Segmenter,
    model: Model,
    out: OrderedOutput,
    ctx: StreamContext,
  ) {
    this.channel = channel;
    this.vad = vad;
    this.segmenter = segmenter;
    this.model = model;
    this.out = out;
    this.ctx = ctx;
    this.vadState = vad.openChannel();
    // VAD batches mix channels of many streams: each links to the channel spans it served.
    this.vadState.link = trace.getSpanContext(ctx.trace);
  }

  push(samples: Float32Array): void {
    if (this.stopped || samples.length === 0) return;
    this.history.append(samples);
    this.startLoop();
  }

  async finalize(at: number): Promise<void> {
    await this.loop;
    this.handle(this.segmenter.flush(this.history.end), 'finalize', at);
    this.settle(true);
    await this.out.drained();
  }

  async end(at: number): Promise<void> {
    await this.loop;
    const total = this.history.end;
    if (!this.stopped && total > this.analysed) {
      // The last partial window, zero-padded as Silero does, still counts.
      const window = this.history.slice(this.analysed, this.analysed + VAD_WINDOW);
      await this.ctx.service.tasks.guard('vad', () => this.analyse(window, total)).catch((panic: TaskPanic) => this.fail(panic));
    }
    this.vad.closeChannel(this.vadState);
    this.handle(this.segmenter.flush(total), 'end_of_audio', at);
    await this.out.drained();
  }

  abort(): void {
    this.stopped = true;
    this.vad.closeChannel(this.vadState);
    this.out.abort();
  }

  backlog(): ChannelBacklog {
    return { vad: seconds(this.history.end - this.analysed), model: seconds(this.inflightSamples) };
  }

  openFrom(): number {
    return this.analysed;
  }

  speaking(): boolean {
    return this.segmenter.inSpeech;
  }

  /**
   * One loop per channel works through whole windows, sending every whole window waiting (up to
   * MAX_WINDOWS_PER_REQUEST) in one VAD request; pushes during an await are picked up by it.
   */
  private startLoop(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.ctx.service.tasks.guard('vad', async () => {
      try {
        while (!this.stopped) {
          const windows = Math.min(Math.floor((this.history.end - this.analysed) / VAD_WINDOW), MAX_WINDOWS_PER_REQUEST);
          if (windows === 0) break;
          const from = this.analysed;
          const end = from + windows * VAD_WINDOW;
          // Read straight into the VAD job (no copy per request): these samples stay in the history until answered.
          await this.analyse({ length: end - from, copyTo: (into, at) => this.history.copyTo(from, end, into, at) }, end);
        }
      } finally {
        this.running = false;
      }
    }).catch((panic: TaskPanic) => this.fail(panic));
  }

  /** Analyses whole windows from `this.analysed`; `end` is where the real audio in them ends. */
  private async analyse(samples: Float32Array | WindowSource, end: number): Promise<void> {
    const { probs, timing } = await this.vad.probabilities(this.vadState, samples, seconds(end - this.analysed));
    let ended = false;
    for (const prob of probs) {
      const start = this.analysed;
      const windowEnd = Math.min(start + VAD_WINDOW, end);
      this.analysed = windowEnd;
      if (this.handle(this.segmenter.push(prob, start, windowEnd), 'vad', this.ctx.arrivals.arrivalOf(windowEnd), timing)) ended = true;
      this.history.dropBefore(this.segmenter.retainFrom(this.analysed));
    }
    this.settle(ended);
    this.ctx.progress();
  }

  /**
   * Queues the events of one window (or flush); true when a segment ended. `vad`: the times of the
   * VAD request that analysed the window, for the breakdown of a final it endpointed.
   */
  private handle(events: SegmentEvent[], endpoint: EndpointOf<'segmented'>, readyAt: number, vad?: VadRequestTiming): boolean {
    let ended = false;
    for (const e of events) {
      switch (e.kind) {
        case 'active':
          this.out.enqueue({ kind: 'active', channel: this.channel, time: reportedTime(this.ctx, e.start) });
          break;
        case 'interim':
          this.out.enqueue(this.infer(e.start, e.end, false));
          break;
        case 'final':
          this.ctx.service.telemetry.metrics.vadSpeechSeconds.add(seconds(e.end - e.start));
          this.out.enqueue({ kind: 'inactive', channel: this.channel, time: reportedTime(this.ctx, e.end) });
          this.out.enqueue(this.infer(e.start, e.end, true), finalLatency(this.ctx, endpoint, readyAt, vad));
          ended = true;
          break;
      }
    }
    return ended;
  }

  /**
   * Marks, behind the events queued so far, how far this channel is settled: nothing before the
   * earliest sample a segment can still include will be sent again (Segmenter.retainFrom). On the
   * VAD window grid, so that a stream resumed from there analyses the same windows; at most every
   * SETTLE_EVERY samples, and at once after a segment ended (`now`).
   */
  private settle(now: boolean): void {
    const at = Math.floor(this.segmenter.retainFrom(this.analysed) / VAD_WINDOW) * VAD_WINDOW;
    if (at <= this.settledTo || (!now && at - this.settledTo < SETTLE_EVERY)) return;
    this.settledTo = at;
    this.out.enqueue({ kind: 'settled', channel: this.channel, time: reportedTime(this.ctx, at) });
  }

  private infer(start: number, end: number, isFinal: boolean): Promise<ChannelEvent> {
    this.inflightSamples += end - start;
    return inferSegment(this.model, this.history.slice(start, end), { channel: this.channel, start, end, isFinal }, this.ctx).finally(() => {
      this.inflightSamples -= end - start;
      this.ctx.progress();
    });
  }

  /** The VAD crashed for this channel: say so once and stop analysing it; other channels go on. */
  private fail(_panic: TaskPanic): void {
    this.stopped = true;
    this.vad.closeChannel(this.vadState);
    this.out.enqueue({ kind: 'failure', channel: this.channel, cause: 'internal' });
  }
}
