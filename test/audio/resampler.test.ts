import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createResampler } from '../../src/audio/resampler.ts';

function tone(freq: number, rate: number, seconds: number): Float32Array {
  return Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => 0.5 * Math.sin((2 * Math.PI * freq * i) / rate));
}

async function resampleChunked(input: Float32Array, rate: number, chunk: number): Promise<Float32Array> {
  const r = await createResampler(rate, 1);
  const parts: Float32Array[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(r.process(input.subarray(i, i + chunk)));
  parts.push(r.flush());
  r.destroy();
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Frequency estimated from rising zero crossings over the middle of the signal. */
function frequency(x: Float32Array, rate: number): number {
  const from = Math.floor(x.length * 0.1);
  const to = Math.floor(x.length * 0.9);
  let first = -1;
  let last = -1;
  let crossings = 0;
  for (let i = from + 1; i < to; i++) {
    if (x[i - 1] < 0 && x[i] >= 0) {
      const t = i - 1 + -x[i - 1] / (x[i] - x[i - 1]);
      if (first < 0) first = t;
      else crossings++;
      last = t;
    }
  }
  return (crossings * rate) / (last - first);
}

for (const rate of [44100, 8000, 48000]) {
  test(`a 1 kHz tone at ${rate} Hz comes out at 16 kHz with the right length and frequency`, async () => {
    const input = tone(1000, rate, 1);
    const out = await resampleChunked(input, rate, 1024);
    assert.equal(out.length, Math.round((input.length * 16000) / rate));
    assert.ok(Math.abs(frequency(out, 16000) - 1000) < 1, `frequency ${frequency(out, 16000)}`);
    // amplitude preserved in the steady state (no level loss or clicks)
    const mid = out.subarray(4000, 12000);
    const peak = mid.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(peak > 0.45 && peak < 0.55, `peak ${peak}`);
  });
}

test('chunked resampling equals one-shot within 1e-3, for any chunking', async () => {
  const input = tone(440, 44100, 0.5).map((v, i) => v + 0.2 * Math.sin(i / 3));
  const oneShot = await resampleChunked(input, 44100, input.length);
  for (const chunk of [1, 37, 256, 4410]) {
    const chunked = await resampleChunked(input, 44100, chunk);
    assert.equal(chunked.length, oneShot.length);
    let maxDiff = 0;
    for (let i = 0; i < chunked.length; i++) maxDiff = Math.max(maxDiff, Math.abs(chunked[i] - oneShot[i]));
    assert.ok(maxDiff < 1e-3, `chunk ${chunk}: max diff ${maxDiff}`);
  }
});

test('16 kHz input passes through untouched', async () => {
  const input = tone(1000, 16000, 0.1);
  const out = await resampleChunked(input, 16000, 100);
  assert.deepEqual(out, input);
});

test('multi-channel streams resample each channel independently', async () => {
  const rate = 22050;
  const a = tone(500, rate, 0.5);
  const b = tone(2000, rate, 0.5);
  const interleaved = new Float32Array(a.length * 2);
  for (let i = 0; i < a.length; i++) {
    interleaved[2 * i] = a[i];
    interleaved[2 * i + 1] = b[i];
  }
  const r = await createResampler(rate, 2);
  const out = [...r.process(interleaved), ...r.flush()];
  const left = Float32Array.from(out.filter((_, i) => i % 2 === 0));
  const right = Float32Array.from(out.filter((_, i) => i % 2 === 1));
  assert.equal(left.length, Math.round((a.length * 16000) / rate));
  assert.ok(Math.abs(frequency(left, 16000) - 500) < 1);
  assert.ok(Math.abs(frequency(right, 16000) - 2000) < 2);
});
