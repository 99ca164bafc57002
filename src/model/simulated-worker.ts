// Worker thread of the simulated model: burns CPU for as long as a real model would, so that
// load tests see the cost profile of CPU-bound inference without the event loop being blocked.
import type { InferenceResult } from './model.ts';

export interface SimulatedJob {
  samples: Float32Array;
  sampleRate: number;
  delay: number;
  constantFactor: number;
  jitter: number;
  failureRate: number;
  panicRate: number;
  warmupPenalty: number;
}

// Each worker is one model instance: its first inference pays the warm-up penalty.
let firstRun = true;

function spin(seconds: number): void {
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    // busy: a real model would be computing here
  }
}

/** Seconds of work for `audioSeconds` of audio before any warm-up penalty; `random` in [0, 1) places the jitter. */
export function inferenceCost(job: Pick<SimulatedJob, 'delay' | 'constantFactor' | 'jitter'>, audioSeconds: number, random = Math.random()): number {
  return job.delay + job.constantFactor * audioSeconds + job.jitter * (random * 2 - 1);
}

function simulatedInference(job: SimulatedJob): InferenceResult {
  let cost = inferenceCost(job, job.samples.length / job.sampleRate);
  if (firstRun) {
    firstRun = false;
    cost *= 1 + job.warmupPenalty;
  }
  spin(Math.max(0, cost));
  if (Math.random() < job.failureRate) return { ok: false, error: 'inference failed' };
  if (Math.random() < job.panicRate) {
    // A crash, not a returned error: the uncaught throw takes the worker down and the pool replaces it.
    setImmediate(() => {
      throw new Error('inference catastrophically failed');
    });
    return new Promise<never>(() => {}) as never;
  }
  return { ok: true, output: { count: job.samples.length } };
}

export default simulatedInference;
