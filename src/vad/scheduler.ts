// The VAD's batching policy, apart from timers and the model: when the next job starts, and how
// the requests waiting are split into jobs. Pure: every call is given the time (ms, on the clock
// the requests were queued by) and the queue's state, so a test drives it with a fake clock alone.
// silero.ts carries its answers out with real timers.
// - A job starts when `maxBatch` requests wait, or a request of every open channel waits, or the
//   oldest request has waited `maxWaitMs`, or fewer than `minCompany` requests are expected in the
//   rest of its wait (a light load: waiting would only delay the answer); at most one more job than
//   workers is out, so the wait is bounded.
// - Requests that queued up while the workers were busy are spread over the idle workers (in jobs
//   of at least MIN_REQUESTS_PER_SPLIT requests and MIN_WINDOWS_PER_SPLIT windows): in one job they
//   ran on one worker while the other idled, and their channels, answered together, queued up
//   together again (a convoy that, after a burst of endpoints, held every stream's VAD in jobs of
//   256 channels for a second). A backlog too small for two such jobs stays one: split, it would
//   be answered at most ~1 ms sooner, for a fifth to nearly half more CPU per window (bench item
//   1b at 128 streams: 1.72–1.96x its floor split, 1.35–1.43x as one job).
import { ArrivalRate } from './arrival-rate.ts';

/**
 * Fewest requests in a job of its own when the waiting requests are spread over idle workers:
 * smaller model runs cost more per window than the parallelism gives back.
 */
export const MIN_REQUESTS_PER_SPLIT = 32;

/**
 * Fewest windows in a job of its own when the waiting requests are spread over idle workers: a job
 * of 128 windows runs ~2.3 ms on a worker, so splitting a smaller one gains under ~1 ms, while the
 * model's cost per window grows as its runs shrink (64 windows a run cost ~10 % more than 128), and
 * two workers waking and contending for two cores with the event loop cost more again.
 */
export const MIN_WINDOWS_PER_SPLIT = 128;

export interface SchedulerOptions {
  /** Most requests in one job. */
  maxBatch: number;
  /** Longest a request waits for others to join its job (ms). */
  maxWaitMs: number;
  /** A request waits only while at least this many more are expected in the rest of its wait (0: always). */
  minCompany: number;
  /** Worker threads: jobs that can run at once. */
  workers: number;
}

/** The queue as the scheduler sees it. */
export interface QueueState {
  /** Requests waiting for a job. */
  queued: number;
  /** When the oldest of them was queued (ms). */
  oldestQueuedAt: number;
  /** Channels open: how many could join a job (each has at most one request queued). */
  openChannels: number;
  /** Jobs started and not answered yet. */
  inFlight: number;
}

/**
 * When the next job should start: 'now' (once the current turn of the event loop is over, so that
 * requests made in it join), in this many ms (> 0), or null (nothing waits, or every job slot is taken).
 */
export type StartIn = 'now' | number | null;

export class VadScheduler {
  /**
   * Jobs out at once: one more than there are workers, so that a worker starts the next as soon as
   * it finishes one instead of idling while the main thread hands out results and gathers the next
   * batch (a channel is never in two: it waits for its answer first).
   */
  readonly maxInFlight: number;
  private readonly options: SchedulerOptions;
  private readonly arrivals = new ArrivalRate();

  constructor(options: SchedulerOptions) {
    this.options = options;
    this.maxInFlight = options.workers + 1;
  }

  /** A request was queued at `now`: it counts in the arrival rate. */
  arrived(now: number): void {
    this.arrivals.arrived(now);
  }

  /** When the next job should start, at `now` (see StartIn). */
  startIn(now: number, queue: QueueState): StartIn {
    if (queue.queued === 0 || queue.inFlight >= this.maxInFlight) return null;
    const { maxBatch, maxWaitMs, minCompany } = this.options;
    // No one else could join: every open channel waits (a channel has at most one request queued), or the job is full.
    if (queue.queued >= queue.openChannels || queue.queued >= maxBatch) return 'now';
    const remaining = Math.max(0, maxWaitMs - (now - queue.oldestQueuedAt));
    if (remaining === 0 || this.arrivals.expectedWithin(remaining, now) < minCompany) return 'now';
    return remaining;
  }

  /**
   * The sizes of the jobs to start now from `queued` requests holding `windows` windows in all,
   * taken from the front of the queue in this order, with `inFlight` jobs out: one per idle worker
   * (at least one) while each gets MIN_REQUESTS_PER_SPLIT requests and MIN_WINDOWS_PER_SPLIT
   * windows, at most `maxBatch` each, within maxInFlight. What they leave waits.
   */
  split(queued: number, windows: number, inFlight: number): number[] {
    const idleWorkers = Math.max(1, this.options.workers - inFlight);
    const jobs = Math.max(1, Math.min(idleWorkers, Math.floor(queued / MIN_REQUESTS_PER_SPLIT), Math.floor(windows / MIN_WINDOWS_PER_SPLIT)));
    const size = Math.min(this.options.maxBatch, Math.ceil(queued / jobs));
    const sizes: number[] = [];
    for (let left = queued; sizes.length < jobs && left > 0 && inFlight + sizes.length < this.maxInFlight; left -= size) sizes.push(Math.min(size, left));
    return sizes;
  }
}
