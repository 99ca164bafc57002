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

test('interim segments every interval of new speech, none in silence', () => {
  const events = run([...windows(10, 0), ...windows(64, 0.9), ...windows(20, 0)], { interimIntervalMs: 500 });
  const interims = events.filter((e) => e.kind === 'interim');
  // 64 windows = 2.048 s of speech; interim every 8000 samples after the padded start
  assert.equal(interims.length, 4);
  for (const e of interims) assert.equal(e.start, 10 * W - 480);
  // on a fixed 0.5 s grid from the start: each lands in the window that crosses its due time
  interims.forEach((e, i) => {
    const due = 10 * W - 480 + 8000 * (i + 1);
    const end = (e as { end: number }).end;
    assert.ok(end >= due && end < due + W, `interim ${i} at ${end}, due ${due}`);
  });
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
