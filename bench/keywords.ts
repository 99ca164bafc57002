// Item 7: the keywords backend (openWakeWord's real models, shipped in an npm package, so it always
// runs). (a) Model RTF and CPU per audio second by chunk size: the backend loaded in this process
// through the server's path (parseConfig with `model.backend: "keywords"`, default keywords, one
// worker), the keyword fixture looped, fed through one model channel in chunks of each size, one
// after the other (as simple mode feeds it); baseline: the same audio as one segment (one job).
// (b) Capacity of real-time simple-route streams with this model on the server (model.workers 2):
// the capacity runs of item 2 on the simple route; headline: largest N whose run had p99 result
// lag < 0.5 s, every stream completed; baseline: the same N with the simulated model at zero cost.
import { parseConfig, type KeywordsModelConfig } from '../src/config.ts';
import { noopContext } from '../src/context.ts';
import { log } from '../src/log.ts';
import { KeywordsModel } from '../src/model/keywords/model.ts';
import { keywordFixture } from '../test/helpers/keywords.ts';
import { capacityRun, type CapacityRun, type CapacityRunOptions } from './capacity.ts';
import { SAMPLE_RATE } from './fixture.ts';
import { systemBusySeconds } from './server.ts';
import { cpuSecondsSince, median } from './stats.ts';

export const KEYWORDS_MODEL = { backend: 'keywords', workers: 2 };

export interface KeywordsOptions {
  /** Audio fed per chunk size (the fixture looped). */
  audioSeconds: number;
  /** Chunk sizes in seconds. */
  chunkSeconds: number[];
  capacityNs: number[];
  capacityDurationS: number;
  staggerMs: number;
  drainTimeoutS: number;
  onStep?: (label: string) => void;
}

export interface ChunkRun {
  /** Seconds per chunk; null: the whole audio as one segment (the baseline). */
  chunkSeconds: number | null;
  chunks: number;
  audioSeconds: number;
  /** Σ computeSeconds / audio seconds: the model-stage RTF the service records. */
  rtf: number;
  /** Median of computeSeconds / chunk seconds. */
  rtfMedian: number;
  /** This process's CPU (all threads: the worker's onnxruntime included) per audio second. */
  cpuPerAudioSecond: number;
  otherCores: number;
  /** rtf / the baseline's rtf. */
  vsWhole: number;
}

export interface KeywordsCapacity {
  keywords: CapacityRun[];
  /** The simulated model at zero cost, same N and route. */
  baseline: CapacityRun[];
  headlineStreams: number | null;
  baselineHeadlineStreams: number | null;
}

export interface KeywordsResults {
  labels: string[];
  loadSeconds: number;
  chunks: ChunkRun[];
  capacity: KeywordsCapacity;
}

function loopedFixture(seconds: number): Float32Array {
  const { samples } = keywordFixture();
  const out = new Float32Array(Math.round(seconds * SAMPLE_RATE));
  for (let at = 0; at < out.length; at += samples.length) out.set(samples.subarray(0, Math.min(samples.length, out.length - at)), at);
  return out;
}

export async function keywordChunkRuns(opts: KeywordsOptions): Promise<Pick<KeywordsResults, 'labels' | 'loadSeconds' | 'chunks'>> {
  const config = parseConfig({ model: { backend: 'keywords', workers: 1 } }, 'keywords bench config');
  // The backend's info logs would interleave with the tables.
  const level = log.level;
  if (process.env.LOG_LEVEL === undefined) log.level = 'warn';
  const t0 = performance.now();
  const model = await KeywordsModel.load(config.model as KeywordsModelConfig, noopContext()).finally(() => (log.level = level));
  const loadSeconds = (performance.now() - t0) / 1000;
  try {
    await model.warmup();
    const audio = loopedFixture(opts.audioSeconds);
    const measure = async (chunkSeconds: number | null): Promise<Omit<ChunkRun, 'vsWhole'>> => {
      opts.onStep?.(`keywords: ${chunkSeconds === null ? 'whole audio as one segment' : `chunks of ${chunkSeconds * 1000} ms`}`);
      const size = chunkSeconds === null ? audio.length : Math.round(chunkSeconds * SAMPLE_RATE);
      const rtfs: number[] = [];
      let compute = 0;
      const cpu = process.cpuUsage();
      const busy = systemBusySeconds();
      const started = performance.now();
      const channel = model.openChannel();
      for (let at = 0; at < audio.length; at += size) {
        const piece = audio.slice(at, at + size);
        const seconds = piece.length / SAMPLE_RATE;
        const r = chunkSeconds === null ? await model.infer(piece, at) : await channel.infer(piece, at);
        if (!r.ok) throw new Error(`keywords inference failed: ${r.error}`);
        compute += r.computeSeconds ?? NaN;
        rtfs.push((r.computeSeconds ?? NaN) / seconds);
      }
      channel.close();
      const wall = (performance.now() - started) / 1000;
      const ours = cpuSecondsSince(cpu);
      return {
        chunkSeconds,
        chunks: rtfs.length,
        audioSeconds: audio.length / SAMPLE_RATE,
        rtf: compute / (audio.length / SAMPLE_RATE),
        rtfMedian: median(rtfs) ?? NaN,
        cpuPerAudioSecond: ours / (audio.length / SAMPLE_RATE),
        otherCores: Math.max(0, (systemBusySeconds() - busy - ours) / wall),
      };
    };
    // One unmeasured pass (JIT, onnxruntime's first runs at these shapes).
    await measure(0.1);
    const whole = await measure(null);
    const chunks: ChunkRun[] = [{ ...whole, vsWhole: 1 }];
    for (const c of opts.chunkSeconds) {
      const run = await measure(c);
      chunks.push({ ...run, vsWhole: run.rtf / whole.rtf });
    }
    return { labels: model.labels, loadSeconds, chunks };
  } finally {
    await model.close();
  }
}

const passed = (runs: CapacityRun[]) => {
  const ok = runs.filter((r) => r.ok).map((r) => r.streams);
  return ok.length > 0 ? Math.max(...ok) : null;
};

export async function runKeywords(opts: KeywordsOptions): Promise<KeywordsResults> {
  const chunks = await keywordChunkRuns(opts);
  const run = (streams: number, model: Record<string, unknown> | undefined, label: string) => {
    opts.onStep?.(`keywords capacity: N=${streams}, ${label}`);
    const options: CapacityRunOptions = {
      streams,
      durationS: opts.capacityDurationS,
      staggerMs: opts.staggerMs,
      drainTimeoutS: opts.drainTimeoutS,
      telemetry: true,
      renderSamplesLoaded: 0,
      backlogEveryMs: 2000,
      route: 'simple',
      model,
    };
    return capacityRun(options);
  };
  const keywords: CapacityRun[] = [];
  const baseline: CapacityRun[] = [];
  for (const n of opts.capacityNs) {
    keywords.push(await run(n, KEYWORDS_MODEL, 'keywords model'));
    baseline.push(await run(n, undefined, 'zero-cost simulated model (baseline)'));
  }
  return { ...chunks, capacity: { keywords, baseline, headlineStreams: passed(keywords), baselineHeadlineStreams: passed(baseline) } };
}
