// One stream of audio, carried by one connection or, when servers go away or connections are lost,
// by several in turn. Both cases are the same move (docs/protocol.md, "Resuming after a lost
// connection"): a new connection to the same address takes the stream from the last `committed`
// point, the audio from there is sent again, and what the new stream repeats of what was delivered
// is dropped (resume-filter.ts). On `going_away` the old connection is closed once the new stream
// started; a lost one (dropped, or stalled) is resumed from. A speech segment in progress is never
// split: the new stream recomputes it whole. Every reported time stays on one timeline.
// No Node APIs: the CLI, `streamAudio` and the page all stream through this one class, each with its
// own transport (`connect`) and audio source (a file, or the microphone).
import type { ServerEvent } from '../api/protocol.ts';
import { DeliveredLog } from './resume-filter.ts';
import { bytesPerSample, type PcmSource } from './pcm-source.ts';
import type { Move, MoveFailure, PacingClock, Resume, ResumeFailure, StreamConnection, StreamOptions, StreamResult } from './stream-client.ts';
import { type CloseInfo, type Connect, type Connection, describeError } from './transport.ts';

/** Real-time pacing on the real clock (tests pass a virtual one as `StreamOptions.clock`). */
const REAL_CLOCK: PacingClock = { now: () => performance.now(), sleep: abortableSleep };

/** A stream's options, with where its audio comes from and how it connects. */
export type MovingStreamOptions = Omit<StreamOptions, 'pcm' | 'timeoutMs' | 'connect'> & {
  source: PcmSource;
  connect: Connect;
};

/** Waits between attempts to open the new connection: doubling from 100 ms up to 2 s (with jitter, so that a fleet's clients spread out), never past the deadline. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 2000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const MAX_REPLAY_SECONDS = 60;
const RESUME_TIMEOUT_MS = 30_000;
const STALL_TIMEOUT_MS = 10_000;
/**
 * Close codes after which a stream is resumed: dropped without a close frame, the server's crash or
 * restart. A protocol error (1008, 1009) is the client's own doing: sending the same again would not help.
 */
const RESUMABLE = new Set([1006, 1011, 1012, 1014]);

/** One connection of the stream and what it carried. */
interface Leg {
  conn: Connection;
  timeOffset: number;
  sentBytes: number;
  /** The events reported for it. */
  events: ServerEvent[];
  /** How many of `events` went to `onEvent`. */
  emitted: number;
  channelDurations?: number[];
  /** Its stream_end came or its socket closed: the next connection's events may be reported. */
  ended: boolean;
  notice?: { deadlineMs: number; receivedAt: number; atSeconds: number };
  /** A move away from it was tried (once per notice). */
  moveTried: boolean;
  /** Its `started` came: it carries the stream, and losing it means resuming. */
  started: boolean;
  /** Its last `committed` time: the audio before it is settled. */
  committed: number | null;
  /** For a stream that took over from another: false for an event that repeats what was delivered. */
  filter?: (e: ServerEvent) => boolean;
  /** Another connection took the stream over: what it still sends is ignored. */
  retired: boolean;
  /** When the server last sent anything on it (performance.now ms). */
  lastHeardAt: number;
  /** When the last keepalive probe went out, and how many probes' acks are still to come (not reported). */
  probedAt: number;
  probes: number;
  /** Nothing came for the stall timeout: terminated, to be resumed. */
  stalled: boolean;
  /** `stop` was sent on it: what comes now is its last results. */
  stopSent: boolean;
}

/** Where a new connection takes the stream over: a byte of the PCM, and the audio that could not be kept before it. */
interface TakeOver {
  bytes: number;
  gapSeconds: number;
}

export class MovingStream {
  private readonly opts: MovingStreamOptions;
  private readonly source: PcmSource;
  private readonly signal: AbortSignal;
  private readonly frameBytes: number;
  private readonly bytesPerSecond: number;
  /** Whole 32 ms VAD windows: where audio kept for a replay begins, so that the windows fall as before. */
  private readonly gridBytes: number;
  private readonly baseOffset: number;
  private readonly maxReplayBytes: number;
  private readonly start: Record<string, unknown>;

  private readonly legs: Leg[] = [];
  private current!: Leg;
  /** Index of the leg whose events go to `onEvent` as they arrive; later legs' wait until it ended. */
  private reporting = 0;
  private readonly moves: Move[] = [];
  private failure?: MoveFailure;
  private readonly resumes: Resume[] = [];
  private resumeFailure?: ResumeFailure;
  /** What went to `onEvent`: a stream that takes over must not deliver it again. */
  private readonly log = new DeliveredLog();
  /** Simple-route chunks were delivered (no `is_final`): a take-over may start after the last one. */
  private sawChunks = false;

  /** Bytes of the PCM sent on the current connection's stream (rewound when another takes over). */
  private sent = 0;
  /** When the first frame was due (pacing clock ms): one origin for the whole stream. */
  private t0?: number;
  /** Set once all audio was sent or the stream cannot go on: nothing to move any more (a lost connection is still resumed). */
  private finished = false;
  private moving?: Promise<void>;
  private resuming?: Promise<boolean>;
  /** Cancels the move attempt in progress (its connect, its backoff) once the stream finished. */
  private attempt?: AbortController;
  /** Cuts the sender's pacing sleep short: audio to send again is due at once. */
  private wake?: () => void;

  constructor(opts: MovingStreamOptions, signal: AbortSignal) {
    this.opts = opts;
    this.source = opts.source;
    this.signal = signal;
    const { format } = opts;
    this.frameBytes = format.channels * bytesPerSample(format);
    this.bytesPerSecond = format.sample_rate * this.frameBytes;
    this.gridBytes = moveStepFrames(format.sample_rate) * this.frameBytes;
    this.baseOffset = opts.timeOffset ?? 0;
    this.maxReplayBytes = Math.floor(((opts.maxReplaySeconds ?? MAX_REPLAY_SECONDS) * this.bytesPerSecond) / this.frameBytes) * this.frameBytes;
    this.start = { request: 'start', format, interim_results: opts.interimResults ?? false };
    if (opts.vad) this.start.vad = opts.vad;
    if (opts.chunkMs !== undefined) this.start.chunk_ms = opts.chunkMs;
    if (opts.statsIntervalMs !== undefined) this.start.stats_interval_ms = opts.statsIntervalMs;
    if (opts.traceId) this.start.trace_id = opts.traceId;
  }

  async run(): Promise<StreamResult> {
    const first = this.newLeg(this.baseOffset);
    first.conn = await this.opts.connect(this.opts.addr, this.opts.headers, { signal: this.signal, onEvent: (e) => this.receive(first, e) });
    this.commit(first);
    const { disconnect = true } = this.opts;
    const watchdog = setInterval(() => this.watch(), 250);
    try {
      await first.conn.send(this.baseOffset ? { ...this.start, time_offset: this.baseOffset } : this.start);
      // Until the last connection answered the stop: a connection that took over is sent the audio
      // from where it took over, and a lost one is resumed.
      for (;;) {
        await this.sendAudio();
        // All audio is out: the stream stays where it is (a move now would only send it all again), and the
        // old stream answers everything before its server's deadline.
        if (this.allSent()) this.finish();
        await this.moving;
        if (await this.resumed()) continue;
        const last = this.current;
        if (!last.conn.isOpen || this.signal.aborted) break;
        if (!this.allSent()) continue; // a move took over meanwhile, from an earlier point
        last.stopSent = true;
        await last.conn.send({ request: 'stop', disconnect }).catch(() => {}); // a lost connection is resumed below
        await Promise.race([last.conn.next('stream_end', 2 ** 31 - 1).catch(() => undefined), last.conn.closed]);
        if (await this.resumed()) continue;
        if (!disconnect && last.conn.isOpen) await last.conn.close(1000);
        break;
      }
    } catch (err) {
      // A send failing or the server closing while we wait is a normal outcome, reported by the close code.
      if (this.signal.aborted || this.current.conn.isOpen) {
        for (const leg of this.legs) leg.conn.terminate();
        throw err;
      }
    } finally {
      clearInterval(watchdog);
      this.finish();
      await this.moving; // no move may complete after this point
    }
    const closes = await Promise.all(this.legs.map((leg) => leg.conn.closed));
    return this.result(closes);
  }

  /** When the current connection was lost: waits for its resume; true when the stream goes on on a new one. */
  private async resumed(): Promise<boolean> {
    const leg = this.current;
    if (leg.conn.isOpen) return false;
    await leg.conn.closed; // its close handler (registered first) decides whether to resume
    return this.resuming ? this.resuming : false;
  }

  // ---- audio ----

  /** The source ended and all of it went to the current connection. */
  private allSent(): boolean {
    return this.source.ended && this.sent >= this.source.length;
  }

  /** Sends the audio from `sent` on to the current connection; ends with the audio, or when the connection is lost. */
  private async sendAudio(): Promise<void> {
    const { realTime, clock = REAL_CLOCK } = this.opts;
    const chunk = this.opts.chunkBytes ?? 256 * this.frameBytes;
    const nextSize = typeof chunk === 'function' ? chunk : () => chunk;
    const t0 = (this.t0 ??= clock.now());
    while (!this.allSent() && this.current.conn.isOpen && !this.signal.aborted) {
      if (this.sent >= this.source.length) {
        await this.wait((signal) => this.source.more(signal)); // a live source: the next block
        continue;
      }
      if (realTime) {
        // Frame i is due at t0 + (bytes before it) / rate, on every connection alike: timers only, no
        // drift accumulates, and audio sent again after a take-over is due already: it goes at once.
        const wait = t0 + (this.sent / this.bytesPerSecond) * 1000 - clock.now();
        if (wait > 0) {
          await this.wait((signal) => clock.sleep(wait, signal));
          continue; // a take-over may have moved `sent` back meanwhile
        }
      }
      await this.sendBytes(Math.max(1, Math.floor(nextSize())));
    }
  }

  private async sendBytes(size: number): Promise<void> {
    const leg = this.current;
    const end = Math.min(this.source.length, this.sent + size);
    try {
      await leg.conn.send(this.source.read(this.sent, end));
    } catch (err) {
      if (leg.conn.isOpen) throw err;
      return; // the connection was lost meanwhile: run() resumes the stream
    }
    if (this.current !== leg) return; // another connection took over meanwhile, and set where the audio goes on
    leg.sentBytes += end - this.sent;
    this.sent = end;
    this.source.release(this.replayStart());
    this.opts.onProgress?.(this.sent / this.bytesPerSecond, this.source.length / this.bytesPerSecond);
  }

  /** Waits for the pacing clock or the source, cut short when the stream is aborted or another connection took over. */
  private async wait(until: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
    const woken = new AbortController();
    this.wake = () => woken.abort();
    try {
      await until(AbortSignal.any([this.signal, woken.signal]));
    } catch {
      // cut short: the caller looks again at what to do
    } finally {
      this.wake = undefined;
    }
  }

  private finish(): void {
    this.finished = true;
    this.attempt?.abort();
  }

  // ---- events ----

  private newLeg(timeOffset: number): Leg {
    return {
      conn: undefined as unknown as Connection,
      timeOffset,
      sentBytes: 0,
      events: [],
      emitted: 0,
      ended: false,
      moveTried: false,
      started: false,
      committed: null,
      retired: false,
      lastHeardAt: performance.now(),
      probedAt: -Infinity,
      probes: 0,
      stalled: false,
      stopSent: false,
    };
  }

  private receive(leg: Leg, e: ServerEvent): void {
    if (leg.retired) return;
    leg.lastHeardAt = performance.now();
    if (leg.probes > 0 && e.type === 'ack' && e.request === 'keepalive') {
      leg.probes--; // the stall watchdog's probe, not the user's
      return;
    }
    if (e.type === 'started') leg.started = true;
    if (e.type === 'committed') leg.committed = e.time;
    if (leg.filter && !leg.filter(e)) return;
    leg.events.push(e);
    if (e.type === 'stream_end') {
      leg.channelDurations = e.channel_durations;
      leg.ended = true;
    }
    if (e.type === 'going_away' && !leg.notice) {
      leg.notice = { deadlineMs: e.deadline_ms, receivedAt: performance.now(), atSeconds: this.timeline(this.sent) };
      this.maybeMove();
    }
    this.report();
  }

  /** Hands events to `onEvent` connection after connection, so that the calls follow one timeline. */
  private report(): void {
    for (;;) {
      const leg = this.legs[this.reporting];
      if (!leg) return;
      while (leg.emitted < leg.events.length) {
        const e = leg.events[leg.emitted++]; // not inside `onEvent?.()`: its arguments are skipped when it is absent
        this.log.delivered(e);
        if (e.type === 'segment' && e.is_final === undefined) this.sawChunks = true;
        this.opts.onEvent?.(e);
      }
      if (!leg.ended || this.reporting === this.legs.length - 1) return;
      this.reporting++;
    }
  }

  private commit(leg: Leg): void {
    this.legs.push(leg);
    this.current = leg;
    leg.conn.closed.then(
      (info) => {
        leg.ended = true;
        this.report();
        this.maybeResume(leg, info);
      },
      () => {},
    );
    this.report();
  }

  private timeline(bytes: number): number {
    return this.baseOffset + bytes / this.bytesPerSecond;
  }

  // ---- taking over: a new connection from the last committed point ----

  /**
   * Where a new connection takes the stream over from `from`: its last committed point (on the simple
   * route, the end of the last chunk delivered, when later), or later when the replay buffer does not
   * reach back that far (the gap is reported).
   */
  private takeOverPoint(from: Leg): TakeOver {
    let at = from.committed ?? from.timeOffset;
    if (this.sawChunks) at = Math.max(at, this.log.chunksDeliveredTo(this.opts.format.channels) ?? at);
    const wanted = Math.min(this.sent, Math.max(0, Math.round(((at - this.baseOffset) * this.bytesPerSecond) / this.frameBytes) * this.frameBytes));
    const kept = this.replayStart();
    return { bytes: Math.max(wanted, kept), gapSeconds: wanted < kept ? (kept - wanted) / this.bytesPerSecond : 0 };
  }

  /**
   * Where the audio kept for a replay begins: at most `maxReplaySeconds` before what was sent, on the VAD
   * window grid (older audio is gone, and a take-over begins after it).
   */
  private replayStart(): number {
    const kept = Math.ceil(Math.max(0, this.sent - this.maxReplayBytes) / this.gridBytes) * this.gridBytes;
    return Math.min(this.sent, Math.max(kept, this.source.start));
  }

  /** Opens a connection and starts the stream on it at `bytes`; resolves once its `started` came. */
  private async openTakeOver(bytes: number, resumed: boolean, timeoutMs: number, cancel: AbortSignal): Promise<Leg> {
    const next = this.newLeg(this.timeline(bytes));
    next.filter = this.log.resumeFilter();
    try {
      next.conn = await this.opts.connect(this.opts.addr, this.opts.headers, {
        timeoutMs: Math.min(HANDSHAKE_TIMEOUT_MS, timeoutMs),
        signal: cancel,
        onEvent: (e) => this.receive(next, e),
      });
      await next.conn.send({ ...this.start, time_offset: next.timeOffset, ...(resumed && { resumed: true }) });
      await this.confirmedStart(next.conn, Math.max(1, timeoutMs));
      return next;
    } catch (err) {
      next.conn?.terminate();
      throw err;
    }
  }

  /** `next` carries the stream from `bytes` on: `from`'s later events are ignored, and the sender goes on from there. */
  private takeOver(from: Leg, next: Leg, bytes: number): void {
    from.retired = true;
    this.sent = bytes;
    this.commit(next);
    this.wake?.();
  }

  /** Resolves once `started` came on `conn`; rejects with the server's error, or its close. */
  private async confirmedStart(conn: Connection, timeoutMs: number): Promise<void> {
    try {
      await conn.next((e) => e.type === 'started', timeoutMs);
    } catch {
      const error = conn.events.find((e) => e.type === 'error');
      if (error) throw new Error(`the new connection refused the stream: ${error.message} (${error.code})`);
      if (!conn.isOpen) throw new Error(`the new connection closed (${(await conn.closed).code}) before taking the stream`);
      throw new Error(`the new connection did not start the stream within ${Math.round(timeoutMs)} ms`);
    }
  }

  // ---- moving: the server goes away ----

  private maybeMove(): void {
    const leg = this.current;
    if (this.opts.reconnect === false || this.finished || this.moving || this.resuming || !leg?.notice || leg.moveTried || leg.stopSent) return;
    leg.moveTried = true;
    this.moving = this.move(leg, leg.notice).finally(() => {
      this.moving = undefined;
      this.maybeMove(); // the new connection may have had its own notice already
    });
  }

  /** Tries new connections until one takes the stream or the deadline passes; never rejects. */
  private async move(from: Leg, notice: NonNullable<Leg['notice']>): Promise<void> {
    const deadline = notice.receivedAt + notice.deadlineMs;
    let attempts = 0;
    let last = 'no attempt';
    for (let k = 0; ; k++) {
      // Once the last stop went out, the old stream answers everything itself; a lost one is resumed instead.
      if (this.finished || from.stopSent || from !== this.current) return;
      if (!from.conn.isOpen) {
        if (!this.resuming) this.fail(notice, attempts, `no new connection took the stream before the server closed it (last attempt: ${last})`);
        return;
      }
      const left = deadline - performance.now();
      if (left <= 0) return this.fail(notice, attempts, `no new connection took the stream before the deadline (last attempt: ${last})`);
      const attempt = new AbortController();
      this.attempt = attempt;
      attempts++;
      try {
        const point = this.takeOverPoint(from);
        const next = await this.openTakeOver(point.bytes, false, left, AbortSignal.any([this.signal, attempt.signal]));
        if (this.finished || from.stopSent || from !== this.current) {
          void next.conn.close(1000, 'not needed');
          return;
        }
        this.attempt = undefined; // the connection now belongs to the stream: finishing must not abort it
        const lostBytes = this.sent;
        this.takeOver(from, next, point.bytes);
        void from.conn.close(1000, 'moved'); // its stream is not needed any more: the new one recomputes it from the take-over point
        const move: Move = {
          atSeconds: next.timeOffset,
          from: this.legs.indexOf(from),
          to: this.legs.length - 1,
          deadlineMs: notice.deadlineMs,
          attempts,
          replayedSeconds: (lostBytes - point.bytes) / this.bytesPerSecond,
        };
        this.moves.push(move);
        this.opts.onMove?.(move);
        return;
      } catch (err) {
        // An attempt cut short because the stream finished is not one that failed.
        if (attempt.signal.aborted && !this.signal.aborted) attempts--;
        else if (attempts === 1 || performance.now() < deadline) last = describeError(err);
      }
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** k) * (0.5 + Math.random() / 2);
      await abortableSleep(Math.min(backoff, Math.max(0, deadline - performance.now())), attempt.signal);
    }
  }

  private fail(notice: NonNullable<Leg['notice']>, attempts: number, reason: string): void {
    if (this.failure) return;
    this.failure = { noticeAtSeconds: notice.atSeconds, deadlineMs: notice.deadlineMs, attempts, reason };
    this.opts.onMoveFailed?.(this.failure);
  }

  // ---- resuming: the connection is lost ----

  /** The stall watchdog: probes a connection that went quiet, and gives it up when even the probe is not answered. */
  private watch(): void {
    const leg = this.current;
    if (!leg?.started || leg.stopSent || !leg.conn.isOpen || this.finished || this.resuming || this.opts.reconnect === false) return;
    const stallMs = this.opts.stallTimeoutMs ?? STALL_TIMEOUT_MS;
    const now = performance.now();
    const quiet = now - leg.lastHeardAt;
    if (quiet >= stallMs) {
      leg.stalled = true;
      leg.conn.terminate(); // its close (1006) resumes the stream
    } else if (quiet >= stallMs / 3 && leg.probedAt < leg.lastHeardAt) {
      // Speech without interim results can be quiet for long: a keepalive's ack tells a live server.
      leg.probedAt = now;
      leg.probes++;
      leg.conn.send({ request: 'keepalive' }).catch(() => {});
    }
  }

  private maybeResume(leg: Leg, close: CloseInfo): void {
    if (leg !== this.current || leg.retired || leg.channelDurations || !leg.started || this.resuming) return;
    if (this.opts.reconnect === false || this.signal.aborted || (!leg.stalled && !RESUMABLE.has(close.code))) return;
    const reason = leg.stalled ? 'stalled' : close.code === 1006 ? 'dropped (1006)' : `closed ${close.code}${close.reason ? ` ${close.reason}` : ''}`;
    this.attempt?.abort(); // a move in progress gives way
    this.resuming = this.resume(leg, reason).finally(() => (this.resuming = undefined));
  }

  /**
   * Resumes the stream lost with `from` on a new connection from its take-over point, retrying with a
   * backoff until the resume deadline. True when a new connection took the stream.
   */
  private async resume(from: Leg, reason: string): Promise<boolean> {
    const lostAt = performance.now();
    const lostBytes = this.sent;
    const point = this.takeOverPoint(from);
    const deadline = lostAt + (this.opts.resumeTimeoutMs ?? RESUME_TIMEOUT_MS);
    let attempts = 0;
    let last = 'no attempt';
    for (let k = 0; !this.signal.aborted; k++) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      attempts++;
      try {
        const next = await this.openTakeOver(point.bytes, true, left, this.signal);
        this.takeOver(from, next, point.bytes);
        const resume: Resume = {
          reason,
          atSeconds: next.timeOffset,
          replayedSeconds: (lostBytes - point.bytes) / this.bytesPerSecond,
          gapSeconds: point.gapSeconds,
          from: this.legs.indexOf(from),
          to: this.legs.length - 1,
          attempts,
          tookMs: performance.now() - lostAt,
        };
        this.resumes.push(resume);
        this.opts.onResume?.(resume);
        return true;
      } catch (err) {
        last = describeError(err);
      }
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** k) * (0.5 + Math.random() / 2);
      await abortableSleep(Math.min(backoff, Math.max(0, deadline - performance.now())), this.signal);
    }
    this.resumeFailure = {
      reason,
      lostAtSeconds: this.timeline(lostBytes),
      attempts,
      why: `no new connection took the stream within ${this.opts.resumeTimeoutMs ?? RESUME_TIMEOUT_MS} ms (last attempt: ${last})`,
    };
    return false;
  }

  // ---- result ----

  private result(closes: CloseInfo[]): StreamResult {
    const connections: StreamConnection[] = this.legs.map((leg, i) => ({
      timeOffset: leg.timeOffset,
      sentSeconds: leg.sentBytes / this.bytesPerSecond,
      events: leg.events,
      channelDurations: leg.channelDurations,
      closeCode: closes[i].code,
      closeReason: closes[i].reason,
    }));
    const last = connections.at(-1)!;
    return {
      events: connections.flatMap((c) => c.events),
      closeCode: last.closeCode,
      closeReason: last.closeReason,
      sentSeconds: this.sent / this.bytesPerSecond,
      connections,
      moves: this.moves,
      ...(this.failure && { moveFailure: this.failure }),
      resumes: this.resumes,
      ...(this.resumeFailure && { resumeFailure: this.resumeFailure }),
    };
  }
}

/** The fewest frames that make a whole number of 32 ms VAD windows at this rate (1 window at 16 or 48 kHz, 5 at 44.1 kHz), else 1. */
export function moveStepFrames(sampleRate: number): number {
  for (let windows = 1; windows <= 5; windows++) {
    const frames = (sampleRate * windows * 512) / 16000;
    if (Number.isInteger(frames)) return frames;
  }
  return 1;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
