// Where the latency of a final result goes: final_result_latency_seconds{endpoint="vad"} cut into
// consecutive phases, each timed on this thread's performance.now() clock (a worker's stamps
// converted), so that the phases of one result add up to its latency. Recorded per final segment
// endpointed by the VAD as final_result_phase_seconds{phase}.
import type { Instruments } from './instruments.ts';
import { ATTR } from './names.ts';

export const FINAL_PHASES = [
  /** The frame that held the endpoint arrived → the VAD request with its windows was made (decoding, the channel's previous request). */
  'vad_queue',
  /** Request made → its batch started (the batching wait, and any job ahead of it). */
  'vad_batch_wait',
  /** The batch's model runs, on the thread that ran them. */
  'vad_run',
  /** The rest of the batch's round trip: building it, the worker's queue and hand-offs, the answer picked up here. */
  'vad_handoff',
  /** VAD answer → a model worker started the inference (segmenting, the wait for a free worker, the hand-off). */
  'model_queue',
  /** The inference on its worker. */
  'model_run',
  /** The worker finished → its result was picked up on this thread. */
  'model_return',
  /** Result picked up → segment sent (the channel's earlier events, serialization, the websocket write). */
  'send',
] as const;
export type FinalPhase = (typeof FINAL_PHASES)[number];

/**
 * What the phases need of the VAD request that found the endpoint (performance.now() ms; runSeconds:
 * its batch's run time) and of the inference (when it ran on its worker, if the model says, and when
 * its result was back). The task layer's VadRequestTiming and InferenceTiming (src/task-timing.ts)
 * have these shapes; declared here because telemetry imports nothing from the app.
 */
export interface VadStamps {
  requestedAt: number;
  batchStartedAt: number;
  runSeconds: number;
  answeredAt: number;
}
export interface InferenceStamps {
  ran: { startedAt: number; finishedAt: number } | null;
  returnedAt: number;
}

// Built once: one record per phase per final.
const PHASE_ATTRIBUTES = Object.fromEntries(FINAL_PHASES.map((p) => [p, { [ATTR.phase]: p }])) as Record<FinalPhase, { [ATTR.phase]: FinalPhase }>;

/**
 * The phases, in seconds, of a final result whose endpoint frame arrived at `readyAt` and that was
 * sent at `sentAt`. Stamps taken on two threads may disagree by a little: every phase is clamped at
 * 0 and cut from the time left, so that they always add up to sentAt − readyAt.
 */
export function finalPhases(readyAt: number, vad: VadStamps, model: InferenceStamps, sentAt: number): Record<FinalPhase, number> {
  let at = readyAt;
  const until = (t: number) => {
    const d = Math.max(0, t - at);
    at += d;
    return d;
  };
  const vadQueue = until(vad.requestedAt);
  const batchWait = until(vad.batchStartedAt);
  const batch = until(vad.answeredAt);
  const vadRun = Math.min(batch, vad.runSeconds * 1000);
  const answered = at;
  const inference = until(model.returnedAt);
  let modelQueue = 0;
  let modelRun = inference;
  if (model.ran) {
    modelRun = Math.min(inference, Math.max(0, model.ran.finishedAt - model.ran.startedAt));
    modelQueue = Math.min(inference - modelRun, Math.max(0, model.ran.startedAt - answered));
  }
  const send = until(sentAt);
  const ms = {
    vad_queue: vadQueue,
    vad_batch_wait: batchWait,
    vad_run: vadRun,
    vad_handoff: batch - vadRun,
    model_queue: modelQueue,
    model_run: modelRun,
    model_return: inference - modelRun - modelQueue,
    send,
  };
  return Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, v / 1000])) as Record<FinalPhase, number>;
}

export function recordFinalPhases(metrics: Instruments, phases: Record<FinalPhase, number>): void {
  for (const phase of FINAL_PHASES) metrics.finalResultPhase.record(phases[phase], PHASE_ATTRIBUTES[phase]);
}
