// The live audio source the page streams from: reads across blocks give the bytes appended, released
// blocks are gone, and a waiting sender wakes on new audio and on the end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LivePcm } from '../../src/client/pcm-source.ts';

test('LivePcm: any range reads back the bytes appended, across blocks; released whole blocks cannot be read', () => {
  const all = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 256);
  const source = new LivePcm();
  for (let at = 0, n = 1; at < all.length; at += n, n = (n * 3) % 97 + 1) source.append(all.slice(at, at + n));
  assert.equal(source.length, all.length);
  for (const [from, to] of [[0, 1000], [0, 1], [5, 6], [3, 500], [499, 1000], [999, 1000], [10, 10]]) {
    assert.deepEqual(source.read(from, to), all.subarray(from, to), `${from}–${to}`);
  }
  source.release(400);
  assert.ok(source.start <= 400 && source.start > 300, `released whole blocks up to ${source.start}`);
  assert.deepEqual(source.read(source.start, 1000), all.subarray(source.start));
  assert.throws(() => source.read(source.start - 1, 1000), /not kept/);
  assert.throws(() => source.read(0, 1001), /not kept/);
});

test('LivePcm: more() resolves on the next block, on the end and on abort; nothing is appended after the end', async () => {
  const source = new LivePcm();
  const abort = new AbortController();
  const waiting = source.more(abort.signal);
  source.append(new Uint8Array(4));
  await waiting;
  const ending = source.more(abort.signal);
  source.end();
  await ending;
  assert.equal(source.ended, true);
  await source.more(abort.signal); // ended: at once
  assert.throws(() => source.append(new Uint8Array(2)), /after the end/);

  const open = new LivePcm();
  const aborted = open.more(abort.signal);
  abort.abort();
  await aborted;
});
