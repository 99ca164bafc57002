import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { installTelemetry } from '../../src/telemetry/provider.ts';
import { SileroVad, VAD_WINDOW, VadChannelState } from '../../src/vad/silero.ts';
import { Exposition } from '../helpers/prometheus.ts';
import { speechFixture } from '../helpers/service.ts';

const telemetry = installTelemetry({ serviceName: 'streamer', serviceVersion: 'test' });
const fixture = speechFixture();
const pcm = new Int16Array(fixture.pcm.buffer, fixture.pcm.byteOffset, fixture.pcm.byteLength / 2);
const audio = Float32Array.from(pcm, (v) => v / 32768);
const WINDOWS = 40;

let vad: SileroVad;
before(async () => {
  vad = await SileroVad.load();
});
after(() => vad.close());

/** One channel's probabilities for WINDOWS windows starting at `offset`. */
async function channelProbs(offset: number): Promise<number[]> {
  const state = new VadChannelState();
  const out: number[] = [];
  for (let k = 0; k < WINDOWS; k++) out.push(await vad.probability(state, audio.subarray(offset + k * VAD_WINDOW, offset + (k + 1) * VAD_WINDOW)));
  return out;
}

test('channels batched together get exactly the probabilities they get alone', async () => {
  const offsets = Array.from({ length: 16 }, (_, i) => i * 4000);
  const alone: number[][] = [];
  for (const o of offsets) alone.push(await channelProbs(o));
  const together = await Promise.all(offsets.map((o) => channelProbs(o)));
  assert.deepEqual(together, alone);
  // the fixture has speech: the probabilities are not all the same
  assert.ok(Math.max(...alone.flat()) > 0.9 && Math.min(...alone.flat()) < 0.1);
});

test('concurrent channels share model runs: batches hold several windows, each window waits at most one batch', async () => {
  const read = async () => new Exposition(await telemetry.render());
  const before = await read();
  await Promise.all(Array.from({ length: 32 }, (_, i) => channelProbs(i * 1000)));
  const after = await read();
  const windows = after.value('vad_batch_size_sum') - before.value('vad_batch_size_sum');
  const batches = after.value('vad_batch_size_count') - before.value('vad_batch_size_count');
  assert.equal(windows, 32 * WINDOWS);
  assert.ok(batches <= WINDOWS * 2, `${batches} model runs for ${windows} windows`);
  assert.ok(windows / batches >= 16, `mean batch ${windows / batches}`);
});

test('batches run on the worker: the event loop stays mostly idle while the model works', async () => {
  const channels = 512;
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const probs = await Promise.all(Array.from({ length: channels }, (_, i) => channelProbs(i * 100)));
  const elapsed = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  assert.equal(probs.flat().length, channels * WINDOWS);
  // 40 batches of 512 windows: the model's run time dominates; on the main thread the loop
  // would be busy nearly all the time
  assert.ok(elu.utilization < 0.5, `the event loop was busy ${(elu.utilization * 100).toFixed(0)} % of ${elapsed.toFixed(0)} ms`);
});
