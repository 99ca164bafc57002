// The task wrapper's thread pool (src/task-pool.ts) on real worker threads: short jobs pipelined,
// long ones one per thread, a crash failing only the job that ran, and every job run exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThreadPool } from '../../src/task-pool.ts';
import type { TestJob } from './jobs.ts';

const ENTRY = new URL('../../src/task-worker.ts', import.meta.url);
const JOBS = new URL('./jobs.ts', import.meta.url);
type Answer = { n: number; threadId: number };

function pool(threads: number, opts: { pipeline?: boolean; module?: URL } = {}) {
  const crashes: unknown[] = [];
  const p = new ThreadPool<TestJob, Answer>({
    entry: ENTRY,
    module: opts.module ?? JOBS,
    threads,
    pipeline: opts.pipeline ?? true,
    onCrashBetweenJobs: (err) => crashes.push(err),
  });
  return { p, crashes };
}

const runs = (n: number) => new Int32Array(new SharedArrayBuffer(4 * n));

/** Echo jobs until the pool counts jobs as short (a job preempted on a busy machine only delays it). */
async function untilShortJobs(p: ThreadPool<TestJob, Answer>): Promise<void> {
  for (let round = 0; round < 50 && p.holdLimit < 16; round++) await Promise.all(Array.from({ length: 20 }, (_, n) => p.run({ n, kind: 'echo' })));
}

test('short jobs are pipelined (up to 16 held per thread), long ones go one per thread, and without pipelining always one', { timeout: 30_000 }, async () => {
  const { p } = pool(2);
  const plain = pool(2, { pipeline: false }).p;
  try {
    assert.equal(p.holdLimit, 1, 'run time unknown: taken as long');
    await untilShortJobs(p);
    assert.equal(p.holdLimit, 16);
    // Jobs of 30 ms: the mean moves past the 5 ms budget within a few of them.
    for (let n = 0; n < 40 && p.holdLimit > 1; n++) await p.run({ n, kind: 'sleep', ms: 30 });
    assert.equal(p.holdLimit, 1);
    await Promise.all(Array.from({ length: 20 }, (_, n) => plain.run({ n, kind: 'echo' })));
    assert.equal(plain.holdLimit, 1);
  } finally {
    await Promise.all([p.destroy(), plain.destroy()]);
  }
});

test('long jobs: no job waits behind another while a thread is free', { timeout: 30_000 }, async () => {
  const { p } = pool(2);
  try {
    await p.run({ n: 0, kind: 'sleep', ms: 50 }); // the mean run time is now long
    const answers = await Promise.all([0, 1].map((n) => p.run({ n, kind: 'sleep', ms: 200 })));
    assert.notEqual(answers[0].value.threadId, answers[1].value.threadId, 'one job per thread');
    // They ran at the same time: neither waited for the other to finish.
    const [a, b] = answers;
    assert.ok(a.startedAt < b.finishedAt && b.startedAt < a.finishedAt, `ran ${a.startedAt}–${a.finishedAt} and ${b.startedAt}–${b.finishedAt}`);
  } finally {
    await p.destroy();
  }
});

test('a thread that dies fails only the job it ran: the jobs it held run on its replacement, each exactly once', { timeout: 30_000 }, async () => {
  const { p, crashes } = pool(1);
  try {
    await untilShortJobs(p);
    assert.equal(p.holdLimit, 16);
    const count = runs(10);
    const jobs = Array.from({ length: 10 }, (_, n) => p.run({ n, kind: n === 4 ? 'crash' : 'echo', runs: count }));
    assert.deepEqual(p.held, [10], 'all ten went to the thread at once');
    const settled = await Promise.allSettled(jobs);
    assert.deepEqual(
      settled.map((s) => s.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
    );
    assert.match(String((settled[4] as PromiseRejectedResult).reason), /job 4 crashed its thread/);
    assert.deepEqual([...count], Array(10).fill(1), 'every job ran exactly once');
    const thread = (i: number) => (settled[i] as PromiseFulfilledResult<{ value: Answer }>).value.value.threadId;
    assert.notEqual(thread(5), thread(3), 'the jobs after the crash ran on a new thread');
    assert.deepEqual(crashes, []);
  } finally {
    await p.destroy();
  }
});

test('a job that throws is rejected with its error and the thread goes on; a crash between jobs is reported, and fails no job', { timeout: 30_000 }, async () => {
  const { p, crashes } = pool(1);
  try {
    const first = await p.run({ n: 0, kind: 'echo' });
    await assert.rejects(p.run({ n: 1, kind: 'throw' }), /job 1 failed/);
    assert.equal((await p.run({ n: 2, kind: 'echo' })).value.threadId, first.value.threadId, 'same thread');
    assert.equal((await p.run({ n: 3, kind: 'crashAfter' })).value.n, 3);
    const after = await p.run({ n: 4, kind: 'echo' }); // queued for the replacement if the thread died first
    assert.equal(after.value.n, 4);
    while (crashes.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.match(String(crashes[0]), /job 3 crashed its thread/);
  } finally {
    await p.destroy();
  }
});

test('a job module that does not load fails every job with its error, without restarting threads', { timeout: 30_000 }, async () => {
  const { p } = pool(2, { module: new URL('./broken-jobs.ts', import.meta.url) });
  await assert.rejects(p.run({ n: 0, kind: 'echo' }), /this module does not load/);
  await assert.rejects(p.run({ n: 1, kind: 'echo' }), /this module does not load/);
  await p.destroy();
});

test('destroy rejects the jobs not answered yet, and later runs', { timeout: 30_000 }, async () => {
  const { p } = pool(1);
  await p.run({ n: 0, kind: 'echo' });
  const pending = assert.rejects(p.run({ n: 1, kind: 'sleep', ms: 300 }), /the worker pool is closed/);
  const queued = assert.rejects(p.run({ n: 2, kind: 'echo' }), /the worker pool is closed/);
  await p.destroy();
  await Promise.all([pending, queued]);
  await assert.rejects(p.run({ n: 3, kind: 'echo' }), /the worker pool is closed/);
});
