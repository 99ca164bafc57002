import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  HANN_WINDOW,
  N_FFT,
  PowerSpectrum,
  hzToMel,
  logMel,
  melFilterbank,
  melToHz,
} from '../../../src/model/whisper/features.ts';

const SR = 16_000;

function tone(hz: number, seconds: number, amplitude = 0.5): Float32Array {
  const x = new Float32Array(Math.round(seconds * SR));
  for (let i = 0; i < x.length; i++) x[i] = amplitude * Math.sin((2 * Math.PI * hz * i) / SR);
  return x;
}

/** Must match signal() in data/make-features-fixture.py. */
function referenceSignal(): Float32Array {
  const x = new Float32Array(1600);
  for (let n = 0; n < x.length; n++) {
    const t = n / SR;
    let v = 0.5 * Math.sin(2 * Math.PI * 440 * t) + 0.25 * Math.sin(2 * Math.PI * 3000 * t);
    v += 0.1 * Math.sin(2 * Math.PI * (100 * t + 20000 * t * t));
    x[n] = v * (1 - n / 3200);
  }
  return x;
}

interface Reference {
  samples: number;
  mel80: { frames: number; data: number[] };
  mel128: { frames: number; data: number[] };
  whisperMel80Weights: [number, number, number][];
}
const reference = JSON.parse(
  readFileSync(new URL('data/features-reference.json', import.meta.url), 'utf8'),
) as Reference;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Mean over frames of each mel bin; returns the bin with the largest mean. */
function loudestBin({ data, frames, nMels }: { data: Float32Array; frames: number; nMels: number }): number {
  let best = -1;
  let bestMean = -Infinity;
  for (let m = 0; m < nMels; m++) {
    let sum = 0;
    for (let t = 0; t < frames; t++) sum += data[m * frames + t];
    if (sum / frames > bestMean) [best, bestMean] = [m, sum / frames];
  }
  return best;
}

test('shape: 1 s unpadded is 100 frames; the default pads to 30 s = 3000 frames', () => {
  const one = logMel(tone(440, 1), { padToSeconds: 0 });
  assert.deepEqual([one.nMels, one.frames, one.data.length], [80, 100, 8000]);
  const padded = logMel(tone(440, 1));
  assert.deepEqual([padded.nMels, padded.frames, padded.data.length], [80, 3000, 240_000]);
  const large = logMel(tone(440, 1), { nMels: 128 });
  assert.deepEqual([large.nMels, large.frames], [128, 3000]);
  // longer than 30 s is trimmed, as whisper.pad_or_trim does
  assert.equal(logMel(new Float32Array(31 * SR)).frames, 3000);
  assert.throws(() => logMel(new Float32Array(200), { padToSeconds: 0 }), RangeError);
});

test("a pure tone's energy lands in the mel bin whose centre is nearest the tone", () => {
  for (const nMels of [80, 128]) {
    const { centers } = melFilterbank(nMels);
    for (const hz of [440, 1000, 3000]) {
      let nearest = 0;
      for (let m = 1; m < nMels; m++) if (Math.abs(centers[m] - hz) < Math.abs(centers[nearest] - hz)) nearest = m;
      assert.equal(loudestBin(logMel(tone(hz, 1), { nMels, padToSeconds: 0 })), nearest, `${hz} Hz, ${nMels} mels`);
    }
  }
});

test('silence is the floor everywhere: (log10(1e-10) + 4) / 4 = -1.5', () => {
  const { data } = logMel(new Float32Array(5 * SR));
  assert.ok(data.every((v) => v === -1.5));
});

test('the dynamic range is clamped to 8 (2 after scaling) below the maximum', () => {
  const x = tone(440, 1);
  x.fill(0, 8000); // a tone then silence
  const { data } = logMel(x, { padToSeconds: 0 });
  const max = Math.max(...data);
  assert.ok(Math.abs(Math.min(...data) - (max - 2)) < 1e-6);
});

test('padding inside logMel equals feeding already-padded 480000 samples; results are deterministic', () => {
  const x = referenceSignal();
  const a = logMel(x);
  const padded = new Float32Array(480_000);
  padded.set(x);
  const b = logMel(padded, { padToSeconds: 0 });
  const c = logMel(padded);
  assert.equal(a.frames, 3000);
  assert.deepEqual(a.data, b.data);
  assert.deepEqual(a.data, c.data);
  assert.deepEqual(logMel(x).data, a.data);
});

test('the Bluestein power spectrum equals a direct 400-point DFT', () => {
  const frame = new Float64Array(N_FFT);
  let seed = 1;
  for (let i = 0; i < N_FFT; i++) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    frame[i] = (seed / 2 ** 31 - 0.5) * HANN_WINDOW[i];
  }
  const power = new Float64Array(N_FFT / 2 + 1);
  new PowerSpectrum().compute(frame, power);
  for (let k = 0; k <= N_FFT / 2; k++) {
    let re = 0;
    let im = 0;
    for (let n = 0; n < N_FFT; n++) {
      re += frame[n] * Math.cos((2 * Math.PI * k * n) / N_FFT);
      im -= frame[n] * Math.sin((2 * Math.PI * k * n) / N_FFT);
    }
    const direct = re * re + im * im;
    assert.ok(Math.abs(power[k] - direct) < 1e-9 * Math.max(1, direct), `bin ${k}: ${power[k]} vs ${direct}`);
  }
});

test('the periodic Hann window, as torch.hann_window(400)', () => {
  assert.equal(HANN_WINDOW[0], 0);
  assert.ok(Math.abs(HANN_WINDOW[200] - 1) < 1e-15);
  assert.ok(Math.abs(HANN_WINDOW[100] - 0.5) < 1e-15);
  assert.ok(Math.abs(HANN_WINDOW[1] - HANN_WINDOW[399]) < 1e-15); // periodic: w[n] = w[N − n]
});

test("the mel scale and filterbank are librosa's Slaney ones (whisper's mel_filters.npz)", () => {
  assert.ok(Math.abs(hzToMel(1000) - 15) < 1e-12);
  assert.ok(Math.abs(hzToMel(440) - 6.6) < 1e-12);
  assert.ok(Math.abs(hzToMel(200 / 3) - 1) < 1e-12);
  assert.ok(Math.abs(melToHz(hzToMel(5000)) - 5000) < 1e-9);

  const { weights, centers, start, end } = melFilterbank(80);
  assert.equal(melFilterbank(80), melFilterbank(80)); // cached
  const bins = N_FFT / 2 + 1;
  // the first filter spans 0 Hz to its upper edge and peaks at bin 1 (40 Hz): weight 0.024862595
  assert.equal(start[0], 1);
  assert.equal(end[0], 2);
  assert.ok(Math.abs(weights[1] - 0.02486259490251541) < 1e-8);
  // weights recorded from whisper's assets/mel_filters.npz (float32) by the fixture generator
  for (const [m, k, w] of reference.whisperMel80Weights) {
    assert.ok(Math.abs(weights[m * bins + k] - w) < 1e-8 * Math.max(1, w) + 1e-9, `[${m}, ${k}]`);
  }
  // Slaney normalisation: filter m is a triangle of height 2 / (f[m+2] − f[m]) over f[m]…f[m+2],
  // so, sampled on a 40 Hz grid, its weights sum to about 1/40 (unit area in Hz).
  const edges = [melToHz(0), ...centers, 8000];
  for (let m = 0; m < 80; m++) {
    let sum = 0;
    let peak = 0;
    for (let k = 0; k < bins; k++) {
      sum += weights[m * bins + k];
      peak = Math.max(peak, weights[m * bins + k]);
    }
    const height = 2 / (edges[m + 2] - edges[m]);
    assert.ok(peak <= height + 1e-12, `filter ${m} peak ${peak} > ${height}`);
    if (edges[m + 2] - edges[m] > 400) assert.ok(Math.abs(sum * 40 - 1) < 0.05, `filter ${m} area ${sum * 40}`);
  }
});

test('matches a numpy implementation of whisper.log_mel_spectrogram (data/features-reference.json)', () => {
  const x = referenceSignal();
  assert.equal(x.length, reference.samples);
  for (const nMels of [80, 128] as const) {
    const ref = reference[`mel${nMels}`];
    const got = logMel(x, { nMels, padToSeconds: 0 });
    assert.equal(got.frames, ref.frames);
    const diff = maxAbsDiff(got.data, ref.data);
    assert.ok(diff < 1e-4, `${nMels} mels: max abs difference ${diff}`);
  }
});

// The log-mel's speed (a 30 s window well under a second) needs an idle core: bench item 7 (npm run bench --
// --only offload) reports it as a target.
