// The real server with the keywords backend and openWakeWord's real models: the keyword fixture
// streamed on both routes, as 16 kHz s16 mono and as 48 kHz f32 stereo (second channel delayed),
// detects each keyword once inside its utterance and nothing in the negatives; chunking changes
// nothing; the model stage's metrics are the real model's and /metrics passes promtool.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AudioFormat, ServerEvent } from '../../src/api/protocol.ts';
import { streamAudio } from '../../src/client/stream-client.ts';
import { parseConfig } from '../../src/config.ts';
import { startService, type Service } from '../../src/service.ts';
import { afterLeadingNoise, assertDetections, F32_STEREO_48K, FIXTURE_KEYWORDS, fixtureAs48kStereo, keywordFixture, type Detection } from '../helpers/keywords.ts';
import { scrape, type Exposition } from '../helpers/prometheus.ts';
import { promtoolCheckMetrics, requirePromtool } from '../helpers/promtool.ts';
import { S16_MONO_16K, seeded, speechFixture } from '../helpers/service.ts';

type Seg = Extract<ServerEvent, { type: 'segment' }>;
const fixture = keywordFixture();
/** Channel 1 of the stereo input is channel 0 this much later. */
const DELAY = 0.5;
const inputs: { name: string; format: AudioFormat; pcm: () => Uint8Array }[] = [
  { name: '16 kHz s16 mono', format: S16_MONO_16K, pcm: () => fixture.pcm },
  { name: '48 kHz f32 stereo', format: F32_STEREO_48K, pcm: () => fixtureAs48kStereo(fixture.path, DELAY) },
];

let service: Service;
let ws: (route: string) => string;
before(async () => {
  service = await startService(parseConfig({ host: '127.0.0.1', port: 0, model: { backend: 'keywords', keywords: FIXTURE_KEYWORDS, workers: 2 } }));
  await service.warm;
  ws = (route) => `${service.url.replace('http', 'ws')}/api/v1/${route}`;
});
after(() => service.shutdown(0));

/** The segments a route sends as results: every chunk in simple mode, the final ones in segmented mode. */
function resultsOf(events: ServerEvent[], route: string, channel: number): Seg[] {
  return events.filter((e): e is Seg => e.type === 'segment' && e.channel === channel && (route === 'simple' || e.is_final === true));
}

function keywordsOf(segments: Seg[]): Detection[] {
  return segments.flatMap((s) => {
    assert.ok(Array.isArray(s.keywords), `segment without a keywords array: ${JSON.stringify(s)}`);
    return s.keywords as Detection[];
  });
}

const delta = (before: Exposition, after: Exposition, name: string) => after.value(name, { pipeline: 'model' }) - before.value(name, { pipeline: 'model' });

for (const route of ['simple', 'segmented'] as const) {
  for (const input of inputs) {
    test(`${route}, ${input.name}: each keyword once inside its utterance, nothing in the negatives; model-stage metrics are the real model's`, async () => {
      const before = await scrape(service.url);
      const { events, closeCode } = await streamAudio({ addr: ws(route), format: input.format, pcm: input.pcm() });
      assert.equal(closeCode, 1000);
      assert.deepEqual(events.filter((e) => e.type === 'error'), []);
      let modelCalls = 0;
      for (let c = 0; c < input.format.channels; c++) {
        const segments = resultsOf(events, route, c);
        modelCalls += events.filter((e) => e.type === 'segment' && e.channel === c).length;
        assertDetections(keywordsOf(segments), fixture.regions, `${route}, ${input.name}, channel ${c}`, c * DELAY);
        if (route === 'segmented') {
          // One final per utterance, and each detection inside the segment that carried it.
          assert.equal(segments.length, fixture.regions.length, `channel ${c}: ${segments.length} final segments`);
          for (const s of segments) for (const k of s.keywords as Detection[]) assert.ok(k.time >= s.start_time && k.time <= s.end_time, JSON.stringify(s));
        }
      }
      const after = await scrape(service.url);
      assert.equal(delta(before, after, 'rtf_count'), modelCalls, 'one model-stage RTF sample per model call');
      const processing = delta(before, after, 'processing_duration_seconds_sum');
      const media = delta(before, after, 'media_duration_seconds_sum');
      assert.ok(processing > 0.01 && processing < media, `model processing ${processing} s for ${media} s of audio`);
      const rtf = delta(before, after, 'rtf_sum') / modelCalls;
      assert.ok(rtf > 0 && Number.isFinite(rtf), `mean model RTF ${rtf}`);
      if (route === 'simple') assert.ok(Math.abs(media - input.format.channels * fixture.duration) < 0.01, `model media ${media} s`);
    });
  }
}

// The noise that gave a false 'alexa' (0.547 at 0.48 s, inside the silence) on the simple route with
// both files while the spotter started from openWakeWord's start-up buffers.
const LEAD = 1.2;
const LEAD_SEED = 23;
for (const route of ['simple', 'segmented'] as const) {
  test(`${route}: 1.2 s of low-level noise before the audio: nothing detected in it, the keywords still at their times`, async () => {
    const speech = speechFixture();
    for (const file of [
      { name: 'keywords.wav', pcm: fixture.pcm, regions: fixture.regions },
      { name: 'speech.wav', pcm: speech.pcm, regions: speech.regions.map((r) => ({ ...r, keyword: null })) },
    ]) {
      const { events, closeCode } = await streamAudio({ addr: ws(route), format: S16_MONO_16K, pcm: afterLeadingNoise(file.pcm, LEAD, LEAD_SEED) });
      assert.equal(closeCode, 1000);
      const detections = keywordsOf(resultsOf(events, route, 0));
      const silent = LEAD + file.regions[0].start; // the noise, then the file's own leading silence
      assert.deepEqual(detections.filter((d) => d.time < silent), [], `${route}, ${file.name}: detections inside the first ${silent} s of silence`);
      assertDetections(detections, file.regions, `${route}, ${file.name} after ${LEAD} s of noise`, LEAD);
    }
  });
}

test('simple: random frame sizes give the same detections (scores within 1e-4) as the default frames', async () => {
  const run = async (chunkBytes?: () => number) => {
    const { events } = await streamAudio({ addr: ws('simple'), format: S16_MONO_16K, pcm: fixture.pcm, chunkBytes });
    return keywordsOf(resultsOf(events, 'simple', 0));
  };
  const reference = await run();
  for (const seed of [1, 2]) {
    const random = seeded(seed);
    const chunked = await run(() => 1 + Math.floor(random() * 8001));
    assert.deepEqual(
      chunked.map((d) => [d.keyword, d.time]),
      reference.map((d) => [d.keyword, d.time]),
      `seed ${seed}`,
    );
    chunked.forEach((d, i) => assert.ok(Math.abs(d.score - reference[i].score) <= 1e-4, `${d.keyword}: ${d.score} vs ${reference[i].score}`));
  }
});

test('simple: the chunk duration (start.chunk_ms 0, 100, 1000) changes no detection (scores within 1e-4)', async () => {
  const run = async (chunkMs?: number) => {
    // 20 ms frames, as a real-time client sends them: with chunk_ms 0 most chunks are a frame or a few
    const { events } = await streamAudio({ addr: ws('simple'), format: S16_MONO_16K, pcm: fixture.pcm, chunkBytes: 640, chunkMs });
    const segments = resultsOf(events, 'simple', 0);
    return { detections: keywordsOf(segments), chunks: segments.length };
  };
  const reference = await run();
  assertDetections(reference.detections, fixture.regions, 'default chunks');
  for (const chunkMs of [0, 100, 1000]) {
    const { detections, chunks } = await run(chunkMs);
    if (chunkMs === 1000) assert.ok(chunks <= Math.ceil(fixture.duration), `${chunks} chunks of at least 1 s`);
    assert.deepEqual(
      detections.map((d) => [d.keyword, d.time]),
      reference.detections.map((d) => [d.keyword, d.time]),
      `chunk_ms ${chunkMs}`,
    );
    detections.forEach((d, i) => assert.ok(Math.abs(d.score - reference.detections[i].score) <= 1e-4, `chunk_ms ${chunkMs}, ${d.keyword}: ${d.score} vs ${reference.detections[i].score}`));
  }
});

test('promtool check metrics accepts /metrics after keyword streams', async (t) => {
  if (!(await requirePromtool(t))) return;
  const text = (await scrape(service.url)).text;
  assert.match(text, /^rtf_count\{[^}]*pipeline="model"[^}]*\} [1-9]/m, 'model-stage RTF recorded');
  assert.equal(await promtoolCheckMetrics(text), '', 'promtool reports nothing');
});

test('detection times follow time_offset onto the stream timeline, rounded to the microsecond like every reported time', async () => {
  const run = async (timeOffset: number) => {
    const { events } = await streamAudio({ addr: ws('segmented'), format: S16_MONO_16K, pcm: fixture.pcm, timeOffset });
    return keywordsOf(resultsOf(events, 'segmented', 0)).map((d) => d.time);
  };
  const [plain, shifted] = [await run(0), await run(0.1)];
  assert.equal(plain.length, FIXTURE_KEYWORDS.length);
  assert.deepEqual(
    shifted,
    plain.map((t) => Math.round((t + 0.1) * 1e6) / 1e6),
  );
  for (const t of shifted) assert.ok(String(t).split('.')[1].length <= 6, `${t}`);
});
