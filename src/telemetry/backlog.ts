// Audio received but not yet processed, per stage, summed over the running streams of one service.
// Sessions register a source; the `stage_backlog_seconds` gauge and readiness (saturation) read the
// totals.
import { STAGES, type Stage } from './stages.ts';

export type BacklogSource = () => Partial<Record<Stage, number>>;

export class BacklogRegistry {
  private readonly sources = new Set<BacklogSource>();

  /** Adds a source of not-yet-processed audio per stage (a session); returns its removal. */
  register(source: BacklogSource): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
  }

  /** Seconds of audio waiting at each stage, over all sources. */
  totals(): Record<Stage, number> {
    const totals = Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
    for (const source of this.sources) {
      for (const [stage, seconds] of Object.entries(source())) totals[stage as Stage] += seconds;
    }
    return totals;
  }
}
