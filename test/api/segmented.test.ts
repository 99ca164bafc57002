import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { connect, streamAudio } from '../../src/client/stream-client.ts';
import { withoutCommits } from '../helpers/robustness.ts';
import { S16_MONO_16K, speechFixture, startTestService, type TestService } from '../helpers/service.ts';

let service: TestService;
before(async () => {
  service = await startTestService();
});
after(() => service.shutdown(0));

const fixture = speechFixture();
type Seg = Extract<ServerEvent, { type: 'segment' }>;
const ofType = <T extends ServerEvent['type']>(events: ServerEvent[], type: T) =>
  events.filter((e): e is Extract<ServerEvent, { type: T }> => e.type === type);

test('each speech region gives active, inactive and one final segment within 0.1 s of the truth', async () => {
  const { events, closeCode } = await streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 1024 });
  assert.equal(closeCode, 1000);
  assert.deepEqual(
    withoutCommits(events).map((e) => e.type),
    ['started', 'active', 'inactive', 'segment', 'active', 'inactive', 'segment', 'stream_end'],
  );
  const actives = ofType(events, 'active');
  const inactives = ofType(events, 'inactive');
  const finals = ofType(events, 'segment');
  fixture.regions.forEach((region, i) => {
    assert.ok(Math.abs(actives[i].time - region.start) <= 0.1, `start ${actives[i].time} vs ${region.start}`);
    assert.ok(Math.abs(inactives[i].time - region.end) <= 0.1, `end ${inactives[i].time} vs ${region.end}`);
    assert.equal(finals[i].is_final, true);
    assert.equal(finals[i].start_time, actives[i].time);
    assert.equal(finals[i].end_time, inactives[i].time);
    assert.equal(finals[i].count, Math.round((finals[i].end_time - finals[i].start_time) * 16000));
    assert.equal(finals[i].channel, 0);
  });
  assert.deepEqual(events.at(-1), { type: 'stream_end', channel_durations: [fixture.duration] });
});

/** Interims' end_time − active.time, per speech region (rounded to the µs), in the order they came. */
function interimOffsets(events: ServerEvent[]): number[][] {
  const regions: number[][] = [];
  for (const e of events) {
    if (e.type === 'active') regions.push([]);
    if (e.type === 'segment' && e.is_final === false) regions[regions.length - 1].push(Math.round((e.end_time - e.start_time) * 1e6) / 1e6);
  }
  return regions;
}

test('interim segments appear only with interim_results, ending every 0.5 s from active.time', async () => {
  const interim = await streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, interimResults: true });
  // region A lasts ~2.3 s and region B ~2.2 s: four interims each, on the grid exactly
  assert.deepEqual(interimOffsets(interim.events), [
    [0.5, 1, 1.5, 2],
    [0.5, 1, 1.5, 2],
  ]);
  for (const s of ofType(interim.events, 'segment')) if (!s.is_final) assert.equal(s.count, Math.round((s.end_time - s.start_time) * 16000), 'the model got the audio up to end_time');
  // every interim of a region comes after its active and before its inactive
  const types = withoutCommits(interim.events).map((e) => (e.type === 'segment' ? (e.is_final ? 'final' : 'interim') : e.type));
  assert.deepEqual(types.slice(0, 8), ['started', 'active', 'interim', 'interim', 'interim', 'interim', 'inactive', 'final']);

  const plain = await streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm });
  assert.equal(ofType(plain.events, 'segment').filter((s) => s.is_final === false).length, 0);
});

test('a pause inside speech moves no interim off the 0.5 s grid', async () => {
  // 0.25 s of silence at 1.40–1.65 s, inside region A (shorter than min_silence, so one segment):
  // the VAD hears silence from 1.408 s, past the first grid point's reach (active.time 0.994 + 0.5
  // > 1.408 + pad), so that interim waits for the speech to resume, and still ends on the grid
  const pcm = new Int16Array(fixture.pcm.buffer.slice(fixture.pcm.byteOffset, fixture.pcm.byteOffset + fixture.pcm.byteLength));
  pcm.fill(0, 1.4 * 16000, 1.65 * 16000);
  const { events } = await streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: new Uint8Array(pcm.buffer), interimResults: true });
  assert.equal(ofType(events, 'segment').filter((s) => s.is_final).length, 2, 'the pause does not split region A');
  assert.deepEqual(interimOffsets(events), [
    [0.5, 1, 1.5, 2],
    [0.5, 1, 1.5, 2],
  ]);
});

test('channels are independent: speech on channel 1 only, then on both with an offset', async () => {
  const mono = new Int16Array(fixture.pcm.buffer, fixture.pcm.byteOffset, fixture.pcm.byteLength / 2);
  const stereo = new Int16Array(mono.length * 2);
  const offset = 8000; // channel 0 lags by 0.5 s and loses the last 0.5 s
  for (let i = 0; i < mono.length; i++) {
    stereo[2 * i + 1] = mono[i];
    stereo[2 * i] = i >= offset ? mono[i - offset] : 0;
  }
  const { events } = await streamAudio({
    addr: service.ws('segmented'),
    format: { ...S16_MONO_16K, channels: 2 },
    pcm: new Uint8Array(stereo.buffer),
    chunkBytes: 999,
  });
  const byChannel = (c: number) => ofType(events, 'segment').filter((s) => s.channel === c);
  assert.equal(byChannel(0).length, 2);
  assert.equal(byChannel(1).length, 2);
  byChannel(1).forEach((s, i) => {
    const shifted = byChannel(0)[i];
    assert.ok(Math.abs(shifted.start_time - s.start_time - 0.5) < 0.05, `channel 0 starts 0.5 s later: ${shifted.start_time} vs ${s.start_time}`);
  });
  assert.deepEqual(events.at(-1), { type: 'stream_end', channel_durations: [fixture.duration, fixture.duration] });
});

test('finalize mid-speech closes the segment at that time, acks, and the stream goes on', async () => {
  const conn = await connect(service.ws('segmented'));
  const bytesPerSecond = 32000;
  const cut = 2 * bytesPerSecond; // 2.0 s: inside region A (1.0–3.28 s)
  await conn.send({ request: 'start', format: fixture.format });
  await conn.send(fixture.pcm.subarray(0, cut));
  await conn.send({ request: 'finalize' });
  const ack = await conn.next('ack');
  assert.equal(ack.request, 'finalize');
  const before = withoutCommits(conn.events.slice(0, conn.events.indexOf(ack)));
  assert.deepEqual(before.map((e) => e.type), ['started', 'active', 'inactive', 'segment']);
  const inactive = before[2] as Extract<ServerEvent, { type: 'inactive' }>;
  assert.ok(Math.abs(inactive.time - 2.0) < 0.001, `closed at ${inactive.time}`);
  assert.equal((before[3] as Seg).end_time, inactive.time);

  await conn.send(fixture.pcm.subarray(cut));
  await conn.send({ request: 'stop', disconnect: true });
  const end = await conn.next('stream_end');
  const after = conn.events.slice(conn.events.indexOf(ack) + 1, conn.events.indexOf(end));
  // the rest of region A (after 2.0 s) and region B are still found
  const finals = ofType(after, 'segment');
  assert.equal(finals.length, 2);
  assert.ok(finals[0].start_time >= 2.0);
  assert.ok(Math.abs(finals[1].start_time - fixture.regions[1].start) < 0.1);
  assert.equal((await conn.closed).code, 1000);
});

test('per-stream vad tuning overrides the defaults for that stream only', async () => {
  const stream = (vad?: Record<string, number>) =>
    streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, vad }).then((r) => ofType(r.events, 'segment'));
  // min_silence 2 s bridges the 1.5 s pause: one segment spanning both regions
  const merged = await stream({ min_silence_ms: 2000 });
  assert.equal(merged.length, 1);
  assert.ok(Math.abs(merged[0].start_time - fixture.regions[0].start) < 0.1);
  assert.ok(Math.abs(merged[0].end_time - fixture.regions[1].end) < 0.1);
  // min_speech longer than either region drops both
  assert.equal((await stream({ min_speech_ms: 5000 })).length, 0);
  // a larger pad widens the bounds by the difference
  const wide = await stream({ speech_pad_ms: 130 });
  const normal = await stream();
  assert.ok(Math.abs(normal[0].start_time - wide[0].start_time - 0.1) < 0.001);
  assert.ok(Math.abs(wide[0].end_time - normal[0].end_time - 0.1) < 0.001);
});

test('binary messages sent in fragments (odd sizes) are joined: the same results as the audio sent whole', async () => {
  const whole = await streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 3200 });
  const ws = new WebSocket(service.ws('segmented'));
  const events: ServerEvent[] = [];
  ws.on('message', (data: Buffer) => events.push(JSON.parse(data.toString()) as ServerEvent));
  const closed = new Promise<number>((resolve) => ws.once('close', resolve));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ request: 'start', format: S16_MONO_16K }));
  for (let at = 0; at < fixture.pcm.byteLength; at += 3200) {
    // One message of 3,200 bytes in three fragments, cut inside samples (1,001 + 1,001 + 1,198).
    const message = fixture.pcm.subarray(at, Math.min(at + 3200, fixture.pcm.byteLength));
    for (const [from, to] of [[0, 1001], [1001, 2002], [2002, message.byteLength]]) {
      ws.send(message.subarray(from, to), { binary: true, fin: to >= message.byteLength });
    }
  }
  ws.send(JSON.stringify({ request: 'stop', disconnect: true }));
  assert.equal(await closed, 1000);
  const shape = (evs: ServerEvent[]) => withoutCommits(evs).map((e) => (e.type === 'started' ? 'started' : JSON.stringify(e)));
  assert.deepEqual(shape(events), shape(whole.events));
  assert.deepEqual(events.at(-1), { type: 'stream_end', channel_durations: [fixture.duration] });
});
