import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import wavefile from 'wavefile';
import type { AudioFormat } from '../../src/api/protocol.ts';
import { readWav, writeWav } from '../../src/client/wav.ts';

const dir = mkdtempSync(join(tmpdir(), 'client-wav-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function view(file: Uint8Array): DataView {
  return new DataView(file.buffer, file.byteOffset, file.byteLength);
}

/** A canonical 44-byte-header WAV built by hand, independent of wavefile. */
function handMadeWav(tag: number, channels: number, rate: number, bits: number, pcm: Uint8Array): Uint8Array {
  const out = new Uint8Array(44 + pcm.length);
  const v = view(out);
  const ascii = (off: number, s: string) => [...s].forEach((c, i) => (out[off + i] = c.charCodeAt(0)));
  ascii(0, 'RIFF');
  v.setUint32(4, 36 + pcm.length, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, tag, true);
  v.setUint16(22, channels, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, rate * channels * (bits / 8), true);
  v.setUint16(32, channels * (bits / 8), true);
  v.setUint16(34, bits, true);
  ascii(36, 'data');
  v.setUint32(40, pcm.length, true);
  out.set(pcm, 44);
  return out;
}

void test('s16 mono 16 kHz round trip keeps the bytes and the format', () => {
  const frames = 16000 / 4; // 250 ms
  const samples = new Int16Array(frames);
  for (let i = 0; i < frames; i++) samples[i] = Math.round(Math.sin((2 * Math.PI * 440 * i) / 16000) * 30000);
  samples[0] = -32768;
  samples[1] = 32767;
  const pcm = new Uint8Array(samples.buffer);
  const format: AudioFormat = { channels: 1, sample_rate: 16000, bit_depth: 16, is_float: false };
  const path = join(dir, 's16.wav');
  writeWav(path, format, pcm);

  const file = readFileSync(path);
  assert.equal(file.toString('latin1', 0, 4), 'RIFF');
  assert.equal(view(file).getUint16(20, true), 1, 'format tag PCM');
  assert.equal(view(file).getUint16(34, true), 16);

  const wav = readWav(path);
  assert.deepEqual(wav.format, format);
  assert.equal(wav.frames, frames);
  assert.equal(wav.durationSeconds, 0.25);
  assert.ok(Buffer.from(wav.pcm).equals(Buffer.from(pcm)), 'PCM bytes identical');
  // little-endian on disk, as the protocol wants
  assert.deepEqual([...wav.pcm.subarray(0, 4)], [0x00, 0x80, 0xff, 0x7f]);
});

void test('f32 stereo 44.1 kHz round trip keeps the bytes (no float conversion) and the format', () => {
  const frames = 4410;
  const samples = new Float32Array(frames * 2);
  for (let i = 0; i < frames; i++) {
    samples[2 * i] = Math.sin((2 * Math.PI * 220 * i) / 44100) * 0.5;
    samples[2 * i + 1] = -samples[2 * i] * 1.5;
  }
  samples.set([-0, 1e-42 /* denormal */, 3.5 /* out of range */, -1], 0);
  const pcm = new Uint8Array(samples.buffer);
  // a NaN with a payload would not survive a decode/encode through doubles
  pcm.set([0x01, 0x00, 0xc0, 0x7f], 16);
  const format: AudioFormat = { channels: 2, sample_rate: 44100, bit_depth: 32, is_float: true };
  const path = join(dir, 'f32.wav');
  writeWav(path, format, pcm);

  const file = readFileSync(path);
  assert.equal(view(file).getUint16(20, true), 3, 'format tag IEEE float');
  assert.equal(view(file).getUint16(22, true), 2);
  assert.equal(view(file).getUint32(24, true), 44100);

  const wav = readWav(path);
  assert.deepEqual(wav.format, format);
  assert.equal(wav.frames, frames);
  assert.equal(wav.durationSeconds, 0.1);
  assert.ok(Buffer.from(wav.pcm).equals(Buffer.from(pcm)), 'PCM bytes identical');
  assert.ok(Object.is(new Float32Array(wav.pcm.slice().buffer)[0], -0));
});

void test('f32 with 6 channels is written as WAVE_FORMAT_EXTENSIBLE float and read back', () => {
  const pcm = new Uint8Array(new Float32Array(6 * 100).map((_, i) => i / 600).buffer);
  const format: AudioFormat = { channels: 6, sample_rate: 48000, bit_depth: 32, is_float: true };
  const path = join(dir, 'f32x6.wav');
  writeWav(path, format, pcm);
  const file = readFileSync(path);
  assert.equal(view(file).getUint16(20, true), 0xfffe, 'extensible tag');
  assert.equal(view(file).getUint32(44, true), 3, 'sub-format GUID is IEEE float');
  const wav = readWav(path);
  assert.deepEqual(wav.format, format);
  assert.equal(wav.frames, 100);
  assert.ok(Buffer.from(wav.pcm).equals(Buffer.from(pcm)));
});

void test('reads hand-made s16 and f32 files (not written by wavefile)', () => {
  const pcm = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const s16 = join(dir, 'hand-s16.wav');
  writeFileSync(s16, handMadeWav(1, 3, 8000, 16, pcm));
  const a = readWav(s16);
  assert.deepEqual(a.format, { channels: 3, sample_rate: 8000, bit_depth: 16, is_float: false });
  assert.equal(a.frames, 2);
  assert.deepEqual([...a.pcm], [...pcm]);

  const f32 = join(dir, 'hand-f32.wav');
  writeFileSync(f32, handMadeWav(3, 1, 192000, 32, pcm));
  const b = readWav(f32);
  assert.deepEqual(b.format, { channels: 1, sample_rate: 192000, bit_depth: 32, is_float: true });
  assert.equal(b.frames, 3);
  assert.deepEqual([...b.pcm], [...pcm]);
});

void test('a 24-bit file is rejected with an error naming the format', () => {
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, 16000, '24', [0, 1000, -1000, 8388607]);
  const path = join(dir, 's24.wav');
  writeFileSync(path, wav.toBuffer());
  assert.throws(() => readWav(path), (err: Error) => {
    assert.match(err.message, /unsupported WAV format: 24-bit integer PCM/);
    assert.match(err.message, /16-bit integer PCM and 32-bit IEEE float/);
    assert.ok(err.message.includes(path));
    return true;
  });
});

void test('8-bit, 64-bit float and mu-law files are rejected with their format named', () => {
  const cases: Array<[string, RegExp]> = [
    ['8', /8-bit integer PCM/],
    ['64', /64-bit IEEE float/],
    ['8m', /mu-law \(compressed/],
  ];
  for (const [code, message] of cases) {
    const wav = new wavefile.WaveFile();
    wav.fromScratch(1, 8000, code, code === '64' ? [0, 0.5, -0.5] : [0, 100, 200]);
    const path = join(dir, `bad-${code}.wav`);
    writeFileSync(path, wav.toBuffer());
    assert.throws(() => readWav(path), message, code);
  }
});

void test('a file that is not a WAV gives a clear error', () => {
  const path = join(dir, 'not.wav');
  writeFileSync(path, 'hello, this is text');
  assert.throws(() => readWav(path), /not a readable WAV file/);
});

void test('writeWav refuses PCM that is not whole frames and formats the protocol does not support', () => {
  const s16stereo: AudioFormat = { channels: 2, sample_rate: 16000, bit_depth: 16, is_float: false };
  assert.throws(() => writeWav(join(dir, 'x.wav'), s16stereo, new Uint8Array(6)), /not a multiple of the frame size 4/);
  assert.throws(
    () => writeWav(join(dir, 'y.wav'), { channels: 1, sample_rate: 16000, bit_depth: 24, is_float: false }, new Uint8Array(3)),
    /unsupported format: bit_depth 24/,
  );
});
