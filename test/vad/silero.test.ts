import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { MIN_REQUESTS_PER_SPLIT, MIN_WINDOWS_PER_SPLIT } from '../../src/vad/scheduler.ts';
import { bundledVadModelPath, matmulVadModelPath, SileroVad, VadChannelState } from '../../src/vad/silero.ts';
import { createVadSession } from '../../src/vad/silero-job.ts';
import { VAD_WINDOW } from '../../src/vad/window.ts';
import { jobsSince, testContext } from '../helpers/context.ts';
import { speechFixture } from '../helpers/service.ts';
import { within } from '../helpers/wait.ts';

const { read, service, jobs } = testContext();
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
async function channelProbs(offset: number, on = vad): Promise<number[]> {
  const state = new VadChannelState();
  const out: number[] = [];
  for (let k = 0; k < WINDOWS; k++) out.push(await on.probability(state, audio.subarray(offset + k * VAD_WINDOW, offset + (k + 1) * VAD_WINDOW)));
  return out;
}

/**
 * The same probabilities from a plain onnxruntime loop on this thread, one window per run: the
 * reference, on the graph the VAD runs (matmul by default; silero-graph.test.ts compares the two graphs).
 */
async function referenceProbs(offset: number, model = matmulVadModelPath()): Promise<number[]> {
  const session = await createVadSession(model);
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

test('with the shipped model (vad.graph: original), channels batched together get exactly what it gives in a plain loop', async () => {
  const original = await SileroVad.load(service, bundledVadModelPath(), { inlineMaxWindows: 0 });
  try {
    const offsets = [0, 16000, 40000, 80000];
    const alone: number[][] = [];
    for (const o of offsets) alone.push(await referenceProbs(o, bundledVadModelPath()));
    assert.deepEqual(await Promise.all(offsets.map((o) => channelProbs(o, original))), alone);
    assert.notDeepEqual(alone, await Promise.all(offsets.map((o) => referenceProbs(o))), 'the default (matmul) model differs in the last digits');
  } finally {
    await original.close();
  }
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
        out.push(...(await vad.probabilities(state, audio.subarray(o + k * VAD_WINDOW, o + (k + n) * VAD_WINDOW))).probs);
      }
      return out;
    }),
  );
  assert.deepEqual(inRequests, alone);
  await assert.rejects(vad.probabilities(new VadChannelState(), new Float32Array(VAD_WINDOW + 1)), RangeError);
});

test("each answer carries its request's times: made, its batch started, its run, answered; one batch's shared", async () => {
  const made = performance.now();
  const [a, b] = await Promise.all([0, 4000].map((o) => vad.probabilities(new VadChannelState(), audio.subarray(o, o + 2 * VAD_WINDOW))));
  const answered = performance.now();
  assert.equal(a.probs.length, 2);
  for (const { timing } of [a, b]) {
    const { requestedAt, batchStartedAt, runSeconds, answeredAt } = timing;
    assert.ok(made <= requestedAt && requestedAt <= batchStartedAt && batchStartedAt <= answeredAt && answeredAt <= answered, JSON.stringify(timing));
    assert.ok(runSeconds > 0 && runSeconds * 1000 <= answeredAt - batchStartedAt, `run ${runSeconds} s within the batch's round trip`);
  }
  assert.deepEqual({ ...a.timing, requestedAt: 0 }, { ...b.timing, requestedAt: 0 }, 'both in one batch');
  assert.notEqual(a.timing, b.timing, 'each request its own record');
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

const vadJobs = () => jobs('vad');

// How much the worker frees the event loop (utilization, inline vs worker) is measured by the benchmark
// (npm run bench -- --only offload): here, which thread runs which job, whatever the machine's load.
test('large batches run on the worker, a lone window inline; with inlineMaxWindows Infinity everything runs inline', async () => {
  const channels = 512;
  /** 512 channels analyse WINDOWS windows each through `v`: jobs of up to 256 windows. */
  const analyse = async (v: SileroVad) => {
    const before = await vadJobs();
    const probs = await Promise.all(
      Array.from({ length: channels }, async (_, i) => {
        const state = new VadChannelState();
        for (let k = 0; k < WINDOWS; k++) await v.probability(state, audio.subarray(i * 100 + k * VAD_WINDOW, i * 100 + (k + 1) * VAD_WINDOW));
      }),
    );
    assert.equal(probs.length, channels);
    return jobsSince(before, await vadJobs());
  };
  const large = await analyse(vad);
  assert.ok(large.all >= (channels * WINDOWS) / 256, `${large.all} jobs for ${channels * WINDOWS} windows`);
  assert.equal(large.onWorker, large.all, `jobs of up to 256 windows: ${large.onWorker} of ${large.all} on the worker`);

  const before = await vadJobs();
  await vad.probability(new VadChannelState(), audio.subarray(0, VAD_WINDOW));
  assert.deepEqual(jobsSince(before, await vadJobs()), { all: 1, onWorker: 0 }, 'a job of one window runs on this thread');

  const everythingInline = await SileroVad.load(service, undefined, { inlineMaxWindows: Infinity });
  try {
    const inline = await analyse(everythingInline);
    assert.ok(inline.all >= (channels * WINDOWS) / 256, `${inline.all} jobs`);
    assert.equal(inline.onWorker, 0, 'inlineMaxWindows: Infinity: no job on the worker');
  } finally {
    await everythingInline.close();
  }
});

// The batching wait on mocked timers and clock (setTimeout and Date; the VAD reads Date.now): no
// request here waits for real time, so the machine's load cannot change what happens.
const MOCKED = { apis: ['setTimeout', 'Date'] } as const;
const mockedClock = { now: () => Date.now() };
/** vad_batch_wait_seconds: jobs started and their summed wait for company. */
const batchWaits = async () => {
  const e = await read();
  return { jobs: e.value('vad_batch_wait_seconds_count'), waited: e.value('vad_batch_wait_seconds_sum') };
};
/** A request that must not wait for a timer: mocked timers never fire by themselves, so waiting would hang. */
const atOnce = <T>(what: string, p: Promise<T>) => within(`${what} waited for the batching timer`, p);

test('a request waits exactly maxWaitMs for others to join its batch, and no longer', { timeout: 60_000 }, async (t) => {
  // minCompany 0: the wait alone (with the default, requests this sparse would not wait at all; see below)
  const patient = await SileroVad.load(service, undefined, { maxWaitMs: 200, minCompany: 0, ...mockedClock });
  const eager = await SileroVad.load(service, undefined, { maxWaitMs: 0, minCompany: 0, ...mockedClock });
  t.mock.timers.enable(MOCKED);
  try {
    // three channels in use: a request of one may wait for the others' (c makes none)
    const [a, b, c] = [patient.openChannel(), patient.openChannel(), patient.openChannel()];
    await atOnce('a request of every open channel', Promise.all([a, b, c].map((ch) => patient.probability(ch, audio.subarray(0, VAD_WINDOW)))));
    const before = await batchWaits();
    const first = patient.probability(a, audio.subarray(VAD_WINDOW, 2 * VAD_WINDOW));
    t.mock.timers.tick(15);
    const second = patient.probability(b, audio.subarray(VAD_WINDOW, 2 * VAD_WINDOW));
    t.mock.timers.tick(184);
    assert.equal((await batchWaits()).jobs, before.jobs, 'no job before 200 ms: the batch waits for c');
    t.mock.timers.tick(1);
    await atOnce('the batch at its 200 ms bound', Promise.all([first, second]));
    const after = await batchWaits();
    assert.equal(after.jobs - before.jobs, 1, "the second request, 15 ms later, joined the first one's batch");
    assert.equal(Math.round((after.waited - before.waited) * 1e6) / 1e6, 0.2, 'the batch waited the 200 ms bound');

    const ch = [eager.openChannel(), eager.openChannel()];
    const eagerBefore = await batchWaits();
    await atOnce('a request with maxWaitMs 0', eager.probability(ch[0], audio.subarray(0, VAD_WINDOW)));
    t.mock.timers.tick(15);
    await atOnce('a request with maxWaitMs 0', eager.probability(ch[1], audio.subarray(0, VAD_WINDOW)));
    const eagerAfter = await batchWaits();
    assert.deepEqual({ jobs: eagerAfter.jobs - eagerBefore.jobs, waited: eagerAfter.waited - eagerBefore.waited }, { jobs: 2, waited: 0 }, 'without a wait each request ran as soon as it came');
  } finally {
    await Promise.all([patient.close(), eager.close()]);
  }
});

test('nobody waits for company that is not there: a lone channel, every open channel queued, or the others closed: start at once', { timeout: 60_000 }, async (t) => {
  // minCompany 0: these rules alone, whatever the arrival rate
  const v = await SileroVad.load(service, undefined, { maxWaitMs: 200, minCompany: 0, ...mockedClock });
  const w = await SileroVad.load(service, undefined, { maxWaitMs: 200, minCompany: 0, ...mockedClock });
  t.mock.timers.enable(MOCKED); // mocked time never advances here: a request that waited would never start
  try {
    const before = await batchWaits();
    const channel = v.openChannel();
    for (let k = 0; k < 10; k++) await atOnce(`request ${k} of a lone channel`, v.probability(channel, audio.subarray(k * VAD_WINDOW, (k + 1) * VAD_WINDOW)));
    // four channels in lockstep: each job holds all of them, so none waits
    const four = Array.from({ length: 4 }, () => w.openChannel());
    for (let k = 0; k < 10; k++) await atOnce(`round ${k} of 4 channels in lockstep`, Promise.all(four.map((c) => w.probability(c, audio.subarray(k * VAD_WINDOW, (k + 1) * VAD_WINDOW)))));
    // one of them waits for the three others; they close instead: it goes at once
    const last = w.probability(four[0], audio.subarray(0, VAD_WINDOW));
    for (const c of four.slice(1)) w.closeChannel(c);
    await atOnce('a request whose company closed', last);
    const after = await batchWaits();
    assert.equal(after.jobs - before.jobs, 10 + 10 + 1);
    assert.equal(after.waited - before.waited, 0, 'no job waited for company');
  } finally {
    await Promise.all([v.close(), w.close()]);
  }
});

test('a request waits only when company is expected: sparse requests start at once, a busy stream of them waits', { timeout: 60_000 }, async (t) => {
  const v = await SileroVad.load(service, undefined, { maxWaitMs: 50, ...mockedClock }); // minCompany: the default, 2
  t.mock.timers.enable(MOCKED);
  try {
    const channels = Array.from({ length: 31 }, () => v.openChannel()); // the last never asks: no "every open channel" start
    const asking = channels.slice(0, 30);
    const before = await batchWaits();
    // Sparse: one request every 100 ms (about 0.01 per ms: under one expected in the 50 ms wait).
    for (let k = 0; k < 5; k++) {
      await atOnce(`sparse request ${k}`, v.probability(channels[0], audio.subarray(k * VAD_WINDOW, (k + 1) * VAD_WINDOW)));
      t.mock.timers.tick(100);
    }
    const sparse = await batchWaits();
    assert.deepEqual({ jobs: sparse.jobs - before.jobs, waited: sparse.waited - before.waited }, { jobs: 5, waited: 0 }, 'sparse requests did not wait');
    // 30 requests at once: the rate seen before them was low, so their job starts at once and holds them all.
    await atOnce('30 requests after a quiet spell', Promise.all(asking.map((c) => v.probability(c, audio.subarray(0, VAD_WINDOW)))));
    const burst = await batchWaits();
    assert.equal(burst.jobs - sparse.jobs, 1);
    // Now 30 requests arrived within an instant (~0.15 per ms): the next request expects company and waits.
    const next = v.probability(asking[0], audio.subarray(VAD_WINDOW, 2 * VAD_WINDOW));
    await new Promise((r) => setImmediate(r));
    assert.equal((await batchWaits()).jobs, burst.jobs, 'it waits for company');
    t.mock.timers.tick(50);
    await atOnce('the wait at its bound', next);
    const waited = await batchWaits();
    assert.equal(Math.round((waited.waited - burst.waited) * 1e6) / 1e6, 0.05, 'it waited the 50 ms bound');
  } finally {
    await v.close();
  }
});

test('a model file that is missing fails load, naming it', async () => {
  await assert.rejects(SileroVad.load(service, '/nonexistent/silero_vad.onnx'), /nonexistent\/silero_vad\.onnx/);
});

// Whether the two workers' jobs really overlap in time depends on free cores: the benchmark measures
// it (npm run bench -- --only offload). Here: what two workers compute, and that every job ran on the pool.
test('load runs one window on every worker, so none is still starting when the VAD is closed', async () => {
  for (const workers of [1, 3]) {
    const before = await vadJobs();
    const v = await SileroVad.load(service, undefined, { workers });
    await v.close();
    assert.deepEqual(jobsSince(before, await vadJobs()), { all: workers, onWorker: workers }, `${workers} worker(s)`);
  }
});

test('with two workers, jobs of disjoint channels run on the pool and give the same probabilities as with one', async () => {
  /** 128 channels in jobs of ≤ 32 analyse 40 windows each, every job on the pool. */
  const analyse = async (workers: number) => {
    const v = await SileroVad.load(service, undefined, { workers, maxBatch: 32, inlineMaxWindows: 0 });
    try {
      const before = await vadJobs();
      const probs = await Promise.all(
        Array.from({ length: 128 }, async (_, i) => {
          const state = new VadChannelState();
          return v.probabilities(state, audio.subarray(i * 100, i * 100 + 32 * VAD_WINDOW)).then(async (first) => [
            ...first.probs,
            ...(await v.probabilities(state, audio.subarray(i * 100 + 32 * VAD_WINDOW, i * 100 + WINDOWS * VAD_WINDOW))).probs,
          ]);
        }),
      );
      return { jobs: jobsSince(before, await vadJobs()), probs };
    } finally {
      await v.close();
    }
  };
  const one = await analyse(1);
  const two = await analyse(2);
  assert.deepEqual(two.probs, one.probs);
  assert.deepEqual(two.probs[5], await referenceProbs(500));
  for (const [workers, { jobs }] of [[1, one], [2, two]] as const) {
    assert.ok(jobs.all >= 8, `${workers} worker(s): ${jobs.all} jobs for 128 channels in jobs of ≤ 32`);
    assert.equal(jobs.onWorker, jobs.all, `${workers} worker(s): every job on the pool`);
  }
});

test('requests that queued up while the workers were busy are spread over the idle workers, with the probabilities of the plain loop', async () => {
  const channels = 2 * MIN_REQUESTS_PER_SPLIT;
  const first = Math.ceil((2 * MIN_WINDOWS_PER_SPLIT) / channels); // windows per channel in the first requests: enough for two jobs
  const v = await SileroVad.load(service, undefined, { workers: 2 });
  try {
    const states = Array.from({ length: channels }, () => v.openChannel());
    const runs = async () => (await read()).value('vad_batch_size_count');
    const before = { jobs: await vadJobs(), runs: await runs() };
    const rest = async (s: VadChannelState, i: number, from: number, to: number) => [...(await v.probabilities(s, audio.subarray(i * 100 + from * VAD_WINDOW, i * 100 + to * VAD_WINDOW))).probs];
    // Every open channel asks at once (the event loop caught up after a burst): two jobs, one per worker, not one of all.
    const heads = await Promise.all(states.map((s, i) => rest(s, i, 0, first)));
    assert.deepEqual(jobsSince(before.jobs, await vadJobs()), { all: 2, onWorker: 2 }, `${channels} requests of ${first} windows, two idle workers`);
    assert.equal((await runs()) - before.runs, 2 * first, `${first} model runs per job, each of half the channels`);
    const probs = await Promise.all(states.map(async (s, i) => [...heads[i], ...(await rest(s, i, first, 32)), ...(await rest(s, i, 32, WINDOWS))]));
    for (const i of [0, channels / 2 - 1, channels / 2, channels - 1]) assert.deepEqual(probs[i], await referenceProbs(i * 100), `channel ${i}`);
  } finally {
    await v.close();
  }
});

test('a small backlog stays one job: requests of one window each from every channel, fewer windows than two jobs of the minimum', async () => {
  const channels = 2 * MIN_REQUESTS_PER_SPLIT;
  assert.ok(channels < 2 * MIN_WINDOWS_PER_SPLIT);
  const v = await SileroVad.load(service, undefined, { workers: 2 });
  try {
    const states = Array.from({ length: channels }, () => v.openChannel());
    const before = await vadJobs();
    await Promise.all(states.map((s, i) => v.probabilities(s, audio.subarray(i * 100, i * 100 + VAD_WINDOW))));
    assert.deepEqual(jobsSince(before, await vadJobs()), { all: 1, onWorker: 1 }, `${channels} requests of one window: one job`);
  } finally {
    await v.close();
  }
});

test("an answer's probabilities stay as they were when the next job reuses the job's memory", async () => {
  const first = await vad.probabilities(new VadChannelState(), audio.subarray(0, 4 * VAD_WINDOW));
  const kept = [...first.probs];
  const second = await vad.probabilities(new VadChannelState(), audio.subarray(40_000, 40_000 + 4 * VAD_WINDOW));
  assert.notDeepEqual([...second.probs], kept, 'the second job has other probabilities (else this test could not fail)');
  assert.deepEqual([...first.probs], kept);
});
