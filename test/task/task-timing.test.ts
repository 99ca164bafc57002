// The task layer's clock conversion: a worker's epoch stamps on this thread's performance.now() clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromEpochMs } from '../../src/task-timing.ts';

test("an epoch stamp converts to this thread's performance.now() clock", () => {
  const now = performance.now();
  assert.ok(Math.abs(fromEpochMs(performance.timeOrigin + now) - now) < 1e-3);
});
