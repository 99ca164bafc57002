// One VAD job made of requests of many channels: packed into the job's arrays (shared memory,
// reused: job-memory.ts), run where it is cheapest (large jobs on a worker thread,
// silero-worker.ts, since onnxruntime-node runs on the calling thread; small ones inline, where they
// cost less than the hand-off), and unpacked into each channel's state and context and each
// request's probabilities and timing. The VAD stage's metrics and the `vad.batch` span are
// recorded here, once per job.
import type { ServiceContext } from '../context.ts';
import type { JobRun, WorkerPool } from '../task.ts';
import type { VadRequestTiming } from '../task-timing.ts';
import { measureStage } from '../telemetry/stage-guard.ts';
import { tracer, tracingEnabled } from '../telemetry/tracing.ts';
import type * as ort from 'onnxruntime-node';
import type { VadChannelState, WindowSource } from './channel.ts';
import { VadJobMemory } from './job-memory.ts';
import { runVadJob, type VadJob } from './silero-job.ts';
import type { VadWorkerJob } from './silero-worker.ts';
import { VAD_CONTEXT, VAD_STATE, VAD_WINDOW } from './window.ts';

export interface VadRequest {
  channel: VadChannelState;
  /** Consecutive windows of the channel, back to back. */
  samples: WindowSource;
  /** Audio seconds the windows cover (less than a whole window's for a zero-padded last window). */
  seconds: number;
  /** On the batching clock. */
  queuedAt: number;
  /** performance.now() ms, for the breakdown (the batching clock may be a test's). */
  requestedAt: number;
}

/** A request's speech probabilities (one per window), and when it was made, batched, run and answered. */
export interface VadAnswer {
  probs: Float32Array;
  timing: VadRequestTiming;
}

export interface BatchRunnerOptions {
  /** Jobs of at most this many windows run inline. */
  inlineMaxWindows: number;
  /** The batching clock (ms), for the batch wait. */
  now: () => number;
}

export class VadBatchRunner {
  private readonly service: ServiceContext;
  private readonly pool: WorkerPool<VadWorkerJob, void>;
  private readonly inline: ort.InferenceSession;
  private readonly modelPath: string;
  private readonly options: BatchRunnerOptions;
  private readonly memory = new VadJobMemory();
  constructor(service: ServiceContext, pool: WorkerPool<VadWorkerJob, void>, inline: ort.InferenceSession, modelPath: string, options: BatchRunnerOptions) {
    this.service = service;
    this.pool = pool;
    this.inline = inline;
    this.modelPath = modelPath;
    this.options = options;
  }

  /** Ends the worker threads and releases the inline session. */
  async close(): Promise<void> {
    await Promise.all([this.pool.destroy(), this.inline.release()]);
  }

  /** Runs `job` on a worker of the pool; it writes the job's arrays in place (shared memory: nothing is transferred). */
  onWorker(job: VadJob): Promise<JobRun<void>> {
    return this.pool.run({ ...job, modelPath: this.modelPath });
  }

  /**
   * Runs the requests of `batch` (in arrival order, a channel at most once) as one job and advances
   * their channels' state and context. Sorts `batch` in place, most windows first (model run j then
   * takes the first channels with more than j windows); answer i is then batch[i]'s.
   */
  async run(batch: VadRequest[]): Promise<VadAnswer[]> {
    const { metrics } = this.service.telemetry;
    metrics.vadBatchWait.record((this.options.now() - batch[0].queuedAt) / 1000);
    const batchStartedAt = performance.now();
    batch.sort((a, b) => b.samples.length - a.samples.length);
    const { job, release, totalWindows, audioSeconds } = this.pack(batch);
    try {
      for (let run = 0, b = batch.length; b > 0; run++) {
        while (b > 0 && job.windows[b - 1] <= run) b--;
        if (b > 0) metrics.vadBatchSize.record(b);
      }
      const runSeconds = await this.runMeasured(batch, job, totalWindows, audioSeconds);
      return unpack(batch, job, { batchStartedAt, runSeconds, answeredAt: performance.now() });
    } finally {
      release();
    }
  }

  /** Runs the job as the VAD stage's unit of work (its metrics, its `vad.batch` span); its run time on the thread that ran it. */
  private async runMeasured(batch: VadRequest[], job: VadJob, totalWindows: number, audioSeconds: number): Promise<number> {
    const { metrics } = this.service.telemetry;
    // A batch serves many streams, so its span has no parent: it links to each channel it analysed.
    const span = tracingEnabled()
      ? tracer().startSpan('vad.batch', {
          root: true,
          attributes: { batch_size: batch.length, windows: totalWindows, audio_seconds: audioSeconds },
          links: batch.flatMap((p) => (p.channel.link ? [{ context: p.channel.link }] : [])),
        })
      : null;
    try {
      // One unit of VAD stage work is one job: its audio is every window in it. Its processing
      // time is its run on the thread that ran it, not the hand-off to the worker.
      using stage = measureStage(metrics, 'vad', audioSeconds);
      try {
        const run = await this.execute(job, totalWindows);
        stage.measured(run.runSeconds);
        span?.setAttribute('rtf', run.runSeconds / audioSeconds);
        return run.runSeconds;
      } catch (err) {
        stage.discard();
        throw err;
      }
    } finally {
      span?.end();
    }
  }

  /** The job's arrays: per request its channel's context and windows, and its channel's state; each channel's next context noted. */
  private pack(batch: VadRequest[]): { job: VadJob; release: () => void; totalWindows: number; audioSeconds: number } {
    let totalWindows = 0;
    let samples = 0;
    for (const p of batch) {
      totalWindows += p.samples.length / VAD_WINDOW;
      samples += VAD_CONTEXT + p.samples.length;
    }
    const { job, release } = this.memory.acquire(batch.length, samples, totalWindows);
    let offset = 0;
    let audioSeconds = 0;
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i];
      job.windows[i] = p.samples.length / VAD_WINDOW;
      job.audio.set(p.channel.context, offset);
      p.samples.copyTo(job.audio, offset + VAD_CONTEXT);
      offset += VAD_CONTEXT + p.samples.length;
      p.channel.nextContext.set(job.audio.subarray(offset - VAD_CONTEXT, offset));
      job.state.set(p.channel.state, i * 2 * VAD_STATE);
      audioSeconds += p.seconds;
    }
    return { job, release, totalWindows, audioSeconds };
  }

  /** Runs a job where it is cheapest; `runSeconds` is its time on the thread that ran it. */
  private async execute(job: VadJob, windows: number): Promise<JobRun<void>> {
    if (windows > this.options.inlineMaxWindows) return this.onWorker(job);
    return this.service.tasks.runOnThisThread('vad', () => runVadJob(this.inline, job));
  }
}

/**
 * Each channel's new state and context, and each request's answer. The probabilities are copied out
 * (one array for the job): the job's memory is reused once this returns.
 */
function unpack(batch: VadRequest[], job: VadJob, times: Omit<VadRequestTiming, 'requestedAt'>): VadAnswer[] {
  const probs = job.probs.slice();
  let probOffset = 0;
  const answers = new Array<VadAnswer>(batch.length);
  for (let i = 0; i < batch.length; i++) {
    const p = batch[i];
    p.channel.state.set(job.state.subarray(i * 2 * VAD_STATE, (i + 1) * 2 * VAD_STATE));
    p.channel.context.set(p.channel.nextContext);
    const windows = job.windows[i];
    answers[i] = { probs: probs.subarray(probOffset, probOffset + windows), timing: { requestedAt: p.requestedAt, ...times } };
    probOffset += windows;
  }
  return answers;
}
