// The worker-thread half of the task wrapper. A pool's job module exports its handler wrapped in
// timedJob(), which stamps each job with when it really started and finished on the worker, so
// the main thread can tell queueing (scheduling delay) from work (poll time).

export interface TimedResult<T> {
  value: T;
  /** Epoch milliseconds, comparable across threads. */
  startedAt: number;
  finishedAt: number;
}

const epochMs = () => performance.timeOrigin + performance.now();

export function timedJob<In, Out>(handler: (input: In) => Out | Promise<Out>): (input: In) => Promise<TimedResult<Out>> {
  return async (input) => {
    const startedAt = epochMs();
    const value = await handler(input);
    return { value, startedAt, finishedAt: epochMs() };
  };
}
