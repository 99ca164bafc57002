// The VAD's batching policy (src/vad/scheduler.ts) on a fake clock: every rule of when a job starts
// and how the waiting requests are split into jobs, with no timer, no model and no thread.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIN_REQUESTS_PER_SPLIT, MIN_WINDOWS_PER_SPLIT, VadScheduler, type QueueState, type SchedulerOptions } from '../../src/vad/scheduler.ts';

const DEFAULTS: SchedulerOptions = { maxBatch: 256, maxWaitMs: 10, minCompany: 2, workers: 1 };

/** A scheduler that saw one request every `everyMs` from 0 to `untilMs` (its clock: those ms). */
function seen(everyMs: number, untilMs: number, options: Partial<SchedulerOptions> = {}): VadScheduler {
  const s = new VadScheduler({ ...DEFAULTS, ...options });
  for (let t = 0; t <= untilMs; t += everyMs) s.arrived(t);
  return s;
}

/** A queue of `queued` requests out of many open channels, the oldest queued at `oldestQueuedAt`, nothing in flight. */
const queue = (queued: number, oldestQueuedAt: number, more: Partial<QueueState> = {}): QueueState => ({ queued, oldestQueuedAt, openChannels: 1000, inFlight: 0, ...more });

// A busy service: 1 request per ms (about 100 streams), so 6 more are expected in the 6 ms left of a wait.
const BUSY = { everyMs: 1, untilMs: 1000 };

test('company expected: a request waits the rest of maxWaitMs, then starts', () => {
  const s = seen(BUSY.everyMs, BUSY.untilMs);
  assert.equal(s.startIn(1000, queue(1, 1000)), 10, 'a request just queued waits the whole maxWaitMs');
  assert.equal(s.startIn(1004, queue(5, 1000)), 6, 'a request that waited 4 ms waits the 6 left');
  assert.equal(s.startIn(1010, queue(11, 1000)), 'now', 'the oldest waited maxWaitMs: start');
  assert.equal(s.startIn(1017, queue(11, 1000)), 'now', 'a timer that fired late: start');
  const always = seen(BUSY.everyMs, BUSY.untilMs, { minCompany: 0 });
  assert.equal(always.startIn(1009, queue(10, 1000)), 1);
  assert.equal(always.startIn(1010, queue(11, 1000)), 'now', 'with minCompany 0 too');
});

test('too little company expected (a light load): start at once; minCompany 0 always waits', () => {
  // One request every 100 ms (a few streams): about 0.13 more expected in a 10 ms wait.
  assert.equal(seen(100, 2000).startIn(2000, queue(1, 2000)), 'now');
  assert.equal(seen(100, 2000, { minCompany: 0 }).startIn(2000, queue(1, 2000)), 10);
  // At the busy rate the bound is minCompany itself: about 6 expected in the 6 ms left.
  assert.equal(seen(BUSY.everyMs, BUSY.untilMs, { minCompany: 5 }).startIn(1000, queue(5, 996)), 6);
  assert.equal(seen(BUSY.everyMs, BUSY.untilMs, { minCompany: 7 }).startIn(1000, queue(5, 996)), 'now');
  // The rate fades: after a quiet second, a request of the busy service's channels starts at once.
  assert.equal(seen(BUSY.everyMs, BUSY.untilMs).startIn(2000, queue(1, 2000)), 'now');
});

test('a full batch starts at once, whatever company is expected', () => {
  const s = seen(BUSY.everyMs, BUSY.untilMs, { maxBatch: 64 });
  assert.equal(s.startIn(1000, queue(63, 1000)), 10);
  assert.equal(s.startIn(1000, queue(64, 1000)), 'now');
});

test('a request of every open channel waiting: start at once (no one else could join)', () => {
  const s = seen(BUSY.everyMs, BUSY.untilMs, { minCompany: 0 });
  assert.equal(s.startIn(1000, queue(2, 1000, { openChannels: 3 })), 10);
  assert.equal(s.startIn(1000, queue(3, 1000, { openChannels: 3 })), 'now');
  assert.equal(s.startIn(1000, queue(3, 1000, { openChannels: 2 })), 'now', 'a channel that closed after its request');
  assert.equal(s.startIn(1000, queue(1, 1000, { openChannels: 0 })), 'now', 'a request of a channel never opened');
});

test('maxWaitMs 0: every request starts at once', () => {
  assert.equal(seen(BUSY.everyMs, BUSY.untilMs, { maxWaitMs: 0, minCompany: 0 }).startIn(1000, queue(1, 1000)), 'now');
});

test('nothing to start: an empty queue, or one more job than workers out', () => {
  for (const workers of [1, 2]) {
    const s = seen(BUSY.everyMs, BUSY.untilMs, { workers });
    assert.equal(s.maxInFlight, workers + 1);
    assert.equal(s.startIn(1000, queue(0, 0)), null, 'empty queue');
    assert.equal(s.startIn(1000, queue(300, 1000, { inFlight: workers })), 'now', `${workers} worker(s): one more job may go out`);
    assert.equal(s.startIn(1000, queue(300, 1000, { inFlight: workers + 1 })), null, `${workers} worker(s): ${workers + 1} jobs out`);
  }
});

test('one job of everything waiting, up to maxBatch; what it leaves waits', () => {
  const s = new VadScheduler({ ...DEFAULTS, workers: 1 });
  // Requests of 3 windows (a 100 ms frame's), enough windows for any split: only the requests count here.
  const split = (queued: number, inFlight: number) => s.split(queued, 3 * queued, inFlight);
  assert.deepEqual(split(1, 0), [1]);
  assert.deepEqual(split(200, 0), [200], 'one worker: no split');
  assert.deepEqual(split(300, 0), [256], 'at most maxBatch');
  assert.deepEqual(split(300, 1), [256], 'the worker busy: one job may still go out');
  assert.deepEqual(split(300, 2), [], 'two jobs out on one worker: none');
});

test('requests that queued up are spread over the idle workers, in jobs of at least MIN_REQUESTS_PER_SPLIT', () => {
  const min = MIN_REQUESTS_PER_SPLIT;
  const two = new VadScheduler({ ...DEFAULTS, workers: 2 });
  const split = (s: VadScheduler, queued: number, inFlight: number) => s.split(queued, 8 * queued, inFlight);
  assert.deepEqual(split(two, 2 * min - 1, 0), [2 * min - 1], 'too few for two jobs of the minimum');
  assert.deepEqual(split(two, 2 * min, 0), [min, min]);
  assert.deepEqual(split(two, 101, 0), [51, 50], 'halves, the first the larger');
  assert.deepEqual(split(two, 600, 0), [256, 256], 'at most maxBatch each; 88 wait');
  assert.deepEqual(split(two, 200, 1), [200], 'one worker idle: one job');
  assert.deepEqual(split(two, 200, 2), [200], 'none idle: one job (the one more than workers)');
  assert.deepEqual(split(two, 200, 3), [], 'three out on two workers: none');

  const four = new VadScheduler({ ...DEFAULTS, workers: 4 });
  assert.deepEqual(split(four, 3 * min, 0), [min, min, min], 'as many jobs as the minimum allows');
  assert.deepEqual(split(four, 1000, 0), [250, 250, 250, 250]);
  assert.deepEqual(split(four, 400, 2), [200, 200], 'two idle');
});

test('a backlog of fewer windows than two jobs of MIN_WINDOWS_PER_SPLIT stays one job', () => {
  const w = MIN_WINDOWS_PER_SPLIT;
  const two = new VadScheduler({ ...DEFAULTS, workers: 2 });
  assert.deepEqual(two.split(128, 2 * w - 1, 0), [128], '128 requests, too few windows for two jobs');
  assert.deepEqual(two.split(128, 2 * w, 0), [64, 64], 'enough windows for two');
  const four = new VadScheduler({ ...DEFAULTS, workers: 4 });
  assert.deepEqual(four.split(256, 3 * w, 0), [86, 86, 84], 'the windows allow three jobs of the four idle workers');
});
