// One websocket connection: the protocol's state machine. Messages are handled strictly in
// arrival order (a `stop` finishes its stream before the next message is looked at), so results,
// `stream_end` and acks reach the client in the order the protocol promises.
import { log } from '../log.ts';
import { formatError } from '../audio/format.ts';
import { AudioStream, type Mode, type PipelineDeps } from '../pipeline/stream.ts';
import type { Instruments } from '../telemetry/instruments.ts';
import type { TaskMonitor } from '../telemetry/task-monitor.ts';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import { contextFromTraceparent, startChildSpan, tracingEnabled, type Context, type Span } from '../telemetry/tracing.ts';
import type { Admission } from './admission.ts';
import { FlowControl } from './flow-control.ts';
import { CloseCode, type ErrorCode, type ServerEvent, type StartRequest } from './protocol.ts';
import { parseRequest } from './requests.ts';

export interface SessionSocket {
  send(text: string): void;
  close(code: number, reason: string): void;
  /** Drops the connection without a closing handshake (a client that does not read). */
  terminate(): void;
  /** Stop / start reading from the socket (inbound backpressure). */
  pause(): void;
  resume(): void;
  readonly isOpen: boolean;
  /** Bytes queued for sending that the client has not taken yet. */
  readonly bufferedAmount: number;
}

export interface SessionDeps extends PipelineDeps {
  admission: Admission;
}

type State = 'idle' | 'streaming' | 'stopped' | 'closed';
type Inbound = string | Uint8Array;
/** A message and when it arrived (performance.now() ms). */
type Received = { data: Inbound; at: number };
/** How a stream ended, for streams_total{outcome}. */
type Outcome = 'completed' | 'client_closed' | 'error' | 'refused';

export class Session {
  private state: State = 'idle';
  private stream: AudioStream | null = null;
  private lastStart: StartRequest | null = null;
  private readonly inbox: Received[] = [];
  private pumping = false;
  /** Binary bytes received and not yet decoded (the decoding stage's backlog). */
  private queuedAudioBytes = 0;
  private idleSince: number | null = performance.now();
  /** When the current stream's first audio arrived, until its first segment is sent. */
  private firstAudioAt: number | null = null;
  private firstResultSent = false;
  private readonly unregisterBacklog: () => void;
  private readonly flow: FlowControl;
  private overflowed = false;
  /** The running stream's span and the context that makes it current. */
  private streamSpan: { span: Span; ctx: Context } | null = null;

  private readonly receiver: TaskMonitor;
  private readonly metrics: Instruments;
  private readonly mode: Mode;
  private readonly deps: SessionDeps;
  private readonly socket: SessionSocket;
  constructor(
    mode: Mode,
    deps: SessionDeps,
    socket: SessionSocket,
  ) {
    this.mode = mode;
    this.deps = deps;
    this.socket = socket;
    this.receiver = deps.service.tasks.monitor('client_receiver');
    this.metrics = deps.service.telemetry.metrics;
    this.receiver.instrumented();
    this.unregisterBacklog = deps.service.telemetry.backlog.register(() => this.backlog());
    const limits = deps.config.limits;
    this.flow = new FlowControl({
      idleTimeoutMs: limits.idle_timeout_ms,
      maxBacklogSeconds: limits.max_backlog_seconds,
      behindSeconds: () => this.behindSeconds(),
      onIdle: () => this.fail(`no message for ${limits.idle_timeout_ms / 1000} s`, 'idle_timeout', CloseCode.policy),
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      onPause: () => this.metrics.inboundPauses.add(1, { route: mode }),
    });
  }

  /** Shutdown: the running stream (if any) is finished as if stopped, then the socket closes with 1001. */
  async drain(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.stream) await this.endStream(performance.now());
    this.close(CloseCode.goingAway, 'server shutting down');
  }

  /** Audio seconds this session's stream is behind: waiting to be decoded, analysed or inferred. */
  private behindSeconds(): number {
    const b = this.backlog();
    const channels = this.lastStart?.format.channels ?? 1;
    return b.audio_decoding + ((b.vad ?? 0) + (b.model ?? 0)) / channels;
  }

  get isStreaming(): boolean {
    return this.state === 'streaming';
  }

  /** A websocket message arrived. */
  receive(data: Inbound): void {
    if (this.state === 'closed') return;
    const at = performance.now();
    this.flow.received(at);
    if (typeof data !== 'string') {
      this.metrics.audioReceivedBytes.add(data.byteLength);
      this.queuedAudioBytes += data.byteLength;
    }
    if (this.idleSince !== null) {
      this.receiver.idled((at - this.idleSince) / 1000);
      this.idleSince = null;
    }
    this.inbox.push({ data, at });
    this.pump();
    if (typeof data !== 'string') this.flow.checkBacklog();
  }

  /** The client closed the socket: everything stops, unsent results are dropped. */
  clientClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.dropStream('client_closed');
    this.ended();
  }

  /** Server-initiated close (shutdown deadline, fatal protocol error). */
  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.dropStream('error'); // a stream still running when the server closes did not complete
    this.ended();
    this.socket.close(code, reason);
  }

  private ended(): void {
    this.flow.stop();
    this.inbox.length = 0;
    this.queuedAudioBytes = 0;
    this.unregisterBacklog();
    this.receiver.dropped();
  }

  private backlog() {
    const format = this.lastStart?.format;
    const bytesPerSecond = format ? format.sample_rate * format.channels * (format.bit_depth / 8) : 0;
    const decoding = bytesPerSecond > 0 ? this.queuedAudioBytes / bytesPerSecond : 0;
    return { audio_decoding: decoding, ...this.stream?.backlog() };
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    this.deps.service.tasks.spawn(
      'client_receiver',
      async () => {
        try {
          while (this.inbox.length > 0 && this.state !== 'closed') {
            const { data, at } = this.inbox.shift() as Received;
            this.receiver.scheduled((performance.now() - at) / 1000);
            // The synchronous part of handling a message is one poll; awaiting a flush is not.
            const handle = () => (typeof data === 'string' ? this.onText(data, at) : this.onAudio(data, at));
            // Within the stream's trace context, log lines (and spans) of the work it starts join its trace.
            const traced = tracingEnabled() ? () => context.with(this.streamSpan?.ctx ?? ROOT_CONTEXT, handle) : handle;
            const pending = this.receiver.measurePoll(traced);
            if (pending) await pending;
          }
        } finally {
          this.pumping = false;
          if (this.state !== 'closed') this.idleSince = performance.now();
        }
      },
      () => this.fail('internal server error', 'internal_error', CloseCode.internal),
    );
  }

  private send(event: ServerEvent): void {
    if (!this.socket.isOpen) return;
    this.socket.send(JSON.stringify(event));
    if (!this.overflowed && this.socket.bufferedAmount > this.deps.config.limits.max_outbound_bytes) {
      // Outbound backpressure: a client that does not read its events is ended; memory stays bounded.
      this.overflowed = true;
      this.fail('client is not reading its events', 'slow_consumer', CloseCode.policy);
      setTimeout(() => this.socket.terminate(), 1000).unref(); // its buffer will not drain: do not wait for the close handshake
      return;
    }
    if (event.type === 'segment') {
      this.metrics.segments.add(1, { route: this.mode, final: String(event.is_final ?? true) });
      if (!this.firstResultSent && this.firstAudioAt !== null) {
        this.firstResultSent = true;
        this.metrics.timeToFirstResult.record((performance.now() - this.firstAudioAt) / 1000, { route: this.mode });
      }
    }
  }

  /** A protocol error; with a close code it ends the connection. */
  private fail(message: string, code: ErrorCode, close?: number): void {
    if (this.state === 'closed') return;
    this.metrics.protocolErrors.add(1, { code });
    this.send({ type: 'error', message, code });
    if (close !== undefined) this.close(close, code);
  }

  private onText(text: string, at: number): Promise<void> | void {
    const parsed = parseRequest(text, this.deps.config.limits.max_text_bytes);
    if ('error' in parsed) return this.fail(parsed.error.message, parsed.error.code, parsed.error.close);
    const { request } = parsed;
    switch (request.request) {
      case 'start':
        return this.start(request, at);
      case 'stop':
        return this.stop(request.disconnect, at);
      case 'finalize':
        return this.finalize(at);
      case 'keepalive':
        return this.send({ type: 'ack', request: 'keepalive' });
    }
  }

  private async start(request: StartRequest, at: number): Promise<void> {
    const problem = formatError(request.format, this.deps.config.limits.max_channels);
    if (problem) return this.fail(problem, 'unsupported_format', CloseCode.policy);
    if (this.stream) await this.endStream(at); // a start mid-stream ends that stream first
    this.lastStart = request;
    await this.openStream(request);
  }

  private async openStream(request: StartRequest): Promise<void> {
    const refusal = this.deps.admission.refusal();
    if (refusal) {
      this.metrics.streams.add(1, { route: this.mode, outcome: 'refused' });
      const message = refusal === 'shutting_down' ? 'server is shutting down' : 'too many streams';
      return this.fail(message, refusal, CloseCode.overCapacity);
    }
    this.deps.admission.acquire();
    const { format } = request;
    this.streamSpan = startChildSpan('stream', contextFromTraceparent(request.trace_id), {
      route: this.mode,
      channels: format.channels,
      sample_rate: format.sample_rate,
      format: format.is_float ? 'f32' : 's16',
      interim_results: request.interim_results,
    });
    try {
      const params = { mode: this.mode, format, interimResults: request.interim_results, vad: request.vad, trace: this.streamSpan.ctx };
      this.stream = await AudioStream.open(params, this.deps, (e) => this.send(e));
    } catch (err) {
      this.deps.admission.release();
      this.endSpan('error');
      throw err;
    }
    this.firstAudioAt = null;
    this.firstResultSent = false;
    this.metrics.activeStreams.add(1, { route: this.mode });
    if (this.state === 'closed') return this.dropStream('client_closed'); // the client left while we were opening
    this.state = 'streaming';
  }

  private async stop(disconnect: boolean, at: number): Promise<void> {
    if (this.stream) {
      await this.endStream(at);
    } else if (!disconnect) {
      this.fail('stop without a running stream', 'no_active_stream');
    }
    if (disconnect) this.close(CloseCode.normal, 'stream ended');
  }

  private async finalize(at: number): Promise<void> {
    if (this.stream) await this.stream.finalize(at);
    this.send({ type: 'ack', request: 'finalize' });
  }

  private onAudio(bytes: Uint8Array, at: number): Promise<void> | void {
    this.queuedAudioBytes -= bytes.byteLength;
    const max = this.deps.config.limits.max_frame_bytes;
    if (bytes.byteLength > max) {
      return this.fail(`binary frame of ${bytes.byteLength} bytes exceeds the limit of ${max}`, 'frame_too_large', CloseCode.tooLarge);
    }
    if (this.stream) return this.pushAudio(this.stream, bytes, at);
    if (this.state === 'stopped' && this.lastStart) {
      // After a stop without disconnect, new audio is a new stream with the same format.
      const request = this.lastStart;
      return this.openStream(request).then(() => (this.stream ? this.pushAudio(this.stream, bytes, at) : undefined));
    }
    return this.fail('audio received before a start request', 'audio_before_start', CloseCode.policy);
  }

  private pushAudio(stream: AudioStream, bytes: Uint8Array, at: number): Promise<void> | void {
    this.firstAudioAt ??= at;
    stream.push(bytes, at);
    const max = this.deps.config.limits.max_stream_seconds;
    if (stream.durationSeconds > max) {
      // Everything received is still processed and answered before the stream is cut.
      return this.endStream(at).then(() => this.fail(`stream longer than ${max} s of audio`, 'stream_too_long', CloseCode.policy));
    }
  }

  private async endStream(at: number): Promise<void> {
    const stream = this.stream as AudioStream;
    const durations = await stream.finish(at);
    if (this.stream !== stream) return; // aborted meanwhile
    this.stream = null;
    this.deps.admission.release();
    this.metrics.activeStreams.add(-1, { route: this.mode });
    this.metrics.streams.add(1, { route: this.mode, outcome: 'completed' });
    this.endSpan('completed', durations[0]);
    if (this.state !== 'closed') this.state = 'stopped';
    this.send({ type: 'stream_end', channel_durations: durations });
    log.debug({ durations }, 'stream ended');
  }

  private dropStream(outcome: Outcome): void {
    if (!this.stream) return;
    this.stream.abort();
    this.stream = null;
    this.deps.admission.release();
    this.metrics.activeStreams.add(-1, { route: this.mode });
    this.metrics.streams.add(1, { route: this.mode, outcome });
    this.endSpan(outcome);
  }

  private endSpan(outcome: Outcome, audioSeconds?: number): void {
    if (!this.streamSpan) return;
    this.streamSpan.span.setAttribute('outcome', outcome);
    if (audioSeconds !== undefined) this.streamSpan.span.setAttribute('audio_seconds', audioSeconds);
    this.streamSpan.span.end();
    this.streamSpan = null;
  }
}
