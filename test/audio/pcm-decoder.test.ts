import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deinterleave, PcmDecoder } from '../../src/audio/pcm-decoder.ts';
import { formatError, toPcmFormat } from '../../src/api/format.ts';

const s16 = (channels: number) => ({ channels, sample_rate: 16000, bit_depth: 16, is_float: false });
const f32 = (channels: number) => ({ channels, sample_rate: 44100, bit_depth: 32, is_float: true });
/** The decoder's own format type, from the protocol's. */
const pcm = (format: ReturnType<typeof s16>) => toPcmFormat(format);

test('s16 decodes to [-1, 1) little-endian', () => {
  const bytes = new Uint8Array(new Int16Array([0, 16384, -32768, 32767]).buffer);
  const out = new PcmDecoder(pcm(s16(1))).decode(bytes);
  assert.deepEqual([...out], [0, 0.5, -1, 32767 / 32768]);
});

test('partial samples and partial frames are carried across binary frames, never dropped', () => {
  const frames = 1000;
  const samples = new Float32Array(frames * 3).map((_, i) => Math.sin(i) * 0.9);
  const bytes = new Uint8Array(samples.buffer);
  const decoder = new PcmDecoder(pcm(f32(3)));
  const got: number[] = [];
  let offset = 0;
  let seed = 7;
  while (offset < bytes.length) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const size = 1 + (seed % 37); // odd and tiny sizes split samples and frames anywhere
    got.push(...decoder.decode(bytes.subarray(offset, offset + size)));
    offset += size;
  }
  assert.equal(decoder.pendingBytes, 0);
  assert.equal(decoder.frames, frames);
  assert.deepEqual(got, [...samples]);
});

test('a frame at any byte offset of a larger buffer (as ws may cut it) decodes the same', () => {
  const values = [0, 0.25, -1, 0.999, -0.5, 0.125];
  for (const [format, encoded] of [
    [pcm(s16(2)), new Uint8Array(Int16Array.from(values, (v) => Math.round(v * 32767)).buffer)],
    [pcm(f32(2)), new Uint8Array(Float32Array.from(values).buffer)],
  ] as const) {
    const expected = [...new PcmDecoder(format).decode(encoded)];
    for (let offset = 0; offset < 4; offset++) {
      const larger = new Uint8Array(encoded.length + 8).fill(0xff);
      larger.set(encoded, offset);
      const frame = larger.subarray(offset, offset + encoded.length);
      assert.deepEqual([...new PcmDecoder(format).decode(frame)], expected, `byte offset ${offset}`);
      assert.deepEqual(frame, encoded, 'the frame is not modified');
      // The service gets ws's Buffers themselves, whose `slice` is a view, not a copy.
      const buffer = Buffer.from(larger.buffer, offset, encoded.length);
      assert.deepEqual([...new PcmDecoder(format).decode(buffer)], expected, `Buffer at byte offset ${offset}`);
    }
  }
});

test('the bytes carried into the next call are a copy: the caller may reuse its buffer', () => {
  const decoder = new PcmDecoder(pcm(s16(1)));
  const first = Buffer.from(new Uint8Array(new Int16Array([0x4000, 0x2001]).buffer));
  decoder.decode(first.subarray(0, 3)); // one sample, and the low byte of the next carried
  first.fill(0);
  assert.deepEqual([...decoder.decode(Uint8Array.of(0x20))], [0x2001 / 32768]);
});

test('an incomplete trailing frame stays pending', () => {
  const decoder = new PcmDecoder(pcm(s16(2)));
  assert.equal(decoder.decode(new Uint8Array(7)).length, 2); // one frame = 4 bytes; 3 carried
  assert.equal(decoder.pendingBytes, 3);
  assert.equal(decoder.frames, 1);
});

test('deinterleave splits channels', () => {
  const [a, b] = deinterleave(new Float32Array([1, 2, 3, 4, 5, 6]), 2);
  assert.deepEqual([...a], [1, 3, 5]);
  assert.deepEqual([...b], [2, 4, 6]);
});

test('formatError accepts s16/f32 within limits and explains the rest', () => {
  assert.equal(formatError(s16(1), 8), null);
  assert.equal(formatError(f32(8), 8), null);
  assert.match(formatError({ ...s16(1), bit_depth: 12 }, 8)!, /bit_depth 12/);
  assert.match(formatError({ ...s16(1), bit_depth: 32 }, 8)!, /unsupported format/); // s32 is not supported
  assert.match(formatError({ ...s16(0) }, 8)!, /channels 0/);
  assert.match(formatError({ ...s16(9) }, 8)!, /channels 9/);
  assert.match(formatError({ ...s16(1), sample_rate: 7999 }, 8)!, /sample_rate 7999/);
  assert.match(formatError({ ...s16(1), sample_rate: 192001 }, 8)!, /sample_rate/);
  assert.match(formatError({ ...s16(1), sample_rate: 44100.5 }, 8)!, /sample_rate/);
});

test('the decoder reuses its output buffer: what a call returned changes with the next call', () => {
  // The contract ChannelRunner.push relies on (runners copy what they keep): pin it so a change is deliberate.
  const decoder = new PcmDecoder(pcm(s16(1)));
  const first = decoder.decode(new Uint8Array(new Int16Array([16384, 16384]).buffer));
  assert.deepEqual([...first], [0.5, 0.5]);
  decoder.decode(new Uint8Array(new Int16Array([-16384, -16384]).buffer));
  assert.deepEqual([...first], [-0.5, -0.5]);
});
