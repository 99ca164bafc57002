// A tiny ONNX graph builder for tests (on onnx-proto's protobuf definitions): declare inputs,
// outputs and constant initializers, chain nodes, then serialise a ModelProto (ir_version 8,
// default-domain opset 17) with optional custom metadata (metadata_props). Just enough to write
// fake models with exact I/O contracts; no shape inference, no validation beyond onnxruntime's.
import { writeFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export type ElemType = 'float32' | 'int64';
/** A dimension: a fixed size, or a symbolic name (dynamic). */
export type Dim = number | string;
export type AttrValue = number | number[] | string | { float: number } | { tensor: ConstTensor };

export interface ConstTensor {
  type: ElemType;
  dims: number[];
  data: ArrayLike<number>;
}

const ELEM: Record<ElemType, number> = { float32: onnx.TensorProto.DataType.FLOAT, int64: onnx.TensorProto.DataType.INT64 };

function tensorProto(name: string, t: ConstTensor): onnxProto.onnx.ITensorProto {
  const size = t.dims.reduce((a, b) => a * b, 1);
  if (size !== t.data.length) throw new Error(`tensor ${name}: dims ${t.dims.join('x')} hold ${size} values, got ${t.data.length}`);
  const proto: onnxProto.onnx.ITensorProto = { name, dims: t.dims, dataType: ELEM[t.type] };
  if (t.type === 'float32') proto.floatData = Array.from(t.data);
  else proto.int64Data = Array.from(t.data);
  return proto;
}

function valueInfo(name: string, type: ElemType, shape: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use { float } for non-integers`);
    return { name, type: T.INT, i: value };
  }
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  return { name, type: T.TENSOR, t: tensorProto(`${name}_value`, value.tensor) };
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private count = 0;

  private readonly name: string;
  constructor(name = 'graph') {
    this.name = name;
  }

  input(name: string, type: ElemType, shape: Dim[]): string {
    this.inputs.push(valueInfo(name, type, shape));
    return name;
  }

  /** Declares `value` (a node output or input) as a graph output named `name` (via Identity when they differ). */
  output(name: string, type: ElemType, shape: Dim[], value: string = name): string {
    if (value !== name) this.node('Identity', [value], {}, name);
    this.outputs.push(valueInfo(name, type, shape));
    return name;
  }

  /** A constant initializer; returns its name. */
  constant(t: ConstTensor, name = this.fresh('const')): string {
    this.initializers.push(tensorProto(name, t));
    return name;
  }

  floats(data: ArrayLike<number>, dims: number[] = [data.length]): string {
    return this.constant({ type: 'float32', dims, data });
  }

  int64s(data: ArrayLike<number>, dims: number[] = [data.length]): string {
    return this.constant({ type: 'int64', dims, data });
  }

  /** Adds one node with a single output (named `out`, or a fresh name); returns the output name. */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out = this.fresh(op)): string {
    this.nodes.push({
      opType: op,
      name: `${op}_${this.count++}`,
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** The serialised ModelProto. */
  encode(metadata: Record<string, string | number> = {}, opset = 17): Uint8Array {
    const model: onnxProto.onnx.IModelProto = {
      irVersion: 8,
      producerName: 'streamer-test-onnx-builder',
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: this.name,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value: String(value) })),
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }

  async save(path: string, metadata: Record<string, string | number> = {}): Promise<void> {
    await writeFile(path, this.encode(metadata));
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.count++}`;
  }
}
