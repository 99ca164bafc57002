import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseCode } from '../../src/api/protocol.ts';
import { parseRequest } from '../../src/api/requests.ts';

const MAX = 1024;
const errorOf = (text: string) => {
  const r = parseRequest(text, MAX);
  assert.ok('error' in r, `${text} should be refused`);
  return r.error;
};

test('valid requests parse, with the protocol defaults filled in', () => {
  const start = parseRequest(JSON.stringify({ request: 'start', format: { channels: 1, sample_rate: 16000, bit_depth: 16, is_float: false } }), MAX);
  assert.ok('request' in start);
  assert.deepEqual(start.request, { request: 'start', format: { channels: 1, sample_rate: 16000, bit_depth: 16, is_float: false }, interim_results: false, time_offset: 0 });
  assert.deepEqual(parseRequest('{"request":"stop"}', MAX), { request: { request: 'stop', disconnect: false } });
  assert.deepEqual(parseRequest('{"request":"keepalive"}', MAX), { request: { request: 'keepalive' } });
});

test('each kind of bad text gets its own code; only what leaves no usable session closes it', () => {
  assert.deepEqual(errorOf(`{"request":"stop","pad":"${'x'.repeat(MAX)}"}`), {
    message: `text message larger than ${MAX} bytes`,
    code: 'frame_too_large',
    close: CloseCode.tooLarge,
  });
  assert.deepEqual(errorOf('{not json'), { message: 'invalid JSON', code: 'invalid_json' });
  const unknown = errorOf('{"request":"pause"}');
  assert.equal(unknown.code, 'unknown_request');
  assert.match(unknown.message, /"pause".*start, stop, finalize, keepalive/);
  assert.equal(unknown.close, undefined);
  assert.equal(errorOf('[1,2]').code, 'unknown_request');
  const badStart = errorOf('{"request":"start","format":{"channels":"one"}}');
  assert.equal(badStart.code, 'invalid_request');
  assert.match(badStart.message, /^invalid start request: format\.channels: /);
  assert.equal(badStart.close, CloseCode.policy);
  const badStop = errorOf('{"request":"stop","disconnect":"yes"}');
  assert.equal(badStop.code, 'invalid_request');
  assert.equal(badStop.close, undefined, 'a broken stop leaves the stream usable');
});
