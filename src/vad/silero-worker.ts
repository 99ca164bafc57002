// Worker thread of the VAD stage: runs one batch of Silero windows. onnxruntime-node runs a
// session synchronously on the thread that calls it, so on the main thread every batch stalled
// all streams for its run time (about a third of the main thread under load); here it uses the
// second core instead. The session is loaded on the worker's first job and kept.
import * as ort from 'onnxruntime-node';
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';
import { timedJob } from '../task-worker.ts';

export interface VadBatchJob {
  modelPath: string;
  /** Windows in the batch. */
  batch: number;
  /** [batch, 576]: each channel's 64-sample context followed by its window (transferred). */
  input: Float32Array;
  /** [2, batch, 128]: each channel's recurrent state, layer 0 rows then layer 1 rows (transferred). */
  state: Float32Array;
}

export interface VadBatchResult {
  /** Speech probability per window. */
  probs: Float32Array;
  /** [2, batch, 128]: the next state, in the layout of the job's. */
  state: Float32Array;
}

let loaded: { path: string; session: Promise<ort.InferenceSession> } | null = null;
const sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(MODEL_SAMPLE_RATE)]), []);

function session(path: string): Promise<ort.InferenceSession> {
  if (!loaded || loaded.path !== path) {
    // The model is tiny: one intra-op thread per run beats thread hand-off overhead (measured, see
    // README Performance).
    loaded = { path, session: ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' }) };
  }
  return loaded.session;
}

async function runBatch(job: VadBatchJob): Promise<VadBatchResult> {
  const s = await session(job.modelPath).catch((err: unknown) => {
    loaded = null; // try again on the next job
    throw err;
  });
  const inputWidth = job.input.length / job.batch;
  const out = await s.run({
    input: new ort.Tensor('float32', job.input, [job.batch, inputWidth]),
    state: new ort.Tensor('float32', job.state, [2, job.batch, job.state.length / (2 * job.batch)]),
    sr,
  });
  return { probs: out.output.data as Float32Array, state: out.stateN.data as Float32Array };
}

export default timedJob(runBatch);
