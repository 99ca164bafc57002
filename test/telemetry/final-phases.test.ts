// The breakdown of a final result's latency into phases: consecutive, never negative, and always
// adding up to the latency, whatever the stamps of two threads say.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FINAL_PHASES, finalPhases } from '../../src/telemetry/final-phases.ts';

const sum = (phases: Record<string, number>) => Object.values(phases).reduce((a, b) => a + b, 0);
const vad = { requestedAt: 105, batchStartedAt: 115, runSeconds: 0.004, answeredAt: 121 };

test('each phase is the time between consecutive stamps, the VAD batch split into its run and the rest', () => {
  const phases = finalPhases(100, vad, { ran: { startedAt: 130, finishedAt: 150 }, returnedAt: 152 }, 160);
  assert.deepEqual(Object.keys(phases), [...FINAL_PHASES]);
  const ms = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v * 1e6) / 1e3]));
  assert.deepEqual(ms, { vad_queue: 5, vad_batch_wait: 10, vad_run: 4, vad_handoff: 2, model_queue: 9, model_run: 20, model_return: 2, send: 8 });
  assert.ok(Math.abs(sum(phases) - 0.06) < 1e-12);
});

test("a worker's stamps that disagree with this thread's clock are clamped, and the phases still add up", () => {
  // The worker says it started before the VAD answered and finished after the result was back here.
  const phases = finalPhases(100, vad, { ran: { startedAt: 119, finishedAt: 155 }, returnedAt: 152 }, 160);
  for (const [k, v] of Object.entries(phases)) assert.ok(v >= 0, `${k}: ${v}`);
  assert.equal(phases.model_queue, 0);
  assert.ok(Math.abs(phases.model_run - 0.031) < 1e-12, 'the run is cut to the time between the answer and the return');
  assert.equal(phases.model_return, 0);
  assert.ok(Math.abs(sum(phases) - 0.06) < 1e-12);
});

test('a model that does not say when it ran: its whole time is model_run', () => {
  const phases = finalPhases(100, vad, { ran: null, returnedAt: 152 }, 160);
  assert.equal(phases.model_queue, 0);
  assert.equal(phases.model_return, 0);
  assert.ok(Math.abs(phases.model_run - 0.031) < 1e-12);
  assert.ok(Math.abs(sum(phases) - 0.06) < 1e-12);
});
