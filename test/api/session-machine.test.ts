// The protocol's state machine alone: inputs in, actions out, no sockets and no clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INITIAL_STATE, step, type SessionAction, type SessionInput, type SessionState } from '../../src/api/session-machine.ts';
import type { StartRequest } from '../../src/api/protocol.ts';

const limits = { maxChannels: 2, maxFrameBytes: 64_000, maxStreamSeconds: 10 };
const start: StartRequest = { request: 'start', format: { channels: 1, sample_rate: 16000, bit_depth: 16, is_float: false }, interim_results: false, time_offset: 0, resumed: false };
const req = (request: Record<string, unknown>): SessionInput => ({ type: 'request', request: request as never });

/** Runs inputs from the initial state; returns the final state and every action, step by step. */
function run(...inputs: SessionInput[]): { state: SessionState; steps: SessionAction[][] } {
  let state = INITIAL_STATE;
  const steps: SessionAction[][] = [];
  for (const input of inputs) {
    const next = step(state, input, limits);
    state = next.state;
    steps.push(next.actions);
  }
  return { state, steps };
}
const does = (actions: SessionAction[]) => actions.map((a) => (a.do === 'error' ? `error:${a.code}` : a.do === 'close' ? `close:${a.code}` : a.do === 'abort' ? `abort:${a.outcome}` : a.do));

test('start opens a stream; audio is pushed; stop finishes it and keeps the socket', () => {
  const { state, steps } = run(req(start), { type: 'audio', bytes: 3200 }, req({ request: 'stop', disconnect: false }));
  assert.deepEqual(steps.map(does), [['open'], ['push'], ['finish']]);
  assert.equal(state.phase, 'stopped');
});

test('a start mid-stream finishes that stream before opening the next', () => {
  const { steps } = run(req(start), req(start));
  assert.deepEqual(does(steps[1]), ['finish', 'open']);
});

test('audio after a stop opens a new stream with the last format and options, its length and time from zero', () => {
  const offset = { ...start, interim_results: true, time_offset: 100, resumed: true };
  const { state, steps } = run(req(offset), { type: 'audio', bytes: 32_000 }, req({ request: 'stop', disconnect: false }), { type: 'audio', bytes: 3200 });
  assert.deepEqual(does(steps[3]), ['open', 'push']);
  assert.deepEqual((steps[3][0] as { request: StartRequest }).request, { ...offset, time_offset: 0, resumed: false });
  assert.equal(state.streamBytes, 3200);
  assert.equal(state.phase, 'streaming');
});

test('stop without a stream: no_active_stream, the socket stays; with disconnect: no_active_stream, then close 1000', () => {
  assert.deepEqual(does(run(req({ request: 'stop', disconnect: false })).steps[0]), ['error:no_active_stream']);
  assert.deepEqual(does(run(req({ request: 'stop', disconnect: true })).steps[0]), ['error:no_active_stream', 'close:1000']);
  const stopped = run(req(start), { type: 'audio', bytes: 3200 }, req({ request: 'stop', disconnect: false }), req({ request: 'stop', disconnect: true }));
  assert.deepEqual(does(stopped.steps[3]), ['error:no_active_stream', 'close:1000'], 'a stream already stopped is not running');
  const { state, steps } = run(req(start), req({ request: 'stop', disconnect: true }), req(start));
  assert.deepEqual(does(steps[1]), ['finish', 'close:1000']);
  assert.deepEqual(steps[2], [], 'closed: later input is ignored');
  assert.equal(state.phase, 'closed');
});

test('finalize and keepalive are acknowledged; finalize reaches only a running stream', () => {
  assert.deepEqual(does(run(req({ request: 'finalize' })).steps[0]), ['ack']);
  assert.deepEqual(does(run(req(start), req({ request: 'finalize' })).steps[1]), ['finalize', 'ack']);
  assert.deepEqual(run(req({ request: 'keepalive' })).steps[0], [{ do: 'ack', request: 'keepalive' }]);
});

test('fatal errors finish a running stream (results, stream_end) before the error and the close', () => {
  assert.deepEqual(does(run({ type: 'audio', bytes: 10 }).steps[0]), ['finish', 'error:audio_before_start', 'close:1008']);
  assert.deepEqual(does(run(req(start), { type: 'audio', bytes: 64_001 }).steps[1]), ['finish', 'error:frame_too_large', 'close:1009']);
  const badFormat = { ...start, format: { ...start.format, channels: 3 } };
  assert.deepEqual(does(run(req(badFormat)).steps[0]), ['finish', 'error:unsupported_format', 'close:1008']);
  assert.deepEqual(does(run(req(start), { type: 'audio', bytes: 3200 }, req(badFormat)).steps[2]), ['finish', 'error:unsupported_format', 'close:1008'], 'an invalid second start');
  const brokenStart = { type: 'invalid', code: 'invalid_request', message: 'x', close: 1008 } as const;
  assert.deepEqual(does(run(req(start), brokenStart).steps[1]), ['finish', 'error:invalid_request', 'close:1008']);
  assert.deepEqual(does(run({ type: 'invalid', code: 'invalid_json', message: 'x' }).steps[0]), ['error:invalid_json'], 'non-fatal: the socket stays');
  assert.deepEqual(does(run(req(start), { type: 'refused', refusal: 'too_many_streams' }).steps[1]), ['finish', 'error:too_many_streams', 'close:1013']);
  const idle = run(req(start), { type: 'fail', code: 'idle_timeout', message: 'x', close: 1008 }, req({ request: 'keepalive' }));
  assert.deepEqual(does(idle.steps[1]), ['finish', 'error:idle_timeout', 'close:1008']);
  assert.deepEqual(idle.steps[2], [], 'closing: input meanwhile is ignored');
  assert.equal(idle.state.phase, 'closing');
});

test('a client that does not read, or a crashed session, drops the stream: nothing more can reach the client; the outcome says whose failure it was', () => {
  assert.deepEqual(does(run(req(start), { type: 'fail', code: 'slow_consumer', message: 'x', close: 1008 }).steps[1]), ['error:slow_consumer', 'abort:slow_consumer', 'close:1008']);
  assert.deepEqual(does(run(req(start), { type: 'fail', code: 'internal_error', message: 'x', close: 1011 }).steps[1]), ['error:internal_error', 'abort:error', 'close:1011']);
});

test('past max_stream_seconds the audio received is still answered, then stream_too_long; input meanwhile is ignored', () => {
  const second = 32_000; // s16 mono 16 kHz
  const { state, steps } = run(req(start), ...Array.from({ length: 10 }, () => ({ type: 'audio', bytes: second }) as const), { type: 'audio', bytes: 2 }, req({ request: 'keepalive' }));
  assert.deepEqual(does(steps[10]), ['push'], 'exactly 10 s: within the limit');
  assert.deepEqual(does(steps[11]), ['push', 'finish', 'error:stream_too_long', 'close:1008']);
  assert.deepEqual(steps[12], [], 'closing: ignored');
  assert.equal(state.phase, 'closing');
  assert.deepEqual(does(step(state, { type: 'client_closed' }, limits).actions), ['abort:client_closed'], 'the client may still leave meanwhile');
});

test('shutdown: drain finishes the stream and closes with 1001; the deadline drops it; a client leaving drops it', () => {
  assert.deepEqual(does(run(req(start), { type: 'drain' }).steps[1]), ['finish', 'close:1001']);
  assert.deepEqual(does(run(req(start), { type: 'shutdown' }).steps[1]), ['abort:error', 'close:1001']);
  assert.deepEqual(does(run(req(start), { type: 'client_closed' }).steps[1]), ['abort:client_closed']);
});

test('going_away reaches a running stream once draining begins, and nothing else', () => {
  const notice = { type: 'going_away', deadlineMs: 5000 } as const;
  assert.deepEqual(run(req(start), notice).steps[1], [{ do: 'going_away', deadlineMs: 5000 }]);
  assert.deepEqual(run(notice).steps[0], [], 'no stream: nothing to tell');
  assert.deepEqual(run(req(start), req({ request: 'stop', disconnect: false }), notice).steps[2], [], 'stopped: nothing to tell');
});
