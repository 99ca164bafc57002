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

/** Level of `x` relative to a 0.5-amplitude sine, in dB (RMS over the steady middle). */
function levelDb(x: Float32Array): number {
  const mid = x.subarray(Math.floor(x.length * 0.2), Math.floor(x.length * 0.8));
  const rms = Math.sqrt(mid.reduce((s, v) => s + v * v, 0) / mid.length);
  return 20 * Math.log10(rms / (0.5 / Math.SQRT2));
}

for (const rate of [48000, 44100]) {
  test(`at ${rate} Hz speech frequencies pass and tones above 8 kHz do not fold back into the band`, async () => {
    for (const freq of [300, 3000, 6000]) {
      const db = levelDb(await resampleChunked(tone(freq, rate, 1), rate, rate / 10));
      assert.ok(Math.abs(db) < 0.5, `${freq} Hz passes at ${db.toFixed(2)} dB`);
    }
    // 12 kHz would alias to 4 kHz and 9.5 kHz to 6.5 kHz: both must be gone, not folded.
    for (const freq of [9500, 12000]) {
      const db = levelDb(await resampleChunked(tone(freq, rate, 1), rate, rate / 10));
      assert.ok(db < -80, `${freq} Hz leaks at ${db.toFixed(1)} dB`);
    }
  });
}

test('output is not delayed: an onset at input sample k starts at output sample k × 16000 / rate', async () => {
  const rate = 48000;
  const input = new Float32Array(rate / 2);
  const onset = 12_000; // 250 ms in
  for (let i = onset; i < input.length; i++) input[i] = 0.5 * Math.sin((2 * Math.PI * 1000 * (i - onset)) / rate);
  const out = await resampleChunked(input, rate, 4800);
  const expected = (onset * 16000) / rate;
  // the band-limited onset rises over a few samples; its half-amplitude point is the arrival
  const arrival = out.findIndex((v) => Math.abs(v) > 0.1);
  assert.ok(Math.abs(arrival - expected) <= 3, `onset at ${arrival}, expected ${expected}`);
  assert.ok(Math.max(...out.subarray(0, expected - 10).map(Math.abs)) < 0.01, 'nothing before the onset');
});

test('a rate the resampler cannot convert is refused with the rate in the message', async () => {
  await assert.rejects(createResampler(0, 1), /cannot convert 0 Hz/);
});
