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

/** Speech regions of the looped fixture that end at least `tailSeconds` before `totalSeconds`. */
export function loopedRegions(fixture: Fixture, totalSeconds: number, tailSeconds: number): Region[] {
  const out: Region[] = [];
  for (let offset = 0; offset < totalSeconds; offset += fixture.durationSeconds) {
    for (const r of fixture.regions) {
      if (offset + r.end + tailSeconds <= totalSeconds) out.push({ start: offset + r.start, end: offset + r.end });
    }
  }
  return out;
}
