// Worker thread of the VAD stage. onnxruntime-node runs a session synchronously on the thread that
// calls it, so large jobs run here, on the second core, instead of stalling every stream on the
// main thread. The session is loaded on the worker's first job and kept.
import type * as ort from 'onnxruntime-node';
import { createVadSession, runVadJob, type VadJob } from './silero-job.ts';

export interface VadWorkerJob extends VadJob {
  modelPath: string;
}

let loaded: { path: string; session: Promise<ort.InferenceSession> } | null = null;

function session(path: string): Promise<ort.InferenceSession> {
  if (!loaded || loaded.path !== path) loaded = { path, session: createVadSession(path) };
  return loaded.session;
}

/** Runs the job in place: its arrays are shared with the main thread (job-memory.ts), so the answer carries nothing. */
export default async function vadJob(job: VadWorkerJob): Promise<void> {
  const s = await session(job.modelPath).catch((err: unknown) => {
    loaded = null; // try again on the next job
    throw err;
  });
  await runVadJob(s, job);
}
