// The speech fixture (test/fixtures/speech.wav, 16 kHz mono s16, two sentences between silences),
// looped to any length, as s16 bytes (what the load client sends) or float samples (what the VAD reads).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readWav } from '../src/client/wav.ts';

export const FIXTURE_WAV = fileURLToPath(new URL('../test/fixtures/speech.wav', import.meta.url));
const FIXTURE_TRUTH = fileURLToPath(new URL('../test/fixtures/speech.json', import.meta.url));
export const SAMPLE_RATE = 16_000;

export interface Region {
  start: number;
  end: number;
}

export interface Fixture {
  /** Little-endian s16 mono samples at 16 kHz. */
  pcm: Uint8Array;
  durationSeconds: number;
  /** True speech regions (seconds) from speech.json. */
  regions: Region[];
}

export function loadFixture(path = FIXTURE_WAV): Fixture {
  const wav = readWav(path);
  const { format } = wav;
  if (format.sample_rate !== SAMPLE_RATE || format.channels !== 1 || format.bit_depth !== 16 || format.is_float) {
    throw new Error(`${path}: expected 16 kHz mono s16, got ${JSON.stringify(format)}`);
  }
  const regions = path === FIXTURE_WAV ? (JSON.parse(readFileSync(FIXTURE_TRUTH, 'utf8')) as { regions: Region[] }).regions : [];
  return { pcm: wav.pcm, durationSeconds: wav.durationSeconds, regions };
}

/** `seconds` of the fixture repeated end to end (s16 bytes, whole samples). */
export function loopPcm(fixture: Fixture, seconds: number): Uint8Array {
  const bytes = Math.round(seconds * SAMPLE_RATE) * 2;
  const out = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += fixture.pcm.byteLength) {
    out.set(fixture.pcm.subarray(0, Math.min(fixture.pcm.byteLength, bytes - at)), at);
  }
  return out;
}

/** s16 little-endian bytes → floats in [-1, 1). */
export function toFloat32(pcm: Uint8Array): Float32Array {
  const view = new DataView(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const out = new Float32Array(pcm.byteLength >> 1);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(2 * i, true) / 32768;
  return out;
}

/**
 * Speech regions of the looped fixture, heard from `phase` seconds into it, that end at least
 * `tailSeconds` before `totalSeconds` (times from the start of what is heard).
 */
export function loopedRegions(fixture: Fixture, totalSeconds: number, tailSeconds: number, phase = 0): Region[] {
  const out: Region[] = [];
  for (let offset = -phase; offset < totalSeconds; offset += fixture.durationSeconds) {
    for (const r of fixture.regions) {
      if (offset + r.start >= 0 && offset + r.end + tailSeconds <= totalSeconds) out.push({ start: offset + r.start, end: offset + r.end });
    }
  }
  return out;
}

/**
 * `n` starting points in the fixture, spread evenly over its silences (never inside speech, so
 * each stream hears whole utterances). Independent live streams are not in step: streams all
 * starting the fixture within a second would end their utterances in the same second, a burst
 * no real load has, which the model stage would then queue.
 */
export function silentPhases(fixture: Fixture, n: number, margin = 0.1): number[] {
  const silences: Region[] = [];
  let from = 0;
  for (const r of fixture.regions) {
    if (r.start - margin > from) silences.push({ start: from, end: r.start - margin });
    from = r.end + margin;
  }
  if (fixture.durationSeconds > from) silences.push({ start: from, end: fixture.durationSeconds });
  const total = silences.reduce((t, r) => t + r.end - r.start, 0);
  return Array.from({ length: n }, (_, i) => {
    let u = ((i + 0.5) / n) * total;
    for (const r of silences) {
      if (u < r.end - r.start) return r.start + u;
      u -= r.end - r.start;
    }
    return 0;
  });
}
