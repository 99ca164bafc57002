// Whisper's log-mel spectrogram, as openai/whisper's audio.py computes it:
//
//   16 kHz mono → STFT (n_fft 400, hop 160, periodic Hann window, center=True with reflect padding
//   of n_fft/2 each side) → |X|² with the last frame dropped → 80 (or 128) Slaney mel filters
//   (librosa.filters.mel(sr=16000, n_fft=400, n_mels), htk=False, norm='slaney') →
//   log10(max(mel, 1e-10)) → max(x, max(x) − 8) → (x + 4) / 4.
//
// Padding: Whisper's encoder (and sherpa-onnx's export of it) takes 30 s windows, i.e. the audio
// padded with zeros (or trimmed) to 480 000 samples → 3000 frames. `logMel` does that by default
// (`padToSeconds: 30`), before the STFT, as whisper.pad_or_trim does; `padToSeconds: 0` takes the
// samples as they are (floor(samples / 160) frames, at least 201 samples for the reflect padding).
//
// The 400-point DFT: n_fft = 400 is not a power of two, which fft.js needs. The real 400-point
// DFT is computed as a 200-point complex DFT of the even/odd samples packed as re/im (then split),
// and that 200-point DFT as Bluestein's chirp-z over a 512-point fft.js transform: two 512-point
// complex FFTs per frame, exact up to float64 rounding (checked against a direct DFT in the tests).
import FFT from 'fft.js';

export const SAMPLE_RATE = 16_000;
export const N_FFT = 400;
export const HOP_LENGTH = 160;
export const CHUNK_SECONDS = 30;
const N_BINS = N_FFT / 2 + 1; // 201

export interface LogMelOptions {
  /** Mel bins: 80 (all models up to large-v2) or 128 (large-v3). Default 80. */
  nMels?: number;
  /** Pad with zeros or trim to this many seconds before the STFT; 0 turns it off. Default 30. */
  padToSeconds?: number;
}

export interface LogMel {
  /** Row-major [nMels, frames]. */
  data: Float32Array;
  frames: number;
  nMels: number;
}

// ---- mel filterbank (librosa, Slaney scale and normalisation) ----

const F_SP = 200 / 3; // Hz per mel below 1 kHz
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP; // 15
const LOG_STEP = Math.log(6.4) / 27;

/** Hz → mel on librosa's Slaney scale (htk=False): linear below 1 kHz, logarithmic above. */
export function hzToMel(hz: number): number {
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOG_STEP : hz / F_SP;
}

/** Inverse of hzToMel. */
export function melToHz(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOG_STEP * (mel - MIN_LOG_MEL)) : F_SP * mel;
}

export interface MelFilterbank {
  nMels: number;
  /** Row-major [nMels, 201] weights, as librosa.filters.mel(sr=16000, n_fft=400, n_mels). */
  weights: Float64Array;
  /** Centre frequencies (Hz) of the filters. */
  centers: Float64Array;
  /** Per filter, the first and one-past-last non-zero FFT bin. */
  start: Int32Array;
  end: Int32Array;
}

const filterbanks = new Map<number, MelFilterbank>();

/** librosa.filters.mel(sr=16000, n_fft=400, n_mels, fmin=0, fmax=8000, htk=False, norm='slaney'), cached. */
export function melFilterbank(nMels: number): MelFilterbank {
  const cached = filterbanks.get(nMels);
  if (cached) return cached;
  if (!Number.isInteger(nMels) || nMels < 1) throw new RangeError(`nMels must be a positive integer, got ${nMels}`);
  const fMax = SAMPLE_RATE / 2;
  const melMax = hzToMel(fMax);
  const melF = new Float64Array(nMels + 2); // filter edges, equally spaced in mel
  for (let i = 0; i < nMels + 2; i++) melF[i] = melToHz((melMax * i) / (nMels + 1));
  const weights = new Float64Array(nMels * N_BINS);
  const start = new Int32Array(nMels);
  const end = new Int32Array(nMels);
  for (let m = 0; m < nMels; m++) {
    const lowDiff = melF[m + 1] - melF[m];
    const highDiff = melF[m + 2] - melF[m + 1];
    const enorm = 2 / (melF[m + 2] - melF[m]); // Slaney: each filter has unit area in Hz
    let first = -1;
    let last = -1;
    for (let k = 0; k < N_BINS; k++) {
      const f = (k * fMax) / (N_BINS - 1);
      const lower = (f - melF[m]) / lowDiff;
      const upper = (melF[m + 2] - f) / highDiff;
      const w = Math.max(0, Math.min(lower, upper));
      if (w > 0) {
        weights[m * N_BINS + k] = w * enorm;
        if (first < 0) first = k;
        last = k;
      }
    }
    start[m] = first < 0 ? 0 : first;
    end[m] = first < 0 ? 0 : last + 1;
  }
  const bank = { nMels, weights, centers: melF.slice(1, nMels + 1), start, end };
  filterbanks.set(nMels, bank);
  return bank;
}

// ---- window and the real 400-point DFT ----

/** torch.hann_window(400) (periodic): 0.5 − 0.5·cos(2πn/N). */
export const HANN_WINDOW: Float64Array = (() => {
  const w = new Float64Array(N_FFT);
  for (let n = 0; n < N_FFT; n++) w[n] = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / N_FFT);
  return w;
})();

const HALF = N_FFT / 2; // 200-point complex DFT of the packed even/odd samples
const M = 512; // Bluestein convolution size: a power of two ≥ 2·HALF − 1

/** Power spectrum |X[k]|², k = 0…200, of one real 400-sample frame, by Bluestein over fft.js. */
export class PowerSpectrum {
  private readonly fft = new FFT(M);
  private readonly chirpRe = new Float64Array(HALF); // w[n] = exp(−iπn²/HALF)
  private readonly chirpIm = new Float64Array(HALF);
  private readonly filter = new Float64Array(2 * M); // FFT of conj(w) laid out circularly
  private readonly twRe = new Float64Array(HALF + 1); // exp(−2πik/N_FFT), the even/odd split
  private readonly twIm = new Float64Array(HALF + 1);
  private readonly a = new Float64Array(2 * M);
  private readonly b = new Float64Array(2 * M);
  private readonly zRe = new Float64Array(HALF);
  private readonly zIm = new Float64Array(HALF);

  constructor() {
    const b = new Float64Array(2 * M);
    for (let n = 0; n < HALF; n++) {
      const angle = (-Math.PI * ((n * n) % (2 * HALF))) / HALF; // n² mod 2·HALF keeps the angle exact
      this.chirpRe[n] = Math.cos(angle);
      this.chirpIm[n] = Math.sin(angle);
      b[2 * n] = this.chirpRe[n];
      b[2 * n + 1] = -this.chirpIm[n];
      if (n > 0) {
        b[2 * (M - n)] = this.chirpRe[n];
        b[2 * (M - n) + 1] = -this.chirpIm[n];
      }
    }
    this.fft.transform(this.filter, b);
    for (let k = 0; k <= HALF; k++) {
      this.twRe[k] = Math.cos((-2 * Math.PI * k) / N_FFT);
      this.twIm[k] = Math.sin((-2 * Math.PI * k) / N_FFT);
    }
  }

  /** Writes |DFT_400(frame)[k]|² for k = 0…200 into out (length ≥ 201). frame: 400 real samples. */
  compute(frame: ArrayLike<number>, out: Float64Array): void {
    const { a, b, chirpRe, chirpIm, filter, zRe, zIm } = this;
    a.fill(0);
    // z[n] = x[2n] + i·x[2n+1], times the chirp
    for (let n = 0; n < HALF; n++) {
      const re = frame[2 * n];
      const im = frame[2 * n + 1];
      a[2 * n] = re * chirpRe[n] - im * chirpIm[n];
      a[2 * n + 1] = re * chirpIm[n] + im * chirpRe[n];
    }
    this.fft.transform(b, a);
    // pointwise product with the chirp filter, then the inverse FFT as conj(FFT(conj(·)))
    for (let i = 0; i < 2 * M; i += 2) {
      const re = b[i] * filter[i] - b[i + 1] * filter[i + 1];
      const im = b[i] * filter[i + 1] + b[i + 1] * filter[i];
      b[i] = re;
      b[i + 1] = -im;
    }
    this.fft.transform(a, b);
    for (let k = 0; k < HALF; k++) {
      const re = a[2 * k] / M;
      const im = -a[2 * k + 1] / M;
      zRe[k] = re * chirpRe[k] - im * chirpIm[k];
      zIm[k] = re * chirpIm[k] + im * chirpRe[k];
    }
    // split: X[k] = E[k] + e^{−2πik/N}·O[k], E/O the DFTs of the even/odd samples
    for (let k = 0; k <= HALF; k++) {
      const k1 = k % HALF;
      const k2 = (HALF - k) % HALF;
      const eRe = (zRe[k1] + zRe[k2]) / 2;
      const eIm = (zIm[k1] - zIm[k2]) / 2;
      const oRe = (zIm[k1] + zIm[k2]) / 2;
      const oIm = (zRe[k2] - zRe[k1]) / 2;
      const xRe = eRe + this.twRe[k] * oRe - this.twIm[k] * oIm;
      const xIm = eIm + this.twRe[k] * oIm + this.twIm[k] * oRe;
      out[k] = xRe * xRe + xIm * xIm;
    }
  }
}

let spectrum: PowerSpectrum | undefined;

/** Whisper's pad_or_trim: zero-pads or trims to exactly `length` samples. */
export function padOrTrim(samples: Float32Array, length: number): Float32Array {
  if (samples.length === length) return samples;
  if (samples.length > length) return samples.subarray(0, length);
  const out = new Float32Array(length);
  out.set(samples);
  return out;
}

/**
 * Whisper's log-mel spectrogram of 16 kHz mono samples (see the top of this file). By default the
 * samples are padded with zeros or trimmed to 30 s first (3000 frames), as Whisper's encoder expects.
 */
export function logMel(samples: Float32Array, options: LogMelOptions = {}): LogMel {
  const nMels = options.nMels ?? 80;
  const padToSeconds = options.padToSeconds ?? CHUNK_SECONDS;
  if (!(padToSeconds >= 0)) throw new RangeError(`padToSeconds must be ≥ 0, got ${padToSeconds}`);
  const x = padToSeconds > 0 ? padOrTrim(samples, Math.round(padToSeconds * SAMPLE_RATE)) : samples;
  const n = x.length;
  const pad = N_FFT / 2;
  if (n <= pad) throw new RangeError(`reflect padding needs more than ${pad} samples, got ${n}`);
  const bank = melFilterbank(nMels);
  spectrum ??= new PowerSpectrum();

  // center=True: reflect-pad n_fft/2 each side (numpy/torch 'reflect': the edge sample is not repeated)
  const padded = new Float64Array(n + 2 * pad);
  for (let i = 0; i < n; i++) padded[pad + i] = x[i];
  for (let j = 1; j <= pad; j++) {
    padded[pad - j] = x[j];
    padded[pad + n - 1 + j] = x[n - 1 - j];
  }

  const frames = Math.floor(n / HOP_LENGTH); // 1 + n/hop STFT frames, minus the dropped last one
  const data = new Float32Array(nMels * frames);
  const logSpec = new Float64Array(nMels * frames);
  const frame = new Float64Array(N_FFT);
  const power = new Float64Array(N_BINS);
  const { weights, start, end } = bank;
  let maxLog = -Infinity;
  for (let t = 0; t < frames; t++) {
    const offset = t * HOP_LENGTH;
    for (let i = 0; i < N_FFT; i++) frame[i] = padded[offset + i] * HANN_WINDOW[i];
    spectrum.compute(frame, power);
    for (let m = 0; m < nMels; m++) {
      let sum = 0;
      const row = m * N_BINS;
      for (let k = start[m]; k < end[m]; k++) sum += weights[row + k] * power[k];
      const v = Math.log10(Math.max(sum, 1e-10));
      logSpec[m * frames + t] = v;
      if (v > maxLog) maxLog = v;
    }
  }
  const floor = maxLog - 8;
  for (let i = 0; i < logSpec.length; i++) data[i] = (Math.max(logSpec[i], floor) + 4) / 4;
  return { data, frames, nMels };
}
