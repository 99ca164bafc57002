// The one task wrapper (counterpart of the reference template's task.rs). Every piece of work that
// runs off the request path starts here: detached promises, awaited stage work and worker pools.
// It names the task, and turns an unexpected throw into a counted, logged "panic" that never
// escapes to crash the process. Lint (eslint.config.js) forbids workers and floating promises
// anywhere else. One `Tasks` per service: panics and monitors land in that service's telemetry.
import { extname } from 'node:path';
import { log } from './log.ts';
import { ThreadPool } from './task-pool.ts';
import { fromEpochMs, type WorkerRun } from './task-timing.ts';
import type { TaskMonitor } from './telemetry/task-monitor.ts';
import type { Telemetry } from './telemetry/telemetry.ts';

/** Every task has a task monitor (src/telemetry/task-monitor.ts) and a panic counter. */
export const TASK_NAMES = ['route', 'client_receiver', 'audio_decoding', 'vad', 'inference'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

/** An unexpected throw inside a task: the caller reports "internal server error", never the detail. */
export class TaskPanic extends Error {
  override name = 'TaskPanic';
  readonly task: TaskName;
  override readonly cause: unknown;
  constructor(
    task: TaskName,
    cause: unknown,
  ) {
    super(`task ${task} panicked: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.task = task;
    this.cause = cause;
  }
}

export interface WorkerPool<In, Out> {
  /**
   * Runs one job; a crash of the worker (uncaught throw, exit) is a panic, and the worker is
   * replaced. `runSeconds` is the time the job ran on the worker, excluding its wait for one.
   */
  run(input: In, transferList?: Transferable[]): Promise<JobRun<Out>>;
  readonly size: number;
  destroy(): Promise<void>;
}

const epochMs = () => performance.timeOrigin + performance.now();

/** A job's value, its run time, and when it ran (this thread's performance.now() ms). */
export interface JobRun<T> extends WorkerRun {
  value: T;
  runSeconds: number;
}

/** One job for `monitor`: in flight while it runs; its run is one poll, its wait for a thread its scheduling delay. */
async function monitoredJob<T>(monitor: TaskMonitor, job: () => Promise<JobRun<T> & { scheduledSeconds?: number }>): Promise<JobRun<T>> {
  monitor.instrumented();
  try {
    const { value, runSeconds, startedAt, finishedAt, scheduledSeconds } = await job();
    if (scheduledSeconds !== undefined) monitor.scheduled(scheduledSeconds);
    monitor.poll(runSeconds);
    return { value, runSeconds, startedAt, finishedAt };
  } finally {
    monitor.dropped();
  }
}

export class Tasks {
  private readonly telemetry: Telemetry;
  constructor(telemetry: Telemetry) {
    this.telemetry = telemetry;
  }

  /** The monitor of `task` (task-monitor.ts), for work that reports its own polls. */
  monitor(task: TaskName): TaskMonitor {
    return this.telemetry.monitors.get(task);
  }

  /** Counts and logs an unexpected throw of `task` (once, however often it is rethrown). */
  recordPanic(task: TaskName, err: unknown): TaskPanic {
    if (err instanceof TaskPanic) return err; // already counted where it happened
    this.telemetry.panics.record(task);
    log.error({ task, err }, 'task panicked');
    return new TaskPanic(task, err);
  }

  /** Runs awaited work as `task`; a throw is counted as a panic and rethrown as TaskPanic. */
  async guard<T>(task: TaskName, fn: () => T | Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.recordPanic(task, err);
    }
  }

  /** Synchronous variant of guard for short CPU work on the event loop (decoding, resampling). */
  guardSync<T>(task: TaskName, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.recordPanic(task, err);
    }
  }

  /**
   * Starts detached work. It never rejects: a panic is counted, logged and handed to `onPanic`
   * (e.g. to tell the client "internal server error" and end the stream).
   */
  spawn(task: TaskName, fn: () => Promise<void>, onPanic?: (p: TaskPanic) => void): void {
    fn().catch((err: unknown) => {
      const p = this.recordPanic(task, err);
      try {
        onPanic?.(p);
      } catch (inner) {
        log.error({ task, err: inner }, 'panic handler failed');
      }
    });
  }

  /**
   * A job of `task` run on this thread instead of on a pool's worker (when handing it over would
   * cost more than running it): the same panic and monitor accounting as WorkerPool.run.
   */
  runOnThisThread<T>(task: TaskName, fn: () => Promise<T>): Promise<JobRun<T>> {
    return this.guard(task, () =>
      monitoredJob(this.monitor(task), async () => {
        const startedAt = performance.now();
        const value = await fn();
        const finishedAt = performance.now();
        return { value, runSeconds: (finishedAt - startedAt) / 1000, startedAt, finishedAt };
      }),
    );
  }

  /**
   * Worker threads are created only here. `file` is a module URL whose default export handles one
   * job (it runs on a thread started from src/task-worker.ts). Each job is one instance of `task`
   * for its monitor: the time it waited for its thread is its scheduling delay, the time it ran there
   * its poll. `pipeline`: threads may hold several short jobs (src/task-pool.ts); false for jobs
   * the caller already batches and spreads over the threads itself.
   */
  createWorkerPool<In, Out>(task: TaskName, file: URL, threads: number, { pipeline = true } = {}): WorkerPool<In, Out> {
    const pool = new ThreadPool<In, Out>({
      entry: siblingModule('task-worker', import.meta.url),
      module: file,
      threads,
      pipeline,
      onCrashBetweenJobs: (err) => this.recordPanic(task, err),
    });
    const monitor = this.monitor(task);
    const run = (input: In, transferList?: Transferable[]) =>
      monitoredJob(monitor, async () => {
        const submittedAt = epochMs();
        const answer = await pool.run(input, transferList);
        return {
          value: answer.value,
          runSeconds: (answer.finishedAt - answer.startedAt) / 1000,
          startedAt: fromEpochMs(answer.startedAt),
          finishedAt: fromEpochMs(answer.finishedAt),
          scheduledSeconds: (answer.startedAt - submittedAt) / 1000,
        };
      });
    return {
      size: threads,
      run: (input, transferList) => this.guard(task, () => run(input, transferList)),
      destroy: () => pool.destroy(),
    };
  }
}

/**
 * The URL of a worker module next to `from` (the caller's `import.meta.url`), with the caller's own
 * extension: `.ts` when the service runs from its sources, `.js` from the build in dist/.
 */
export function siblingModule(name: string, from: string): URL {
  return new URL(`./${name}${extname(new URL(from).pathname)}`, from);
}
