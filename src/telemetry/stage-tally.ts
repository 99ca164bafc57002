// One stream's share of a stage's metrics: the same processing and media seconds the stage guard
// records into processing_duration_seconds and media_duration_seconds, added up for that stream
// alone, so that what a client is told about its stream (its `stats` events) is what the metrics
// count, not a second measurement. A stream keeps one for its model runs.

/** Units of stage work and their seconds, added up since the stream began. */
export interface StageTotals {
  /** Units of work recorded (inferences, for the model stage). */
  runs: number;
  /** Processing seconds recorded (the processing_duration_seconds observations). */
  processingSeconds: number;
  /** Audio seconds recorded (the media_duration_seconds observations). */
  mediaSeconds: number;
}

export class StageTally {
  private readonly sums: StageTotals = { runs: 0, processingSeconds: 0, mediaSeconds: 0 };

  /** Adds one unit of work, as recorded into the stage's histograms. */
  record(processingSeconds: number, mediaSeconds: number): void {
    this.sums.runs++;
    this.sums.processingSeconds += processingSeconds;
    this.sums.mediaSeconds += mediaSeconds;
  }

  /** The totals so far (a copy). */
  totals(): StageTotals {
    return { ...this.sums };
  }
}
