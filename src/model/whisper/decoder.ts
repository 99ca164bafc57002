// Greedy Whisper decoding with a carried self-attention KV cache, as sherpa-onnx's
// scripts/whisper/test.py runs the export: one decoder run over the whole prompt
// (sot sequence + no_timestamps) at offset 0, then one run per generated token with
// offset = tokens fed so far, each run taking the caches the previous one returned. Stops at eot,
// at `maxTokens`, or when the decoder context (n_text_ctx) is full.
import type { CrossKV, DecodeStepResult, SelfKV, WhisperDims } from './onnx-io.ts';

/** What greedy decoding needs of the model (WhisperOnnx implements it). */
export interface WhisperDecoderIO {
  readonly dims: Pick<WhisperDims, 'nTextCtx' | 'nVocab'>;
  emptyCache(): SelfKV;
  decodeStep(tokens: readonly number[], cache: SelfKV, cross: CrossKV, offset: number): Promise<DecodeStepResult>;
}

export interface GreedyOptions {
  /** The prompt, fed in the first run (e.g. [sot, lang, transcribe, no_timestamps]). */
  sotSequence: number[];
  eot: number;
  /** Most tokens to generate (eot not counted). */
  maxTokens: number;
  /** Ids never chosen (test.py: no_timestamps, sot, no_speech, translate). */
  suppress?: readonly number[];
  /** Ids not chosen as the first generated token (test.py: eot and blank). */
  suppressAtBegin?: readonly number[];
}

function argmax(logits: Float32Array, suppress: ReadonlySet<number>): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] > bestValue && !suppress.has(i)) {
      best = i;
      bestValue = logits[i];
    }
  }
  if (best < 0) throw new Error('greedy decoding: every token is suppressed or not a number');
  return best;
}

/** The generated token ids: without the prompt, without eot. */
export async function greedyDecode(io: WhisperDecoderIO, crossK: CrossKV['k'], crossV: CrossKV['v'], options: GreedyOptions): Promise<number[]> {
  const { sotSequence, eot, maxTokens } = options;
  const nTextCtx = io.dims.nTextCtx;
  if (sotSequence.length === 0) throw new Error('greedy decoding: empty sot sequence');
  if (sotSequence.length >= nTextCtx) throw new Error(`greedy decoding: the prompt (${sotSequence.length} tokens) fills the decoder context (n_text_ctx ${nTextCtx})`);
  if (maxTokens <= 0) return [];
  const suppress = new Set(options.suppress ?? []);
  const suppressFirst = new Set([...suppress, ...(options.suppressAtBegin ?? [])]);
  const cross: CrossKV = { k: crossK, v: crossV };

  const generated: number[] = [];
  let cache = io.emptyCache();
  let offset = 0;
  let feed: readonly number[] = sotSequence;
  for (;;) {
    const step = await io.decodeStep(feed, cache, cross, offset);
    offset += feed.length;
    cache = step.cache;
    const next = argmax(step.lastLogits, generated.length === 0 ? suppressFirst : suppress);
    if (next === eot) break;
    generated.push(next);
    // The next run feeds one token at `offset`: it must fit in the context.
    if (generated.length >= maxTokens || offset >= nTextCtx) break;
    feed = [next];
  }
  return generated;
}
