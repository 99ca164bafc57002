// The keyword fixture (test/fixtures/make-fixtures.sh: espeak-ng utterances, three with a keyword
// of openWakeWord's models, two without) and what the keyword tests check against it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AudioFormat } from '../../src/api/protocol.ts';
import { readWav } from '../../src/client/wav.ts';
import { seeded, type Region } from './service.ts';

/** An utterance of the keyword fixture. */
export interface KeywordRegion extends Region {
  /** The keyword said in it; null for a negative. */
  keyword: string | null;
}

export interface Detection {
  keyword: string;
  score: number;
  time: number;
}

/** Keywords the fixture says (openWakeWord's model names). */
export const FIXTURE_KEYWORDS = ['hey_jarvis', 'alexa', 'hey_rhasspy'];
/** How far outside its utterance a detection may be (the score peaks as the keyword ends, up to a few steps later). */
export const TOLERANCE_SECONDS = 0.5;

export function keywordFixture() {
  const path = new URL('../fixtures/keywords.wav', import.meta.url).pathname;
  const wav = readWav(path);
  const truth = JSON.parse(readFileSync(new URL('../fixtures/keywords.json', import.meta.url), 'utf8')) as { duration: number; regions: KeywordRegion[] };
  const ints = new Int16Array(wav.pcm.buffer, wav.pcm.byteOffset, wav.pcm.byteLength / 2);
  return { path, ...wav, ...truth, samples: Float32Array.from(ints, (x) => x / 32768) };
}

export const F32_STEREO_48K: AudioFormat = { channels: 2, sample_rate: 48000, bit_depth: 32, is_float: true };

/**
 * The fixture as 48 kHz f32 stereo PCM (resampled by sox, not by the service): channel 0 as it
 * is, channel 1 the same audio `delay` seconds later (so detections on it come that much later).
 */
export function fixtureAs48kStereo(path: string, delay: number): Uint8Array {
  const raw = execFileSync('sox', ['-D', path, '-t', 'raw', '-r', '48000', '-e', 'floating-point', '-b', '32', '-c', '1', '-L', '-'], { maxBuffer: 1 << 28 });
  const mono = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const shift = Math.round(delay * 48000);
  const stereo = new Float32Array(mono.length * 2);
  for (let i = 0; i < mono.length; i++) {
    stereo[2 * i] = mono[i];
    stereo[2 * i + 1] = i >= shift ? mono[i - shift] : 0;
  }
  return new Uint8Array(stereo.buffer);
}

/**
 * Every keyword utterance has exactly one detection, of its keyword, at a time inside it (within
 * the tolerance), and nothing else is detected. `offset`: seconds added to the fixture's times.
 */
export function assertDetections(detections: Detection[], regions: KeywordRegion[], where: string, offset = 0): void {
  const positives = regions.filter((r) => r.keyword !== null);
  const described = JSON.stringify(detections);
  assert.equal(detections.length, positives.length, `${where}: ${positives.length} detections expected, got ${described}`);
  for (const r of positives) {
    const hits = detections.filter((d) => d.keyword === r.keyword);
    assert.equal(hits.length, 1, `${where}: '${r.text}' should be detected once as ${r.keyword}: ${described}`);
    const { time, score } = hits[0];
    assert.ok(time >= r.start + offset - TOLERANCE_SECONDS && time <= r.end + offset + TOLERANCE_SECONDS, `${where}: ${r.keyword} at ${time} s, utterance ${r.start + offset}…${r.end + offset} s`);
    assert.ok(score >= 0.5 && score <= 1, `${where}: ${r.keyword} score ${score}`);
  }
}

/**
 * 16 kHz s16 mono `pcm` after `seconds` of low-level noise (seeded; RMS 1e-3 of full scale, about
 * -60 dBFS, as a quiet room or a mic's own noise): the silence a real recording starts with.
 */
export function afterLeadingNoise(pcm: Uint8Array, seconds: number, seed: number): Uint8Array {
  const random = seeded(seed);
  const lead = new Int16Array(Math.round(seconds * 16_000));
  // A sum of three uniforms: close to Gaussian, peaks at 3 × the RMS.
  for (let i = 0; i < lead.length; i++) lead[i] = Math.round(32768 * 1e-3 * 2 * (random() + random() + random() - 1.5));
  const out = new Uint8Array(lead.byteLength + pcm.byteLength);
  out.set(new Uint8Array(lead.buffer));
  out.set(pcm, lead.byteLength);
  return out;
}
