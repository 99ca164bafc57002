// Item 8: work off the event loop. The tests check where work runs (which thread, which pool) and
// how much CPU the event loop's thread spends; how freely the loop ticks meanwhile, and whether two
// VAD workers really run at the same time, need idle cores, so they are measured here:
//   - the same work on its worker and on this thread (the baseline): wall time, the longest gap
//     between ticks of a 5 ms interval timer on this thread, the share of expected ticks that came,
//     and event-loop utilization (performance.eventLoopUtilization):
//       simulated  one inference of the simulated model costing 0.3 s (delay 0.1 + 0.2 × 1 s);
//                  this thread: the same 0.3 s busy-wait
//       whisper    one inference of a 65 s tone through WhisperModel on a fake model in the export's
//                  contract (test/helpers/whisper-models.ts); this thread: the log-mel of its three
//                  30 s windows alone, a lower bound of running the inference here
//       vad        C channels × W windows through SileroVad (large jobs on its worker); this thread:
//                  the same with inlineMaxWindows Infinity
//   - VAD jobs of disjoint channels with 1 and 2 workers (128 channels, jobs of ≤ 32, all on the
//     pool): Σ job run time / wall time; above 1 means jobs ran at the same time.
import { rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { parseConfig, type SimulatedModelConfig, type WhisperModelConfig } from '../src/config.ts';
import { SimulatedModel } from '../src/model/simulated.ts';
import { logMel } from '../src/model/whisper/features.ts';
import { WhisperModel } from '../src/model/whisper/model.ts';
import { SileroVad, VadChannelState } from '../src/vad/silero.ts';
import { VAD_WINDOW } from '../src/vad/window.ts';
import { testContext } from '../test/helpers/context.ts';
import { writeFakeWhisper } from '../test/helpers/whisper-models.ts';
import { loadFixture, loopPcm, SAMPLE_RATE, toFloat32 } from './fixture.ts';
import { systemBusySeconds } from './server.ts';
import { cpuSecondsSince, median } from './stats.ts';

const TICK_MS = 5;
/** The simulated inference: delay 0.1 s + constant_factor 0.2 × 1 s of audio. */
export const SIMULATED_COST_S = 0.3;
const WHISPER_AUDIO_S = 65;
const WHISPER_WINDOW_SAMPLES = 30 * SAMPLE_RATE;

export interface OffloadOptions {
  /** Repetitions of each measurement (medians are reported). */
  reps: number;
  vadChannels: number;
  vadWindows: number;
  onStep?: (label: string) => void;
}

/** What the event loop of this thread did while one piece of work ran. */
export interface LoopReading {
  wallSeconds: number;
  /** Longest time between two ticks of a 5 ms interval timer (or from the last tick to the end). */
  longestGapMs: number;
  /** Ticks that came / wall time ÷ 5 ms. */
  tickShare: number;
  /** Event-loop utilization over the work. */
  elu: number;
  /** CPU of other processes on the machine / wall time. */
  otherCores: number;
}

export interface OffloadPair {
  name: 'simulated' | 'whisper' | 'vad';
  work: string;
  worker: LoopReading;
  thisThread: LoopReading;
}

export interface OverlapRun {
  workers: number;
  wallSeconds: number;
  /** Σ of the VAD jobs' run times on the workers (processing_duration_seconds_sum{pipeline="vad"}). */
  runSeconds: number;
  /** runSeconds / wallSeconds: above 1, jobs ran at the same time. */
  ratio: number;
  otherCores: number;
}

export interface OffloadResults {
  pairs: OffloadPair[];
  /** The log-mel of one 30 s window on this thread (median), the old "well under a second" test. */
  logMelWindowSeconds: number;
  overlap: OverlapRun[];
}

/** Runs `work` while a 5 ms interval timer ticks on this thread. */
async function watchLoop(work: () => Promise<unknown>): Promise<LoopReading> {
  let ticks = 0;
  let longest = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    ticks++;
  }, TICK_MS);
  const cpu = process.cpuUsage();
  const busy = systemBusySeconds();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const end = performance.now();
  const wallSeconds = (end - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const otherCpuSeconds = Math.max(0, systemBusySeconds() - busy - cpuSecondsSince(cpu));
  return {
    wallSeconds,
    longestGapMs: Math.max(longest, end - last),
    tickShare: ticks / ((wallSeconds * 1000) / TICK_MS),
    elu,
    otherCores: otherCpuSeconds / wallSeconds,
  };
}

/** Field-by-field median of the readings. */
function medianReading(readings: LoopReading[]): LoopReading {
  const m = (f: (r: LoopReading) => number) => median(readings.map(f)) ?? NaN;
  return { wallSeconds: m((r) => r.wallSeconds), longestGapMs: m((r) => r.longestGapMs), tickShare: m((r) => r.tickShare), elu: m((r) => r.elu), otherCores: m((r) => r.otherCores) };
}

function spin(seconds: number): void {
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    // the simulated model's busy-wait, here
  }
}

function tone(seconds: number): Float32Array {
  const out = new Float32Array(Math.round(seconds * SAMPLE_RATE));
  for (let i = 0; i < out.length; i++) out[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / SAMPLE_RATE);
  return out;
}

type Context = ReturnType<typeof testContext>;

async function simulated(ctx: Context, reps: number): Promise<OffloadPair> {
  const config = parseConfig({ model: { delay: 0.1, constant_factor: 0.2, jitter: 0, warmup_penalty: 0, workers: 1 } }).model as SimulatedModelConfig;
  const model = new SimulatedModel(config, ctx.service);
  try {
    await model.infer(new Float32Array(160)); // starts the worker
    const worker: LoopReading[] = [];
    const here: LoopReading[] = [];
    for (let r = 0; r < reps; r++) {
      worker.push(await watchLoop(() => model.infer(new Float32Array(SAMPLE_RATE))));
      here.push(await watchLoop(async () => spin(SIMULATED_COST_S)));
    }
    return { name: 'simulated', work: `one ${SIMULATED_COST_S} s inference`, worker: medianReading(worker), thisThread: medianReading(here) };
  } finally {
    await model.close();
  }
}

async function whisper(ctx: Context, reps: number): Promise<{ pair: OffloadPair; logMelWindowSeconds: number }> {
  const files = await writeFakeWhisper({ target: [7, 3, 12], anyAudio: true });
  try {
    const config = parseConfig({ model: { backend: 'whisper', path: files.dir } }).model as WhisperModelConfig;
    const model = await WhisperModel.load(config, ctx.service);
    try {
      await model.warmup();
      const samples = tone(WHISPER_AUDIO_S);
      const windows = Math.ceil(samples.length / WHISPER_WINDOW_SAMPLES);
      const worker: LoopReading[] = [];
      const here: LoopReading[] = [];
      for (let r = 0; r < reps; r++) {
        worker.push(
          await watchLoop(async () => {
            const result = await model.infer(samples.slice());
            if (!result.ok) throw new Error(`whisper inference on the fake model failed: ${result.error}`);
          }),
        );
        here.push(
          await watchLoop(async () => {
            for (let w = 0; w < windows; w++) logMel(samples.subarray(w * WHISPER_WINDOW_SAMPLES, (w + 1) * WHISPER_WINDOW_SAMPLES));
          }),
        );
      }
      const thisThread = medianReading(here);
      return {
        pair: { name: 'whisper', work: `one ${WHISPER_AUDIO_S} s inference (fake model)`, worker: medianReading(worker), thisThread },
        logMelWindowSeconds: thisThread.wallSeconds / windows,
      };
    } finally {
      await model.close();
    }
  } finally {
    await rm(files.dir, { recursive: true, force: true });
  }
}

/** `channels` channels analyse `windows` windows each, from their own offsets in `audio`. */
async function analyse(vad: SileroVad, audio: Float32Array, channels: number, windows: number): Promise<void> {
  await Promise.all(
    Array.from({ length: channels }, async (_, i) => {
      const state = new VadChannelState();
      const at = (i * 97 * VAD_WINDOW) % (audio.length - windows * VAD_WINDOW);
      for (let k = 0; k < windows; k++) await vad.probability(state, audio.subarray(at + k * VAD_WINDOW, at + (k + 1) * VAD_WINDOW));
    }),
  );
}

async function vadPair(ctx: Context, opts: OffloadOptions, audio: Float32Array): Promise<OffloadPair> {
  const onWorker = await SileroVad.load(ctx.service);
  const inline = await SileroVad.load(ctx.service, undefined, { inlineMaxWindows: Infinity });
  try {
    await analyse(onWorker, audio, 8, 4); // warm-up
    await analyse(inline, audio, 8, 4);
    const worker: LoopReading[] = [];
    const here: LoopReading[] = [];
    for (let r = 0; r < opts.reps; r++) {
      worker.push(await watchLoop(() => analyse(onWorker, audio, opts.vadChannels, opts.vadWindows)));
      here.push(await watchLoop(() => analyse(inline, audio, opts.vadChannels, opts.vadWindows)));
    }
    return { name: 'vad', work: `${opts.vadChannels} channels × ${opts.vadWindows} windows`, worker: medianReading(worker), thisThread: medianReading(here) };
  } finally {
    await Promise.all([onWorker.close(), inline.close()]);
  }
}

async function overlap(ctx: Context, reps: number, audio: Float32Array): Promise<OverlapRun[]> {
  const runSeconds = async () => (await ctx.read()).value('processing_duration_seconds_sum', { pipeline: 'vad' });
  const out: OverlapRun[] = [];
  for (const workers of [1, 2]) {
    const vad = await SileroVad.load(ctx.service, undefined, { workers, maxBatch: 32, inlineMaxWindows: 0 });
    try {
      await analyse(vad, audio, 32, 4); // warm-up
      const runs: OverlapRun[] = [];
      for (let r = 0; r < reps; r++) {
        const run0 = await runSeconds();
        const reading = await watchLoop(() => analyse(vad, audio, 128, 40));
        const run = (await runSeconds()) - run0;
        runs.push({ workers, wallSeconds: reading.wallSeconds, runSeconds: run, ratio: run / reading.wallSeconds, otherCores: reading.otherCores });
      }
      const m = (f: (r: OverlapRun) => number) => median(runs.map(f)) ?? NaN;
      out.push({ workers, wallSeconds: m((r) => r.wallSeconds), runSeconds: m((r) => r.runSeconds), ratio: m((r) => r.ratio), otherCores: m((r) => r.otherCores) });
    } finally {
      await vad.close();
    }
  }
  return out;
}

export async function runOffload(opts: OffloadOptions): Promise<OffloadResults> {
  const ctx = testContext();
  const audio = toFloat32(loopPcm(loadFixture(), 30));
  opts.onStep?.('offload: simulated model');
  const sim = await simulated(ctx, opts.reps);
  opts.onStep?.('offload: whisper (fake model)');
  const wh = await whisper(ctx, opts.reps);
  opts.onStep?.(`offload: VAD ${opts.vadChannels} channels, worker vs this thread`);
  const vad = await vadPair(ctx, opts, audio);
  opts.onStep?.('offload: VAD 1 vs 2 workers');
  const ov = await overlap(ctx, opts.reps, audio);
  return { pairs: [sim, wh.pair, vad], logMelWindowSeconds: wh.logMelWindowSeconds, overlap: ov };
}
