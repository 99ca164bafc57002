// Whisper on onnxruntime-node, in the ONNX export used by sherpa-onnx
// (k2-fsa/sherpa-onnx scripts/whisper/export-onnx.py; test.py runs it):
//
//   encoder  mel                      float32 [N, n_mels, T (3000)]
//         →  n_layer_cross_k, _v      float32 [n_text_layer, N, n_audio_ctx (1500), n_text_state]
//   decoder  tokens                   int64   [N, n_tokens]
//            in_n_layer_self_k_cache  float32 [n_text_layer, N, n_text_ctx (448), n_text_state]
//            in_n_layer_self_v_cache  (same)
//            n_layer_cross_k, _v      (the encoder's outputs)
//            offset                   int64   [1]  (tokens already in the self-attention cache)
//         →  logits                   float32 [N, n_tokens, n_vocab]
//            out_n_layer_self_k_cache, out_n_layer_self_v_cache (same shapes as the inputs)
//
// Dims and special token ids are the encoder's custom metadata (ModelProto.metadata_props).
// onnxruntime-node 1.30 does not expose custom metadata (only input/output names, types and
// shapes), and the export's tokens file lists only the ordinary BPE tokens (no specials), so the
// metadata is read from the .onnx file itself: a scan of the top-level protobuf fields that skips
// the graph without reading it. Dims fall back to the decoder's input/output shapes when absent.
// This module handles batch N = 1.
import { open } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';

export interface WhisperDims {
  nMels: number;
  nAudioCtx: number;
  nTextLayer: number;
  nTextCtx: number;
  nTextState: number;
  nVocab: number;
}

export interface WhisperSpecialTokens {
  sot: number;
  eot: number;
  /** The metadata's sot_sequence ([sot] for English-only models, [sot, lang, task] otherwise). */
  sotSequence: number[];
  transcribe: number;
  translate: number;
  noTimestamps: number;
  noSpeech?: number;
  sotPrev?: number;
  sotLm?: number;
  blank?: number;
  isMultilingual: boolean;
  /** Language codes (e.g. en, de) to their token ids. */
  languages: Map<string, number>;
}

export interface WhisperOnnxOptions {
  /** Threads one run may use (default 1: the service runs many streams side by side). */
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
}

/** Cross-attention keys and values from the encoder: [n_text_layer, 1, n_audio_ctx, n_text_state]. */
export interface CrossKV {
  k: ort.Tensor;
  v: ort.Tensor;
}

/** Self-attention caches: [n_text_layer, 1, n_text_ctx, n_text_state]. */
export interface SelfKV {
  k: ort.Tensor;
  v: ort.Tensor;
}

export interface DecodeStepResult {
  /** Logits of every fed position, [n_tokens × n_vocab] row-major. */
  logits: Float32Array;
  /** The last position's logits (a view into `logits`). */
  lastLogits: Float32Array;
  /** The updated caches, to feed to the next step. */
  cache: SelfKV;
}

const ENCODER_INPUTS = { mel: 'float32' } as const;
const ENCODER_OUTPUTS = { n_layer_cross_k: 'float32', n_layer_cross_v: 'float32' } as const;
const DECODER_INPUTS = {
  tokens: 'int64',
  in_n_layer_self_k_cache: 'float32',
  in_n_layer_self_v_cache: 'float32',
  n_layer_cross_k: 'float32',
  n_layer_cross_v: 'float32',
  offset: 'int64',
} as const;
const DECODER_OUTPUTS = { logits: 'float32', out_n_layer_self_k_cache: 'float32', out_n_layer_self_v_cache: 'float32' } as const;

/** Thrown when a model file does not follow the contract (names the file and what is wrong). */
export class WhisperModelError extends Error {
  override name = 'WhisperModelError';
}

/** ModelProto.metadata_props (custom metadata) of an .onnx file, read without loading the graph. */
export async function readOnnxMetadata(path: string): Promise<Record<string, string>> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    const head = Buffer.alloc(20);
    const out: Record<string, string> = {};
    let pos = 0;
    while (pos < size) {
      const { bytesRead } = await file.read(head, 0, head.length, pos);
      let at = 0;
      const varint = (): number => {
        let value = 0;
        for (let shift = 1; ; shift *= 128) {
          if (at >= bytesRead) throw new WhisperModelError(`${path}: not an ONNX model (truncated protobuf at byte ${pos})`);
          const byte = head[at++];
          value += (byte & 0x7f) * shift;
          if (byte < 0x80) return value;
        }
      };
      const key = varint();
      const field = Math.floor(key / 8);
      const wire = key % 8;
      let length: number;
      if (wire === 0) {
        varint();
        length = 0;
      } else if (wire === 1) length = 8;
      else if (wire === 5) length = 4;
      else if (wire === 2) length = varint();
      else throw new WhisperModelError(`${path}: not an ONNX model (protobuf wire type ${wire} at byte ${pos})`);
      const start = pos + at;
      if (start + length > size) throw new WhisperModelError(`${path}: not an ONNX model (field ${field} runs past the end)`);
      if (field === 14 && wire === 2) {
        const entry = Buffer.alloc(length);
        await file.read(entry, 0, length, start);
        const [k, v] = parseStringPair(entry);
        out[k] = v;
      }
      pos = start + length;
    }
    return out;
  } finally {
    await file.close();
  }
}

/** A StringStringEntryProto: key = field 1, value = field 2. */
function parseStringPair(buf: Buffer): [string, string] {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 1; ; shift *= 128) {
      const byte = buf[at++];
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) return value;
    }
  };
  let key = '';
  let value = '';
  while (at < buf.length) {
    const tag = varint();
    if (tag % 8 !== 2) throw new Error(`metadata entry: unexpected wire type ${tag % 8}`);
    const length = varint();
    const text = buf.toString('utf8', at, at + length);
    at += length;
    if (tag >> 3 === 1) key = text;
    else if (tag >> 3 === 2) value = text;
  }
  return [key, value];
}

function checkContract(path: string, session: ort.InferenceSession, kind: 'input' | 'output', wanted: Record<string, ort.Tensor.Type>): Map<string, readonly (number | string)[]> {
  const metadata = kind === 'input' ? session.inputMetadata : session.outputMetadata;
  const shapes = new Map<string, readonly (number | string)[]>();
  for (const [name, type] of Object.entries(wanted)) {
    const m = metadata.find((x) => x.name === name);
    const have = metadata.map((x) => x.name).join(', ');
    if (!m) throw new WhisperModelError(`${path}: the model has no ${kind} named '${name}' (its ${kind}s: ${have}); expected the sherpa-onnx Whisper export`);
    if (!m.isTensor || m.type !== type) {
      throw new WhisperModelError(`${path}: ${kind} '${name}' must be a ${type} tensor, got ${m.isTensor ? m.type : 'a non-tensor value'}`);
    }
    shapes.set(name, m.shape);
  }
  return shapes;
}

function intMeta(meta: Record<string, string>, key: string, path: string): number | undefined {
  const raw = meta[key];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value)) throw new WhisperModelError(`${path}: metadata '${key}' is not an integer: '${raw}'`);
  return value;
}

function intList(raw: string | undefined): number[] {
  if (!raw) return [];
  return raw.split(',').filter((s) => s.trim() !== '').map(Number);
}

export class WhisperOnnx {
  readonly encoderPath: string;
  readonly decoderPath: string;
  private readonly encoder: ort.InferenceSession;
  private readonly decoder: ort.InferenceSession;
  readonly dims: WhisperDims;
  readonly special: WhisperSpecialTokens;
  /** The encoder's custom metadata as written by the export. */
  readonly metadata: Readonly<Record<string, string>>;
  private constructor(
    encoderPath: string,
    decoderPath: string,
    encoder: ort.InferenceSession,
    decoder: ort.InferenceSession,
    dims: WhisperDims,
    special: WhisperSpecialTokens,
    metadata: Readonly<Record<string, string>>,
  ) {
    this.encoderPath = encoderPath;
    this.decoderPath = decoderPath;
    this.encoder = encoder;
    this.decoder = decoder;
    this.dims = dims;
    this.special = special;
    this.metadata = metadata;
  }

  static async load(encoderPath: string, decoderPath: string, options: WhisperOnnxOptions = {}): Promise<WhisperOnnx> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.intraOpNumThreads ?? 1,
      interOpNumThreads: options.interOpNumThreads ?? 1,
      graphOptimizationLevel: 'all',
    };
    const create = async (path: string) => {
      try {
        return await ort.InferenceSession.create(path, sessionOptions);
      } catch (err) {
        throw new WhisperModelError(`${path}: onnxruntime cannot load it: ${(err as Error).message}`, { cause: err });
      }
    };
    const [metadata, encoder, decoder] = await Promise.all([readOnnxMetadata(encoderPath), create(encoderPath), create(decoderPath)]);
    try {
      const encIn = checkContract(encoderPath, encoder, 'input', ENCODER_INPUTS);
      const encOut = checkContract(encoderPath, encoder, 'output', ENCODER_OUTPUTS);
      const decIn = checkContract(decoderPath, decoder, 'input', DECODER_INPUTS);
      const decOut = checkContract(decoderPath, decoder, 'output', DECODER_OUTPUTS);
      const dims = resolveDims(encoderPath, metadata, {
        nMels: encIn.get('mel')?.[1],
        nAudioCtx: encOut.get('n_layer_cross_k')?.[2],
        nTextLayer: decIn.get('in_n_layer_self_k_cache')?.[0],
        nTextCtx: decIn.get('in_n_layer_self_k_cache')?.[2],
        nTextState: decIn.get('in_n_layer_self_k_cache')?.[3],
        nVocab: decOut.get('logits')?.[2],
      });
      const special = resolveSpecial(encoderPath, metadata);
      return new WhisperOnnx(encoderPath, decoderPath, encoder, decoder, dims, special, metadata);
    } catch (err) {
      await Promise.all([encoder.release(), decoder.release()]);
      throw err;
    }
  }

  /** Runs the encoder on one log-mel spectrogram, [nMels × frames] row-major (mel bin major). */
  async encode(mel: Float32Array, nMels: number, frames: number): Promise<CrossKV> {
    if (nMels !== this.dims.nMels) throw new Error(`encode: the model takes ${this.dims.nMels} mel bins, got ${nMels}`);
    if (mel.length !== nMels * frames) throw new Error(`encode: mel holds ${mel.length} values, expected ${nMels} × ${frames}`);
    const out = await this.encoder.run({ mel: new ort.Tensor('float32', mel, [1, nMels, frames]) });
    const k = out.n_layer_cross_k;
    const v = out.n_layer_cross_v;
    const want = [this.dims.nTextLayer, 1, this.dims.nAudioCtx, this.dims.nTextState];
    for (const [name, t] of [['n_layer_cross_k', k], ['n_layer_cross_v', v]] as const) {
      if (t.dims.join() !== want.join()) throw new Error(`${this.encoderPath}: ${name} has shape [${t.dims.join(', ')}], expected [${want.join(', ')}]`);
    }
    return { k, v };
  }

  /** Zeroed self-attention caches for a new utterance. */
  emptyCache(): SelfKV {
    const shape = [this.dims.nTextLayer, 1, this.dims.nTextCtx, this.dims.nTextState];
    const size = shape.reduce((a, b) => a * b, 1);
    return { k: new ort.Tensor('float32', new Float32Array(size), shape), v: new ort.Tensor('float32', new Float32Array(size), shape) };
  }

  /**
   * One decoder run: feeds `tokens` at positions offset…offset+n-1 with the caches of the
   * previous step (offset = tokens already fed). Requires offset + n ≤ n_text_ctx.
   */
  async decodeStep(tokens: readonly number[], cache: SelfKV, cross: CrossKV, offset: number): Promise<DecodeStepResult> {
    const n = tokens.length;
    if (n === 0) throw new Error('decodeStep: no tokens');
    if (!Number.isInteger(offset) || offset < 0 || offset + n > this.dims.nTextCtx) {
      throw new Error(`decodeStep: offset ${offset} + ${n} tokens exceeds the decoder context (n_text_ctx ${this.dims.nTextCtx})`);
    }
    const out = await this.decoder.run({
      tokens: new ort.Tensor('int64', BigInt64Array.from(tokens, (t) => BigInt(t)), [1, n]),
      in_n_layer_self_k_cache: cache.k,
      in_n_layer_self_v_cache: cache.v,
      n_layer_cross_k: cross.k,
      n_layer_cross_v: cross.v,
      offset: new ort.Tensor('int64', BigInt64Array.of(BigInt(offset)), [1]),
    });
    const logits = out.logits;
    if (logits.dims.join() !== [1, n, this.dims.nVocab].join()) {
      throw new Error(`${this.decoderPath}: logits have shape [${logits.dims.join(', ')}], expected [1, ${n}, ${this.dims.nVocab}]`);
    }
    const data = logits.data as Float32Array;
    return {
      logits: data,
      lastLogits: data.subarray((n - 1) * this.dims.nVocab, n * this.dims.nVocab),
      cache: { k: out.out_n_layer_self_k_cache, v: out.out_n_layer_self_v_cache },
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.encoder.release(), this.decoder.release()]);
  }
}

function resolveDims(path: string, meta: Record<string, string>, fromShapes: Record<keyof WhisperDims, number | string | undefined>): WhisperDims {
  const keys: Record<keyof WhisperDims, string> = {
    nMels: 'n_mels',
    nAudioCtx: 'n_audio_ctx',
    nTextLayer: 'n_text_layer',
    nTextCtx: 'n_text_ctx',
    nTextState: 'n_text_state',
    nVocab: 'n_vocab',
  };
  const dims = {} as WhisperDims;
  for (const [field, key] of Object.entries(keys) as [keyof WhisperDims, string][]) {
    const fromMeta = intMeta(meta, key, path);
    const shape = fromShapes[field];
    const fromShape = typeof shape === 'number' && shape > 0 ? shape : undefined;
    if (fromMeta !== undefined && fromShape !== undefined && fromMeta !== fromShape) {
      throw new WhisperModelError(`${path}: metadata ${key} = ${fromMeta} but the model's tensors say ${fromShape}`);
    }
    const value = fromMeta ?? fromShape;
    if (value === undefined) throw new WhisperModelError(`${path}: cannot tell ${key}: not in the metadata nor fixed in the model's shapes`);
    dims[field] = value;
  }
  return dims;
}

function resolveSpecial(path: string, meta: Record<string, string>): WhisperSpecialTokens {
  const need = (key: string): number => {
    const value = intMeta(meta, key, path);
    if (value === undefined) throw new WhisperModelError(`${path}: metadata '${key}' is missing (the sherpa-onnx export writes it on the encoder)`);
    return value;
  };
  const sot = need('sot');
  const sotSequence = meta.sot_sequence !== undefined ? intList(meta.sot_sequence) : [sot];
  if (sotSequence.some((t) => !Number.isInteger(t))) throw new WhisperModelError(`${path}: metadata 'sot_sequence' is not a list of ids: '${meta.sot_sequence}'`);
  const codes = (meta.all_language_codes ?? '').split(',').filter((s) => s !== '');
  const ids = intList(meta.all_language_tokens);
  return {
    sot,
    eot: need('eot'),
    sotSequence,
    transcribe: need('transcribe'),
    translate: need('translate'),
    noTimestamps: need('no_timestamps'),
    noSpeech: intMeta(meta, 'no_speech', path),
    sotPrev: intMeta(meta, 'sot_prev', path),
    sotLm: intMeta(meta, 'sot_lm', path),
    blank: intMeta(meta, 'blank_id', path),
    isMultilingual: meta.is_multilingual === '1',
    languages: new Map(codes.map((c, i) => [c, ids[i]])),
  };
}
