// Draining tells running streams ahead of time (`going_away`), and `time_offset` lets a client move
// its audio to another instance without leaving its timeline: the protocol additions for fleets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { connect, streamAudio } from '../../src/client/stream-client.ts';
import { finals } from '../helpers/events.ts';
import { scrape } from '../helpers/prometheus.ts';
import { S16_MONO_16K, speechFixture, startTestService } from '../helpers/service.ts';

const fixture = speechFixture();
const BYTES_PER_SECOND = 32_000; // s16 mono 16 kHz

test('draining sends going_away once to every running stream, with the time left; others get nothing', async () => {
  const service = await startTestService({ shutdown: { drain_timeout_ms: 20_000 } });
  const running = await connect(service.ws('segmented'));
  await running.send({ request: 'start', format: S16_MONO_16K });
  await running.send(fixture.pcm.subarray(0, BYTES_PER_SECOND));
  await running.send({ request: 'keepalive' });
  await running.next('ack'); // messages are handled in order: the stream is running
  const stopped = await connect(service.ws('segmented'));
  await stopped.send({ request: 'start', format: S16_MONO_16K });
  await stopped.send({ request: 'stop' });
  await stopped.next('stream_end');
  const idle = await connect(service.ws('simple'));
  await idle.send({ request: 'keepalive' });
  await idle.next('ack');

  const stopping = service.shutdown(20_000);
  const notice = await running.next('going_away', 5_000);
  assert.deepEqual(notice, { type: 'going_away', deadline_ms: 20_000 });
  // The stream keeps working: more audio is analysed, and stop answers everything.
  await running.send(fixture.pcm.subarray(BYTES_PER_SECOND, 5 * BYTES_PER_SECOND));
  await running.send({ request: 'stop', disconnect: true });
  assert.deepEqual((await running.next('stream_end')).channel_durations, [5]);
  assert.equal((await running.closed).code, 1000);
  assert.equal(finals(running.events).length, 1, 'the speech region in those 5 s got its final segment');
  await stopping; // no stream left: the drain ends long before its 20 s deadline
  for (const other of [stopped, idle]) {
    assert.equal((await other.closed).code, 1001);
    assert.equal(other.events.filter((e) => e.type === 'going_away').length, 0, 'no running stream, no notice');
  }
  assert.equal(running.events.filter((e) => e.type === 'going_away').length, 1, 'exactly once');
});

test('time_offset shifts every reported time of the stream; stream_end keeps its own durations', async () => {
  const service = await startTestService();
  try {
    const run = (extra: Record<string, unknown>) =>
      streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 3200, interimResults: true, ...extra });
    const plain = await run({});
    const moved = await run({ timeOffset: 100.25 });
    const times = (events: ServerEvent[]) =>
      events.flatMap((e) => (e.type === 'segment' ? [e.start_time, e.end_time] : e.type === 'active' || e.type === 'inactive' ? [e.time] : []));
    const shifted = times(plain.events).map((t) => t + 100.25);
    assert.ok(shifted.length >= 6, 'activity, interim and final times to compare');
    assert.deepEqual(
      times(moved.events).map((t) => t.toFixed(6)),
      shifted.map((t) => t.toFixed(6)),
    );
    assert.deepEqual(moved.events.at(-1), plain.events.at(-1), 'stream_end: the stream’s own duration');
  } finally {
    await service.shutdown(0);
  }
});

test('a negative or non-numeric time_offset is an invalid request', async () => {
  const service = await startTestService();
  try {
    for (const time_offset of [-1, 'soon']) {
      const conn = await connect(service.ws('simple'));
      await conn.send({ request: 'start', format: S16_MONO_16K, time_offset });
      assert.equal((await conn.next('error')).code, 'invalid_request');
      await conn.close();
    }
  } finally {
    await service.shutdown(0);
  }
});

test('the move recipe: on going_away a client restarts on another instance with time_offset; nothing is lost or sent twice, and the timeline is one', async () => {
  const [a, b] = await Promise.all([startTestService(), startTestService()]);
  try {
    const reference = await streamAudio({ addr: b.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 3200 });
    const before = [await scrape(a.url), await scrape(b.url)];

    const CUT = 4 * BYTES_PER_SECOND; // in the pause between the fixture's two sentences
    const old = await connect(a.ws('segmented'));
    await old.send({ request: 'start', format: S16_MONO_16K });
    for (let at = 0; at < CUT; at += 3200) await old.send(fixture.pcm.subarray(at, Math.min(at + 3200, CUT)));
    await old.send({ request: 'keepalive' });
    await old.next('ack'); // messages are handled in order: the stream is running
    const draining = a.shutdown(30_000);
    await old.next('going_away');
    // The recipe: new connection started with time_offset = audio seconds sent, old stream stopped, rest to the new one.
    const next = await connect(b.ws('segmented'));
    await next.send({ request: 'start', format: S16_MONO_16K, time_offset: CUT / BYTES_PER_SECOND });
    await old.send({ request: 'stop', disconnect: true });
    for (let at = CUT; at < fixture.pcm.length; at += 3200) await next.send(fixture.pcm.subarray(at, Math.min(at + 3200, fixture.pcm.length)));
    await next.send({ request: 'stop', disconnect: true });
    assert.deepEqual((await old.next('stream_end')).channel_durations, [4]);
    const [rest] = (await next.next('stream_end')).channel_durations;
    assert.ok(Math.abs(rest - (fixture.duration - 4)) < 1e-9, `the new stream got ${rest} s`);
    await Promise.all([old.closed, next.closed, draining]);

    // Every sample counted once: A's stream_end above says 4 s, and B received exactly the rest.
    const after = await scrape(b.url);
    const received = (i: number, e: typeof after) => e.sum('audio_received_seconds_total') - before[i].sum('audio_received_seconds_total');
    assert.ok(Math.abs(received(1, after) - (fixture.duration - 4)) < 1e-6, `B received ${received(1, after)} s`);

    // One timeline: the first sentence from the old stream, the second from the new one, as in one stream.
    const ref = finals(reference.events);
    const got = [...finals(old.events), ...finals(next.events)];
    assert.equal(ref.length, 2);
    assert.equal(got.length, 2);
    assert.ok(finals(old.events)[0].end_time <= 4 && finals(next.events)[0].start_time >= 4, 'each sentence on its side of the move');
    for (let i = 0; i < 2; i++) {
      assert.ok(Math.abs(got[i].start_time - ref[i].start_time) < 0.1, `segment ${i} start ${got[i].start_time} vs ${ref[i].start_time}`);
      assert.ok(Math.abs(got[i].end_time - ref[i].end_time) < 0.1, `segment ${i} end ${got[i].end_time} vs ${ref[i].end_time}`);
    }
  } finally {
    await Promise.all([a.shutdown(0), b.shutdown(0)]);
  }
});
