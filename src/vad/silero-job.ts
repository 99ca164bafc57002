// One VAD job: requests of many channels, each one or more consecutive windows. The windows of a
// channel run as consecutive model runs (each needs the state the previous one left); run j
// batches the j-th window of every channel that has one. Runs on the VAD worker (large jobs) or
// inline on the main thread (small ones); see batch-runner.ts.
import * as ort from 'onnxruntime-node';
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';
import { VAD_CONTEXT, VAD_STATE, VAD_WINDOW } from './window.ts';

const INPUT = VAD_CONTEXT + VAD_WINDOW;

export interface VadJob {
  /** Windows per channel, not increasing: the channels in model run j are the first ones with more than j. */
  windows: Int32Array;
  /** Per channel in order: its 64-sample context, then its windows back to back. */
  audio: Float32Array;
  /** Per channel in order: its state, layer 0 (128) then layer 1 (128). Updated in place. */
  state: Float32Array;
  /** Written: the speech probability of each window, channel after channel. */
  probs: Float32Array;
}

export function createVadSession(path: string): Promise<ort.InferenceSession> {
  // The model is tiny: one intra-op thread per run beats thread hand-off overhead (measured, see
  // README Performance).
  return ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
}

const sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(MODEL_SAMPLE_RATE)]), []);

/**
 * Runs `job`, writing its probabilities and each channel's new state into its arrays (shared memory
 * when it came from the main thread: job-memory.ts). The job's arrays are not handed to
 * onnxruntime: a run reads them after an await (setImmediate), when the main thread may have them.
 */
export async function runVadJob(session: ort.InferenceSession, job: VadJob): Promise<void> {
  const { windows, audio, state, probs } = job;
  const channels = windows.length;
  if (channels === 0) return;
  const audioOffset = new Int32Array(channels);
  const probOffset = new Int32Array(channels);
  for (let c = 1; c < channels; c++) {
    audioOffset[c] = audioOffset[c - 1] + VAD_CONTEXT + windows[c - 1] * VAD_WINDOW;
    probOffset[c] = probOffset[c - 1] + windows[c - 1];
  }
  // One pair of input arrays for the job, sized for its first (largest) run; later runs use their fronts.
  const inputs = new Float32Array(channels * INPUT);
  const states = new Float32Array(2 * channels * VAD_STATE);
  for (let run = 0; ; run++) {
    let b = 0;
    while (b < channels && windows[b] > run) b++;
    if (b === 0) break;
    const input = inputs.subarray(0, b * INPUT);
    const h = states.subarray(0, 2 * b * VAD_STATE);
    for (let c = 0; c < b; c++) {
      const from = audioOffset[c] + run * VAD_WINDOW; // this window's context is the previous window's tail
      input.set(audio.subarray(from, from + INPUT), c * INPUT);
      h.set(state.subarray(c * 2 * VAD_STATE, c * 2 * VAD_STATE + VAD_STATE), c * VAD_STATE);
      h.set(state.subarray(c * 2 * VAD_STATE + VAD_STATE, (c + 1) * 2 * VAD_STATE), (b + c) * VAD_STATE);
    }
    const out = await session.run({
      input: new ort.Tensor('float32', input, [b, INPUT]),
      state: new ort.Tensor('float32', h, [2, b, VAD_STATE]),
      sr,
    });
    const p = out.output.data as Float32Array;
    const next = out.stateN.data as Float32Array;
    for (let c = 0; c < b; c++) {
      probs[probOffset[c] + run] = p[c];
      state.set(next.subarray(c * VAD_STATE, (c + 1) * VAD_STATE), c * 2 * VAD_STATE);
      state.set(next.subarray((b + c) * VAD_STATE, (b + c + 1) * VAD_STATE), c * 2 * VAD_STATE + VAD_STATE);
    }
  }
}
