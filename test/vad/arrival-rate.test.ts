import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArrivalRate, RATE_WINDOW_MS } from '../../src/vad/arrival-rate.ts';

test('the rate follows steady arrivals and fades after they stop', () => {
  const r = new ArrivalRate();
  assert.equal(r.expectedWithin(10, 0), 0, 'nothing seen: nobody expected');
  // one arrival per ms for 5 windows: the estimate settles at 1 per ms
  let t = 0;
  for (; t < 5 * RATE_WINDOW_MS; t++) r.arrived(t);
  assert.ok(Math.abs(r.expectedWithin(10, t) - 10) < 0.2, `${r.expectedWithin(10, t)} expected in 10 ms at 1 per ms`);
  // one arrival per 10 ms (10 streams of 100 ms frames): about one in a 10 ms wait
  for (const end = t + 5 * RATE_WINDOW_MS; t < end; t += 10) r.arrived(t);
  assert.ok(Math.abs(r.expectedWithin(10, t) - 1) < 0.1, `${r.expectedWithin(10, t)} expected in 10 ms at 0.1 per ms`);
  // a second of silence: nearly nothing expected
  assert.ok(r.expectedWithin(10, t + 1000) < 0.01);
});
