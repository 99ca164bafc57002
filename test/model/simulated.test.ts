import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseConfig, type SimulatedModelConfig } from '../../src/config.ts';
import { SimulatedModel } from '../../src/model/simulated.ts';
import { TaskPanic } from '../../src/task.ts';
import { testContext } from '../helpers/context.ts';

const { read, service } = testContext();
/** task_panics_total{task="inference"}, as exported. */
const inferencePanics = async () => (await read()).value('task_panics_total', { task: 'inference' });

const models: SimulatedModel[] = [];
function model(knobs: Record<string, number>): SimulatedModel {
  const m = new SimulatedModel(parseConfig({ model: { delay: 0, constant_factor: 0, jitter: 0, warmup_penalty: 0, workers: 1, ...knobs } }).model as SimulatedModelConfig, service);
  models.push(m);
  return m;
}
after(() => Promise.all(models.map((m) => m.close())));

test('outputs the number of samples it was given', async () => {
  const { computeSeconds, ...result } = await model({ delay: 0.02 }).infer(new Float32Array(12_345));
  assert.deepEqual(result, { ok: true, output: { count: 12_345 } });
  assert.ok(computeSeconds! >= 0.02 && computeSeconds! < 0.5, `worker run time ${computeSeconds}`);
});

test('cost = delay + constant_factor × audio seconds, paid on a worker, not the event loop', async () => {
  const m = model({ delay: 0.1, constant_factor: 0.2 });
  await m.infer(new Float32Array(160)); // first run starts the worker
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  const t0 = performance.now();
  await m.infer(new Float32Array(16_000)); // 1 s of audio → 0.1 + 0.2 = 0.3 s
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(timer);
  assert.ok(elapsed >= 0.3 && elapsed < 0.6, `took ${elapsed}s`);
  assert.ok(ticks >= 15, `event loop ran only ${ticks} timer ticks during inference`);
});

test('the first inference of each instance pays the warm-up penalty, later ones do not', async () => {
  const m = model({ delay: 0.05, warmup_penalty: 4 });
  const timed = async () => {
    const t0 = performance.now();
    await m.infer(new Float32Array(16));
    return (performance.now() - t0) / 1000;
  };
  const first = await timed();
  const second = await timed();
  assert.ok(first >= 0.25, `first ${first}s (expected ≥ 0.05 × 5)`);
  assert.ok(second < 0.2, `second ${second}s`);
});

test('failure_rate 1: every inference returns a failure, none panics', async () => {
  const m = model({ failure_rate: 1 });
  const before = await inferencePanics();
  for (let i = 0; i < 3; i++) {
    const { computeSeconds: _, ...result } = await m.infer(new Float32Array(10));
    assert.deepEqual(result, { ok: false, error: 'inference failed' });
  }
  assert.equal(await inferencePanics(), before);
});

test('panic_rate 1: the worker crashes, the task wrapper counts a panic, and the pool replaces the worker', async () => {
  const m = model({ panic_rate: 1 });
  const before = await inferencePanics();
  for (let i = 0; i < 3; i++) await assert.rejects(m.infer(new Float32Array(10)), TaskPanic);
  assert.equal(await inferencePanics(), before + 3);
});

test('warmup never fails or panics, whatever the fault rates', async () => {
  await model({ failure_rate: 1, panic_rate: 1, workers: 2 }).warmup();
});
