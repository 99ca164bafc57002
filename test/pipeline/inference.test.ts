// The model stage's error paths: a crash anywhere in an inference is a counted, logged panic.
import assert from 'node:assert/strict';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { test } from 'node:test';
import { log } from '../../src/log.ts';
import type { Inference } from '../../src/model/index.ts';
import { ArrivalClock } from '../../src/pipeline/arrival-clock.ts';
import { inferSegment } from '../../src/pipeline/inference.ts';
import type { StreamContext } from '../../src/pipeline/stream-context.ts';
import { StageTally } from '../../src/telemetry/stage-tally.ts';
import { TaskPanic } from '../../src/task.ts';
import { testContext } from '../helpers/context.ts';

function streamContext() {
  const t = testContext();
  const ctx: StreamContext = { service: t.service, progress: () => undefined, timeOffset: 0, route: 'simple', arrivals: new ArrivalClock(), trace: ROOT_CONTEXT, log, modelTally: new StageTally() };
  const panics = async () => (await t.read()).value('task_panics_total', { task: 'inference' });
  return { ctx, panics, health: () => t.telemetry.panics.recentCount() };
}

const modelThat = (infer: Inference['infer']): Inference => ({ infer });
const span = { channel: 1, start: 0, end: 1600 };

test('an error thrown on this thread after the model ran (e.g. decoding its tokens) is counted and logged once, and the client gets internal_error', async (t) => {
  const { ctx, panics, health } = streamContext();
  const logged = t.mock.method(log, 'error', () => undefined);
  const event = await inferSegment(modelThat(() => Promise.reject(new Error('token id 99999 out of range'))), new Float32Array(1600), span, ctx);
  assert.deepEqual(event, { kind: 'failure', channel: 1, cause: 'internal' });
  assert.equal(await panics(), 1);
  assert.equal(health(), 1, 'health reports it');
  assert.equal(logged.mock.callCount(), 1);
  assert.match(String((logged.mock.calls[0].arguments[0] as { err: Error }).err.message), /token id 99999/);
});

test('a worker crash (already a TaskPanic, counted where it happened) is not counted twice', async (t) => {
  const { ctx, panics } = streamContext();
  const logged = t.mock.method(log, 'error', () => undefined);
  const event = await inferSegment(modelThat(() => Promise.reject(new TaskPanic('inference', new Error('worker exited')))), new Float32Array(1600), span, ctx);
  assert.deepEqual(event, { kind: 'failure', channel: 1, cause: 'internal' });
  assert.equal(await panics(), 0);
  assert.equal(logged.mock.callCount(), 0);
});

test('a failure the model reports is a model failure, not a panic, and keeps its reason', async () => {
  const { ctx, panics } = streamContext();
  const event = await inferSegment(modelThat(async () => ({ ok: false, error: 'audio too short' })), new Float32Array(1600), span, ctx);
  assert.deepEqual(event, { kind: 'failure', channel: 1, cause: 'model', reason: 'audio too short' });
  assert.equal(await panics(), 0);
});

test('a result carries the model output and the bounds in seconds, and when the model ran and came back', async () => {
  const { ctx } = streamContext();
  const ran = { startedAt: 1, finishedAt: 2 };
  const called = performance.now();
  const event = await inferSegment(modelThat(async () => ({ ok: true, output: { count: 1600 }, ran })), new Float32Array(1600), { ...span, start: 16_000, end: 17_600, isFinal: true }, ctx);
  assert.ok(event.kind === 'result' && event.timing, 'a result with its timing');
  const { timing, ...rest } = event;
  assert.deepEqual(rest, { kind: 'result', channel: 1, start: 1, end: 1.1, isFinal: true, output: { count: 1600 } });
  assert.equal(timing.ran, ran);
  assert.ok(timing.returnedAt >= called && timing.returnedAt <= performance.now(), 'returnedAt: when the result was back here');
});

test('a time offset shifts the reported bounds: a stream that moved keeps one timeline', async () => {
  const { ctx } = streamContext();
  const event = await inferSegment(modelThat(async () => ({ ok: true, output: {} })), new Float32Array(1600), { ...span, start: 16_000, end: 17_600 }, { ...ctx, timeOffset: 12.5 });
  assert.ok(event.kind === 'result');
  const { timing, ...rest } = event;
  assert.deepEqual(rest, { kind: 'result', channel: 1, start: 13.5, end: 13.6, output: {} });
  assert.equal(timing?.ran, null, 'a model that does not say when it ran');
});
