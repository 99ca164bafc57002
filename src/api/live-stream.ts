// One running stream of a session and its bookkeeping: the admission slot, the stream's span,
// active_streams, streams_total{outcome}, segments_total, time to first result and its `stats`
// timer. However a stream ends (finished, dropped by the client, cut by the server), it ends
// through end(), once.
import { randomUUID } from 'node:crypto';
import { log, type Logger } from '../log.ts';
import type { StreamEvent } from '../pipeline/events.ts';
import { AudioStream, type Mode, type PipelineDeps, type StreamBacklog } from '../pipeline/stream.ts';
import type { Instruments } from '../telemetry/instruments.ts';
import { ATTR } from '../telemetry/names.ts';
import { contextFromTraceparent, isTraceparent, startChildSpan, tracingEnabled, type Context, type Span } from '../telemetry/tracing.ts';
import type { Admission } from './admission.ts';
import { toServerEvent } from './events.ts';
import { incompleteSample, toPcmFormat, toSegmenterTuning } from './format.ts';
import type { AudioFormat, ProtocolErrorCode, ServerEvent, StartRequest } from './protocol.ts';
import { StatsTimer } from './stream-stats.ts';

/** How a stream ended, for streams_total{outcome}; `refused`: admission refused it, it never ran. */
export const STREAM_OUTCOMES = ['completed', 'client_closed', 'slow_consumer', 'error', 'refused'] as const;
export type Outcome = (typeof STREAM_OUTCOMES)[number];

export interface LiveStreamDeps extends PipelineDeps {
  admission: Admission;
}

/** Sends one event to the client; false when it was not delivered. */
export type Deliver = (event: ServerEvent) => boolean;

export class LiveStream {
  private ended = false;
  private finishing: Promise<void> | null = null;
  /** When the first audio arrived, until the first segment is sent. */
  private firstAudioAt: number | null = null;
  private firstResultSent = false;
  /** Sends `stats` when the client asked for them. */
  private stats: StatsTimer | null = null;

  private readonly mode: Mode;
  private readonly metrics: Instruments;
  private readonly admission: Admission;
  private readonly deliver: Deliver;
  private readonly span: Span;
  /** The stream's span as a context: work done within it joins the stream's trace. */
  readonly trace: Context;
  private stream!: AudioStream;
  /** The stream's id: in its `started` event, its log lines and its span. */
  readonly id: string;
  private readonly format: AudioFormat;
  private readonly log: Logger;
  private constructor(mode: Mode, format: AudioFormat, deps: LiveStreamDeps, deliver: Deliver, opened: { id: string; span: Span; trace: Context }) {
    this.id = opened.id;
    this.trace = opened.trace;
    this.span = opened.span;
    this.format = format;
    this.mode = mode;
    this.metrics = deps.service.telemetry.metrics;
    this.admission = deps.admission;
    this.deliver = deliver;
    this.log = log.child({ stream_id: this.id });
  }

  /**
   * Opens a stream for `request`, taking an admission slot (the caller checked that admission
   * takes it), and tells the client with `started`. `progress` is called whenever some of its
   * backlog was worked off; `decodingBacklog` tells the seconds of its audio received and not yet decoded.
   */
  static async open(mode: Mode, request: StartRequest, deps: LiveStreamDeps, deliver: Deliver, progress: () => void, decodingBacklog: () => number): Promise<LiveStream> {
    const { format } = request;
    const id = randomUUID();
    const { span, ctx } = startChildSpan('stream', contextFromTraceparent(request.trace_id), {
      'stream.id': id,
      route: mode,
      channels: format.channels,
      sample_rate: format.sample_rate,
      format: format.is_float ? 'f32' : 's16',
      interim_results: request.interim_results,
    });
    deps.admission.acquire();
    const live = new LiveStream(mode, format, deps, deliver, { id, span, trace: ctx });
    // Tracing is the operator's aid: a malformed trace_id must not cost the client its stream.
    if (request.trace_id && !isTraceparent(request.trace_id)) live.log.info({ trace_id: request.trace_id }, 'trace_id is not a W3C traceparent: ignored');
    try {
      const params = {
        mode,
        format: toPcmFormat(format),
        interimResults: request.interim_results,
        vad: toSegmenterTuning(request.vad),
        minChunkMs: request.chunk_ms,
        trace: ctx,
        timeOffset: request.time_offset,
        log: live.log,
        progress,
      };
      live.stream = await AudioStream.open(params, deps, (e) => live.send(e));
    } catch (err) {
      deps.admission.release();
      span.setAttribute('outcome', 'error');
      span.end();
      throw err;
    }
    live.metrics.activeStreams.add(1, { [ATTR.route]: mode });
    if (request.resumed) live.metrics.streamResumes.add(1, { [ATTR.route]: mode });
    live.log.debug({ route: mode, format, time_offset: request.time_offset }, 'stream started');
    deliver({ type: 'started', stream_id: id, ...(tracingEnabled() ? { trace_id: span.spanContext().traceId } : {}) });
    if (request.stats_interval_ms !== undefined) {
      live.stats = new StatsTimer(request.stats_interval_ms, () => ({ snapshot: live.stream.snapshot(), decoding: decodingBacklog() }), deliver);
    }
    return live;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  push(bytes: Uint8Array, at: number): void {
    if (this.ended) return;
    this.firstAudioAt ??= at;
    this.stream.push(bytes, at);
  }

  async finalize(at: number): Promise<void> {
    if (!this.ended) await this.stream.finalize(at);
  }

  /** End of audio (`at`: when it was asked for): every result, then `stream_end`. Once; later calls wait for it. */
  finish(at: number): Promise<void> {
    this.finishing ??= (async () => {
      const { durations, undecodedBytes } = await this.stream.finish(at);
      if (this.ended) return; // aborted meanwhile: no stream_end
      this.stats?.flush(); // the last: the stream's stats add up to all of its work
      this.end('completed', durations[0]);
      // The protocol keeps a partial sample for the next frame; at the end there is none: say so.
      if (undecodedBytes > 0) this.protocolError('incomplete_sample', incompleteSample(undecodedBytes, this.format));
      this.deliver({ type: 'stream_end', channel_durations: durations });
      this.log.debug({ durations }, 'stream ended');
    })();
    return this.finishing;
  }

  /** Ends the stream without its remaining results. */
  abort(outcome: Exclude<Outcome, 'completed' | 'refused'>): void {
    if (this.ended) return;
    this.stream.abort();
    this.end(outcome);
  }

  backlog(): StreamBacklog {
    return this.ended ? { vad: 0, model: 0 } : this.stream.backlog();
  }

  /** A protocol error about this stream that does not end it. */
  private protocolError(code: ProtocolErrorCode, message: string): void {
    this.metrics.protocolErrors.add(1, { [ATTR.code]: code });
    this.deliver({ type: 'error', message, code });
  }

  private send(event: StreamEvent): void {
    if (!this.deliver(toServerEvent(event)) || event.kind !== 'result') return;
    this.metrics.segments.add(1, { [ATTR.route]: this.mode, [ATTR.final]: String(event.isFinal ?? true) });
    if (!this.firstResultSent && this.firstAudioAt !== null) {
      this.firstResultSent = true;
      this.metrics.timeToFirstResult.record((performance.now() - this.firstAudioAt) / 1000, { [ATTR.route]: this.mode });
    }
  }

  private end(outcome: Exclude<Outcome, 'refused'>, audioSeconds?: number): void {
    this.ended = true;
    this.stats?.stop();
    this.admission.release();
    this.metrics.activeStreams.add(-1, { [ATTR.route]: this.mode });
    this.metrics.streams.add(1, { [ATTR.route]: this.mode, [ATTR.outcome]: outcome });
    this.span.setAttribute('outcome', outcome);
    if (audioSeconds !== undefined) this.span.setAttribute('audio_seconds', audioSeconds);
    this.span.end();
  }
}
