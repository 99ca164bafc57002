// Waiting for a condition instead of sleeping for a guessed time. The deadlines here are for a hang
// (something that never happens), never a speed bound: keep them far above any load-induced delay.
// The real setTimeout is captured at import, so these work while a test mocks timers (t.mock.timers).

const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const pause = (ms: number) => new Promise<void>((resolve) => realSetTimeout(resolve, ms));

/** Polls `cond` until it holds or `timeoutMs` passes; returns whether it held. */
export async function eventually(cond: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 25): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (performance.now() > deadline) return false;
    await pause(everyMs);
  }
}

/** Polls `cond` until it holds; throws "timed out after … waiting for `what`" after `timeoutMs`. */
export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, { timeoutMs = 10_000, everyMs = 10 } = {}): Promise<void> {
  if (!(await eventually(cond, timeoutMs, everyMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** `p`, or a rejection naming `what` if it has not settled after `timeoutMs` (a hang guard). */
export async function within<T>(what: string, p: Promise<T>, timeoutMs = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = realSetTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    realClearTimeout(timer);
  }
}
