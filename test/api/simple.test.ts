import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AudioFormat, ServerEvent } from '../../src/api/protocol.ts';
import { streamAudio } from '../../src/client/stream-client.ts';
import { seeded, speechFixture, startTestService, type TestService } from '../helpers/service.ts';

let service: TestService;
before(async () => {
  // a slower model makes audio queue up, so chunks are batched and several are in flight
  service = await startTestService({ model: { delay: 0.03 } });
});
after(() => service.shutdown(0));

type Seg = Extract<ServerEvent, { type: 'segment' }>;

/** The segments of each channel tile [0, duration] with no gap and no overlap. */
function assertTiles(events: ServerEvent[], channels: number, duration: number) {
  for (let c = 0; c < channels; c++) {
    const segs = events.filter((e): e is Seg => e.type === 'segment' && e.channel === c);
    assert.ok(segs.length >= 2, `channel ${c}: ${segs.length} segments`);
    assert.equal(segs[0].start_time, 0);
    for (let i = 1; i < segs.length; i++) assert.equal(segs[i].start_time, segs[i - 1].end_time, `gap/overlap at ${i}`);
    for (const s of segs) {
      assert.equal(s.is_final, undefined);
      assert.equal(s.count, Math.round((s.end_time - s.start_time) * 16000));
    }
    const total = segs.reduce((sum, s) => sum + (s.end_time - s.start_time), 0);
    assert.ok(Math.abs(total - duration) <= 1 / 16000, `channel ${c}: ${total} s vs ${duration} s`);
    assert.ok(Math.abs(segs.at(-1)!.end_time - duration) <= 1 / 16000);
  }
  const end = events.at(-1) as Extract<ServerEvent, { type: 'stream_end' }>;
  assert.equal(end.type, 'stream_end');
  assert.equal(end.channel_durations.length, channels);
  for (const d of end.channel_durations) assert.ok(Math.abs(d - duration) < 1e-9);
}

test('mono s16 16 kHz: segments tile the audio exactly (random frame sizes, odd byte counts)', async () => {
  const fixture = speechFixture();
  const random = seeded(1);
  const { events, closeCode } = await streamAudio({
    addr: service.ws('simple'),
    format: fixture.format,
    pcm: fixture.pcm,
    chunkBytes: () => 1 + Math.floor(random() * 3001),
  });
  assert.equal(closeCode, 1000);
  assertTiles(events, 1, fixture.duration);
});

test('stereo f32 44.1 kHz: each channel tiles the audio exactly', async () => {
  const rate = 44100;
  const frames = Math.round(rate * 3.3);
  const samples = new Float32Array(frames * 2);
  for (let i = 0; i < frames; i++) {
    samples[2 * i] = 0.3 * Math.sin((2 * Math.PI * 300 * i) / rate);
    samples[2 * i + 1] = 0.3 * Math.sin((2 * Math.PI * 1200 * i) / rate);
  }
  const format: AudioFormat = { channels: 2, sample_rate: rate, bit_depth: 32, is_float: true };
  const random = seeded(2);
  const { events } = await streamAudio({
    addr: service.ws('simple'),
    format,
    pcm: new Uint8Array(samples.buffer),
    chunkBytes: () => 1 + Math.floor(random() * 5000),
  });
  assertTiles(events, 2, frames / rate);
  // ordering: within a channel, results arrive in time order even with several inferences in flight
  for (const c of [0, 1]) {
    const starts = events.filter((e): e is Seg => e.type === 'segment' && e.channel === c).map((s) => s.start_time);
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b));
  }
});
