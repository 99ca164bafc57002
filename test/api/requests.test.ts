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
  assert.deepEqual(start.request, { request: 'start', format: { channels: 1, sample_rate: 16000, bit_depth: 16, is_float: false }, interim_results: false, time_offset: 0, resumed: false });
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
  // Each says what was wrong, in the protocol's words.
  const reasons: Record<string, RegExp> = {
    '{"hello":1}': /^the object has no "request" field \(expected one of start, stop, finalize, keepalive\)$/,
    '[1,2]': /^a request is a JSON object with a "request" field, not an array/,
    '"start"': /^a request is a JSON object with a "request" field, not a string/,
    '42': /not a number/,
    'null': /not null/,
    '{"request":1}': /^"request" must be a string, not a number/,
    '{"request":null}': /^"request" must be a string, not null/,
    '{"request":["start"]}': /^"request" must be a string, not an array/,
    '{"__proto__":{"request":"keepalive"}}': /no "request" field/,
    [`{"request":"${'x'.repeat(900)}"}`]: /^unknown request "x{64}…" \(expected/,
  };
  for (const [text, reason] of Object.entries(reasons)) {
    const e = errorOf(text);
    assert.equal(e.code, 'unknown_request', text);
    assert.match(e.message, reason, text.slice(0, 80));
  }
  const badStart = errorOf('{"request":"start","format":{"channels":"one"}}');
  assert.equal(badStart.code, 'invalid_request');
  assert.match(badStart.message, /^invalid start request: format\.channels: /);
  assert.equal(badStart.close, CloseCode.policy);
  const badStop = errorOf('{"request":"stop","disconnect":"yes"}');
  assert.equal(badStop.code, 'invalid_request');
  assert.equal(badStop.close, undefined, 'a broken stop leaves the stream usable');
});
