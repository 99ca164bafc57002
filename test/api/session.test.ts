import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, streamAudio } from '../../src/client/stream-client.ts';
import { segmentsOf } from '../helpers/events.ts';
import { S16_MONO_16K, speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

let service: TestService;
before(async () => {
  service = await startTestService({ limits: { max_frame_bytes: 64 * 1024, max_streams: 4 } });
});
after(() => service.shutdown(0));

const fixture = speechFixture();
const second = (n: number) => fixture.pcm.subarray(0, n * 32000);
const ready = () => fetch(`${service.url}/api/v1/ready`).then((r) => r.json() as Promise<{ active_streams: number }>);

test('health, readiness and unknown routes', async () => {
  const health = await fetch(`${service.url}/api/v1/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'healthy' });
  const r = await fetch(`${service.url}/api/v1/ready`);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).ready, true);
  assert.equal((await fetch(`${service.url}/api/v2/nothing`)).status, 404);
  const page = await fetch(`${service.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
});

test('a plain HTTP request on a websocket route is answered 426 Upgrade Required, saying what to do', async () => {
  for (const route of ['simple', 'segmented']) {
    const res = await fetch(`${service.url}/api/v1/${route}`);
    assert.equal(res.status, 426, route);
    assert.equal(res.headers.get('upgrade'), 'websocket');
    assert.match(((await res.json()) as { error: string }).error, /websocket client/);
  }
  // and the websocket route itself still upgrades
  const conn = await connect(service.ws('segmented'));
  await conn.close();
});

test('stop with disconnect closes with 1000 after stream_end', async () => {
  const { events, closeCode } = await streamAudio({ addr: service.ws('simple'), format: S16_MONO_16K, pcm: second(1) });
  assert.equal(events.at(-1)?.type, 'stream_end');
  assert.equal(closeCode, 1000);
});

test('stop without disconnect keeps the socket; the next audio is a new stream with the same format', async () => {
  const conn = await connect(service.ws('simple'));
  await conn.send({ request: 'start', format: S16_MONO_16K });
  await conn.send(second(1));
  await conn.send({ request: 'stop', disconnect: false });
  const first = await conn.next('stream_end');
  assert.deepEqual(first.channel_durations, [1]);
  await conn.send(second(2));
  await conn.send({ request: 'stop', disconnect: false });
  const end2 = await conn.next('stream_end');
  assert.deepEqual(end2.channel_durations, [2]);
  // the second stream's times start from 0 again
  const afterFirst = conn.events.slice(conn.events.indexOf(first) + 1);
  assert.equal(segmentsOf(afterFirst)[0].start_time, 0);
  assert.ok(conn.isOpen);
  await conn.close();
});

test('a start mid-stream ends that stream (stream_end) and begins a new one with the new format', async () => {
  const conn = await connect(service.ws('simple'));
  await conn.send({ request: 'start', format: S16_MONO_16K });
  await conn.send(second(1));
  await conn.send({ request: 'start', format: { channels: 2, sample_rate: 8000, bit_depth: 16, is_float: false } });
  const end1 = await conn.next('stream_end');
  assert.deepEqual(end1.channel_durations, [1]);
  await conn.send(second(1)); // 32000 bytes = 8000 stereo frames at 8 kHz = 1 s
  await conn.send({ request: 'stop', disconnect: true });
  const end2 = await conn.next('stream_end');
  assert.deepEqual(end2.channel_durations, [1, 1]);
  const between = conn.events.slice(conn.events.indexOf(end1) + 1, conn.events.indexOf(end2));
  assert.deepEqual(new Set(segmentsOf(between).map((s) => s.channel)), new Set([0, 1]));
  assert.equal((await conn.closed).code, 1000);
});

test('keepalive and finalize are acknowledged; finalize in simple mode flushes queued audio', async () => {
  const conn = await connect(service.ws('simple'));
  await conn.send({ request: 'keepalive' });
  assert.deepEqual(await conn.next('ack'), { type: 'ack', request: 'keepalive' });
  await conn.send({ request: 'start', format: S16_MONO_16K });
  await conn.send(second(1));
  await conn.send({ request: 'finalize' });
  const ack = await conn.next('ack');
  assert.equal(ack.request, 'finalize');
  // every sample sent before the finalize has its result before the ack
  const before = segmentsOf(conn.events.slice(0, conn.events.indexOf(ack)));
  assert.equal((before.at(-1) as { end_time: number }).end_time, 1);
  await conn.close();
});

test('a client that closes mid-stream does not disturb the server or other clients', async () => {
  const other = streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 4000 });
  const conn = await connect(service.ws('segmented'));
  await conn.send({ request: 'start', format: fixture.format });
  await conn.send(second(2));
  conn.terminate();
  const result = await other;
  assert.equal(segmentsOf(result.events).length, 2);
  assert.equal(result.events.at(-1)?.type, 'stream_end');
  await waitFor('active_streams back to 0', async () => (await ready()).active_streams === 0);
});

// Bad input, answered as the protocol says.
const bad: Array<{ name: string; messages: Array<object | string | Uint8Array>; code: string; close?: number }> = [
  { name: 'invalid JSON', messages: ['{"request": "start",'], code: 'invalid_json' },
  { name: 'unknown request', messages: [{ request: 'rewind' }], code: 'unknown_request' },
  { name: 'no request field', messages: [{ hello: 1 }], code: 'unknown_request' },
  { name: 'audio before start', messages: [new Uint8Array(640)], code: 'audio_before_start', close: 1008 },
  { name: 'unsupported bit depth', messages: [{ request: 'start', format: { ...S16_MONO_16K, bit_depth: 24 } }], code: 'unsupported_format', close: 1008 },
  { name: 'zero channels', messages: [{ request: 'start', format: { ...S16_MONO_16K, channels: 0 } }], code: 'unsupported_format', close: 1008 },
  { name: 'too many channels', messages: [{ request: 'start', format: { ...S16_MONO_16K, channels: 9 } }], code: 'unsupported_format', close: 1008 },
  { name: 'sample rate out of range', messages: [{ request: 'start', format: { ...S16_MONO_16K, sample_rate: 1000 } }], code: 'unsupported_format', close: 1008 },
  { name: 'start without format', messages: [{ request: 'start' }], code: 'invalid_request', close: 1008 },
  { name: 'wrong type in start', messages: [{ request: 'start', format: { ...S16_MONO_16K, channels: 'two' } }], code: 'invalid_request', close: 1008 },
  { name: 'oversized frame', messages: [{ request: 'start', format: S16_MONO_16K }, new Uint8Array(64 * 1024 + 1)], code: 'frame_too_large', close: 1009 },
  { name: 'stop before start', messages: [{ request: 'stop', disconnect: false }], code: 'no_active_stream' },
];

for (const c of bad) {
  test(`bad input: ${c.name} → error ${c.code}${c.close ? ` and close ${c.close}` : ', socket stays open'}`, async () => {
    const conn = await connect(service.ws('simple'));
    for (const m of c.messages) await conn.send(m);
    const error = await conn.next('error');
    assert.equal(error.code, c.code);
    assert.equal(error.channel, undefined);
    assert.ok(error.message.length > 0 && !/\bat \/|node_modules|\.ts:/.test(error.message), `no internals: ${error.message}`);
    if (c.close) {
      assert.equal((await conn.closed).code, c.close);
    } else {
      // the connection still works: a whole stream goes through after the error
      await conn.send({ request: 'start', format: S16_MONO_16K });
      await conn.send(second(1));
      await conn.send({ request: 'stop', disconnect: true });
      assert.deepEqual((await conn.next('stream_end')).channel_durations, [1]);
      assert.equal((await conn.closed).code, 1000);
    }
  });
}

test('invalid JSON between audio frames leaves the stream running', async () => {
  const conn = await connect(service.ws('simple'));
  await conn.send({ request: 'start', format: S16_MONO_16K });
  await conn.send(second(1));
  await conn.send('not json');
  await conn.send(second(1));
  await conn.send({ request: 'stop', disconnect: true });
  assert.equal((await conn.next('error')).code, 'invalid_json');
  assert.deepEqual((await conn.next('stream_end')).channel_durations, [2]);
});

test('beyond max_streams a new stream gets too_many_streams and close 1013; readiness says 503 while full', async () => {
  const open = await Promise.all(Array.from({ length: 4 }, () => connect(service.ws('simple'))));
  for (const c of open) await c.send({ request: 'start', format: S16_MONO_16K });
  await waitFor('the 4 streams to be counted', async () => (await ready()).active_streams === 4);
  assert.equal((await fetch(`${service.url}/api/v1/ready`)).status, 503);
  const extra = await connect(service.ws('simple'));
  await extra.send({ request: 'start', format: S16_MONO_16K });
  assert.equal((await extra.next('error')).code, 'too_many_streams');
  assert.equal((await extra.closed).code, 1013);
  await Promise.all(open.map((c) => c.close()));
  await waitFor('active_streams back to 0', async () => (await ready()).active_streams === 0);
  assert.equal((await fetch(`${service.url}/api/v1/ready`)).status, 200);
});
