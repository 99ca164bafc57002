// The guard around each unit of stage work (the counterpart of the reference's RAII
// RtfMetricGuard): created with the audio it covers, it records processing time, media duration
// and RTF for its stage when disposed. Use it with `using`, so every exit path records:
//
//   using _ = measureStage(metrics, 'vad', 0.032);
//   await runTheWork();
//
// A new stage gets its metrics by adding its name and buckets to stages.ts and using the guard.
import type { Instruments } from './instruments.ts';
import { ATTR } from './names.ts';
import type { StageTally } from './stage-tally.ts';
import { STAGES, type Stage } from './stages.ts';

// One attribute object per stage, bound here so that no caller can forget the label, and built once
// rather than on every record (a guard runs per frame and per VAD batch).
const STAGE_ATTRIBUTES = Object.fromEntries(STAGES.map((s) => [s, { [ATTR.pipeline]: s }])) as Record<Stage, { [ATTR.pipeline]: Stage }>;

export class StageGuard implements Disposable {
  private readonly started = performance.now();
  private discarded = false;
  private measuredSeconds: number | null = null;

  private readonly metrics: Instruments;
  private readonly stage: Stage;
  private readonly mediaSeconds: number;
  private readonly tally?: StageTally;
  constructor(metrics: Instruments, stage: Stage, mediaSeconds: number, tally?: StageTally) {
    this.metrics = metrics;
    this.stage = stage;
    this.mediaSeconds = mediaSeconds;
    this.tally = tally;
  }

  /** The work did not produce a result (a failure or crash): record nothing. */
  discard(): void {
    this.discarded = true;
  }

  /**
   * The work measured its own processing time (e.g. its run time on a worker, without the wait
   * for a free one): record that instead of the wall time around it.
   */
  measured(seconds: number): void {
    this.measuredSeconds = seconds;
  }

  [Symbol.dispose](): void {
    if (this.discarded) return;
    recordStageWork(this.metrics, this.stage, this.measuredSeconds ?? (performance.now() - this.started) / 1000, this.mediaSeconds, this.tally);
  }
}

/**
 * Records one unit of stage work timed by the caller (what the guard records when disposed), and
 * the same figures into `tally`, the share of the stream the work was for (when it was for one).
 */
export function recordStageWork(metrics: Instruments, stage: Stage, processingSeconds: number, mediaSeconds: number, tally?: StageTally): void {
  tally?.record(processingSeconds, mediaSeconds);
  const h = metrics.stage[stage];
  const attributes = STAGE_ATTRIBUTES[stage];
  h.processing.record(processingSeconds, attributes);
  h.media.record(mediaSeconds, attributes);
  // Zero-length audio has durations but no meaningful RTF (it would be infinite).
  if (mediaSeconds > 0) h.rtf.record(processingSeconds / mediaSeconds, attributes);
}

export function measureStage(metrics: Instruments, stage: Stage, mediaSeconds: number, tally?: StageTally): StageGuard {
  return new StageGuard(metrics, stage, mediaSeconds, tally);
}
