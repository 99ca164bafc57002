// When work ran, on this thread's performance.now() clock (ms): what the task wrapper reports of a
// job (WorkerRun), and what the stages pass on of it for the breakdown of a final result's latency
// (telemetry/final-phases.ts reads these shapes; it declares its own, as telemetry imports nothing
// from the app).

/** When a job ran on its thread, on this thread's clock (ms). */
export interface WorkerRun {
  startedAt: number;
  finishedAt: number;
}

/** One inference: when it ran (unknown for a model that does not say) and when its result was back here (ms). */
export interface InferenceTiming {
  ran: WorkerRun | null;
  returnedAt: number;
}

/** One VAD request's times, performance.now() ms (runSeconds: its batch's run time). */
export interface VadRequestTiming {
  requestedAt: number;
  batchStartedAt: number;
  runSeconds: number;
  answeredAt: number;
}

/** An epoch-milliseconds stamp (e.g. from a worker: performance.timeOrigin + performance.now() there) on this thread's clock. */
export function fromEpochMs(epochMs: number): number {
  return epochMs - performance.timeOrigin;
}
