// Unexpected failures ("panics") of pipeline tasks, kept for /api/v1/health and telemetry.
// Imports nothing from the app: the task wrapper reports into it.
import { instruments } from './instruments.ts';

const RECENT_WINDOW_MS = 5 * 60_000;

export class PanicTracker {
  private readonly totals = new Map<string, number>();
  private recent: number[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  record(task: string): void {
    instruments().taskPanics.add(1, { task });
    this.totals.set(task, (this.totals.get(task) ?? 0) + 1);
    this.recent.push(this.now());
  }

  /** Panics in the last five minutes (the health endpoint reports `degraded` while this is > 0). */
  recentCount(): number {
    const cutoff = this.now() - RECENT_WINDOW_MS;
    this.recent = this.recent.filter((t) => t > cutoff);
    return this.recent.length;
  }

  total(task?: string): number {
    if (task !== undefined) return this.totals.get(task) ?? 0;
    let sum = 0;
    for (const n of this.totals.values()) sum += n;
    return sum;
  }
}

export const panics = new PanicTracker();
