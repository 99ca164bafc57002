import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureStage } from '../../src/telemetry/stage-guard.ts';
import { testContext } from '../helpers/context.ts';

const { telemetry, read } = testContext();
const { metrics } = telemetry;

test('the guard records processing, media and RTF for its stage on every exit path', async () => {
  const before = await read();
  {
    using _ = measureStage(metrics, 'vad', 0.032);
    const end = performance.now() + 5;
    while (performance.now() < end) {
      // 5 ms of work
    }
  }
  assert.throws(() => {
    using _ = measureStage(metrics, 'vad', 0.032);
    throw new Error('boom');
  });
  const after = await read();
  const d = (name: string) => after.value(name, { pipeline: 'vad' }) - before.value(name, { pipeline: 'vad' });
  assert.equal(d('rtf_count'), 2);
  assert.ok(Math.abs(d('media_duration_seconds_sum') - 0.064) < 1e-9);
  assert.ok(d('processing_duration_seconds_sum') >= 0.005);
  assert.ok(d('rtf_sum') >= 0.005 / 0.032);
  assert.equal(after.value('rtf_count', { pipeline: 'model' }) - before.value('rtf_count', { pipeline: 'model' }), 0, 'other stages untouched');
});

test('zero-length audio records durations but no RTF (never infinity)', async () => {
  const before = await read();
  {
    using _ = measureStage(metrics, 'audio_decoding', 0);
  }
  const after = await read();
  const d = (name: string) => after.value(name, { pipeline: 'audio_decoding' }) - before.value(name, { pipeline: 'audio_decoding' });
  assert.equal(d('processing_duration_seconds_count'), 1);
  assert.equal(d('media_duration_seconds_count'), 1);
  assert.equal(d('rtf_count'), 0);
  assert.ok(!/Inf\b(?!")|NaN/.test(after.text.replace(/le="\+Inf"/g, '')));
});

test('a measured processing time replaces the wall time around the work', async () => {
  const before = await read();
  {
    using guard = measureStage(metrics, 'model', 2);
    guard.measured(0.5);
  }
  const after = await read();
  const d = (name: string) => after.value(name, { pipeline: 'model' }) - before.value(name, { pipeline: 'model' });
  assert.ok(Math.abs(d('processing_duration_seconds_sum') - 0.5) < 1e-9);
  assert.ok(Math.abs(d('rtf_sum') - 0.25) < 1e-9);
});

test('discarded work records nothing', async () => {
  const before = await read();
  {
    using guard = measureStage(metrics, 'model', 1);
    guard.discard();
  }
  const after = await read();
  assert.equal(after.value('processing_duration_seconds_count', { pipeline: 'model' }), before.value('processing_duration_seconds_count', { pipeline: 'model' }));
});

test('same-named instruments of the per-stage meters come out as one family each', async () => {
  {
    using _a = measureStage(metrics, 'model', 1);
    using _b = measureStage(metrics, 'vad', 0.032);
    using _c = measureStage(metrics, 'audio_decoding', 0.01);
  }
  const text = (await read()).text;
  for (const name of ['rtf', 'processing_duration_seconds', 'media_duration_seconds']) {
    assert.equal(text.match(new RegExp(`^# TYPE ${name} histogram$`, 'gm'))?.length, 1, name);
  }
  assert.ok(!text.includes('otel_scope_name'), 'no scope labels on series');
});
