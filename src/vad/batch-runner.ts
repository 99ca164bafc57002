// One VAD job made of requests of many channels: packed into the job's arrays, run where it is
// cheapest (large jobs on a worker thread, silero-worker.ts, since onnxruntime-node runs on the
// calling thread; small ones inline, where they cost less than the hand-off), and unpacked into each
// channel's state and context and each request's probabilities and timing. The VAD stage's
// metrics and the `vad.batch` span are recorded here, once per job.
import type { ServiceContext } from '../context.ts';
import type { JobRun, WorkerPool } from '../task.ts';
import type { VadRequestTiming } from '../task-timing.ts';
import { measureStage } from '../telemetry/stage-guard.ts';
import { tracer, tracingEnabled } from '../telemetry/tracing.ts';
import type * as ort from 'onnxruntime-node';
import type { VadChannelState, WindowSource } from './channel.ts';
import { runVadJob, type VadJob, type VadJobResult } from './silero-job.ts';
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
  private readonly pool: WorkerPool<VadWorkerJob, VadJobResult>;
  private readonly inline: ort.InferenceSession;
  private readonly modelPath: string;
  private readonly options: BatchRunnerOptions;
  constructor(service: ServiceContext, pool: WorkerPool<VadWorkerJob, VadJobResult>, inline: ort.InferenceSession, modelPath: string, options: BatchRunnerOptions) {
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

  /** Runs `job` on a worker of the pool. */
  onWorker(job: VadJob): Promise<JobRun<VadJobResult>> {
    return this.pool.run({ ...job, modelPath: this.modelPath }, [job.audio.buffer as ArrayBuffer, job.state.buffer as ArrayBuffer]);
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
    const { job, totalWindows, audioSeconds } = pack(batch);
    for (let run = 0, b = batch.length; b > 0; run++) {
      while (b > 0 && job.windows[b - 1] <= run) b--;
      if (b > 0) metrics.vadBatchSize.record(b);
    }

    // A batch serves many streams, so its span has no parent: it links to each channel it analysed.
    const span = tracingEnabled()
      ? tracer().startSpan('vad.batch', {
          root: true,
          attributes: { batch_size: batch.length, windows: totalWindows, audio_seconds: audioSeconds },
          links: batch.flatMap((p) => (p.channel.link ? [{ context: p.channel.link }] : [])),
        })
      : null;
    let run: JobRun<VadJobResult>;
    try {
      // One unit of VAD stage work is one job: its audio is every window in it. Its processing
      // time is its run on the thread that ran it, not the hand-off to the worker.
      using stage = measureStage(metrics, 'vad', audioSeconds);
      try {
        run = await this.execute(job, totalWindows);
        stage.measured(run.runSeconds);
        span?.setAttribute('rtf', run.runSeconds / audioSeconds);
      } catch (err) {
        stage.discard();
        throw err;
      }
    } finally {
      span?.end();
    }
    return unpack(batch, job.windows, run.value, { batchStartedAt, runSeconds: run.runSeconds, answeredAt: performance.now() });
  }

  /** Runs a job where it is cheapest; `runSeconds` is its time on the thread that ran it. */
  private async execute(job: VadJob, windows: number): Promise<JobRun<VadJobResult>> {
    if (windows > this.options.inlineMaxWindows) return this.onWorker(job);
    return this.service.tasks.runOnThisThread('vad', () => runVadJob(this.inline, job));
  }
}

/** The job's arrays: per request its channel's context and windows, and its channel's state; each channel's next context noted. */
function pack(batch: VadRequest[]): { job: VadJob; totalWindows: number; audioSeconds: number } {
  const windows = Int32Array.from(batch, (p) => p.samples.length / VAD_WINDOW);
  const totalWindows = windows.reduce((n, w) => n + w, 0);
  const audio = new Float32Array(batch.reduce((n, p) => n + VAD_CONTEXT + p.samples.length, 0));
  const state = new Float32Array(batch.length * 2 * VAD_STATE);
  let offset = 0;
  let audioSeconds = 0;
  batch.forEach((p, i) => {
    audio.set(p.channel.context, offset);
    p.samples.copyTo(audio, offset + VAD_CONTEXT);
    offset += VAD_CONTEXT + p.samples.length;
    p.channel.nextContext.set(audio.subarray(offset - VAD_CONTEXT, offset));
    state.set(p.channel.state, i * 2 * VAD_STATE);
    audioSeconds += p.seconds;
  });
  return { job: { windows, audio, state }, totalWindows, audioSeconds };
}

/** Each channel's new state and context, and each request's answer. */
function unpack(batch: VadRequest[], windows: Int32Array, out: VadJobResult, times: Omit<VadRequestTiming, 'requestedAt'>): VadAnswer[] {
  let probOffset = 0;
  return batch.map((p, i) => {
    p.channel.state.set(out.state.subarray(i * 2 * VAD_STATE, (i + 1) * 2 * VAD_STATE));
    p.channel.context.set(p.channel.nextContext);
    const probs = out.probs.subarray(probOffset, probOffset + windows[i]);
    probOffset += windows[i];
    return { probs, timing: { requestedAt: p.requestedAt, batchStartedAt: times.batchStartedAt, runSeconds: times.runSeconds, answeredAt: times.answeredAt } };
  });
}
