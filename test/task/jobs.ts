// Job module for the pool tests: each job says which thread ran it, and counts its runs in a shared array.
import { threadId } from 'node:worker_threads';

export interface TestJob {
  n: number;
  /** echo: answer; sleep: busy `ms`, then answer; throw: reject; crash: the thread dies while it runs the job;
   * crashAfter: answer, then the thread dies between jobs. */
  kind: 'echo' | 'sleep' | 'throw' | 'crash' | 'crashAfter';
  ms?: number;
  /** runs[n] += 1 for each run of job n */
  runs?: Int32Array;
}

export default function testJob(job: TestJob): Promise<{ n: number; threadId: number }> | { n: number; threadId: number } {
  if (job.runs) Atomics.add(job.runs, job.n, 1);
  if (job.kind === 'sleep') {
    const end = performance.now() + (job.ms ?? 0);
    while (performance.now() < end) {
      // busy, as a model computing
    }
  }
  if (job.kind === 'throw') throw new Error(`job ${job.n} failed`);
  if (job.kind === 'crash' || job.kind === 'crashAfter') {
    setImmediate(() => {
      throw new Error(`job ${job.n} crashed its thread`);
    });
    if (job.kind === 'crash') return new Promise(() => {}); // never answers: the throw above ends the thread first
  }
  return { n: job.n, threadId };
}
