// The worker-thread half of the task wrapper: the entry of every pool thread (src/task-pool.ts).
// It loads the pool's job module (its default export handles one job), says it is ready, then runs
// the jobs it is sent one at a time, in order, and answers each with when it really started and
// finished, so the main thread can tell queueing (scheduling delay) from work (poll time). Before a
// job starts its id goes into the shared `running` slot: if the thread dies, the pool knows which
// job it was running, and that the jobs it held after that one never started.
import { parentPort, workerData } from 'node:worker_threads';

export interface TaskWorkerData {
  /** URL of the job module. */
  module: string;
  /** Length 1: the id of the job running, -1 between jobs. */
  running: Int32Array;
}

export interface JobMessage {
  id: number;
  input: unknown;
}

/** Epoch milliseconds, comparable across threads. */
export type Answer = { id: number; startedAt: number; finishedAt: number } & ({ value: unknown } | { error: unknown });
export type WorkerMessage = { ready: true } | Answer;

const epochMs = () => performance.timeOrigin + performance.now();

const { module, running } = workerData as TaskWorkerData;
const port = parentPort!;
const handle = ((await import(module)) as { default: (input: unknown) => unknown }).default;
if (typeof handle !== 'function') throw new Error(`${module} has no default export to handle jobs`);

const jobs: JobMessage[] = [];
let working = false;

async function work(): Promise<void> {
  working = true;
  for (let job = jobs.shift(); job; job = jobs.shift()) {
    Atomics.store(running, 0, job.id);
    const startedAt = epochMs();
    try {
      const value = await handle(job.input);
      port.postMessage({ id: job.id, startedAt, finishedAt: epochMs(), value } satisfies Answer);
    } catch (error) {
      // A job that throws is answered with its error (the thread goes on); an uncaught throw elsewhere kills the thread.
      port.postMessage({ id: job.id, startedAt, finishedAt: epochMs(), error } satisfies Answer);
    }
    Atomics.store(running, 0, -1);
  }
  working = false;
}

port.on('message', (job: JobMessage) => {
  jobs.push(job);
  if (!working)
    work().catch((err: unknown) => {
      // Only posting can fail here (an answer that cannot be cloned): that is the job's crash.
      setImmediate(() => {
        throw err;
      });
    });
});
port.postMessage({ ready: true } satisfies WorkerMessage);
