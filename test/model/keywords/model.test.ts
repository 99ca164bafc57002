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
/** The whole fixture as one segment (tests run in any order: every test may compare with it). */
let whole: InferenceResult;
before(async () => {
  model = await KeywordsModel.load(config({ keywords: FIXTURE_KEYWORDS, workers: 2 }), service);
  await model.warmup();
  whole = await model.infer(fixture.samples.slice(), 0);
});
after(() => model.close());

const detectionsOf = (results: InferenceResult[]) =>
  results.flatMap((r) => {
    assert.ok(r.ok, JSON.stringify(r));
    return (r.output as { keywords: Detection[] }).keywords;
  });

test('the whole fixture as one segment: each keyword once inside its utterance, nothing else; compute time reported', () => {
  assertDetections(detectionsOf([whole]), fixture.regions, 'one segment');
  assert.ok(whole.computeSeconds! > 0 && whole.computeSeconds! < fixture.duration, `computed ${whole.computeSeconds} s for ${fixture.duration} s of audio`);
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
    detectionsOf([whole]).map((d) => [d.keyword, d.time]),
  );
  const reference = detectionsOf([whole]);
  pieces.forEach((d, i) => assert.ok(Math.abs(d.score - reference[i].score) <= 1e-4, `${d.keyword}: ${d.score} vs ${reference[i].score}`));
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

test("a stream's time offset moves detection times onto the client's timeline, for segments and channels alike", async () => {
  const offset = 100.25;
  const shifted = detectionsOf([await model.infer(fixture.samples.slice(), 0, offset)]);
  const channel = model.openChannel();
  const piece = 16_000;
  const calls: Promise<InferenceResult>[] = [];
  for (let from = 0; from < fixture.samples.length; from += piece) calls.push(channel.infer(fixture.samples.slice(from, from + piece), from, offset));
  const streamed = detectionsOf(await Promise.all(calls));
  channel.close();
  const expected = detectionsOf([whole]).map((d) => [d.keyword, (d.time + offset).toFixed(6)]);
  assert.deepEqual(shifted.map((d) => [d.keyword, d.time.toFixed(6)]), expected);
  assert.deepEqual(streamed.map((d) => [d.keyword, d.time.toFixed(6)]), expected);
});

test('configuration: defaults, and unknown keyword names fail at load naming the available ones', async () => {
  assert.deepEqual(config({}), { backend: 'keywords', keywords: ['hey_jarvis', 'alexa'], threshold: 0.5, workers: config({}).workers });
  assert.throws(() => config({ keywords: [] }), /model.keywords: Too small/);
  assert.throws(() => config({ keywords: ['alexa', 'alexa'] }), /model.keywords: names a keyword twice/);
  await assert.rejects(KeywordsModel.load(config({ keywords: ['hey_siri'] }), service), /no model for 'hey_siri' .*available: alexa, hey_jarvis, hey_mycroft, hey_rhasspy, timer, weather/);
});
