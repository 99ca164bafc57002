// The default simulated model must keep a handful of real-time streams with interim results real
// time on 2 cores, and must not trip ModelRtfHigh by itself. Arithmetic on the config, not timing:
// the simulated cost is delay + constant_factor × audio seconds (± jitter) by construction
// (test/model/simulated.test.ts checks that); bench/interim-streams.ts measures it end to end.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import yaml from 'js-yaml';
import { parseConfig, type SimulatedModelConfig } from '../../src/config.ts';

const config = parseConfig({});
const model = config.model as SimulatedModelConfig;
const cost = (audioSeconds: number, jitter = 0) => model.delay + model.constant_factor * audioSeconds + jitter;

/** The machine of the issue: 2 cores, one model worker each (the default is the core count). */
const WORKERS = 2;
const STREAMS = 4;
/** Utterance length of a stream that speaks without pause (the speech fixture's are 2.3 s). */
const UTTERANCE_S = 3;

/**
 * Share of WORKERS busy when STREAMS streams speak all the time in UTTERANCE_S utterances, each
 * ended by vad.min_silence_ms of silence: every interim_interval_ms of speech an interim re-runs
 * the segment so far, then the final runs the whole utterance.
 */
function utilisation(streams: number): number {
  const interval = config.vad.interim_interval_ms / 1000;
  const interims = Array.from({ length: Math.floor(UTTERANCE_S / interval) }, (_, i) => (i + 1) * interval);
  const work = [...interims, UTTERANCE_S].reduce((sum, seconds) => sum + cost(seconds), 0);
  const perStream = work / (UTTERANCE_S + config.vad.min_silence_ms / 1000);
  return (streams * perStream) / WORKERS;
}

test(`the default model keeps ${STREAMS} streams with interim results well within ${WORKERS} workers`, () => {
  const u = utilisation(STREAMS);
  // Headroom for the VAD, the event loop and the load client on the same 2 cores, and for bursts
  // when streams' utterances end together.
  assert.ok(u < 0.75, `model utilisation ${u.toFixed(2)} for ${STREAMS} streams on ${WORKERS} workers (delay ${model.delay}, constant_factor ${model.constant_factor})`);
});

test('the default model never trips ModelRtfHigh by itself, even on its shortest units', () => {
  const rule = (yaml.load(readFileSync(new URL('../../otel/alerts.yml', import.meta.url), 'utf8')) as { groups: { rules: { alert?: string; expr: string }[] }[] }).groups
    .flatMap((g) => g.rules)
    .find((r) => r.alert === 'ModelRtfHigh');
  const threshold = Number(/>\s*([\d.]+)\s*$/.exec(rule?.expr ?? '')?.[1]);
  assert.ok(threshold > 0, `ModelRtfHigh's threshold in otel/alerts.yml: ${rule?.expr}`);
  // The shortest units: a segment of vad.min_speech_ms, an interim every interim_interval_ms.
  const shortest = Math.min(config.vad.min_speech_ms, config.vad.interim_interval_ms) / 1000;
  const rtf = cost(shortest, model.jitter) / shortest;
  // Half the threshold: per-unit RTF is the model's own compute time, so only the cost profile sets it.
  assert.ok(rtf <= threshold / 2, `RTF of a ${shortest} s unit at the most jitter: ${rtf.toFixed(2)} (ModelRtfHigh fires above ${threshold})`);
});
