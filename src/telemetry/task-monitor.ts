// Per-task monitors, the Node counterpart of tokio-metrics' TaskMonitor. A "poll" is one unit of
// synchronous work of a task (handling one message, decoding one frame, one inference job); the
// scheduling delay is the time from its input being ready to the work starting; idle is time
// spent waiting for input. Each monitor adds to plain running totals as events happen (deltas
// only, nothing re-read or double counted); the task_* counters observe those totals when
// scraped (instruments.ts). Each service has its own TaskMonitors. Monitors run several times per frame of every stream, and a plain
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

/** The monitors of one service, one per task name (their counters exist from creation, at 0). */
export class TaskMonitors {
  private readonly byTask = new Map<string, TaskMonitor>();

  constructor(tasks: readonly string[] = []) {
    for (const task of tasks) this.get(task);
  }

  get(task: string): TaskMonitor {
    let m = this.byTask.get(task);
    if (!m) this.byTask.set(task, (m = new TaskMonitor(task)));
    return m;
  }

  all(): Iterable<TaskMonitor> {
    return this.byTask.values();
  }
}
