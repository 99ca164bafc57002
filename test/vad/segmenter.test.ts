import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Segmenter, type SegmentEvent, type SegmenterSettings } from '../../src/vad/segmenter.ts';

const W = 512; // 32 ms windows
const defaults: SegmenterSettings = { threshold: 0.5, minSilenceMs: 300, speechPadMs: 30, minSpeechMs: 250, interimIntervalMs: 0 };

/** Feeds one probability per window; returns every event. */
function run(probs: number[], settings: Partial<SegmenterSettings> = {}, end = true): SegmentEvent[] {
  const s = new Segmenter({ ...defaults, ...settings });
  const events: SegmentEvent[] = [];
  probs.forEach((p, i) => events.push(...s.push(p, i * W, (i + 1) * W)));
  if (end) events.push(...s.flush(probs.length * W));
  return events;
}
const windows = (n: number, p: number) => Array<number>(n).fill(p);

test('one speech region: active at start − pad, final at first silent window + pad', () => {
  const events = run([...windows(30, 0.05), ...windows(40, 0.9), ...windows(20, 0.05)]);
  const pad = 480;
  assert.deepEqual(events, [
    { kind: 'active', start: 30 * W - pad },
    { kind: 'final', start: 30 * W - pad, end: 70 * W + pad },
  ]);
});

test('active is announced only once speech is longer than min_speech', () => {
  const s = new Segmenter(defaults);
  const events: SegmentEvent[][] = [];
  for (let i = 0; i < 12; i++) events.push(s.push(0.9, i * W, (i + 1) * W));
  // 250 ms = 4000 samples = 7.8 windows: announced at the end of window 8 (8 × 512 ≥ 4000)
  assert.equal(events.findIndex((e) => e.length > 0), 7);
});

test('speech shorter than min_speech is dropped', () => {
  assert.deepEqual(run([...windows(10, 0), ...windows(5, 0.9), ...windows(20, 0)]), []);
});

test('pauses shorter than min_silence do not split a segment; hysteresis keeps it open', () => {
  const probs = [...windows(10, 0), ...windows(20, 0.9), ...windows(8, 0.1), ...windows(20, 0.9), ...windows(20, 0.4), ...windows(20, 0)];
  const events = run(probs);
  assert.equal(events.filter((e) => e.kind === 'final').length, 1);
  const final = events.find((e) => e.kind === 'final')!;
  // 0.4 is between the negative threshold (0.35) and the threshold: still speech
  assert.equal(final.end, 78 * W + 480);
});

test('audio that ends in speech is closed at the end of the audio', () => {
  const events = run([...windows(10, 0), ...windows(20, 0.9)]);
  assert.deepEqual(events.at(-1), { kind: 'final', start: 10 * W - 480, end: 30 * W });
});

test('interim segments end on a fixed grid from the padded start, none in silence', () => {
  const events = run([...windows(10, 0), ...windows(64, 0.9), ...windows(20, 0)], { interimIntervalMs: 500 });
  const interims = events.filter((e) => e.kind === 'interim');
  // 64 windows = 2.048 s of speech from 10 W; the grid: 8000 samples apart from the padded start,
  // exactly (the model gets the audio up to the grid point, not up to the window that crossed it)
  const start = 10 * W - 480;
  assert.deepEqual(interims, [1, 2, 3, 4].map((k) => ({ kind: 'interim', start, end: start + 8000 * k })));
});

/** Feeds one probability per window; returns the index of the window each interim came in, with its end. */
function interimsByWindow(probs: number[], settings: Partial<SegmenterSettings>): { window: number; end: number }[] {
  const s = new Segmenter({ ...defaults, interimIntervalMs: 500, ...settings });
  return probs.flatMap((p, i) => s.push(p, i * W, (i + 1) * W).flatMap((e) => (e.kind === 'interim' ? [{ window: i, end: e.end }] : [])));
}

test('an interim due in a pause comes when speech resumes, still ending on the grid', () => {
  // speech in windows 10–21, a 256 ms pause (22–29, shorter than min_silence), speech in 30–59
  const probs = [...windows(10, 0), ...windows(12, 0.9), ...windows(8, 0), ...windows(30, 0.9), ...windows(20, 0)];
  const start = 10 * W - 480;
  // the first grid point, 12640, is past the pause's start + pad (22 W + 480 = 11744): it waits
  // for window 30; the final ends at 60 W + 480, before the fourth grid point (36640)
  assert.deepEqual(interimsByWindow(probs, {}), [
    { window: 30, end: start + 8000 },
    { window: 40, end: start + 16000 },
    { window: 55, end: start + 24000 },
  ]);
});

test('an interim due within a pause\'s padding comes at once: its audio is in the segment whatever follows', () => {
  // speech in windows 10–23, silence from 24 W: the segment ends at 24 W + 480 = 12768 at least
  const events = run([...windows(10, 0), ...windows(14, 0.9), ...windows(20, 0)], { interimIntervalMs: 500 });
  const start = 10 * W - 480;
  assert.deepEqual(events, [
    { kind: 'active', start },
    { kind: 'interim', start, end: start + 8000 },
    { kind: 'final', start, end: 24 * W + 480 },
  ]);
});

test('a grid point past a pause that ends the segment gets no interim', () => {
  // speech in windows 10–21: the pause from 22 W ends it at 11744, before the grid point 12640
  const events = run([...windows(10, 0), ...windows(12, 0.9), ...windows(20, 0)], { interimIntervalMs: 500 });
  assert.deepEqual(events.map((e) => e.kind), ['active', 'final']);
});

test('min_speech longer than the interval: the first interim comes with active, ending on the grid', () => {
  const probs = [...windows(10, 0), ...windows(60, 0.9), ...windows(20, 0)];
  const start = 10 * W - 480;
  // 800 ms of speech (25 windows) is announced in window 34: the grid point 12640 is behind it
  assert.deepEqual(interimsByWindow(probs, { minSpeechMs: 800 }), [
    { window: 34, end: start + 8000 },
    { window: 40, end: start + 16000 },
    { window: 55, end: start + 24000 },
  ]);
  // 1100 ms (35 windows), announced in window 44: two grid points passed, only the latest is sent
  assert.deepEqual(interimsByWindow(probs, { minSpeechMs: 1100 }), [
    { window: 44, end: start + 16000 },
    { window: 55, end: start + 24000 },
  ]);
});

test('flush closes speech in progress at that moment; the next segment cannot pad back over it', () => {
  const s = new Segmenter(defaults);
  for (let i = 0; i < 30; i++) s.push(i < 10 ? 0 : 0.9, i * W, (i + 1) * W);
  assert.deepEqual(s.flush(30 * W), [{ kind: 'final', start: 10 * W - 480, end: 30 * W }]);
  const after: SegmentEvent[] = [];
  for (let i = 30; i < 60; i++) after.push(...s.push(0.9, i * W, (i + 1) * W));
  assert.deepEqual(after[0], { kind: 'active', start: 30 * W });
});

test('vad tuning changes the outcome (threshold, min_silence)', () => {
  // a 256 ms pause: below the default min_silence (300 ms), above 200 ms
  const probs = [...windows(10, 0), ...windows(20, 0.6), ...windows(8, 0), ...windows(20, 0.6), ...windows(20, 0)];
  assert.equal(run(probs).filter((e) => e.kind === 'final').length, 1);
  assert.equal(run(probs, { minSilenceMs: 200 }).filter((e) => e.kind === 'final').length, 2);
  assert.equal(run(probs, { threshold: 0.7 }).length, 0);
});

test('retainFrom bounds the audio a runner must keep', () => {
  const s = new Segmenter(defaults);
  assert.equal(s.retainFrom(10_000), 10_000 - 480);
  for (let i = 0; i < 20; i++) s.push(0.9, 20 * W + i * W, 21 * W + i * W);
  assert.equal(s.retainFrom(40 * W), 20 * W - 480);
});
