// Live per-stream `stats` (docs/protocol.md, `stats`): they come at the asked interval on both
// routes while the stream runs, the last one right before `stream_end` and none after it, none
// when not asked for; and what they report adds up to what the metrics counted for the stream.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { microseconds } from '../../src/audio/format.ts';
import { scrape } from '../helpers/prometheus.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';
import { RawClient, type Received } from '../protocol/raw-client.ts';

const fixture = speechFixture();
const S16 = { channels: 1, sample_rate: 16000, bit_depth: 16, is_float: false };
const speech = (from: number, to: number) => fixture.pcm.subarray(Math.round(from * 16000) * 2, Math.round(to * 16000) * 2);
const [REGION_A] = fixture.regions;

let service: TestService;
before(async () => {
  // A model that takes some time per run (5 ms + 5 % of the audio), so that RTFs are not 0.
  service = await startTestService({ model: { delay: 0.005, constant_factor: 0.05 } });
});
after(() => service.shutdown(0));

const statsOf = (c: RawClient) => c.all.filter((e) => e.type === 'stats');

/** Sends `pcm` (s16, `channels`) in 100 ms frames at the real-time rate: the pacing is the test's input, not a wait. */
async function sendRealTime(c: RawClient, pcm: Uint8Array, channels = 1): Promise<void> {
  const frameBytes = 1600 * 2 * channels;
  const t0 = performance.now();
  for (let i = 0, k = 0; i < pcm.length; i += frameBytes, k++) {
    const wait = t0 + k * 100 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    c.send(pcm.subarray(i, Math.min(pcm.length, i + frameBytes)));
  }
}

/** What holds of every `stats` event of a stream, whatever the timing. */
function assertWellFormed(stats: Received[], route: 'simple' | 'segmented', timeOffset: number): void {
  let received = 0;
  for (const s of stats) {
    const backlog = s.backlog_seconds as Record<string, number>;
    assert.deepEqual(Object.keys(backlog), route === 'segmented' ? ['audio_decoding', 'vad', 'model'] : ['audio_decoding', 'model'], JSON.stringify(s));
    assert.ok(Object.values(backlog).every((b) => b >= 0), JSON.stringify(s));
    const sum = Object.values(backlog).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs((s.lag_seconds as number) - sum) <= 3e-6, `lag is the sum of the backlogs: ${JSON.stringify(s)}`);
    assert.ok((s.audio_received as number) >= received, 'audio_received never decreases');
    received = s.audio_received as number;
    assert.equal(s.time, microseconds(timeOffset + received), 'time is audio_received on the stream timeline');
    const runs = s.model_runs as number;
    if (runs === 0) assert.equal(s.model_rtf, null);
    else assert.ok(Math.abs((s.model_rtf as number) - (s.model_processing_seconds as number) / (s.model_audio_seconds as number)) < 1e-3, JSON.stringify(s));
    if (route === 'segmented') assert.equal((s.vad as { speaking: boolean[] }).speaking.length, 1);
    else assert.equal(s.vad, undefined);
  }
}

for (const route of ['segmented', 'simple'] as const) {
  test(`${route}: stats every 250 ms of a real-time stream, the last right before stream_end, none after it`, async () => {
    const c = await RawClient.open(service.ws(route));
    const audio = speech(0, REGION_A.end + 0.4); // ~3.7 s: silence, speech, silence
    const timeOffset = 100;
    c.send({ request: 'start', format: S16, stats_interval_ms: 250, time_offset: timeOffset });
    await c.next('started');
    const startedAt = performance.now();
    await sendRealTime(c, audio);
    c.send({ request: 'stop' }); // the connection stays open: nothing may come after stream_end
    const end = await c.next('stream_end');
    const wallMs = performance.now() - startedAt;

    const endIndex = c.all.indexOf(end);
    const stats = statsOf(c);
    assert.equal(c.all[endIndex - 1].type, 'stats', 'the last stats right before stream_end');
    assert.equal(c.all[endIndex - 1].audio_received, (end.channel_durations as number[])[0], 'the last stats counts all the audio');
    // Timer ticks: one per 250 ms at most (a timer never fires early), at least half as many on a
    // loaded machine; plus the last one.
    const ticks = stats.length - 1;
    const most = Math.floor(wallMs / 250) + 1;
    assert.ok(ticks <= most && ticks >= Math.floor(most / 2), `${ticks} stats over ${Math.round(wallMs)} ms`);
    assertWellFormed(stats, route, timeOffset);
    assert.ok(stats.some((s) => (s.model_runs as number) > 0));
    if (route === 'segmented') {
      const speaking = (s: Received) => (s.vad as { speaking: boolean[] }).speaking[0];
      assert.equal(speaking(stats[0]), false, 'silence first');
      assert.ok(stats.some(speaking), 'speaking during the speech');
      assert.equal(speaking(stats.at(-1)!), false, 'the stream ended in silence');
    }

    // Nothing after stream_end: wait three intervals (and a keepalive's round trip) for a stray one.
    const endedAt = performance.now();
    await waitFor('three stats intervals to pass', () => performance.now() - endedAt > 750);
    c.send({ request: 'keepalive' });
    await c.next('ack');
    assert.equal(statsOf(c).length, stats.length, 'no stats after stream_end');
    c.hangUp();
  });
}

test('no stats when start does not ask for them; a new start without them stops them', async () => {
  const c = await RawClient.open(service.ws('segmented'));
  c.send({ request: 'start', format: S16, stats_interval_ms: 250 });
  await c.next('started');
  c.sendAudio(speech(0, 1));
  await c.next('stats');
  c.send({ request: 'start', format: S16 }); // ends the first stream, starts one without stats
  await c.next('started', (e) => c.all.filter((x) => x.type === 'started').indexOf(e) === 1);
  const afterSecond = c.all.length;
  const at = performance.now();
  c.sendAudio(speech(0, 1));
  await waitFor('three stats intervals to pass', () => performance.now() - at > 750);
  c.send({ request: 'stop', disconnect: true });
  await c.close();
  assert.deepEqual(c.all.slice(afterSecond).filter((e) => e.type === 'stats'), []);
  assert.deepEqual([...new Set(c.all.slice(afterSecond).map((e) => e.type))].filter((t) => t !== 'committed').sort(), ['stream_end']);
});

for (const route of ['simple', 'segmented'] as const) {
  test(`${route}: a lone stream's stats add up to the metrics' increments over its life`, async () => {
    await waitFor('no stream running', async () => (await scrape(service.url)).sum('active_streams') === 0);
    const before = await scrape(service.url);
    const channels = route === 'simple' ? 2 : 1;
    // Stereo on the simple route: every sample of both channels goes through the model.
    const mono = speech(0, 5);
    const pcm = new Uint8Array(mono.length * channels);
    for (let i = 0; i < mono.length; i += 2) for (let ch = 0; ch < channels; ch++) pcm.set(mono.subarray(i, i + 2), i * channels + ch * 2);
    const c = await RawClient.open(service.ws(route));
    c.send({ request: 'start', format: { ...S16, channels }, stats_interval_ms: 250 });
    await c.next('started');
    await sendRealTime(c, pcm.subarray(0, pcm.length / 2), channels); // a few ticks while it runs
    c.sendAudio(pcm.subarray(pcm.length / 2), 3200 * channels); // the rest at once: a backlog
    c.send({ request: 'stop', disconnect: true });
    await c.close();
    const after = await scrape(service.url);
    const increase = (name: string, labels: Record<string, string>) => after.value(name, labels) - before.value(name, labels);

    const stats = statsOf(c);
    assert.ok(stats.length >= 3, `${stats.length} stats`);
    const total = (field: string) => stats.reduce((sum, s) => sum + (s[field] as number), 0);
    const model = { pipeline: 'model' };
    const slack = stats.length * 1e-6; // each event rounds to the microsecond
    assert.equal(total('model_runs'), increase('processing_duration_seconds_count', model));
    assert.ok(Math.abs(total('model_processing_seconds') - increase('processing_duration_seconds_sum', model)) <= slack, `${total('model_processing_seconds')} vs ${increase('processing_duration_seconds_sum', model)}`);
    assert.ok(Math.abs(total('model_audio_seconds') - increase('media_duration_seconds_sum', model)) <= slack, `${total('model_audio_seconds')} vs ${increase('media_duration_seconds_sum', model)}`);
    assert.ok(Math.abs((stats.at(-1)!.audio_received as number) - increase('audio_received_seconds_total', { route })) <= 1e-6);
    assert.equal(stats.at(-1)!.audio_received, 5);
    if (route === 'simple') assert.ok(Math.abs(total('model_audio_seconds') - 5 * channels) <= slack, 'the model saw every sample of every channel');
    assertWellFormed(stats, route, 0);
  });
}
