// The keywords backend on its worker pool (real models): a channel's pieces run in order with the
// state travelling between interchangeable workers, whatever is in flight; segments run from a
// fresh state; start-up fails fast on a bad configuration.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseConfig, type KeywordsModelConfig } from '../../../src/config.ts';
import { KeywordsModel } from '../../../src/model/keywords/model.ts';
import type { InferenceResult } from '../../../src/model/model.ts';
import { assertDetections, FIXTURE_KEYWORDS, keywordFixture, type Detection } from '../../helpers/keywords.ts';
import { testContext } from '../../helpers/context.ts';
import { seeded } from '../../helpers/service.ts';

const fixture = keywordFixture();
const { service } = testContext();
const config = (model: Record<string, unknown>) => parseConfig({ model: { backend: 'keywords', ...model } }).model as KeywordsModelConfig;

let model: KeywordsModel;
before(async () => {
  model = await KeywordsModel.load(config({ keywords: FIXTURE_KEYWORDS, workers: 2 }), service);
  await model.warmup();
});
after(() => model.close());

const detectionsOf = (results: InferenceResult[]) =>
  results.flatMap((r) => {
    assert.ok(r.ok, JSON.stringify(r));
    return (r.output as { keywords: Detection[] }).keywords;
  });

let whole: Detection[];
test('the whole fixture as one segment: each keyword once inside its utterance, nothing else; compute time reported', async () => {
  const result = await model.infer(fixture.samples.slice(), 0);
  whole = detectionsOf([result]);
  assertDetections(whole, fixture.regions, 'one segment');
  assert.ok(result.computeSeconds! > 0 && result.computeSeconds! < fixture.duration, `computed ${result.computeSeconds} s for ${fixture.duration} s of audio`);
});

test('a channel fed random pieces, all in flight at once on 2 workers, detects the same (scores within 1e-4)', async () => {
  const random = seeded(7);
  const channel = model.openChannel();
  const calls: Promise<InferenceResult>[] = [];
  for (let from = 0; from < fixture.samples.length; ) {
    const to = Math.min(fixture.samples.length, from + 1 + Math.floor(random() * 6000));
    calls.push(channel.infer(fixture.samples.slice(from, to), from));
    from = to;
  }
  const results = await Promise.all(calls);
  channel.close();
  const pieces = detectionsOf(results);
  assert.deepEqual(
    pieces.map((d) => [d.keyword, d.time]),
    whole.map((d) => [d.keyword, d.time]),
  );
  pieces.forEach((d, i) => assert.ok(Math.abs(d.score - whole[i].score) <= 1e-4, `${d.keyword}: ${d.score} vs ${whole[i].score}`));
  assert.ok(results.length > 50, `${results.length} pieces`);
});

test('channels are independent: two interleaved channels each detect their own audio', async () => {
  const a = model.openChannel();
  const b = model.openChannel();
  const silence = new Float32Array(fixture.samples.length);
  const calls: [Promise<InferenceResult>[], Promise<InferenceResult>[]] = [[], []];
  for (let from = 0; from < fixture.samples.length; from += 4000) {
    calls[0].push(a.infer(fixture.samples.slice(from, from + 4000), from));
    calls[1].push(b.infer(silence.slice(from, from + 4000), from));
  }
  assertDetections(detectionsOf(await Promise.all(calls[0])), fixture.regions, 'channel a');
  assert.deepEqual(detectionsOf(await Promise.all(calls[1])), [], 'channel b (silence)');
});

test("a segment's detection times count from its start in the stream", async () => {
  const r = fixture.regions.find((x) => x.keyword === 'alexa')!;
  const start = Math.round((r.start - 0.3) * 16_000);
  const end = Math.round((r.end + 0.3) * 16_000);
  const [detection, ...more] = detectionsOf([await model.infer(fixture.samples.slice(start, end), start)]);
  assert.deepEqual(more, []);
  assert.equal(detection.keyword, 'alexa');
  assert.ok(detection.time > r.start && detection.time < r.end + 0.5, `alexa at ${detection.time} s, said ${r.start}…${r.end} s`);
});

test('configuration: defaults, and unknown keyword names fail at load naming the available ones', async () => {
  assert.deepEqual(config({}), { backend: 'keywords', keywords: ['hey_jarvis', 'alexa'], threshold: 0.5, workers: config({}).workers });
  assert.throws(() => config({ keywords: [] }), /model.keywords: Too small/);
  assert.throws(() => config({ keywords: ['alexa', 'alexa'] }), /model.keywords: names a keyword twice/);
  await assert.rejects(KeywordsModel.load(config({ keywords: ['hey_siri'] }), service), /no model for 'hey_siri' .*available: alexa, hey_jarvis, hey_mycroft, hey_rhasspy, timer, weather/);
});
