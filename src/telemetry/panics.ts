// Unexpected failures ("panics") of pipeline tasks: counted in task_panics_total{task}, and
// remembered for five minutes for /api/v1/health. Imports nothing from the app: the task wrapper
// reports into it.
import type { Counter } from '@opentelemetry/api';

const RECENT_WINDOW_MS = 5 * 60_000;

export class PanicTracker {
  /** Times of the panics of the last five minutes, oldest first. */
  private readonly recent: number[] = [];

  private readonly counter: Counter | null;
  private readonly now: () => number;
  constructor(counter: Counter | null, now: () => number = Date.now) {
    this.counter = counter;
    this.now = now;
  }

  record(task: string): void {
    this.counter?.add(1, { task });
    this.recent.push(this.now());
    this.prune(); // bounded even when nobody asks for health
  }

  /** Panics in the last five minutes (the health endpoint reports `degraded` while this is > 0). */
  recentCount(): number {
    this.prune();
    return this.recent.length;
  }

  private prune(): void {
    const cutoff = this.now() - RECENT_WINDOW_MS;
    while (this.recent.length > 0 && this.recent[0] <= cutoff) this.recent.shift();
  }
}
