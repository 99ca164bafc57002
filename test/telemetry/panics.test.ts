import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PanicTracker } from '../../src/telemetry/panics.ts';

test('a panic counts towards health for five minutes, then no longer', () => {
  let now = 1_000_000;
  const tracker = new PanicTracker(null, () => now);
  assert.equal(tracker.recentCount(), 0);
  tracker.record('inference');
  now += 60_000;
  tracker.record('route');
  assert.equal(tracker.recentCount(), 2);
  now += 4 * 60_000; // the first panic is now exactly five minutes old
  assert.equal(tracker.recentCount(), 1);
  now += 60_000;
  assert.equal(tracker.recentCount(), 0);
});

test('old panics are forgotten as new ones arrive, even when nobody asks for health', () => {
  let now = 0;
  const tracker = new PanicTracker(null, () => now);
  for (let i = 0; i < 10_000; i++) {
    now += 1_000; // one panic a second for almost three hours
    tracker.record('inference');
  }
  assert.equal((tracker as unknown as { recent: number[] }).recent.length, 300, 'only the last five minutes are kept');
});
