// The protocol's state machine alone: inputs in, actions out, no sockets and no clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INITIAL_STATE, step, type SessionAction, type SessionInput, type SessionState } from '../../src/api/session-machine.ts';
import type { StartRequest } from '../../src/api/protocol.ts';

const limits = { maxChannels: 2, maxFrameBytes: 64_000, maxStreamSeconds: 10 };
const start: StartRequest = { request: 'start', format: { channels: 1, sample_rate: 16000, bit_depth: 16, is_float: false }, interim_results: false, time_offset: 0 };
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

test('audio after a stop opens a new stream with the last format, counting its length from zero', () => {
  const { state, steps } = run(req(start), { type: 'audio', bytes: 32_000 }, req({ request: 'stop', disconnect: false }), { type: 'audio', bytes: 3200 });
  assert.deepEqual(does(steps[3]), ['open', 'push']);
  assert.deepEqual((steps[3][0] as { request: StartRequest }).request, start);
  assert.equal(state.streamBytes, 3200);
  assert.equal(state.phase, 'streaming');
});

test('stop without a stream: no_active_stream, the socket stays; with disconnect: close 1000 and nothing more', () => {
  assert.deepEqual(does(run(req({ request: 'stop', disconnect: false })).steps[0]), ['error:no_active_stream']);
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

test('fatal input errors send the error, drop the stream and close with their code', () => {
  assert.deepEqual(does(run({ type: 'audio', bytes: 10 }).steps[0]), ['error:audio_before_start', 'abort:error', 'close:1008']);
  assert.deepEqual(does(run(req(start), { type: 'audio', bytes: 64_001 }).steps[1]), ['error:frame_too_large', 'abort:error', 'close:1009']);
  const badFormat = { ...start, format: { ...start.format, channels: 3 } };
  assert.deepEqual(does(run(req(badFormat)).steps[0]), ['error:unsupported_format', 'abort:error', 'close:1008']);
  assert.deepEqual(does(run({ type: 'invalid', code: 'invalid_json', message: 'x' }).steps[0]), ['error:invalid_json'], 'non-fatal: the socket stays');
  assert.deepEqual(does(run(req(start), { type: 'refused', refusal: 'too_many_streams' }).steps[1]), ['error:too_many_streams', 'abort:error', 'close:1013']);
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
  assert.deepEqual(does(run(req(start), { type: 'fail', code: 'idle_timeout', message: 'x', close: 1008 }).steps[1]), ['error:idle_timeout', 'abort:error', 'close:1008']);
});

test('going_away reaches a running stream once draining begins, and nothing else', () => {
  const notice = { type: 'going_away', deadlineMs: 5000 } as const;
  assert.deepEqual(run(req(start), notice).steps[1], [{ do: 'going_away', deadlineMs: 5000 }]);
  assert.deepEqual(run(notice).steps[0], [], 'no stream: nothing to tell');
  assert.deepEqual(run(req(start), req({ request: 'stop', disconnect: false }), notice).steps[2], [], 'stopped: nothing to tell');
});
