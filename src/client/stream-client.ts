// Programmatic websocket client for the streaming protocol (docs/protocol.md):
// `connect` gives a scriptable connection, `streamAudio` runs one whole start → audio → stop exchange
// (moving to a new connection when the server goes away).
import { randomBytes } from 'node:crypto';
import type { AudioFormat, ServerEvent } from '../api/protocol.ts';
import { connect, redactAddr } from './connection.ts';
import type { Connect } from './transport.ts';
import { MovingStream } from './moving-stream.ts';
import { FixedPcm } from './pcm-source.ts';

export * from './connection.ts';

export interface StreamOptions {
  /** e.g. ws://127.0.0.1:8080/api/v1/segmented */
  addr: string;
  format: AudioFormat;
  /** Interleaved little-endian PCM. */
  pcm: Uint8Array;
  /** Bytes per binary frame, or a function called for each frame (default: 256 samples per channel). */
  chunkBytes?: number | (() => number);
  /** Pace frames at the audio's real-time rate. */
  realTime?: boolean;
  /** The pacing's clock (default: performance.now and a timer); tests pass a virtual one. */
  clock?: PacingClock;
  interimResults?: boolean;
  /** Optional `start.vad` tuning. */
  vad?: Record<string, number>;
  /** Optional `start.chunk_ms`: the simple route's minimum chunk for this stream. */
  chunkMs?: number;
  /**
   * Optional `start.stats_interval_ms` (250–60000): the server sends a `stats` event this often. Asked on
   * every connection the stream moves or resumes to: each connection's stream reports its own.
   */
  statsIntervalMs?: number;
  traceId?: string;
  /** `start.time_offset`: seconds added to every time the server reports (a stream that moved). */
  timeOffset?: number;
  /** `stop.disconnect` (default true) of the last connection; a connection the stream moved away from is closed by the client. */
  disconnect?: boolean;
  /**
   * On `going_away`, move the stream to a new connection to `addr`, and resume it there when its
   * connection is lost (docs/protocol.md, "Resuming after a lost connection"); default true. The new
   * stream takes over from the last `committed` point and the audio from there is sent again, so a
   * segment in progress is not split. When no new connection takes a moving stream (retried with backoff
   * until the notice's deadline), it stays where it is until the server closes it (`moveFailure`).
   */
  reconnect?: boolean;
  /**
   * Audio kept for a resume (docs/protocol.md, "Resuming after a lost connection"): what was sent since
   * the last `committed` point, at most this many seconds (default 60); older audio cannot be sent again,
   * and a resume past it reports the gap.
   */
  maxReplaySeconds?: number;
  /** How long a lost connection is retried before the stream is given up (default 30000 ms). */
  resumeTimeoutMs?: number;
  /**
   * A connection that sends nothing this long while audio goes out, a keepalive probe included, is taken
   * for dead and resumed elsewhere (default 10000 ms).
   */
  stallTimeoutMs?: number;
  /** The stream resumed on a new connection after its connection was lost. */
  onResume?: (resume: Resume) => void;
  /**
   * Every server event of the stream, connection after connection: the events of a connection the stream
   * moved to wait until the previous connection's `stream_end` (or close), so the calls follow one timeline.
   */
  onEvent?: (e: ServerEvent) => void;
  onProgress?: (sentSeconds: number, totalSeconds: number) => void;
  /** The stream moved to a new connection. */
  onMove?: (move: Move) => void;
  /** A `going_away` could not be followed by a move; the stream goes on where it is until the server closes it. */
  onMoveFailed?: (failure: MoveFailure) => void;
  headers?: Record<string, string>;
  /**
   * How connections are opened: by default with `ws`, which sends `headers` and reads a refusal's reason;
   * `connectWebSocket` (browser-connection.ts) uses the WHATWG WebSocket, as the page does.
   */
  connect?: Connect;
  /** Reject when the whole exchange takes longer (default 120000 ms). */
  timeoutMs?: number;
}

/** What real-time pacing reads and waits on: `now()` in ms, and a sleep that `signal` cuts short. */
export interface PacingClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<unknown>;
}

/** A move to a new connection after a `going_away`: the new stream took over from the last committed point, the old connection was closed. */
export interface Move {
  /** Where on the stream's timeline the new connection took over: its `time_offset` (includes `timeOffset`). */
  atSeconds: number;
  /** Indexes into `StreamResult.connections`. */
  from: number;
  to: number;
  /** The notice's `deadline_ms`. */
  deadlineMs: number;
  /** Connections tried, the one that took the stream included. */
  attempts: number;
  /** Seconds of audio sent again: from `atSeconds` to where the old connection had got. */
  replayedSeconds: number;
}

/** A resume on a new connection after the connection was lost (dropped, or stalled). */
export interface Resume {
  /** What happened to the lost connection: `closed 1006` (dropped without a close frame), `stalled`… */
  reason: string;
  /** Where the new stream starts on the timeline: its `time_offset` (the lost stream's committed point, or later). */
  atSeconds: number;
  /** Seconds of audio sent again: from `atSeconds` to where the lost connection had got. */
  replayedSeconds: number;
  /** Seconds of audio lost: older than the replay buffer holds (`maxReplaySeconds`); 0 normally. */
  gapSeconds: number;
  /** Indexes into `StreamResult.connections`. */
  from: number;
  to: number;
  /** Connections tried, the one that took the stream included. */
  attempts: number;
  /** From the loss to the new stream's `started`. */
  tookMs: number;
}

/** A lost connection after which no new connection took the stream before the resume deadline. */
export interface ResumeFailure {
  reason: string;
  /** Timeline seconds of audio sent when the connection was lost. */
  lostAtSeconds: number;
  attempts: number;
  /** Why resuming stopped, with the last attempt's error. */
  why: string;
}

/** A `going_away` after which no new connection took the stream. */
export interface MoveFailure {
  /** Timeline seconds of audio sent when the notice came. */
  noticeAtSeconds: number;
  deadlineMs: number;
  attempts: number;
  /** Why moving stopped, with the last attempt's error. */
  reason: string;
}

/** One connection that carried part of the stream. */
export interface StreamConnection {
  /** The `time_offset` its stream was started with. */
  timeOffset: number;
  /** Seconds of audio sent on it. */
  sentSeconds: number;
  events: ServerEvent[];
  /** Its `stream_end.channel_durations`, when that came. */
  channelDurations?: number[];
  closeCode: number;
  closeReason: string;
}

/**
 * A stream that never moved has one connection and one `stream_end`, last in `events`. A stream that moved
 * or resumed has one connection per take-over plus one; only the last sends `stream_end` (the ones it left
 * were closed by the client, or lost), and its `channel_durations` count from where it took over.
 */
export interface StreamResult {
  /** Every server event, connection after connection (the ack that confirms a moved stream is left out). */
  events: ServerEvent[];
  /** How the last connection closed. */
  closeCode: number | null;
  closeReason: string;
  /** Seconds of audio sent, over every connection. */
  sentSeconds: number;
  connections: StreamConnection[];
  moves: Move[];
  /** Set when a `going_away` could not be followed by a move. */
  moveFailure?: MoveFailure;
  resumes: Resume[];
  /** Set when a lost connection could not be resumed. */
  resumeFailure?: ResumeFailure;
}

/**
 * Stream `pcm` as one stream: start, binary frames, stop. With `disconnect` (default) resolves when the server
 * closes the socket; without, after `stream_end`, closing the socket with 1000. If the server closes early
 * (e.g. after a protocol error) the result is returned as well. On `going_away` the stream moves to a new
 * connection (see `reconnect`) and resolves once every connection closed. Rejects on connection failure or timeout.
 */
export async function streamAudio(opts: StreamOptions): Promise<StreamResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new Error(`streaming to ${redactAddr(opts.addr)} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([new MovingStream({ ...opts, source: new FixedPcm(opts.pcm), connect: opts.connect ?? connect }, abort.signal).run(), timeout]);
  } finally {
    clearTimeout(timer);
    abort.abort(); // stops the sender loop if it is still going
  }
}

/** A W3C traceparent that starts a new trace: version 00, random trace and span ids, sampled. */
export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}
