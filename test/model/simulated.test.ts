import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseConfig, type SimulatedModelConfig } from '../../src/config.ts';
import { SimulatedModel } from '../../src/model/simulated.ts';
import { TaskPanic } from '../../src/task.ts';
import { jobsSince, testContext, threadCpu } from '../helpers/context.ts';

const { read, service, jobs } = testContext();
/** task_panics_total{task="inference"}, as exported. */
const inferencePanics = async () => (await read()).value('task_panics_total', { task: 'inference' });

const models: SimulatedModel[] = [];
function model(knobs: Record<string, number>): SimulatedModel {
  const m = new SimulatedModel(parseConfig({ model: { delay: 0, constant_factor: 0, jitter: 0, warmup_penalty: 0, workers: 1, ...knobs } }).model as SimulatedModelConfig, service);
  models.push(m);
  return m;
}
after(() => Promise.all(models.map((m) => m.close())));

test('outputs the number of samples it was given, and when it ran on its worker', async () => {
  const called = performance.now();
  const { computeSeconds, ran, ...result } = await model({ delay: 0.02 }).infer(new Float32Array(12_345));
  const returned = performance.now();
  assert.deepEqual(result, { ok: true, output: { count: 12_345 } });
  assert.ok(computeSeconds! >= 0.02, `worker run time ${computeSeconds} s for a 0.02 s cost`);
  // The worker's stamps on this thread's clock: inside the call, as long as the run (1 ms of slack for the clocks' rounding).
  assert.ok(ran && ran.startedAt >= called - 1 && ran.finishedAt <= returned + 1, `ran ${JSON.stringify(ran)} within ${called}…${returned}`);
  assert.ok(Math.abs((ran.finishedAt - ran.startedAt) / 1000 - computeSeconds!) < 1e-6, 'finishedAt − startedAt = computeSeconds');
});

// Wall time against the cost, and how freely the event loop ticks meanwhile, need idle cores: the
// benchmark reports them (npm run bench -- --only offload). Here: what holds on any machine.
test('cost = delay + constant_factor × audio seconds, paid on a worker, not the event loop', async () => {
  const m = model({ delay: 0.1, constant_factor: 0.2 });
  await m.infer(new Float32Array(160)); // first run starts the worker
  const before = await jobs('inference');
  const t0 = performance.now();
  const { value, cpuSeconds } = await threadCpu(() => m.infer(new Float32Array(16_000))); // 1 s of audio → 0.1 + 0.2 = 0.3 s
  const elapsed = (performance.now() - t0) / 1000;
  const { computeSeconds, ran: _, ...result } = value;
  assert.deepEqual(result, { ok: true, output: { count: 16_000 } });
  assert.ok(computeSeconds! >= 0.3, `the worker ran ${computeSeconds} s for a 0.3 s cost`);
  assert.ok(elapsed >= 0.3, `took ${elapsed} s for a 0.3 s cost`);
  assert.deepEqual(jobsSince(before, await jobs('inference')), { all: 1, onWorker: 1 }, 'one inference job, on the pool');
  // inline, the busy-wait would have used the 0.3 s here
  assert.ok(cpuSeconds < 0.1, `the event loop's thread used ${cpuSeconds.toFixed(3)} s of CPU during a 0.3 s inference`);
});

test('the first inference of each instance pays the warm-up penalty, later ones do not', async () => {
  const m = model({ delay: 0.002, warmup_penalty: 249 }); // first: 0.002 × 250 = 0.5 s; later: 0.002 s
  const first = (await m.infer(new Float32Array(16))).computeSeconds!;
  const second = (await m.infer(new Float32Array(16))).computeSeconds!;
  assert.ok(first >= 0.5, `first ${first} s (expected ≥ 0.002 × 250)`);
  // paying it again would take ≥ 0.5 s: half of that leaves 0.25 s for a 2 ms job, however loaded the machine
  assert.ok(second < 0.25, `second ${second} s: paid the warm-up penalty again?`);
});

test('failure_rate 1: every inference returns a failure, none panics', async () => {
  const m = model({ failure_rate: 1 });
  const before = await inferencePanics();
  for (let i = 0; i < 3; i++) {
    const { computeSeconds: _, ran: __, ...result } = await m.infer(new Float32Array(10));
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
