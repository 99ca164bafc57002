// Pipeline events → the protocol's events (src/api/events.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toServerEvent } from '../../src/api/events.ts';

test('a result becomes a segment with the model output after the protocol fields (the existing wire shape)', () => {
  const simple = toServerEvent({ kind: 'result', channel: 1, start: 0.5, end: 1.25, output: { count: 12_000 } });
  assert.equal(JSON.stringify(simple), '{"type":"segment","start_time":0.5,"end_time":1.25,"channel":1,"count":12000}');
  const segmented = toServerEvent({ kind: 'result', channel: 0, start: 1, end: 2, isFinal: false, output: { text: 'hello' } });
  assert.equal(JSON.stringify(segmented), '{"type":"segment","start_time":1,"end_time":2,"is_final":false,"channel":0,"text":"hello"}');
});

test('model output cannot overwrite a protocol field of the segment', () => {
  const output = { type: 'error', channel: 7, start_time: -1, end_time: 99, is_final: true, text: 'kept' };
  const event = toServerEvent({ kind: 'result', channel: 0, start: 1, end: 2, isFinal: false, output });
  assert.deepEqual(event, { type: 'segment', start_time: 1, end_time: 2, is_final: false, channel: 0, text: 'kept' });
  const simple = toServerEvent({ kind: 'result', channel: 0, start: 1, end: 2, output: { is_final: true } });
  assert.equal('is_final' in simple, false, 'simple-route segments carry no is_final, whatever the model says');
});

test('voice activity and failures keep the protocol shapes; failures never carry internals', () => {
  assert.deepEqual(toServerEvent({ kind: 'active', channel: 1, time: 0.25 }), { type: 'active', time: 0.25, channel: 1 });
  assert.deepEqual(toServerEvent({ kind: 'inactive', channel: 0, time: 3 }), { type: 'inactive', time: 3, channel: 0 });
  assert.deepEqual(toServerEvent({ kind: 'failure', channel: 0, cause: 'model', reason: 'bad audio' }), {
    type: 'error',
    message: 'model failure: bad audio',
    code: 'model_failure',
    channel: 0,
  });
  assert.deepEqual(toServerEvent({ kind: 'failure', channel: 2, cause: 'internal' }), { type: 'error', message: 'internal server error', code: 'internal_error', channel: 2 });
});
