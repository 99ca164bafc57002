// Fake Whisper models in the sherpa-onnx export's exact I/O contract (scripts/whisper/export-onnx.py),
// written into a temp dir: `<name>-encoder.onnx`, `<name>-decoder.onnx`, `<name>-tokens.txt`.
//
// Encoder: mel float32 [N, n_mels, T] → n_layer_cross_k / n_layer_cross_v float32
// [L, N, 1500, D], every value = mean(mel of that item) + CROSS_K (resp. CROSS_V; with `anyAudio`,
// CROSS_K / CROSS_V whatever the mel, so real audio decodes to the target too). The encoder
// carries the export's custom metadata (dims and special token ids).
//
// Decoder: tokens int64 [N, n_tokens], in_n_layer_self_{k,v}_cache float32 [L, N, C, D],
// n_layer_cross_{k,v}, offset int64 [1] → logits float32 [N, n_tokens, V] and
// out_n_layer_self_{k,v}_cache [L, N, C, D]. It is a script, not a network:
// - out_k = in_k + 1 and out_v = in_v + 2 (everywhere), so after j fed-back calls the caches
//   hold j and 2j;
// - the last position's logits are row `offset + n_tokens` of a one-hot table: rows
//   S + i (S = prompt length) pick target[i], rows from S + len(target) on pick eot. A wrong
//   offset (or prompt length) therefore yields a wrong token;
// - when the caches are not what feeding back the outputs gives (mean(in_k) ≠ j,
//   mean(in_v) ≠ 2j, with j = offset + n_tokens - S), or the cross K/V are not the encoder's
//   (mean ≠ CROSS_K / CROSS_V for a zero mel), the BAD token wins instead;
// - earlier positions' logits all pick BAD, so reading anything but the last position shows.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder } from './onnx-builder.ts';

/** A small id space laid out like Whisper's: ordinary tokens first, then the specials. */
export const FAKE = {
  nMels: 80,
  nAudioCtx: 1500,
  nTextLayer: 2,
  nTextCtx: 448,
  nTextState: 4,
  /** Ordinary tokens 0..47 (47 is BAD, the decoder's "something was fed wrong" answer). */
  nText: 48,
  bad: 47,
  eot: 48,
  sot: 49,
  en: 50,
  translate: 51,
  transcribe: 52,
  sotLm: 53,
  sotPrev: 54,
  noSpeech: 55,
  noTimestamps: 56,
  nVocab: 57,
} as const;

/** The prompt test.py feeds for English transcription without timestamps. */
export const FAKE_PROMPT = [FAKE.sot, FAKE.en, FAKE.transcribe, FAKE.noTimestamps];

const CROSS_K = 0.5;
const CROSS_V = 0.25;
/** Logit of the chosen token in a table row; the BAD penalty dwarfs it. */
const HIT = 10;
const PENALTY = 1000;

export interface FakeWhisperOptions {
  /** Tokens the decoder produces after the prompt (then eot forever). Ordinary ids (< 47). */
  target: number[];
  /** Prompt length the decoder expects (default: FAKE_PROMPT's 4). */
  promptLength?: number;
  /** Decoder input names to rename (old → new), to test contract checks. */
  renameDecoderInputs?: Record<string, string>;
  /**
   * The encoder ignores the mel (cross K/V = CROSS_K / CROSS_V for any input), so real log-mel
   * features of any audio decode to `target`. Default false: only a zero mel passes the check.
   */
  anyAudio?: boolean;
  /** Encoder metadata keys to leave out, to test fallbacks and errors. */
  omitMetadata?: string[];
  /**
   * Mel frames the encoder takes (default 3000, the export's 30 s). Loading does not check it, so
   * another count makes a model that loads but fails its first inference.
   */
  melFrames?: number;
  name?: string;
  dir?: string;
}

export interface FakeWhisperFiles {
  dir: string;
  encoder: string;
  decoder: string;
  tokens: string;
}

/** The encoder metadata as export-onnx.py writes it (only the keys the backend may read, plus a few). */
export function fakeEncoderMetadata(): Record<string, string | number> {
  return {
    model_type: 'whisper-fake',
    version: '1',
    maintainer: 'streamer-tests',
    n_mels: FAKE.nMels,
    n_audio_ctx: FAKE.nAudioCtx,
    n_vocab: FAKE.nVocab,
    n_text_ctx: FAKE.nTextCtx,
    n_text_state: FAKE.nTextState,
    n_text_layer: FAKE.nTextLayer,
    sot_sequence: [FAKE.sot, FAKE.en, FAKE.transcribe].join(','),
    all_language_tokens: String(FAKE.en),
    all_language_codes: 'en',
    sot: FAKE.sot,
    sot_index: 0,
    eot: FAKE.eot,
    blank_id: 0,
    is_multilingual: 1,
    no_speech: FAKE.noSpeech,
    non_speech_tokens: '',
    transcribe: FAKE.transcribe,
    translate: FAKE.translate,
    sot_prev: FAKE.sotPrev,
    sot_lm: FAKE.sotLm,
    no_timestamps: FAKE.noTimestamps,
  };
}

function buildEncoder(anyAudio: boolean, melFrames: number): GraphBuilder {
  const { nMels, nAudioCtx, nTextLayer: L, nTextState: D } = FAKE;
  const g = new GraphBuilder('fake_whisper_encoder');
  const mel = g.input('mel', 'float32', ['n_audio', nMels, melFrames]);
  const mean = g.node('ReduceMean', [mel], { axes: [1, 2], keepdims: 1 }); // [N, 1, 1]
  const m4Raw = g.node('Unsqueeze', [mean, g.int64s([0])]); // [1, N, 1, 1]
  const m4 = anyAudio ? g.node('Mul', [m4Raw, g.floats([0])]) : m4Raw;
  const n = g.node('Shape', [mel], { start: 0, end: 1 }); // [N]
  const shape = g.node('Concat', [g.int64s([L]), n, g.int64s([nAudioCtx, D])], { axis: 0 });
  const k = g.node('Expand', [g.node('Add', [m4, g.floats([CROSS_K])]), shape]);
  const v = g.node('Expand', [g.node('Add', [m4, g.floats([CROSS_V])]), shape]);
  g.output('n_layer_cross_k', 'float32', [L, 'n_audio', nAudioCtx, D], k);
  g.output('n_layer_cross_v', 'float32', [L, 'n_audio', nAudioCtx, D], v);
  return g;
}

function oneHot(id: number, value: number): Float32Array {
  const row = new Float32Array(FAKE.nVocab);
  row[id] = value;
  return row;
}

function buildDecoder(target: number[], promptLength: number, rename: Record<string, string>): GraphBuilder {
  const { nAudioCtx, nTextLayer: L, nTextCtx: C, nTextState: D, nVocab: V } = FAKE;
  for (const t of target) if (!Number.isInteger(t) || t < 0 || t >= FAKE.bad) throw new Error(`target token ${t} is not an ordinary id`);
  const name = (n: string) => rename[n] ?? n;
  const g = new GraphBuilder('fake_whisper_decoder');
  const tokens = g.input(name('tokens'), 'int64', ['n_audio', 'n_tokens']);
  const inK = g.input(name('in_n_layer_self_k_cache'), 'float32', [L, 'n_audio', C, D]);
  const inV = g.input(name('in_n_layer_self_v_cache'), 'float32', [L, 'n_audio', C, D]);
  const crossK = g.input(name('n_layer_cross_k'), 'float32', [L, 'n_audio', nAudioCtx, D]);
  const crossV = g.input(name('n_layer_cross_v'), 'float32', [L, 'n_audio', nAudioCtx, D]);
  const offset = g.input(name('offset'), 'int64', [1]);

  // The script: one-hot rows indexed by offset + n_tokens (C + 1 rows: offset + n_tokens ≤ C).
  const table = new Float32Array((C + 1) * V);
  for (let p = 0; p <= C; p++) {
    const i = p - promptLength;
    const id = i < 0 ? FAKE.bad : i < target.length ? target[i] : FAKE.eot;
    table.set(oneHot(id, HIT), p * V);
  }
  const tableName = g.floats(table, [C + 1, V]);
  const nTokens = g.node('Shape', [tokens], { start: 1, end: 2 }); // [1]
  const p = g.node('Add', [offset, nTokens]); // [1]
  const row = g.node('Gather', [tableName, p], { axis: 0 }); // [1, V]

  // Feeding checks: mismatch = |mean(in_k) - j| + |mean(in_v) - 2j| + |mean(cross_k) - CROSS_K| + |mean(cross_v) - CROSS_V|.
  const j = g.node('Cast', [g.node('Sub', [p, g.int64s([promptLength])])], { to: 1 }); // float [1]
  const mean = (x: string) => g.node('ReduceMean', [x], { keepdims: 0 });
  const absDiff = (a: string, b: string) => g.node('Abs', [g.node('Sub', [a, b])]);
  const mismatch = g.node('Sum', [
    absDiff(mean(inK), j),
    absDiff(mean(inV), g.node('Mul', [j, g.floats([2])])),
    absDiff(mean(crossK), g.floats([CROSS_K])),
    absDiff(mean(crossV), g.floats([CROSS_V])),
  ]); // [1]
  const badRow = g.floats(oneHot(FAKE.bad, PENALTY), [1, V]);
  const last = g.node('Add', [row, g.node('Mul', [badRow, mismatch])]); // [1, V]

  // logits [N, n_tokens, V]: BAD rows for the earlier positions, `last` at the last one.
  const n = g.node('Shape', [tokens], { start: 0, end: 1 });
  const nMinus1 = g.node('Sub', [nTokens, g.int64s([1])]);
  const vDim = g.int64s([V]);
  const earlier = g.node('Expand', [g.floats(oneHot(FAKE.bad, HIT), [1, 1, V]), g.node('Concat', [n, nMinus1, vDim], { axis: 0 })]);
  const lastAll = g.node('Expand', [g.node('Unsqueeze', [last, g.int64s([0])]), g.node('Concat', [n, g.int64s([1]), vDim], { axis: 0 })]);
  const logits = g.node('Concat', [earlier, lastAll], { axis: 1 });

  g.output('logits', 'float32', ['n_audio', 'n_tokens', V], logits);
  g.output('out_n_layer_self_k_cache', 'float32', [L, 'n_audio', C, D], g.node('Add', [inK, g.floats([1])]));
  g.output('out_n_layer_self_v_cache', 'float32', [L, 'n_audio', C, D], g.node('Add', [inV, g.floats([2])]));
  return g;
}

/** The tokens file as export-onnx.py writes it: `<base64 bytes> <id>` per ordinary token (no specials). */
function tokensFile(): string {
  const lines: string[] = [];
  for (let id = 0; id < FAKE.nText; id++) {
    const text = id === FAKE.bad ? '<bad>' : ` w${id}`;
    lines.push(`${Buffer.from(text, 'utf8').toString('base64')} ${id}`);
  }
  return lines.join('\n') + '\n';
}

/** Writes the fake encoder, decoder and tokens file; returns their paths. */
export async function writeFakeWhisper(options: FakeWhisperOptions): Promise<FakeWhisperFiles> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'fake-whisper-')));
  const name = options.name ?? 'fake';
  const files = {
    dir,
    encoder: join(dir, `${name}-encoder.onnx`),
    decoder: join(dir, `${name}-decoder.onnx`),
    tokens: join(dir, `${name}-tokens.txt`),
  };
  const metadata = fakeEncoderMetadata();
  for (const key of options.omitMetadata ?? []) delete metadata[key];
  await buildEncoder(options.anyAudio ?? false, options.melFrames ?? 3000).save(files.encoder, metadata);
  await buildDecoder(options.target, options.promptLength ?? FAKE_PROMPT.length, options.renameDecoderInputs ?? {}).save(files.decoder, {
    model_type: 'whisper-fake',
  });
  await writeFile(files.tokens, tokensFile());
  return files;
}
