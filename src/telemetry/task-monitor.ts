// Per-task monitors, the Node counterpart of tokio-metrics' TaskMonitor. A "poll" is one unit of
// synchronous work of a task (handling one message, decoding one frame, one inference job); the
// scheduling delay is the time from its input being ready to the work starting; idle is time
// spent waiting for input. Every counter is added to as the event happens (deltas only), so
// nothing is ever re-read or double counted, and scraping changes nothing.
import { instruments } from './instruments.ts';

/** A synchronous slice this long stalls every other stream on the event loop. */
export const SLOW_POLL_SECONDS = 0.01;
/** Waiting this long to start makes results visibly late. */
export const LONG_DELAY_SECONDS = 0.01;

export class TaskMonitor {
  private readonly attributes: { task: string };

  constructor(readonly task: string) {
    this.attributes = { task };
  }

  instrumented(): void {
    instruments().task.instrumented.add(1, this.attributes);
  }

  dropped(): void {
    instruments().task.dropped.add(1, this.attributes);
  }

  poll(seconds: number): void {
    const t = instruments().task;
    t.polls.add(1, this.attributes);
    t.pollDuration.add(seconds, this.attributes);
    if (seconds >= SLOW_POLL_SECONDS) {
      t.slowPolls.add(1, this.attributes);
      t.slowPollDuration.add(seconds, this.attributes);
    } else {
      t.fastPolls.add(1, this.attributes);
    }
  }

  scheduled(delaySeconds: number): void {
    const t = instruments().task;
    const delay = Math.max(0, delaySeconds);
    t.scheduled.add(1, this.attributes);
    t.schedulingDelay.add(delay, this.attributes);
    if (delay >= LONG_DELAY_SECONDS) t.longDelays.add(1, this.attributes);
  }

  idled(seconds: number): void {
    const t = instruments().task;
    t.idled.add(1, this.attributes);
    t.idleDuration.add(Math.max(0, seconds), this.attributes);
  }

  /** Times a synchronous slice of work and records it as one poll. */
  measurePoll<T>(fn: () => T): T {
    const started = performance.now();
    try {
      return fn();
    } finally {
      this.poll((performance.now() - started) / 1000);
    }
  }
}

const monitors = new Map<string, TaskMonitor>();

export function taskMonitor(task: string): TaskMonitor {
  let m = monitors.get(task);
  if (!m) monitors.set(task, (m = new TaskMonitor(task)));
  return m;
}
