// The VAD's job memory (src/vad/job-memory.ts): shared, reused from job to job, grown when a job
// needs more, and never handed to two jobs at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VadJobMemory } from '../../src/vad/job-memory.ts';
import { VAD_STATE } from '../../src/vad/window.ts';

test("a job's arrays are shared memory of exactly the job's sizes", () => {
  const { job } = new VadJobMemory().acquire(3, 3 * (64 + 512), 3);
  for (const array of [job.windows, job.audio, job.state, job.probs]) assert.ok(array.buffer instanceof SharedArrayBuffer);
  assert.deepEqual([job.windows.length, job.audio.length, job.state.length, job.probs.length], [3, 3 * 576, 3 * 2 * VAD_STATE, 3]);
});

test('a released job memory is reused by the next job; one still out is not', () => {
  const memory = new VadJobMemory();
  const first = memory.acquire(4, 4 * 576, 4);
  const second = memory.acquire(4, 4 * 576, 4);
  assert.notEqual(second.job.audio.buffer, first.job.audio.buffer, 'two jobs out at once: two memories');
  first.release();
  first.release(); // idempotent: the memory is not handed out twice
  const third = memory.acquire(2, 2 * 576, 2);
  assert.equal(third.job.audio.buffer, first.job.audio.buffer, 'the released one is reused');
  const fourth = memory.acquire(2, 2 * 576, 2);
  assert.notEqual(fourth.job.audio.buffer, first.job.audio.buffer, 'released once, reused once');
});

test('a job larger than the memory grows it; a very large one is not kept once released', () => {
  const memory = new VadJobMemory();
  const small = memory.acquire(2, 2 * 576, 2);
  small.release();
  const large = memory.acquire(256, 256 * (64 + 4 * 512), 1024);
  assert.equal(large.job.audio.length, 256 * (64 + 4 * 512));
  assert.equal(large.job.state.length, 256 * 2 * VAD_STATE);
  large.release();
  const again = memory.acquire(256, 256 * (64 + 4 * 512), 1024);
  assert.equal(again.job.audio.buffer, large.job.audio.buffer, 'kept: ~2 MB of audio');
  again.release();
  // 256 channels that fell 32 windows behind: ~17 MB, held only while its job is out.
  const huge = memory.acquire(256, 256 * (64 + 32 * 512), 256 * 32);
  huge.release();
  const next = memory.acquire(256, 256 * (64 + 32 * 512), 256 * 32);
  assert.notEqual(next.job.audio.buffer, huge.job.audio.buffer, 'not kept');
});
