// The simple route's chunk policy (docs/protocol.md, "Simple route"): a chunk goes to the model once
// the minimum (pipeline.simple_min_chunk_ms, or the stream's chunk_ms) is queued, takes what is
// queued up to the maximum (pipeline.simple_max_chunk_ms, raised to a larger chunk_ms); finalize
// and stop flush the rest at once; the chunks tile the audio.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { connect, streamAudio } from '../../src/client/stream-client.ts';
import { segmentsOf } from '../helpers/events.ts';
import { S16_MONO_16K, speechFixture, startTestService, type TestService } from '../helpers/service.ts';

type Seg = Extract<ServerEvent, { type: 'segment' }>;
const MIN_MS = 250;
const MAX_MS = 1000;
/** 20 ms of 16 kHz s16 mono: a real-time client's frame. */
const FRAME = 640;
const fixture = speechFixture();
const fixtureSamples = fixture.pcm.byteLength / 2;

let service: TestService;
before(async () => {
  service = await startTestService({ pipeline: { simple_min_chunk_ms: MIN_MS, simple_max_chunk_ms: MAX_MS } });
});
after(() => service.shutdown(0));

const counts = (segs: Seg[]) => segs.map((s) => s.count as number);

/** The segments tile [0, samples / 16000]: no gap, no overlap, each `count` its own length, Σ count = `samples`. */
function assertTiles(segs: Seg[], samples: number): void {
  assert.ok(segs.length > 0);
  let at = 0;
  for (const s of segs) {
    assert.equal(s.start_time, at, `gap or overlap at ${at} s`);
    assert.equal(s.count, Math.round((s.end_time - s.start_time) * 16_000));
    at = s.end_time;
  }
  assert.equal(counts(segs).reduce((a, b) => a + b, 0), samples);
  assert.equal(at, samples / 16_000);
}

/** Every chunk but the last has `min` to `max` samples; the last at most `max`. */
function assertBounded(segs: Seg[], min: number, max: number): void {
  counts(segs).forEach((n, i) => {
    if (i < segs.length - 1) assert.ok(n >= min, `chunk ${i}: ${n} samples, under the minimum ${min}: ${counts(segs).join(' ')}`);
    assert.ok(n <= max, `chunk ${i}: ${n} samples, over the maximum ${max}: ${counts(segs).join(' ')}`);
  });
}

test('20 ms frames: every chunk but the last is at least the minimum, at most the maximum, and the chunks tile the audio', async () => {
  const { events, closeCode } = await streamAudio({ addr: service.ws('simple'), format: fixture.format, pcm: fixture.pcm, chunkBytes: FRAME });
  assert.equal(closeCode, 1000);
  const segs = segmentsOf(events);
  assertTiles(segs, fixtureSamples);
  assertBounded(segs, MIN_MS * 16, MAX_MS * 16);
});

test('finalize and stop flush what is queued at once, under the minimum; a chunk goes as soon as the minimum is queued', async () => {
  const conn = await connect(service.ws('simple'));
  const frames = (from: number, n: number) => Array.from({ length: n }, (_, i) => fixture.pcm.subarray((from + i) * FRAME, (from + i + 1) * FRAME));
  await conn.send({ request: 'start', format: S16_MONO_16K });
  for (const f of frames(0, 5)) await conn.send(f); // 100 ms: under the minimum
  await conn.send({ request: 'finalize' });
  await conn.next('ack');
  assert.deepEqual(segmentsOf(conn.events).map((s) => [s.start_time, s.end_time]), [[0, 0.1]], 'the finalize sent the 100 ms queued, as one chunk');
  // 13 frames make 260 ms (the first whole frames reaching 250 ms): one chunk; 2 + 2 frames more wait for the stop.
  for (const f of frames(5, 15)) await conn.send(f);
  const half = fixture.pcm.subarray(20 * FRAME, 20 * FRAME + FRAME / 2);
  await conn.send(half);
  await conn.send(half);
  await conn.send({ request: 'stop', disconnect: true });
  const { code } = await conn.closed;
  assert.equal(code, 1000);
  const segs = segmentsOf(conn.events);
  assert.deepEqual(counts(segs), [1600, 13 * 320, 2 * 320 + 320]);
  assertTiles(segs, 21 * 320);
});

test('start.chunk_ms sets the stream\'s minimum: 0 sends each frame at once, a minimum above the maximum raises it', async () => {
  const run = async (chunkMs: number) => {
    const { events, closeCode } = await streamAudio({ addr: service.ws('simple'), format: fixture.format, pcm: fixture.pcm, chunkBytes: FRAME, chunkMs });
    assert.equal(closeCode, 1000);
    const segs = segmentsOf(events);
    assertTiles(segs, fixtureSamples);
    return segs;
  };
  const zero = await run(0);
  assert.equal(zero[0].count, 320, 'with no minimum, the first frame is a chunk of its own');
  assertBounded(zero, 0, MAX_MS * 16);
  // min = max: every chunk has exactly the minimum but the last
  const exact = await run(MAX_MS);
  assert.deepEqual(counts(exact).slice(0, -1), Array<number>(exact.length - 1).fill(MAX_MS * 16));
  const above = await run(1500);
  assert.deepEqual(counts(above).slice(0, -1), Array<number>(above.length - 1).fill(1500 * 16));
});

test('a fast upload (the whole file in one frame) goes to the model in chunks of the maximum, not one', async () => {
  const { events, closeCode } = await streamAudio({ addr: service.ws('simple'), format: fixture.format, pcm: fixture.pcm, chunkBytes: fixture.pcm.byteLength });
  assert.equal(closeCode, 1000);
  const segs = segmentsOf(events);
  assertTiles(segs, fixtureSamples);
  const whole = Math.floor(fixtureSamples / (MAX_MS * 16));
  assert.deepEqual(counts(segs), [...Array<number>(whole).fill(MAX_MS * 16), fixtureSamples - whole * MAX_MS * 16]);
});

test('a minimum above limits.max_backlog_seconds does not stall reading: audio waiting for the minimum is no backlog', async () => {
  // Were the waiting audio counted, reading would pause at 0.5 s and never resume: no chunk could go,
  // so no work would ever progress (and a paused session is not idle). The timeout is a hang guard.
  const tight = await startTestService({ limits: { max_backlog_seconds: 0.5 } });
  try {
    const { events, closeCode, closeReason } = await streamAudio({ addr: tight.ws('simple'), format: fixture.format, pcm: fixture.pcm, chunkBytes: FRAME, chunkMs: 2000, timeoutMs: 60_000 });
    assert.equal(closeCode, 1000, closeReason);
    const segs = segmentsOf(events);
    assertTiles(segs, fixtureSamples);
    assertBounded(segs, 2000 * 16, 2000 * 16);
  } finally {
    await tight.shutdown(0);
  }
});
