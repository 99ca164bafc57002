// Item 6: the Whisper backend's own cost, with a real model when one is present (every complete
// models/whisper-*/ directory, as test/model/whisper/real-model.test.ts finds them, plus
// $WHISPER_BENCH_MODEL_DIR). Each model is loaded through the server's own path (parseConfig with
// `model.backend: "whisper"`, then loadModel: WhisperModel, one worker), warmed up, and run on the
// committed fixtures: the two sentences of test/fixtures/speech.wav (cut at speech.json's regions,
// padded as the VAD pads them) and test/fixtures/quick-brown-fox.wav, with `threads` 1 and 2.
// Measured: load time, model RTF (the backend's computeSeconds / audio seconds, per inference),
// process CPU per audio second (process.cpuUsage: the worker's onnxruntime threads included) and
// the word error rate of the transcripts. Without a model the item is skipped at once, saying how
// to get one (CI has none).
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findWhisperFiles } from '../src/model/whisper/model.ts';
import { wordErrorRate } from '../test/helpers/wer.ts';
import { loadFixture, SAMPLE_RATE, toFloat32 } from './fixture.ts';
import { systemBusySeconds } from './server.ts';
import { cpuSecondsSince, max, median } from './stats.ts';

const MODELS_DIR = fileURLToPath(new URL('../models/', import.meta.url));
const SPEECH_WAV = fileURLToPath(new URL('../test/fixtures/speech.wav', import.meta.url));
const SPEECH_JSON = fileURLToPath(new URL('../test/fixtures/speech.json', import.meta.url));
const FOX_WAV = fileURLToPath(new URL('../test/fixtures/quick-brown-fox.wav', import.meta.url));
/** What quick-brown-fox.wav says (QUICK_FOX_TEXT in test/fixtures/make-fixtures.sh). */
export const FOX_TEXT = 'the quick brown fox jumps over the lazy dog';
/** The VAD's default speech_pad_ms: the segments the service hands the model are this much wider. */
const PAD_SECONDS = 0.03;
export const NO_MODEL_REASON =
  'no Whisper model under models/whisper-*/ and WHISPER_BENCH_MODEL_DIR not set: run `npm run models:fetch -- tiny.en` (or base.en, small.en) to measure one';

export interface WhisperOptions {
  /** Passes over the clips per thread setting (each pass: every clip once). */
  reps: number;
  /** onnxruntime intra-op threads to measure (`model.threads`), one model load each. */
  threads: number[];
  /** Stop adding passes once one thread setting has run this long (at least one pass always runs). */
  budgetSeconds: number;
  onStep?: (label: string) => void;
}

export interface BenchModel {
  /** `tiny.en` for models/whisper-tiny.en; the directory name otherwise. */
  name: string;
  dir: string;
}

export interface ClipResult {
  name: string;
  audioSeconds: number;
  /** computeSeconds / audioSeconds of each pass. */
  rtfs: number[];
  text: string;
}

export interface WhisperRun {
  threads: number;
  /** WhisperModel.load: files found, metadata read, worker pool created. */
  loadSeconds: number;
  /** warmup(): the first inference (1 s of silence), which creates the worker's onnxruntime sessions. */
  firstInferenceSeconds: number;
  passes: number;
  /** Audio of one pass (every clip once). */
  audioSecondsPerPass: number;
  /** Over every measured inference (clips × passes). */
  rtfMedian: number;
  rtfMax: number;
  /** Σ computeSeconds / Σ audio seconds over the measured passes. */
  rtfTotal: number;
  /** This process's CPU (all threads) / audio seconds, over the measured passes. */
  cpuPerAudioSecond: number;
  /** This process's CPU / wall time over the measured passes. */
  cores: number;
  /** CPU of other processes on the machine / wall time, over the measured passes. */
  otherCores: number;
  foxWer: number;
  /** Both sentences of speech.wav, their transcripts joined. */
  speechWer: number;
  clips: ClipResult[];
}

export interface WhisperModelResult {
  name: string;
  dir: string;
  encoder: string | null;
  decoder: string | null;
  runs: WhisperRun[];
  /** Why this model could not be measured (then runs holds what was measured before). */
  error: string | null;
}

export interface WhisperResults {
  /** Why nothing was measured (no model present), or null. */
  skipped: string | null;
  models: WhisperModelResult[];
  /** models/whisper-*\/ directories left out because they hold no complete model. */
  incomplete: { dir: string; reason: string }[];
}

interface Clip {
  name: string;
  samples: Float32Array;
  reference: string;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * The models to measure: every complete models/whisper-*\/ (tiny.en first), then
 * $WHISPER_BENCH_MODEL_DIR (always, complete or not: a broken one is reported as that model's error).
 */
export async function findBenchModels(
  env = process.env.WHISPER_BENCH_MODEL_DIR,
  modelsDir = MODELS_DIR,
): Promise<{ models: BenchModel[]; incomplete: { dir: string; reason: string }[] }> {
  const models: BenchModel[] = [];
  const incomplete: { dir: string; reason: string }[] = [];
  let names: string[] = [];
  try {
    names = (await readdir(modelsDir, { withFileTypes: true })).filter((d) => d.isDirectory() && d.name.startsWith('whisper-')).map((d) => d.name);
  } catch {
    names = [];
  }
  names.sort((a, b) => Number(b === 'whisper-tiny.en') - Number(a === 'whisper-tiny.en') || a.localeCompare(b));
  for (const name of names) {
    const dir = join(modelsDir, name);
    try {
      await findWhisperFiles(dir);
      models.push({ name: name.slice('whisper-'.length), dir });
    } catch (err) {
      incomplete.push({ dir, reason: message(err) });
    }
  }
  if (env) {
    const dir = resolve(env);
    if (!models.some((m) => m.dir === dir)) models.push({ name: basename(dir).replace(/^whisper-/, ''), dir });
  }
  return { models, incomplete };
}

async function loadClips(): Promise<Clip[]> {
  const speech = toFloat32(loadFixture(SPEECH_WAV).pcm);
  const truth = JSON.parse(await readFile(SPEECH_JSON, 'utf8')) as { regions: { start: number; end: number; text: string }[] };
  const clips: Clip[] = truth.regions.map((r, i) => {
    const from = Math.max(0, Math.round((r.start - PAD_SECONDS) * SAMPLE_RATE));
    const to = Math.min(speech.length, Math.round((r.end + PAD_SECONDS) * SAMPLE_RATE));
    return { name: `speech ${i + 1}`, samples: speech.slice(from, to), reference: r.text };
  });
  clips.push({ name: 'fox', samples: toFloat32(loadFixture(FOX_WAV).pcm), reference: FOX_TEXT });
  return clips;
}

function textOf(output: unknown): string {
  const text = (output as { text?: unknown } | undefined)?.text;
  return typeof text === 'string' ? text : '';
}

async function measure(model: BenchModel, threads: number, clips: Clip[], opts: WhisperOptions): Promise<WhisperRun> {
  // Imported here, so that a run without a model loads neither onnxruntime nor the worker pool.
  const [{ parseConfig }, { loadModel }, { noopContext }] = await Promise.all([import('../src/config.ts'), import('../src/model/index.ts'), import('../src/context.ts')]);
  const config = parseConfig({ model: { backend: 'whisper', path: model.dir, threads, workers: 1 } }, `whisper bench config for ${model.dir}`);
  let t0 = performance.now();
  const loaded = await loadModel(config.model, noopContext());
  const loadSeconds = (performance.now() - t0) / 1000;
  try {
    t0 = performance.now();
    await loaded.warmup();
    const firstInferenceSeconds = (performance.now() - t0) / 1000;
    // One unmeasured pass more (JIT, allocator, onnxruntime's first runs at these lengths).
    for (const clip of clips) await loaded.infer(clip.samples.slice());

    const results: ClipResult[] = clips.map((c) => ({ name: c.name, audioSeconds: c.samples.length / SAMPLE_RATE, rtfs: [], text: '' }));
    let computeSeconds = 0;
    let passes = 0;
    const cpu = process.cpuUsage();
    const busy = systemBusySeconds();
    const started = performance.now();
    while (passes < opts.reps && (passes === 0 || (performance.now() - started) / 1000 < opts.budgetSeconds)) {
      for (const [i, clip] of clips.entries()) {
        const r = await loaded.infer(clip.samples.slice());
        if (!r.ok) throw new Error(`${model.name}, threads ${threads}: inference on ${clip.name} failed: ${r.error}`);
        const seconds = r.computeSeconds ?? NaN;
        computeSeconds += seconds;
        results[i].rtfs.push(seconds / results[i].audioSeconds);
        if (passes === 0) results[i].text = textOf(r.output);
      }
      passes++;
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const cpuSeconds = cpuSecondsSince(cpu);
    const otherCpuSeconds = Math.max(0, systemBusySeconds() - busy - cpuSeconds);
    const audioSecondsPerPass = results.reduce((t, c) => t + c.audioSeconds, 0);
    const rtfs = results.flatMap((c) => c.rtfs);
    const speechClips = clips.map((c, i) => ({ c, r: results[i] })).filter(({ c }) => c.name.startsWith('speech'));
    return {
      threads,
      loadSeconds,
      firstInferenceSeconds,
      passes,
      audioSecondsPerPass,
      rtfMedian: median(rtfs) ?? NaN,
      rtfMax: max(rtfs) ?? NaN,
      rtfTotal: computeSeconds / (audioSecondsPerPass * passes),
      cpuPerAudioSecond: cpuSeconds / (audioSecondsPerPass * passes),
      cores: cpuSeconds / wallSeconds,
      otherCores: otherCpuSeconds / wallSeconds,
      foxWer: wordErrorRate(FOX_TEXT, results.at(-1)?.text ?? ''),
      speechWer: wordErrorRate(speechClips.map(({ c }) => c.reference).join(' '), speechClips.map(({ r }) => r.text).join(' ')),
      clips: results,
    };
  } finally {
    await loaded.close();
  }
}

/** Measures every model found (see findBenchModels); skipped, taking no time, when there is none. */
export async function runWhisper(opts: WhisperOptions, found?: Awaited<ReturnType<typeof findBenchModels>>): Promise<WhisperResults> {
  const { models, incomplete } = found ?? (await findBenchModels());
  if (models.length === 0) return { skipped: NO_MODEL_REASON, models: [], incomplete };
  // The backend logs (pino, level from LOG_LEVEL when src/log.ts was first imported) would interleave with the tables.
  const { log } = await import('../src/log.ts');
  const level = log.level;
  if (process.env.LOG_LEVEL === undefined) log.level = 'warn';
  try {
    const clips = await loadClips();
    const out: WhisperModelResult[] = [];
    for (const model of models) {
      const result: WhisperModelResult = { name: model.name, dir: model.dir, encoder: null, decoder: null, runs: [], error: null };
      out.push(result);
      try {
        const files = await findWhisperFiles(model.dir);
        result.encoder = basename(files.encoder);
        result.decoder = basename(files.decoder);
        for (const threads of opts.threads) {
          opts.onStep?.(`whisper ${model.name}, threads ${threads}`);
          result.runs.push(await measure(model, threads, clips, opts));
        }
      } catch (err) {
        result.error = message(err);
      }
    }
    return { skipped: null, models: out, incomplete };
  } finally {
    log.level = level;
  }
}
