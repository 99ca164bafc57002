// Per-task monitors, the Node counterpart of tokio-metrics' TaskMonitor. A "poll" is one unit of
// synchronous work of a task (handling one message, decoding one frame, one inference job); the
// scheduling delay is the time from its input being ready to the work starting; idle is time
// spent waiting for input. Each monitor adds to plain running totals as events happen (deltas
// only, nothing re-read or double counted); the task_* counters observe those totals when
// scraped (instruments.ts). Monitors run several times per frame of every stream, and a plain
// addition costs nothing where a counter's add() hashes its attributes every time.

/** A synchronous slice this long stalls every other stream on the event loop. */
export const SLOW_POLL_SECONDS = 0.01;
/** Waiting this long to start makes results visibly late. */
export const LONG_DELAY_SECONDS = 0.01;

/** Running totals of one task; each is exported as the counter `task_<snake_case name>_total`. */
export class TaskTotals {
  instrumented = 0;
  dropped = 0;
  polls = 0;
  fastPolls = 0;
  slowPolls = 0;
  pollDuration = 0;
  slowPollDuration = 0;
  scheduled = 0;
  longDelays = 0;
  schedulingDelay = 0;
  idled = 0;
  idleDuration = 0;
}

export class TaskMonitor {
  readonly totals = new TaskTotals();

  readonly task: string;
  constructor(task: string) {
    this.task = task;
  }

  instrumented(): void {
    this.totals.instrumented++;
  }

  dropped(): void {
    this.totals.dropped++;
  }

  poll(seconds: number): void {
    const t = this.totals;
    t.polls++;
    t.pollDuration += seconds;
    if (seconds >= SLOW_POLL_SECONDS) {
      t.slowPolls++;
      t.slowPollDuration += seconds;
    } else {
      t.fastPolls++;
    }
  }

  scheduled(delaySeconds: number): void {
    const t = this.totals;
    const delay = Math.max(0, delaySeconds);
    t.scheduled++;
    t.schedulingDelay += delay;
    if (delay >= LONG_DELAY_SECONDS) t.longDelays++;
  }

  idled(seconds: number): void {
    this.totals.idled++;
    this.totals.idleDuration += Math.max(0, seconds);
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

/** Every monitor created so far (their counters exist from then on, at 0 until something happens). */
export function taskMonitors(): Iterable<TaskMonitor> {
  return monitors.values();
}

export function taskMonitor(task: string): TaskMonitor {
  let m = monitors.get(task);
  if (!m) monitors.set(task, (m = new TaskMonitor(task)));
  return m;
}
