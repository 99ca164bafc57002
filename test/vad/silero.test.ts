import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { bundledVadModelPath, SileroVad, VadChannelState } from '../../src/vad/silero.ts';
import { VAD_WINDOW } from '../../src/vad/window.ts';
import { testContext } from '../helpers/context.ts';
import type { Exposition } from '../helpers/prometheus.ts';
import { speechFixture } from '../helpers/service.ts';

const { read, service } = testContext();
const fixture = speechFixture();
const pcm = new Int16Array(fixture.pcm.buffer, fixture.pcm.byteOffset, fixture.pcm.byteLength / 2);
const audio = Float32Array.from(pcm, (v) => v / 32768);
const WINDOWS = 40;

let vad: SileroVad;
before(async () => {
  vad = await SileroVad.load(service);
});
after(() => vad.close());

/** One channel's probabilities for WINDOWS windows starting at `offset`. */
async function channelProbs(offset: number): Promise<number[]> {
  const state = new VadChannelState();
  const out: number[] = [];
  for (let k = 0; k < WINDOWS; k++) out.push(await vad.probability(state, audio.subarray(offset + k * VAD_WINDOW, offset + (k + 1) * VAD_WINDOW)));
  return out;
}

/** The same probabilities from a plain onnxruntime loop on this thread, one window per run: the reference. */
async function referenceProbs(offset: number): Promise<number[]> {
  const session = await ort.InferenceSession.create(bundledVadModelPath(), { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    const sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
    let state = new Float32Array(2 * 128);
    const input = new Float32Array(64 + VAD_WINDOW);
    const out: number[] = [];
    for (let k = 0; k < WINDOWS; k++) {
      input.copyWithin(0, VAD_WINDOW);
      input.set(audio.subarray(offset + k * VAD_WINDOW, offset + (k + 1) * VAD_WINDOW), 64);
      const r = await session.run({ input: new ort.Tensor('float32', input.slice(), [1, 64 + VAD_WINDOW]), state: new ort.Tensor('float32', state, [2, 1, 128]), sr });
      out.push((r.output.data as Float32Array)[0]);
      state = (r.stateN.data as Float32Array).slice();
    }
    return out;
  } finally {
    await session.release();
  }
}

test('channels batched together get exactly the probabilities of a plain single-stream loop', async () => {
  const offsets = Array.from({ length: 16 }, (_, i) => i * 4000);
  const alone: number[][] = [];
  for (const o of offsets) alone.push(await referenceProbs(o));
  const together = await Promise.all(offsets.map((o) => channelProbs(o)));
  assert.deepEqual(together, alone);
  // the fixture has speech: the probabilities are not all the same
  assert.ok(Math.max(...alone.flat()) > 0.9 && Math.min(...alone.flat()) < 0.1);
});

test('a request of several windows (a channel catching up) gives what one window at a time gives, in batches of mixed lengths', async () => {
  const offsets = Array.from({ length: 12 }, (_, i) => i * 3000);
  const alone: number[][] = [];
  for (const o of offsets) alone.push(await referenceProbs(o));
  const inRequests = await Promise.all(
    offsets.map(async (o, i) => {
      const state = new VadChannelState();
      const per = 1 + (i % 6); // 1..6 windows per request: every job mixes request lengths
      const out: number[] = [];
      for (let k = 0; k < WINDOWS; k += per) {
        const n = Math.min(per, WINDOWS - k);
        out.push(...(await vad.probabilities(state, audio.subarray(o + k * VAD_WINDOW, o + (k + n) * VAD_WINDOW))));
      }
      return out;
    }),
  );
  assert.deepEqual(inRequests, alone);
  await assert.rejects(vad.probabilities(new VadChannelState(), new Float32Array(VAD_WINDOW + 1)), RangeError);
});

test('concurrent channels share model runs: batches hold several windows, each window waits at most one batch', async () => {
  const before = await read();
  await Promise.all(Array.from({ length: 32 }, (_, i) => channelProbs(i * 1000)));
  const after = await read();
  const windows = after.value('vad_batch_size_sum') - before.value('vad_batch_size_sum');
  const batches = after.value('vad_batch_size_count') - before.value('vad_batch_size_count');
  assert.equal(windows, 32 * WINDOWS);
  assert.ok(batches <= WINDOWS * 2, `${batches} model runs for ${windows} windows`);
  assert.ok(windows / batches >= 16, `mean batch ${windows / batches}`);
});

test('large batches run on the worker: the event loop is far less busy than when the same work runs inline', async () => {
  const channels = 512;
  /** Event-loop utilization while 512 channels analyse WINDOWS windows each through `v`. */
  const busy = async (v: SileroVad) => {
    const elu0 = performance.eventLoopUtilization();
    const probs = await Promise.all(
      Array.from({ length: channels }, async (_, i) => {
        const state = new VadChannelState();
        for (let k = 0; k < WINDOWS; k++) await v.probability(state, audio.subarray(i * 100 + k * VAD_WINDOW, i * 100 + (k + 1) * VAD_WINDOW));
      }),
    );
    assert.equal(probs.length, channels);
    return performance.eventLoopUtilization(elu0).utilization;
  };
  const onWorker = await busy(vad);
  const everythingInline = await SileroVad.load(service, undefined, { inlineMaxWindows: Infinity });
  let inline: number;
  try {
    inline = await busy(everythingInline);
  } finally {
    await everythingInline.close();
  }
  // 40 batches of 512 windows: inline, the model's run time keeps the loop busy nearly all the time
  assert.ok(inline > 0.85, `inline, the event loop was busy only ${(inline * 100).toFixed(0)} %`);
  assert.ok(onWorker < 0.75 && onWorker < inline - 0.2, `with the worker the event loop was busy ${(onWorker * 100).toFixed(0)} % (inline: ${(inline * 100).toFixed(0)} %)`);
});

test('a request waits up to maxWaitMs for others to join its batch, and no longer', async () => {
  const jobsAndRuns = async (maxWaitMs: number) => {
    const v = await SileroVad.load(service, undefined, { maxWaitMs });
    try {
      // three channels in use: a request of one may wait for the others' (c makes none)
      const [a, b, c] = [v.openChannel(), v.openChannel(), v.openChannel()];
      await Promise.all([a, b, c].map((ch) => v.probability(ch, audio.subarray(0, VAD_WINDOW))));
      const before = await read();
      const first = v.probability(a, audio.subarray(VAD_WINDOW, 2 * VAD_WINDOW));
      await new Promise((r) => setTimeout(r, 15));
      await Promise.all([first, v.probability(b, audio.subarray(VAD_WINDOW, 2 * VAD_WINDOW))]);
      const after = await read();
      const jobs = after.value('vad_batch_wait_seconds_count') - before.value('vad_batch_wait_seconds_count');
      const waited = after.value('vad_batch_wait_seconds_sum') - before.value('vad_batch_wait_seconds_sum');
      return { jobs, waited };
    } finally {
      await v.close();
    }
  };
  const patient = await jobsAndRuns(200);
  assert.equal(patient.jobs, 1, "the second request, 15 ms later, joined the first one's batch");
  assert.ok(patient.waited >= 0.19 && patient.waited < 0.4, `the batch waited ${patient.waited} s for a 200 ms bound`);
  const eager = await jobsAndRuns(0);
  assert.equal(eager.jobs, 2, 'without a wait each request ran as soon as it came');
  assert.ok(eager.waited < 0.05, `waited ${eager.waited} s`);
});

test('nobody waits for company that is not there: a lone channel, every open channel queued, or the others closed: start at once', async () => {
  const v = await SileroVad.load(service, undefined, { maxWaitMs: 200 });
  try {
    const channel = v.openChannel();
    await v.probability(channel, audio.subarray(0, VAD_WINDOW));
    const t = performance.now();
    for (let k = 1; k <= 10; k++) await v.probability(channel, audio.subarray(k * VAD_WINDOW, (k + 1) * VAD_WINDOW));
    const ms = performance.now() - t;
    assert.ok(ms < 150, `10 requests of a lone channel took ${ms.toFixed(0)} ms with a 200 ms batching bound`);
  } finally {
    await v.close();
  }
  const w = await SileroVad.load(service, undefined, { maxWaitMs: 200 });
  try {
    // four channels in lockstep: each job holds all of them, so none waits
    const four = Array.from({ length: 4 }, () => w.openChannel());
    const t4 = performance.now();
    for (let k = 0; k < 10; k++) await Promise.all(four.map((c) => w.probability(c, audio.subarray(k * VAD_WINDOW, (k + 1) * VAD_WINDOW))));
    const ms4 = performance.now() - t4;
    assert.ok(ms4 < 150, `10 rounds of 4 channels in lockstep took ${ms4.toFixed(0)} ms with a 200 ms batching bound`);
    // one of them waits for the three others; they close instead: it goes at once
    const t1 = performance.now();
    const last = w.probability(four[0], audio.subarray(0, VAD_WINDOW));
    for (const c of four.slice(1)) w.closeChannel(c);
    await last;
    const ms1 = performance.now() - t1;
    assert.ok(ms1 < 100, `a request waited ${ms1.toFixed(0)} ms for channels that had closed`);
  } finally {
    await w.close();
  }
});

test('a model file that is missing fails load, naming it', async () => {
  await assert.rejects(SileroVad.load(service, '/nonexistent/silero_vad.onnx'), /nonexistent\/silero_vad\.onnx/);
});

test('with two workers, jobs of disjoint channels run at the same time and give the same probabilities', async () => {
  const vadRunSeconds = (e: Exposition) => e.value('processing_duration_seconds_sum', { pipeline: 'vad' });
  /** Sum of the VAD jobs' run times over the wall time, while 128 channels in jobs of ≤ 32 analyse 40 windows each. */
  const overlap = async (workers: number) => {
    const v = await SileroVad.load(service, undefined, { workers, maxBatch: 32, inlineMaxWindows: 0 });
    try {
      const before = await read();
      const started = performance.now();
      const probs = await Promise.all(
        Array.from({ length: 128 }, async (_, i) => {
          const state = new VadChannelState();
          return v.probabilities(state, audio.subarray(i * 100, i * 100 + 32 * VAD_WINDOW)).then(async (first) => [
            ...first,
            ...(await v.probabilities(state, audio.subarray(i * 100 + 32 * VAD_WINDOW, i * 100 + WINDOWS * VAD_WINDOW))),
          ]);
        }),
      );
      const wall = (performance.now() - started) / 1000;
      return { ratio: (vadRunSeconds(await read()) - vadRunSeconds(before)) / wall, probs };
    } finally {
      await v.close();
    }
  };
  const one = await overlap(1);
  const two = await overlap(2);
  assert.deepEqual(two.probs, one.probs);
  assert.deepEqual(two.probs[5], await referenceProbs(500));
  // one worker runs one job at a time: its jobs' run times fit in the wall time; two overlap
  assert.ok(one.ratio <= 1.02, `1 worker: run time / wall ${one.ratio.toFixed(2)}`);
  assert.ok(two.ratio > 1.3, `2 workers: run time / wall ${two.ratio.toFixed(2)}`);
});
