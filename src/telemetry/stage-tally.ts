// One stream's share of the stage metrics: the same processing and media seconds the stage guard
// records into processing_duration_seconds and media_duration_seconds, added up for that stream
// alone, so that what a client is told about its stream (its `stats` events) is what the metrics
// count, not a second measurement.
import type { Stage } from './stages.ts';

/** Units of stage work and their seconds, added up since the stream began. */
export interface StageTotals {
  /** Units of work recorded (inferences for the model stage, frames for decoding). */
  runs: number;
  /** Processing seconds recorded (the processing_duration_seconds observations). */
  processingSeconds: number;
  /** Audio seconds recorded (the media_duration_seconds observations). */
  mediaSeconds: number;
}

export class StageTally {
  private readonly totals = new Map<Stage, StageTotals>();

  /** Adds one unit of work, as recorded into the stage's histograms. */
  record(stage: Stage, processingSeconds: number, mediaSeconds: number): void {
    const t = this.totals.get(stage);
    if (!t) return void this.totals.set(stage, { runs: 1, processingSeconds, mediaSeconds });
    t.runs++;
    t.processingSeconds += processingSeconds;
    t.mediaSeconds += mediaSeconds;
  }

  /** The totals of a stage so far (a copy). */
  of(stage: Stage): StageTotals {
    const t = this.totals.get(stage);
    return t ? { ...t } : { runs: 0, processingSeconds: 0, mediaSeconds: 0 };
  }
}
