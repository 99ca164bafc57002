// Worker thread of the VAD stage. onnxruntime-node runs a session synchronously on the thread that
// calls it, so large jobs run here, on the second core, instead of stalling every stream on the
// main thread. The session is loaded on the worker's first job and kept.
import type * as ort from 'onnxruntime-node';
import { timedJob } from '../task-worker.ts';
import { createVadSession, runVadJob, type VadGraph, type VadJob } from './silero-job.ts';

export interface VadWorkerJob extends VadJob {
  modelPath: string;
  graph: VadGraph;
}

let loaded: { key: string; session: Promise<ort.InferenceSession> } | null = null;

function session(path: string, graph: VadGraph): Promise<ort.InferenceSession> {
  const key = `${graph}:${path}`;
  if (!loaded || loaded.key !== key) loaded = { key, session: createVadSession(path, graph).then((s) => s.session) };
  return loaded.session;
}

export default timedJob(async (job: VadWorkerJob) => {
  const s = await session(job.modelPath, job.graph).catch((err: unknown) => {
    loaded = null; // try again on the next job
    throw err;
  });
  return runVadJob(s, job);
});
