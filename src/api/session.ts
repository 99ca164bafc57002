// One websocket connection. Messages are handled strictly in arrival order (a `stop` finishes its
// stream before the next message is looked at), so results, `stream_end` and acks reach the client
// in the order the protocol promises. What each message does is decided by the pure state machine
// (session-machine.ts); this file carries its actions out: the running stream (live-stream.ts),
// events out (outbound.ts), inbound flow control (flow-control.ts) and the backlog it reports.
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import type { Config } from '../config.ts';
import type { Mode } from '../pipeline/stream.ts';
import type { Instruments } from '../telemetry/instruments.ts';
import { ATTR } from '../telemetry/names.ts';
import type { TaskMonitor } from '../telemetry/task-monitor.ts';
import { tracingEnabled } from '../telemetry/tracing.ts';
import { bytesPerSecond } from './format.ts';
import { FlowControl } from './flow-control.ts';
import { LiveStream, type LiveStreamDeps, type Outcome } from './live-stream.ts';
import { Outbound } from './outbound.ts';
import { CloseCode, type ServerEvent } from './protocol.ts';
import { parseRequest } from './requests.ts';
import { lagSeconds } from './stream-stats.ts';
import { INITIAL_STATE, step, type SessionAction, type SessionInput, type SessionLimits, type SessionState } from './session-machine.ts';
import type { SessionSocket } from './session-socket.ts';

export type { SessionSocket } from './session-socket.ts';
/** What a session needs: what its streams need, and the config's limits. */
export interface SessionDeps extends LiveStreamDeps {
  config: Config;
}

type Inbound = string | Uint8Array;
/** A message and when it arrived (performance.now() ms). */
type Received = { data: Inbound; at: number };

export class Session {
  private state: SessionState = INITIAL_STATE;
  private live: LiveStream | null = null;
  private readonly inbox: Received[] = [];
  private pumping = false;
  private cleanedUp = false;
  private clientGone = false;
  /** Binary bytes received and not yet decoded (the decoding stage's backlog). */
  private queuedAudioBytes = 0;
  private idleSince: number | null = performance.now();
  private readonly unregisterBacklog: () => void;
  /** Until the first stream is started: a connection must not hold its slot without one. */
  private startDeadline: NodeJS.Timeout | null;
  private readonly flow: FlowControl;
  private readonly outbound: Outbound;
  private readonly limits: SessionLimits;
  private readonly receiver: TaskMonitor;
  private readonly metrics: Instruments;

  private readonly mode: Mode;
  private readonly deps: SessionDeps;
  private readonly socket: SessionSocket;
  constructor(mode: Mode, deps: SessionDeps, socket: SessionSocket) {
    this.mode = mode;
    this.deps = deps;
    this.socket = socket;
    this.receiver = deps.service.tasks.monitor('client_receiver');
    this.metrics = deps.service.telemetry.metrics;
    this.receiver.instrumented();
    this.unregisterBacklog = deps.service.telemetry.backlog.register(() => this.backlog());
    const limits = deps.config.limits;
    this.limits = { maxChannels: limits.max_channels, maxFrameBytes: limits.max_frame_bytes, maxStreamSeconds: limits.max_stream_seconds };
    this.outbound = new Outbound(socket, limits.max_outbound_bytes, () => {
      this.failNow('client is not reading its events', 'slow_consumer', CloseCode.policy);
      setTimeout(() => socket.terminate(), 1000).unref(); // its buffer will not drain: do not wait for the close handshake
    });
    this.flow = new FlowControl({
      idleTimeoutMs: limits.idle_timeout_ms,
      maxBacklogSeconds: limits.max_backlog_seconds,
      behindSeconds: () => this.behindSeconds(),
      onIdle: () => this.failNow(`no message for ${limits.idle_timeout_ms / 1000} s`, 'idle_timeout', CloseCode.policy),
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      onPause: () => this.metrics.inboundPauses.add(1, { [ATTR.route]: mode }),
    });
    this.startDeadline = setTimeout(() => {
      if (this.state.phase === 'idle') this.failNow(`no start request within ${limits.start_timeout_ms / 1000} s of connecting`, 'start_timeout', CloseCode.policy);
    }, limits.start_timeout_ms).unref();
  }


  /** A websocket message arrived. */
  receive(data: Inbound): void {
    if (this.isClosed) return;
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
    this.clientGone = true;
    this.runNow({ type: 'client_closed' });
  }

  /** Draining began: a running stream is told it has `deadlineMs` left to move elsewhere. */
  goingAway(deadlineMs: number): void {
    this.runNow({ type: 'going_away', deadlineMs });
  }

  /** Shutdown: the running stream (if any) is finished as if stopped, then the socket closes with 1001. */
  async drain(): Promise<void> {
    await this.apply({ type: 'drain' }, performance.now());
  }

  /** Shutdown deadline: closes with 1001 now; a stream still running did not complete. */
  shutdown(): void {
    this.runNow({ type: 'shutdown' });
  }

  private get isClosed(): boolean {
    return this.state.phase === 'closed' || this.state.phase === 'closing';
  }

  /** Audio seconds this session's stream is behind: waiting to be decoded, analysed or inferred. */
  private behindSeconds(): number {
    return lagSeconds(this.backlog(), this.state.lastStart?.format.channels ?? 1);
  }

  private backlog() {
    return { audio_decoding: this.decodingBacklog(), ...this.live?.backlog() };
  }

  /** Seconds of audio received and not yet decoded. */
  private decodingBacklog(): number {
    const format = this.state.lastStart?.format;
    return format ? this.queuedAudioBytes / bytesPerSecond(format) : 0;
  }

  /** Some backlog was worked off: reading may resume. */
  private readonly progressed = () => this.flow.progressed();

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    this.deps.service.tasks.spawn(
      'client_receiver',
      async () => {
        try {
          while (this.inbox.length > 0 && !this.isClosed) {
            const { data, at } = this.inbox.shift() as Received;
            this.receiver.scheduled((performance.now() - at) / 1000);
            // The synchronous part of handling a message is one poll; awaiting a flush is not.
            const handle = () => this.handle(data, at);
            // Within the stream's trace context, log lines (and spans) of the work it starts join its trace.
            const traced = tracingEnabled() ? () => context.with(this.live?.trace ?? ROOT_CONTEXT, handle) : handle;
            const pending = this.receiver.measurePoll(traced);
            if (pending) await pending;
          }
        } finally {
          this.pumping = false;
          if (!this.isClosed) this.idleSince = performance.now();
        }
      },
      () => this.failNow('internal server error', 'internal_error', CloseCode.internal),
    );
  }

  private handle(data: Inbound, at: number): Promise<void> | void {
    if (typeof data === 'string') {
      const parsed = parseRequest(data, this.deps.config.limits.max_text_bytes);
      const input: SessionInput = 'error' in parsed ? { type: 'invalid', ...parsed.error } : { type: 'request', request: parsed.request };
      return this.apply(input, at);
    }
    this.queuedAudioBytes -= data.byteLength;
    this.progressed();
    return this.apply({ type: 'audio', bytes: data.byteLength }, at, data);
  }

  /**
   * Feeds one input to the state machine and carries its actions out, in order. Synchronous
   * actions run synchronously: a close decided now must happen before the socket's next frame
   * is read (ws parses a whole chunk of frames in one go).
   */
  private apply(input: SessionInput, at: number, frame?: Uint8Array): Promise<void> | void {
    const { state, actions } = step(this.state, input, this.limits);
    this.state = state;
    return this.executeFrom(actions, 0, at, frame);
  }

  private executeFrom(actions: SessionAction[], from: number, at: number, frame: Uint8Array | undefined): Promise<void> | void {
    for (let i = from; i < actions.length; i++) {
      const pending = this.execute(actions[i], at, frame);
      if (pending) return pending.then(() => this.executeFrom(actions, i + 1, at, frame));
    }
  }

  /** For inputs from outside the message order (client gone, timers, shutdown). */
  private runNow(input: SessionInput): void {
    this.deps.service.tasks.spawn('client_receiver', async () => this.apply(input, performance.now()));
  }

  private failNow(message: string, code: 'slow_consumer' | 'idle_timeout' | 'start_timeout' | 'internal_error', close: number): void {
    this.runNow({ type: 'fail', code, message, close });
  }

  private execute(action: SessionAction, at: number, frame: Uint8Array | undefined): Promise<void> | void {
    switch (action.do) {
      case 'open':
        return this.open(action.request, at);
      case 'push':
        if (frame) this.live?.push(frame, at);
        return;
      case 'finalize':
        return this.live?.finalize(at);
      case 'finish':
        return this.finish(at);
      case 'abort':
        this.live?.abort(action.outcome);
        this.live = null;
        if (action.outcome === 'client_closed') this.cleanUp();
        return;
      case 'ack':
        return void this.send({ type: 'ack', request: action.request });
      case 'going_away':
        return void this.send({ type: 'going_away', deadline_ms: Math.max(0, Math.round(action.deadlineMs)) });
      case 'error':
        this.metrics.protocolErrors.add(1, { [ATTR.code]: action.code });
        return void this.send({ type: 'error', message: action.message, code: action.code });
      case 'close':
        this.live?.abort('error'); // a stream still running when the server closes did not complete
        this.live = null;
        this.cleanUp();
        this.socket.close(action.code, action.reason);
        return;
    }
  }

  private async finish(at: number): Promise<void> {
    const live = this.live;
    if (!live) return;
    await live.finish(at);
    if (this.live === live) this.live = null;
    this.progressed();
  }

  private async open(request: Parameters<typeof LiveStream.open>[1], at: number): Promise<void> {
    const refusal = this.deps.admission.refusal();
    if (refusal) {
      this.metrics.streams.add(1, { [ATTR.route]: this.mode, [ATTR.outcome]: 'refused' satisfies Outcome });
      return void (await this.apply({ type: 'refused', refusal }, at));
    }
    this.clearStartDeadline();
    const live = await LiveStream.open(this.mode, request, this.deps, (e) => this.send(e), this.progressed, () => this.decodingBacklog());
    // The session ended while the stream was opening: the client left, or the server is closing it.
    if (this.isClosed) return live.abort(this.clientGone ? 'client_closed' : 'error');
    this.live = live;
  }

  private clearStartDeadline(): void {
    if (this.startDeadline) clearTimeout(this.startDeadline);
    this.startDeadline = null;
  }

  private send(event: ServerEvent): boolean {
    return this.outbound.send(event);
  }

  /** The session is over: stop its timers, forget its queue, stop reporting its backlog. Once. */
  private cleanUp(): void {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    this.clearStartDeadline();
    this.flow.stop();
    this.inbox.length = 0;
    this.queuedAudioBytes = 0;
    this.unregisterBacklog();
    this.receiver.dropped();
  }
}
