// The default simulated model must not trip ModelRtfHigh by itself: otel/alerts.yml's threshold
// against the model's own cost rule (inferenceCost, what its worker spins for) with the defaults of
// src/config.ts, so that a change on either side that breaks the budget fails here. Not timing: the
// cost is paid as that much CPU by construction (test/model/simulated.test.ts checks that), and
// bench/interim-streams.ts measures the default model's capacity end to end.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import yaml from 'js-yaml';
import { parseConfig, type SimulatedModelConfig } from '../../src/config.ts';
import { inferenceCost } from '../../src/model/simulated-worker.ts';

const config = parseConfig({});
const model = config.model as SimulatedModelConfig;
/** The most a unit of `audioSeconds` costs: the jitter at its top (random → 1). */
const worstCost = (audioSeconds: number) =>
  inferenceCost({ delay: model.delay, constantFactor: model.constant_factor, jitter: model.jitter }, audioSeconds, 1);

test('the default model never trips ModelRtfHigh by itself, even on its shortest units', () => {
  const rule = (yaml.load(readFileSync(new URL('../../otel/alerts.yml', import.meta.url), 'utf8')) as { groups: { rules: { alert?: string; expr: string }[] }[] }).groups
    .flatMap((g) => g.rules)
    .find((r) => r.alert === 'ModelRtfHigh');
  const threshold = Number(/>\s*([\d.]+)\s*$/.exec(rule?.expr ?? '')?.[1]);
  assert.ok(threshold > 0, `ModelRtfHigh's threshold in otel/alerts.yml: ${rule?.expr}`);
  // The shortest units: a segment of vad.min_speech_ms, an interim every interim_interval_ms.
  const shortest = Math.min(config.vad.min_speech_ms, config.vad.interim_interval_ms) / 1000;
  const rtf = worstCost(shortest) / shortest;
  // Half the threshold: per-unit RTF is the model's own compute time, so only the cost profile sets it.
  assert.ok(rtf <= threshold / 2, `RTF of a ${shortest} s unit at the most jitter: ${rtf.toFixed(2)} (ModelRtfHigh fires above ${threshold})`);
});
