// The Whisper backend: sherpa-onnx's ONNX export of Whisper (models/README.md) behind the Model
// interface. Per inference: log-mel features of each 30 s window on a worker thread (the pool is
// the `inference` task), then per window the encoder and greedy decoding on the main thread
// (onnxruntime-node runs them on its own threads; the event loop only awaits), then ids → text.
// Windows' texts are joined with a space.
import { readdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { WhisperModelConfig } from '../../config.ts';
import { log } from '../../log.ts';
import { createWorkerPool, type WorkerPool } from '../../task.ts';
import type { InferenceResult, Model } from '../model.ts';
import { greedyDecode } from './decoder.ts';
import type { FeatureJob, FeatureResult } from './features-worker.ts';
import { WhisperOnnx, type WhisperSpecialTokens } from './onnx-io.ts';
import { loadTokens, type Tokenizer } from './tokens.ts';

export interface WhisperFiles {
  encoder: string;
  decoder: string;
  tokens: string;
}

const EXPECTED =
  '<name>-encoder.int8.onnx (or <name>-encoder.onnx), the matching <name>-decoder.int8.onnx (or <name>-decoder.onnx) and <name>-tokens.txt';
const HOW_TO_GET = 'see models/README.md ("Getting a model") for how to download one';

/**
 * The encoder, decoder and tokens file in `dir`: int8 preferred, the decoder of the same name and
 * flavour as the encoder. Throws an Error naming the directory, the files expected and where to get them.
 */
export async function findWhisperFiles(dir: string): Promise<WhisperFiles> {
  const abs = resolve(dir);
  const fail = (what: string): never => {
    throw new Error(`whisper model directory ${abs} ${what}: expected ${EXPECTED}; ${HOW_TO_GET}`);
  };
  let names: string[];
  try {
    names = await readdir(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a directory' : `cannot be read (${code ?? String(err)})`);
  }
  const present = new Set(names);
  const models = [...new Set(names.map((n) => /^(.+)-encoder(?:\.int8)?\.onnx$/.exec(n)?.[1]).filter((n) => n !== undefined))].sort();
  const complete: WhisperFiles[] = [];
  for (const model of models) {
    if (!present.has(`${model}-tokens.txt`)) continue;
    const flavour = ['.int8', ''].find((f) => present.has(`${model}-encoder${f}.onnx`) && present.has(`${model}-decoder${f}.onnx`));
    if (flavour === undefined) continue;
    complete.push({
      encoder: resolve(abs, `${model}-encoder${flavour}.onnx`),
      decoder: resolve(abs, `${model}-decoder${flavour}.onnx`),
      tokens: resolve(abs, `${model}-tokens.txt`),
    });
  }
  if (complete.length === 0) return fail(models.length === 0 ? 'holds no Whisper encoder' : `holds no complete model (found encoders for ${models.join(', ')})`);
  if (complete.length > 1) return fail(`holds more than one model (${models.join(', ')}): keep one per directory`);
  return complete[0];
}

/** A counting semaphore: at most `limit` holders at once, waiters served in order. */
class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiters.push(r));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next(); // the slot passes to the next waiter
      else this.active--;
    };
  }
}

/** The decoder prompt: the metadata's sot_sequence with the configured language, then no_timestamps (as sherpa-onnx's test.py). */
export function promptFor(special: WhisperSpecialTokens, language: string, where: string): number[] {
  const sequence = [...special.sotSequence];
  if (special.isMultilingual) {
    const lang = special.languages.get(language);
    if (lang === undefined) {
      const known = [...special.languages.keys()];
      throw new Error(`${where}: language '${language}' is not one of the model's (${known.join(', ') || 'none listed'})`);
    }
    const languageIds = new Set(special.languages.values());
    const at = sequence.findIndex((t) => languageIds.has(t));
    if (at >= 0) sequence[at] = lang;
    else sequence.splice(1, 0, lang);
  }
  sequence.push(special.noTimestamps);
  return sequence;
}

const seconds = (fromMs: number) => (performance.now() - fromMs) / 1000;

export class WhisperModel implements Model {
  readonly name = 'whisper';
  private readonly slots: Semaphore;
  private readonly prompt: number[];
  private readonly suppress: number[];
  private readonly suppressAtBegin: number[];

  private constructor(
    private readonly config: WhisperModelConfig,
    readonly files: WhisperFiles,
    private readonly onnx: WhisperOnnx,
    private readonly tokens: Tokenizer,
    private readonly pool: WorkerPool<FeatureJob, FeatureResult>,
  ) {
    this.slots = new Semaphore(config.workers);
    const s = onnx.special;
    this.prompt = promptFor(s, config.language, files.encoder);
    const defined = (ids: (number | undefined)[]) => ids.filter((t): t is number => t !== undefined);
    // As test.py: never the task/prompt tokens; not eot (nor blank) as the first token.
    this.suppress = defined([s.noTimestamps, s.sot, s.noSpeech, s.translate, s.transcribe, s.sotPrev, s.sotLm, ...s.languages.values()]);
    this.suppressAtBegin = defined([s.eot, s.blank]);
  }

  static async load(config: WhisperModelConfig): Promise<WhisperModel> {
    const files = await findWhisperFiles(config.path);
    const onnx = await WhisperOnnx.load(files.encoder, files.decoder, { intraOpNumThreads: config.threads });
    let pool: WorkerPool<FeatureJob, FeatureResult> | undefined;
    try {
      const languages = onnx.special.languages.size;
      const tokens = loadTokens(await readFile(files.tokens, 'utf8'), { numLanguages: languages >= 1 && languages <= 100 ? languages : 99 });
      let eotFromTokens: number | undefined;
      try {
        eotFromTokens = tokens.tokenId('<|endoftext|>');
      } catch {
        eotFromTokens = undefined;
      }
      if (eotFromTokens !== undefined && eotFromTokens !== onnx.special.eot) {
        log.warn({ encoder: files.encoder, tokens: files.tokens, eot: onnx.special.eot, tokens_eot: eotFromTokens }, 'whisper: eot in the encoder metadata differs from the tokens file');
      }
      pool = createWorkerPool<FeatureJob, FeatureResult>('inference', new URL('./features-worker.ts', import.meta.url), config.workers);
      const model = new WhisperModel(config, files, onnx, tokens, pool);
      log.info({ encoder: files.encoder, decoder: files.decoder, dims: onnx.dims, prompt: model.prompt }, 'whisper model loaded');
      return model;
    } catch (err) {
      await Promise.all([onnx.close(), pool?.destroy()]);
      throw err;
    }
  }

  async infer(samples: Float32Array): Promise<InferenceResult> {
    // Transfer, not copy, to the worker; a view into a larger buffer is copied first.
    const owned = samples.byteOffset === 0 && samples.byteLength === samples.buffer.byteLength ? samples : samples.slice();
    const features = await this.pool.run({ samples: owned, nMels: this.onnx.dims.nMels }, [owned.buffer as ArrayBuffer]);
    let computeSeconds = features.runSeconds;
    const { windows, nMels, frames } = features.value;
    const texts: string[] = [];
    for (let w = 0; w < windows.length; w++) {
      const release = await this.slots.acquire();
      const t0 = performance.now();
      try {
        const cross = await this.onnx.encode(windows[w], nMels, frames);
        const ids = await greedyDecode(this.onnx, cross.k, cross.v, {
          sotSequence: this.prompt,
          eot: this.onnx.special.eot,
          maxTokens: this.config.max_tokens,
          suppress: this.suppress,
          suppressAtBegin: this.suppressAtBegin,
        });
        texts.push(this.tokens.decode(ids).trim());
      } catch (err) {
        log.error({ err, window: w, windows: windows.length, audio_seconds: samples.length / 16_000 }, 'whisper inference failed');
        return { ok: false, error: 'inference failed', computeSeconds: computeSeconds + seconds(t0) };
      } finally {
        computeSeconds += seconds(t0);
        release();
      }
    }
    return { ok: true, output: { text: texts.filter((t) => t !== '').join(' ') }, computeSeconds };
  }

  async warmup(): Promise<void> {
    const result = await this.infer(new Float32Array(16_000));
    if (!result.ok) throw new Error(`whisper warm-up inference failed: ${result.error}`);
  }

  async close(): Promise<void> {
    await Promise.all([this.onnx.close(), this.pool.destroy()]);
  }
}
