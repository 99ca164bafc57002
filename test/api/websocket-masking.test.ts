import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

// ws unmasks every client frame; with bufferutil's native code instead of its JS loop the server
// and the load client each spend less CPU per frame (README Performance). ws falls back silently
// when the addon does not load, so this checks that it loads, from where ws resolves it.
test('bufferutil loads where ws looks for it, and unmasks like the protocol says', () => {
  const fromWs = createRequire(createRequire(import.meta.url).resolve('ws'));
  const bufferutil = fromWs('bufferutil') as { unmask(buffer: Buffer, mask: Buffer): void };
  const payload = Buffer.from(Array.from({ length: 3200 }, (_, i) => i % 251));
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  bufferutil.unmask(masked, mask);
  assert.deepEqual(masked, payload);
});
