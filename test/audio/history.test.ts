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
