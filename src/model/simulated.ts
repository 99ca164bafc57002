// The simulated model: a load-test double with a configurable cost profile and fault rates.
import type { SimulatedModelConfig } from '../config.ts';
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';
import type { ServiceContext } from '../context.ts';
import { siblingModule, type WorkerPool } from '../task.ts';
import { statelessChannel, type InferenceResult, type Model, type ModelChannel } from './model.ts';
import type { SimulatedJob } from './simulated-worker.ts';

export class SimulatedModel implements Model {
  readonly name = 'simulated';
  private readonly pool: WorkerPool<SimulatedJob, InferenceResult>;

  private readonly config: SimulatedModelConfig;
  constructor(config: SimulatedModelConfig, service: ServiceContext) {
    this.config = config;
    this.pool = service.tasks.createWorkerPool('inference', siblingModule('simulated-worker', import.meta.url), config.workers);
  }

  openChannel(): ModelChannel {
    return statelessChannel(this);
  }

  infer(samples: Float32Array): Promise<InferenceResult> {
    return this.run(samples, false);
  }

  /** Warm-up runs never fail: faults are for streams. */
  private run(samples: Float32Array, warmup: boolean): Promise<InferenceResult> {
    const c = this.config;
    const job: SimulatedJob = {
      samples,
      sampleRate: MODEL_SAMPLE_RATE,
      delay: c.delay,
      constantFactor: c.constant_factor,
      jitter: c.jitter,
      failureRate: warmup ? 0 : c.failure_rate,
      panicRate: warmup ? 0 : c.panic_rate,
      warmupPenalty: c.warmup_penalty,
    };
    // Transfer, not copy, to the worker; a view into a larger buffer is copied first.
    const owned = samples.byteOffset === 0 && samples.byteLength === samples.buffer.byteLength ? samples : samples.slice();
    job.samples = owned;
    return this.pool
      .run(job, [owned.buffer as ArrayBuffer])
      .then(({ value, runSeconds, startedAt, finishedAt }) => ({ ...value, computeSeconds: runSeconds, ran: { startedAt, finishedAt } }));
  }

  async warmup(): Promise<void> {
    // One job per worker, all at once: each worker (model instance) takes exactly one.
    const jobs = Array.from({ length: this.pool.size }, () => this.run(new Float32Array(MODEL_SAMPLE_RATE / 10), true));
    await Promise.all(jobs);
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
