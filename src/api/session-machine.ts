// The protocol's state machine for one websocket session, as a pure function: the state and one
// input in, the new state and the actions to carry out (in order) out. No I/O, no clock, no
// streams: session.ts feeds it and carries the actions out. docs/protocol.md is the contract.
import { formatError, frameBytes } from './format.ts';
import { CloseCode, type ClientRequest, type ProtocolErrorCode, type StartRequest } from './protocol.ts';

export type Phase =
  /** No stream yet. */
  | 'idle'
  | 'streaming'
  /** A stream was stopped without disconnect: new audio starts another with the same format. */
  | 'stopped'
  /** The server decided to close once the running stream has finished; inputs are ignored. */
  | 'closing'
  | 'closed';

export interface SessionState {
  readonly phase: Phase;
  /** The last accepted start request: audio after a stop reuses its format. */
  readonly lastStart: StartRequest | null;
  /** Bytes of audio the running stream has received (its length, for max_stream_seconds). */
  readonly streamBytes: number;
}

export const INITIAL_STATE: SessionState = { phase: 'idle', lastStart: null, streamBytes: 0 };

export interface SessionLimits {
  maxChannels: number;
  maxFrameBytes: number;
  maxStreamSeconds: number;
}

export type Refusal = 'too_many_streams' | 'shutting_down';

export type SessionInput =
  | { type: 'request'; request: ClientRequest }
  /** A text message that is not a valid request (parse error); `close` ends the connection. */
  | { type: 'invalid'; code: ProtocolErrorCode; message: string; close?: number }
  | { type: 'audio'; bytes: number }
  /** Admission refused the stream an `open` action asked for. */
  | { type: 'refused'; refusal: Refusal }
  /** The session must end with an error: idle timeout, slow consumer, a crash while handling. */
  | { type: 'fail'; code: ProtocolErrorCode; message: string; close: number }
  /** Draining began: a running stream is told how long it has left (`going_away`). */
  | { type: 'going_away'; deadlineMs: number }
  /** Shutdown: finish the running stream, then close with 1001. */
  | { type: 'drain' }
  /** Shutdown deadline: close now; a stream still running did not complete. */
  | { type: 'shutdown' }
  | { type: 'client_closed' };

export type SessionAction =
  /** Start a stream for this request (admission may refuse it: feed back `refused`). */
  | { do: 'open'; request: StartRequest }
  /** Hand the audio frame at hand to the running stream. */
  | { do: 'push' }
  /** Force an endpoint on the running stream (if any): its results are sent first. */
  | { do: 'finalize' }
  /** End the running stream (if any) normally: every result, then `stream_end`. */
  | { do: 'finish' }
  /** Drop the running stream (if any) without its results, ended with this outcome. */
  | { do: 'abort'; outcome: 'client_closed' | 'slow_consumer' | 'error' }
  | { do: 'ack'; request: 'finalize' | 'keepalive' }
  | { do: 'going_away'; deadlineMs: number }
  | { do: 'error'; code: ProtocolErrorCode; message: string }
  | { do: 'close'; code: number; reason: string };

export interface Step {
  state: SessionState;
  actions: SessionAction[];
}

const REFUSAL_MESSAGES: Record<Refusal, string> = { too_many_streams: 'too many streams', shutting_down: 'server is shutting down' };

export function step(state: SessionState, input: SessionInput, limits: SessionLimits): Step {
  if (state.phase === 'closed') return { state, actions: [] };
  if (state.phase === 'closing' && input.type !== 'client_closed' && input.type !== 'shutdown') return { state, actions: [] };
  switch (input.type) {
    case 'request':
      return onRequest(state, input.request, limits);
    case 'invalid':
      return input.close === undefined ? keep(state, error(input.code, input.message)) : fail(state, input.code, input.message, input.close);
    case 'audio':
      return onAudio(state, input.bytes, limits);
    case 'refused':
      return fail(state, input.refusal, REFUSAL_MESSAGES[input.refusal], CloseCode.overCapacity);
    case 'fail':
      return fail(state, input.code, input.message, input.close);
    case 'going_away':
      return keep(state, ...(state.phase === 'streaming' ? [{ do: 'going_away', deadlineMs: input.deadlineMs } as const] : []));
    case 'drain':
      return { state: { ...state, phase: 'closed' }, actions: [{ do: 'finish' }, { do: 'close', code: CloseCode.goingAway, reason: 'server shutting down' }] };
    case 'shutdown':
      return { state: { ...state, phase: 'closed' }, actions: [{ do: 'abort', outcome: 'error' }, { do: 'close', code: CloseCode.goingAway, reason: 'server shutting down' }] };
    case 'client_closed':
      return { state: { ...state, phase: 'closed' }, actions: [{ do: 'abort', outcome: 'client_closed' }] };
  }
}

function onRequest(state: SessionState, request: ClientRequest, limits: SessionLimits): Step {
  switch (request.request) {
    case 'start': {
      const problem = formatError(request.format, limits.maxChannels);
      if (problem) return fail(state, 'unsupported_format', problem, CloseCode.policy);
      // A start mid-stream ends that stream first.
      const actions: SessionAction[] = state.phase === 'streaming' ? [{ do: 'finish' }] : [];
      actions.push({ do: 'open', request });
      return { state: { phase: 'streaming', lastStart: request, streamBytes: 0 }, actions };
    }
    case 'stop': {
      // Without a running stream no stream_end will come: the error tells a client that waits for one.
      const actions: SessionAction[] = [state.phase === 'streaming' ? { do: 'finish' } : error('no_active_stream', 'stop without a running stream')];
      if (request.disconnect) {
        actions.push({ do: 'close', code: CloseCode.normal, reason: 'stream ended' });
        return { state: { ...state, phase: 'closed' }, actions };
      }
      return { state: { ...state, phase: state.phase === 'streaming' ? 'stopped' : state.phase }, actions };
    }
    case 'finalize':
      return keep(state, ...(state.phase === 'streaming' ? [{ do: 'finalize' } as const] : []), { do: 'ack', request: 'finalize' });
    case 'keepalive':
      return keep(state, { do: 'ack', request: 'keepalive' });
  }
}

function onAudio(state: SessionState, bytes: number, limits: SessionLimits): Step {
  if (bytes > limits.maxFrameBytes) {
    return fail(state, 'frame_too_large', `binary frame of ${bytes} bytes exceeds the limit of ${limits.maxFrameBytes}`, CloseCode.tooLarge);
  }
  const start = state.lastStart;
  if (state.phase === 'idle' || !start) return fail(state, 'audio_before_start', 'audio received before a start request', CloseCode.policy);
  // After a stop without disconnect, new audio is a new stream with the same format and options,
  // on a timeline of its own: the time_offset was the stopped stream's.
  const opening: SessionAction[] = state.phase === 'stopped' ? [{ do: 'open', request: { ...start, time_offset: 0, resumed: false } }] : [];
  const streamBytes = (state.phase === 'stopped' ? 0 : state.streamBytes) + bytes;
  const seconds = Math.floor(streamBytes / frameBytes(start.format)) / start.format.sample_rate;
  const next: SessionState = { phase: 'streaming', lastStart: start, streamBytes };
  if (seconds <= limits.maxStreamSeconds) return { state: next, actions: [...opening, { do: 'push' }] };
  // The frame that crossed the limit is still processed and answered before the stream is cut.
  const cut = fail(next, 'stream_too_long', `stream longer than ${limits.maxStreamSeconds} s of audio`, CloseCode.policy);
  return { state: cut.state, actions: [...opening, { do: 'push' }, ...cut.actions] };
}

/**
 * Errors after which a running stream cannot be finished: the client does not read its events
 * (more would pile up), or the session itself crashed. Every other error finishes it first.
 */
const DROPS_THE_STREAM: readonly ProtocolErrorCode[] = ['slow_consumer', 'internal_error'];

/**
 * An error that ends the connection. A running stream is finished first (every result of the audio
 * received, then `stream_end`), then the error is sent and the socket closed (docs/protocol.md,
 * "How a stream ends"); inputs meanwhile are ignored.
 */
function fail(state: SessionState, code: ProtocolErrorCode, message: string, close: number): Step {
  const closing: SessionAction = { do: 'close', code: close, reason: code };
  if (DROPS_THE_STREAM.includes(code)) {
    // A client that does not read is the client's failure, a crash the server's: the SLO tells them apart.
    const outcome = code === 'slow_consumer' ? 'slow_consumer' : 'error';
    return { state: { ...state, phase: 'closed' }, actions: [error(code, message), { do: 'abort', outcome }, closing] };
  }
  return { state: { ...state, phase: 'closing' }, actions: [{ do: 'finish' }, error(code, message), closing] };
}

const error = (code: ProtocolErrorCode, message: string): SessionAction => ({ do: 'error', code, message });
const keep = (state: SessionState, ...actions: SessionAction[]): Step => ({ state, actions });
