import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AudioHistory } from '../../src/audio/history.ts';

test('slices by absolute index across growth and drops', () => {
  const h = new AudioHistory();
  const all = Float32Array.from({ length: 50_000 }, (_, i) => i);
  for (let i = 0; i < all.length; i += 999) h.append(all.subarray(i, i + 999));
  assert.equal(h.end, 50_000);
  assert.deepEqual([...h.slice(30_000, 30_005)], [30_000, 30_001, 30_002, 30_003, 30_004]);
  h.dropBefore(40_000);
  assert.deepEqual([...h.slice(39_998, 40_002)], [0, 0, 40_000, 40_001]); // dropped audio reads as zeros
  h.append(new Float32Array([7]));
  assert.deepEqual([...h.slice(49_999, 50_001)], [49_999, 7]);
});

test('a sliding window of appends and drops keeps every kept sample right and the buffer bounded', () => {
  const h = new AudioHistory();
  let next = 0; // absolute index of the next sample: its value is its index
  let dropped = 0; // samples before this were dropped (a drop never un-drops)
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let step = 0; step < 5000; step++) {
    const n = 1 + random(1200);
    h.append(Float32Array.from({ length: n }, (_, i) => next + i));
    next += n;
    const keep = 2000 + random(6000);
    h.dropBefore(next - keep);
    dropped = Math.max(dropped, next - keep);
    const from = next - keep + random(keep);
    const to = Math.min(next + 3, from + 1 + random(600));
    const got = h.slice(from, to);
    for (let i = 0; i < got.length; i++) {
      const expected = from + i >= dropped && from + i < next ? from + i : 0; // dropped or not yet appended: zero
      if (got[i] !== expected) assert.fail(`step ${step}: sample ${from + i} read ${got[i]}, expected ${expected}`);
    }
  }
  assert.equal(h.end, next);
  // at most ~8000 kept + 1200 appended at once: the buffer never grew past twice that
  assert.ok(h.capacity <= 32_768, `capacity ${h.capacity}`);
});

test('copyTo writes what slice returns, into place, for ranges inside, across and outside what is kept', () => {
  const h = new AudioHistory();
  h.append(Float32Array.from({ length: 3000 }, (_, i) => i + 1));
  h.dropBefore(1000);
  for (const [from, to] of [[1500, 2012], [900, 1100], [2900, 3100], [0, 500], [3100, 3200], [1000, 3000]]) {
    const into = new Float32Array(to - from + 10).fill(-1);
    h.copyTo(from, to, into, 5);
    assert.deepEqual([...into], [-1, -1, -1, -1, -1, ...h.slice(from, to), -1, -1, -1, -1, -1], `[${from}, ${to})`);
  }
});
