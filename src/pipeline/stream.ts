// One audio stream of a websocket session: decode the interleaved PCM, resample to 16 kHz, split
// the channels and drive one runner per channel (simple or segmented). Channels are independent.
import { microseconds, type PcmFormat } from '../audio/format.ts';
import { deinterleave, PcmDecoder } from '../audio/pcm-decoder.ts';
import { createResampler, type Resampler } from '../audio/resampler.ts';
import type { ServiceContext } from '../context.ts';
import type { Logger } from '../log.ts';
import type { Model } from '../model/index.ts';
import type { TaskMonitor } from '../telemetry/task-monitor.ts';
import { ATTR } from '../telemetry/names.ts';
import { recordStageWork } from '../telemetry/stage-guard.ts';
import { StageTally, type StageTotals } from '../telemetry/stage-tally.ts';
import { startChildSpan, type Context, type Span } from '../telemetry/tracing.ts';
import { Segmenter, type SegmenterSettings, type SegmenterTuning } from '../vad/segmenter.ts';
import type { SileroVad } from '../vad/silero.ts';
import { ArrivalClock } from './arrival-clock.ts';
import type { ChannelRunner } from './channel-runner.ts';
import { chunkPolicy } from './chunking.ts';
import { CommitTracker } from './commit-tracker.ts';
import type { SendStream } from './events.ts';
import { OrderedOutput } from './ordered-output.ts';
import { SegmentedRunner } from './segmented-runner.ts';
import { SimpleRunner } from './simple-runner.ts';
import type { Mode, StreamContext } from './stream-context.ts';

export type { Mode } from './stream-context.ts';

export interface StreamParams {
  mode: Mode;
  format: PcmFormat;
  interimResults: boolean;
  vad?: SegmenterTuning;
  /** Simple mode: this stream's minimum chunk in ms (unset: pipeline.simple_min_chunk_ms). */
  minChunkMs?: number;
  /** Trace context of the stream's span. */
  trace: Context;
  /** Seconds added to every time reported (see StreamContext.timeOffset). */
  timeOffset: number;
  /** The stream's logger (its lines carry the stream's id). */
  log: Logger;
  /** Called whenever some of the stream's backlog was worked off. */
  progress: () => void;
}

/** The service's settings for every stream (converted from the config where the service is assembled). */
export interface PipelineOptions {
  /** The simple route's chunking: model calls in flight per channel, shortest and longest chunk. */
  simple: { maxInflight: number; minChunkMs: number; maxChunkMs: number };
  /** The segmenter's defaults; a stream may tune some (StreamParams.vad); interims use `interimIntervalMs` when asked for. */
  segmenter: SegmenterSettings;
}

/** What every stream shares: loaded once at start-up. */
export interface PipelineDeps {
  service: ServiceContext;
  pipeline: PipelineOptions;
  model: Model;
  vad: SileroVad;
}

/** How a finished stream ended. */
export interface StreamEnd {
  /** Seconds of audio per channel. */
  durations: number[];
  /** Bytes received after the last whole sample frame (one sample of every channel): not audio. */
  undecodedBytes: number;
}

/** Backlog per stage, in seconds of audio summed over channels. */
export interface StreamBacklog {
  vad: number;
  model: number;
}

/** How a stream is doing now, from the figures its metrics are recorded from (for its `stats`). */
export interface StreamSnapshot {
  /** Seconds of audio decoded so far, per channel: the stream's audio_received_seconds_total. */
  receivedSeconds: number;
  /** `receivedSeconds` on the client's timeline (time offset added), to the microsecond. */
  time: number;
  route: Mode;
  channels: number;
  backlog: StreamBacklog;
  /** The stream's model runs so far: its processing/media_duration_seconds{pipeline="model"}. */
  model: StageTotals;
  /** Segmented route: per channel, whether the VAD is inside speech. */
  speaking?: boolean[];
}

export class AudioStream {
  private released = false;
  /** 16 kHz samples per channel handed to the runners so far. */
  private resampled = 0;
  private lastDecodeEnd: number | null = null;
  /** Built once: attributes are recorded with every frame. */
  private readonly routeAttributes: Record<string, Mode>;
  private readonly decoding: TaskMonitor;

  private readonly params: StreamParams;
  private readonly decoder: PcmDecoder;
  private readonly resampler: Resampler;
  private readonly channels: ChannelRunner[];
  private readonly ctx: StreamContext;
  private readonly channelSpans: Span[];
  private readonly commits: CommitTracker;
  private constructor(params: StreamParams, parts: { resampler: Resampler; channels: ChannelRunner[]; ctx: StreamContext; channelSpans: Span[]; commits: CommitTracker }) {
    this.params = params;
    this.decoder = new PcmDecoder(params.format);
    this.resampler = parts.resampler;
    this.channels = parts.channels;
    this.ctx = parts.ctx;
    this.channelSpans = parts.channelSpans;
    this.commits = parts.commits;
    this.routeAttributes = { [ATTR.route]: params.mode };
    this.decoding = parts.ctx.service.tasks.monitor('audio_decoding');
    this.decoding.instrumented();
  }

  /** `send` gets the stream's events: its channels' (each channel's in order) and its committed point. */
  static async open(params: StreamParams, deps: PipelineDeps, send: SendStream): Promise<AudioStream> {
    const { format } = params;
    const resampler = await createResampler(format.sampleRate, format.channels);
    const ctx: StreamContext = {
      service: deps.service,
      progress: params.progress,
      timeOffset: params.timeOffset,
      route: params.mode,
      arrivals: new ArrivalClock(),
      trace: params.trace,
      log: params.log,
      modelTally: new StageTally(),
    };
    const spans = Array.from({ length: format.channels }, (_, c) => startChildSpan('channel', params.trace, { channel: c }));
    const commits = new CommitTracker(format.channels, microseconds(params.timeOffset), send);
    // A channel's settled marks reach the tracker in order behind its events, never the client.
    const out = () => new OrderedOutput((e) => (e.kind === 'settled' ? commits.settle(e.channel, e.time) : send(e)));
    const channels = spans.map(({ ctx: trace }, c) => createRunner(c, params, deps, out(), { ...ctx, trace }));
    return new AudioStream(params, { resampler, channels, ctx, channelSpans: spans.map((s) => s.span), commits });
  }

  /** Seconds of audio received so far, per channel (to the microsecond). */
  get durationSeconds(): number {
    return microseconds(this.decoder.frames / this.params.format.sampleRate);
  }

  snapshot(): StreamSnapshot {
    // audio_received_seconds_total is counted from the same decoded frames, frame by frame (decode()).
    const received = this.decoder.frames / this.params.format.sampleRate;
    return {
      receivedSeconds: microseconds(received),
      time: microseconds(this.ctx.timeOffset + received),
      route: this.params.mode,
      channels: this.channels.length,
      backlog: this.backlog(),
      model: this.ctx.modelTally.totals(),
      ...(this.params.mode === 'segmented' ? { speaking: this.channels.map((c) => c.speaking?.() ?? false) } : {}),
    };
  }

  /**
   * Decodes one binary frame and hands each channel its 16 kHz audio (synchronous, short).
   * `arrivedAt` (performance.now() ms) is when the frame was received.
   */
  push(bytes: Uint8Array, arrivedAt: number): void {
    const started = performance.now();
    if (this.lastDecodeEnd !== null && arrivedAt > this.lastDecodeEnd) this.decoding.idled((arrivedAt - this.lastDecodeEnd) / 1000);
    this.decoding.scheduled((started - arrivedAt) / 1000);
    const perChannel = this.ctx.service.tasks.guardSync('audio_decoding', () => this.decode(bytes, started));
    this.deliver(perChannel, arrivedAt);
    this.lastDecodeEnd = performance.now();
  }

  /** Decodes and resamples one frame; its time since `started` is one poll and one unit of stage work. */
  private decode(bytes: Uint8Array, started: number): Float32Array[] {
    const { format } = this.params;
    const framesBefore = this.decoder.frames;
    const samples = this.decoder.decode(bytes);
    const perChannel = deinterleave(this.resampler.process(samples), format.channels);
    const audioSeconds = (this.decoder.frames - framesBefore) / format.sampleRate;
    const seconds = (performance.now() - started) / 1000;
    this.decoding.poll(seconds);
    const { metrics } = this.ctx.service.telemetry;
    recordStageWork(metrics, 'audio_decoding', seconds, audioSeconds);
    metrics.audioReceivedSeconds.add(audioSeconds, this.routeAttributes);
    return perChannel;
  }

  async finalize(at: number): Promise<void> {
    await Promise.all(this.channels.map((c) => c.finalize(at)));
  }

  /**
   * End of audio (`at`: when the stop arrived): every result is sent when this resolves. Returns the
   * per-channel durations, and the bytes after the last whole sample frame, which cannot be decoded.
   */
  async finish(at: number): Promise<StreamEnd> {
    const tail = this.ctx.service.tasks.guardSync('audio_decoding', () => deinterleave(this.resampler.flush(), this.params.format.channels));
    this.deliver(tail, at);
    await Promise.all(this.channels.map((c) => c.end(at)));
    this.release();
    return { durations: this.channels.map(() => this.durationSeconds), undecodedBytes: this.decoder.pendingBytes };
  }

  abort(): void {
    for (const c of this.channels) c.abort();
    this.release();
  }

  backlog(): StreamBacklog {
    let vad = 0;
    let model = 0;
    for (const c of this.channels) {
      const b = c.backlog();
      vad += b.vad ?? 0;
      model += b.model;
    }
    return { vad, model };
  }

  private deliver(perChannel: Float32Array[], arrivedAt: number): void {
    if (perChannel[0].length > 0) {
      this.resampled += perChannel[0].length;
      this.ctx.arrivals.mark(this.resampled, arrivedAt);
    }
    let open = Infinity;
    perChannel.forEach((samples, c) => {
      this.channels[c].push(samples);
      open = Math.min(open, this.channels[c].openFrom());
    });
    this.ctx.arrivals.forget(open);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.commits.stop();
    this.resampler.destroy();
    for (const span of this.channelSpans) {
      span.setAttribute('audio_seconds', this.durationSeconds);
      span.end();
    }
    this.decoding.dropped();
  }
}

function createRunner(channel: number, params: StreamParams, deps: PipelineDeps, out: OrderedOutput, ctx: StreamContext): ChannelRunner {
  if (params.mode === 'simple') {
    const { maxInflight, minChunkMs, maxChunkMs } = deps.pipeline.simple;
    return new SimpleRunner(channel, deps.model, out, chunkPolicy(maxInflight, params.minChunkMs ?? minChunkMs, maxChunkMs), ctx);
  }
  const defaults = deps.pipeline.segmenter;
  const tuning = params.vad ?? {};
  const segmenter = new Segmenter({
    threshold: tuning.threshold ?? defaults.threshold,
    minSilenceMs: tuning.minSilenceMs ?? defaults.minSilenceMs,
    speechPadMs: tuning.speechPadMs ?? defaults.speechPadMs,
    minSpeechMs: tuning.minSpeechMs ?? defaults.minSpeechMs,
    interimIntervalMs: params.interimResults ? defaults.interimIntervalMs : 0,
  });
  return new SegmentedRunner(channel, deps.vad, segmenter, deps.model, out, ctx);
}
