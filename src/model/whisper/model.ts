// The Whisper backend: sherpa-onnx's ONNX export of Whisper (models/README.md) behind the Model
// interface. Each inference is one job on the worker pool (the `inference` task): log-mel features,
// encoder and greedy decoding of each 30 s window all run on a worker (worker.ts), because
// onnxruntime-node runs a session synchronously on the calling thread; the main thread turns the
// ids into text. Windows' texts are joined with a space.
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { WhisperModelConfig } from '../../config.ts';
import { log } from '../../log.ts';
import type { ServiceContext } from '../../context.ts';
import { siblingModule, type WorkerPool } from '../../task.ts';
import { statelessChannel, type InferenceResult, type Model, type ModelChannel } from '../model.ts';
import { WhisperOnnx, type WhisperSpecialTokens } from './onnx-io.ts';
import { loadTokens, type Tokenizer } from './tokens.ts';
import type { WhisperJob, WhisperJobResult } from './worker.ts';

export interface WhisperFiles {
  encoder: string;
  decoder: string;
  tokens: string;
}

const EXPECTED =
  '<name>-encoder.int8.onnx (or <name>-encoder.onnx), the matching <name>-decoder.int8.onnx (or <name>-decoder.onnx) and <name>-tokens.txt';
/** How to get the model for `dir`: the fetch command (named after the directory when it is models/whisper-<name>), or the README. */
function howToGet(dir: string): string {
  const name = /^whisper-(.+)$/.exec(basename(dir))?.[1] ?? 'tiny.en';
  return `download one with \`npm run models:fetch -- ${name}\` (see models/README.md, "Getting a model")`;
}

/**
 * The encoder, decoder and tokens file in `dir`: int8 preferred, the decoder of the same name and
 * flavour as the encoder. Throws an Error naming the directory, the files expected and where to get them.
 */
export async function findWhisperFiles(dir: string): Promise<WhisperFiles> {
  const abs = resolve(dir);
  const fail = (what: string): never => {
    throw new Error(`whisper model directory ${abs} ${what}: expected ${EXPECTED}; ${howToGet(abs)}`);
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

/** The decoder prompt: the metadata's sot_sequence with the configured language, then no_timestamps (as sherpa-onnx's test.py). English-only models take only 'en'. */
export function promptFor(special: WhisperSpecialTokens, language: string, where: string): number[] {
  const sequence = [...special.sotSequence];
  if (!special.isMultilingual && language !== 'en') {
    throw new Error(`${where}: an English-only model cannot transcribe language '${language}': set model.language to 'en' or use a multilingual model`);
  }
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

export class WhisperModel implements Model {
  readonly name = 'whisper';
  private readonly job: Omit<WhisperJob, 'samples'>;

  readonly files: WhisperFiles;
  private readonly tokens: Tokenizer;
  private readonly pool: WorkerPool<WhisperJob, WhisperJobResult>;
  private constructor(
    config: WhisperModelConfig,
    files: WhisperFiles,
    special: WhisperSpecialTokens,
    tokens: Tokenizer,
    pool: WorkerPool<WhisperJob, WhisperJobResult>,
  ) {
    this.files = files;
    this.tokens = tokens;
    this.pool = pool;
    const defined = (ids: (number | undefined)[]) => ids.filter((t): t is number => t !== undefined);
    this.job = {
      encoder: files.encoder,
      decoder: files.decoder,
      threads: config.threads,
      sotSequence: promptFor(special, config.language, files.encoder),
      eot: special.eot,
      maxTokens: config.max_tokens,
      // As test.py: never the task/prompt tokens; not eot (nor blank) as the first token.
      suppress: defined([special.noTimestamps, special.sot, special.noSpeech, special.translate, special.transcribe, special.sotPrev, special.sotLm, ...special.languages.values()]),
      suppressAtBegin: defined([special.eot, special.blank]),
    };
  }

  /**
   * Checks the model files against the export's contract and reads its metadata here (failing fast
   * at start-up); the sessions that run inference are loaded by each worker on its first job.
   */
  static async load(config: WhisperModelConfig, service: ServiceContext): Promise<WhisperModel> {
    const files = await findWhisperFiles(config.path);
    const onnx = await WhisperOnnx.load(files.encoder, files.decoder, { intraOpNumThreads: 1 });
    const { special, dims } = onnx;
    await onnx.close();
    const languages = special.languages.size;
    const tokens = loadTokens(await readFile(files.tokens, 'utf8'), { numLanguages: languages >= 1 && languages <= 100 ? languages : 99 });
    let eotFromTokens: number | undefined;
    try {
      eotFromTokens = tokens.tokenId('<|endoftext|>');
    } catch {
      eotFromTokens = undefined;
    }
    if (eotFromTokens !== undefined && eotFromTokens !== special.eot) {
      log.warn({ encoder: files.encoder, tokens: files.tokens, eot: special.eot, tokens_eot: eotFromTokens }, 'whisper: eot in the encoder metadata differs from the tokens file');
    }
    const pool = service.tasks.createWorkerPool<WhisperJob, WhisperJobResult>('inference', siblingModule('worker', import.meta.url), config.workers);
    const model = new WhisperModel(config, files, special, tokens, pool);
    log.info({ encoder: files.encoder, decoder: files.decoder, dims, prompt: model.job.sotSequence }, 'whisper model loaded');
    return model;
  }

  private run(samples: Float32Array) {
    // Transfer, not copy, to the worker; a view into a larger buffer is copied first.
    const owned = samples.byteOffset === 0 && samples.byteLength === samples.buffer.byteLength ? samples : samples.slice();
    return this.pool.run({ ...this.job, samples: owned }, [owned.buffer as ArrayBuffer]);
  }

  openChannel(): ModelChannel {
    return statelessChannel(this);
  }

  async infer(samples: Float32Array): Promise<InferenceResult> {
    const audioSeconds = samples.length / 16_000; // before the transfer empties it
    const { value, runSeconds, startedAt, finishedAt } = await this.run(samples);
    const ran = { startedAt, finishedAt };
    if (!value.ok) {
      log.error({ error: value.error, audio_seconds: audioSeconds }, 'whisper inference failed');
      return { ok: false, error: 'inference failed', computeSeconds: runSeconds, ran };
    }
    const texts = value.ids.map((ids) => this.tokens.decode(ids).trim()).filter((t) => t !== '');
    return { ok: true, output: { text: texts.join(' ') }, computeSeconds: runSeconds, ran };
  }

  /**
   * One inference per worker, all at once, so that every worker has loaded its sessions before the
   * server is ready. A failure names the model and onnxruntime's reason, on one line.
   */
  async warmup(): Promise<void> {
    const runs = await Promise.all(Array.from({ length: this.pool.size }, () => this.run(new Float32Array(16_000))));
    const failed = runs.map((r) => r.value).find((v) => !v.ok);
    if (failed && !failed.ok) {
      const why = failed.error.replace(/\s*\n\s*/g, ' ').replace(/\.$/, '');
      throw new Error(`whisper model ${this.files.encoder} cannot run: ${why}; use an unmodified sherpa-onnx Whisper export: ${howToGet(dirname(this.files.encoder))}`);
    }
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
