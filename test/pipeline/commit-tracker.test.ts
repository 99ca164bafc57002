// The committed point on a clock the test drives: the least of the channels, only forward, at most
// once per interval with the latest value at the end of it, nothing after stop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMIT_INTERVAL_MS, CommitTracker } from '../../src/pipeline/commit-tracker.ts';
import type { StreamEvent } from '../../src/pipeline/events.ts';

function tracker(channels: number, start = 0) {
  let now = 1000;
  const sent: number[] = [];
  const commits = new CommitTracker(channels, start, (e: StreamEvent) => e.kind === 'committed' && sent.push(e.time), () => now);
  return { commits, sent, advance: (ms: number) => (now += ms) };
}

test('the committed point is the least of the channels, and only moves forward', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { commits, sent, advance } = tracker(2, 100);
  commits.settle(0, 101);
  assert.deepEqual(sent, [], 'channel 1 has settled nothing yet');
  commits.settle(1, 100.5);
  assert.deepEqual(sent, [100.5]);
  advance(COMMIT_INTERVAL_MS);
  commits.settle(1, 100.4); // an older mark changes nothing
  commits.settle(0, 100.9);
  assert.deepEqual(sent, [100.5]);
  commits.settle(1, 102);
  assert.deepEqual(sent, [100.5, 101], 'channel 0 settled 101 before: its older mark did not take it back');
});

test('at most one committed event per interval: the latest value goes out when it is over; stop cancels', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { commits, sent, advance } = tracker(1);
  commits.settle(0, 0.25);
  commits.settle(0, 0.5);
  commits.settle(0, 0.75);
  assert.deepEqual(sent, [0.25], 'the first at once, the rest wait');
  advance(COMMIT_INTERVAL_MS);
  t.mock.timers.tick(COMMIT_INTERVAL_MS);
  assert.deepEqual(sent, [0.25, 0.75], 'only the latest of those that waited');
  commits.settle(0, 1);
  commits.stop();
  advance(COMMIT_INTERVAL_MS);
  t.mock.timers.tick(COMMIT_INTERVAL_MS);
  commits.settle(0, 2);
  assert.deepEqual(sent, [0.25, 0.75], 'nothing after stop (stream_end comes next)');
});
