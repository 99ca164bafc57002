// The threads of one worker pool of the task wrapper (src/task.ts creates them; src/task-worker.ts
// is their entry). Jobs go out in order of arrival, each to the thread that holds the fewest.
//
// While jobs are short, a thread holds several (pipelining): it takes the next from its own port
// as soon as it answered the last, instead of waiting for this thread to hand it one per round
// trip. That round trip, a message each way through a busy event loop, was the largest wait of a
// final result when hundreds of streams ended speech at once (README, Bursts). A thread holds at most
// PIPELINE_BUDGET_MS of expected work beyond the job it runs, so a slow model (Whisper) still gets
// one job per thread and no job waits behind another while a thread is free.
//
// A thread that dies fails only the job it was running (its `running` slot says which); the jobs it
// held and had not started go back to the front of the queue, for the thread that replaces it.
import { Worker } from 'node:worker_threads';
import type { JobMessage, TaskWorkerData, WorkerMessage } from './task-worker.ts';

/** Expected work a thread may hold beyond the job it runs, when jobs are short. */
const PIPELINE_BUDGET_MS = 5;
const MAX_HELD = 16;
/** Weight of the newest job in the mean run time. */
const EWMA_WEIGHT = 0.1;

export interface JobAnswer<Out> {
  value: Out;
  /** Epoch milliseconds, comparable across threads. */
  startedAt: number;
  finishedAt: number;
}

interface Job {
  id: number;
  input: unknown;
  transferList?: Transferable[];
  resolve(answer: JobAnswer<unknown>): void;
  reject(err: unknown): void;
}

interface Thread {
  worker: Worker;
  running: Int32Array;
  ready: boolean;
  /** Sent to it and not answered, in the order sent (which is the order it runs them). */
  held: Job[];
  error?: unknown;
}

export interface ThreadPoolOptions {
  /** The entry of each thread (src/task-worker.ts, or its build). */
  entry: URL;
  /** The job module each thread loads. */
  module: URL;
  threads: number;
  /** Let threads hold several short jobs (false: one at a time, for jobs the caller batches itself). */
  pipeline: boolean;
  /** A thread died while it ran no job: no caller gets the error, so it goes here. */
  onCrashBetweenJobs(err: unknown): void;
}

export class ThreadPool<In, Out> {
  private readonly options: ThreadPoolOptions;
  private readonly threads: Thread[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;
  /** Mean run time of recent jobs (ms); unknown until the first answer, and taken as long. */
  private meanRunMs = Infinity;
  private closed = false;
  /** A thread could not even start (its module did not load): every job fails with this. */
  private broken: Error | null = null;

  constructor(options: ThreadPoolOptions) {
    this.options = options;
    for (let i = 0; i < options.threads; i++) this.threads.push(this.startThread());
  }

  /** How many jobs each thread holds now: sent to it and not answered (tests, diagnostics). */
  get held(): number[] {
    return this.threads.map((t) => t.held.length);
  }

  /** How many jobs a thread may hold now. */
  get holdLimit(): number {
    if (!this.options.pipeline) return 1;
    return Math.min(MAX_HELD, 1 + Math.floor(PIPELINE_BUDGET_MS / Math.max(this.meanRunMs, 1e-3)));
  }

  run(input: In, transferList?: Transferable[]): Promise<JobAnswer<Out>> {
    if (this.closed) return Promise.reject(new Error('the worker pool is closed'));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, input, transferList, resolve: resolve as Job['resolve'], reject });
      this.dispatch();
    });
  }

  async destroy(): Promise<void> {
    this.closed = true;
    const threads = this.threads.splice(0);
    const err = new Error('the worker pool is closed');
    for (const job of this.queue.splice(0)) job.reject(err);
    for (const t of threads) for (const job of t.held.splice(0)) job.reject(err);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  private startThread(): Thread {
    const running = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)).fill(-1);
    const workerData: TaskWorkerData = { module: this.options.module.href, running };
    const thread: Thread = { worker: new Worker(this.options.entry, { workerData }), running, ready: false, held: [] };
    thread.worker.unref(); // an idle pool does not keep the process alive; a thread holding jobs does
    thread.worker.on('message', (m: WorkerMessage) => this.onMessage(thread, m));
    thread.worker.on('error', (err) => {
      thread.error = err;
    });
    thread.worker.on('exit', (code) => this.onExit(thread, code));
    return thread;
  }

  private dispatch(): void {
    const limit = this.holdLimit;
    while (this.queue.length > 0) {
      let best: Thread | undefined;
      for (const t of this.threads) if (t.ready && t.held.length < limit && (!best || t.held.length < best.held.length)) best = t;
      if (!best) return;
      const job = this.queue.shift()!;
      try {
        best.worker.postMessage({ id: job.id, input: job.input } satisfies JobMessage, job.transferList as never);
      } catch (err) {
        job.reject(err); // an input that cannot be sent (not cloneable, a transfer list that is not)
        continue;
      }
      if (best.held.push(job) === 1) best.worker.ref();
    }
  }

  private onMessage(thread: Thread, m: WorkerMessage): void {
    if ('ready' in m) {
      thread.ready = true;
      return this.dispatch();
    }
    const i = thread.held.findIndex((job) => job.id === m.id);
    if (i < 0) return;
    const [job] = thread.held.splice(i, 1);
    if (thread.held.length === 0) thread.worker.unref();
    const runMs = m.finishedAt - m.startedAt;
    this.meanRunMs = this.meanRunMs === Infinity ? runMs : this.meanRunMs + EWMA_WEIGHT * (runMs - this.meanRunMs);
    if ('error' in m) job.reject(m.error);
    else job.resolve({ value: m.value, startedAt: m.startedAt, finishedAt: m.finishedAt });
    this.dispatch();
  }

  private onExit(thread: Thread, code: number): void {
    const at = this.threads.indexOf(thread);
    if (at < 0) return; // destroyed
    const err = thread.error instanceof Error ? thread.error : new Error(`worker thread exited with code ${code}`, { cause: thread.error });
    if (!thread.ready) {
      // Its module did not load: a new thread would fail the same way.
      this.broken = err;
      this.threads.splice(at, 1);
      for (const job of [...thread.held, ...this.queue.splice(0)]) job.reject(err);
      return;
    }
    this.threads[at] = this.startThread();
    const runningId = Atomics.load(thread.running, 0);
    const crashed = thread.held.find((job) => job.id === runningId);
    // Answers are posted before the thread can die, so every job held but the one it ran never started.
    this.queue.unshift(...thread.held.filter((job) => job !== crashed));
    if (crashed) crashed.reject(err);
    else this.options.onCrashBetweenJobs(err);
    this.dispatch();
  }
}
