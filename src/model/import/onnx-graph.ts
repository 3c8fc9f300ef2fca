// Reads an ONNX file (protobuf, parsed by the maintained onnx-proto package) into a plain graph:
// nodes in file order (ONNX requires topological order) with their attributes as numbers, and the
// float initializers as Float32Arrays. Nothing here knows about faces or our layers.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export interface OnnxTensor {
  dims: number[];
  /** float32 data, or int64 data converted to numbers (shapes). */
  data: Float32Array | number[];
}

export interface OnnxNode {
  /** The node's name, or `<opType>#<index>` when the file leaves it empty. */
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, number | number[] | string>;
}

export interface OnnxGraph {
  opset: number;
  producer: string;
  input: { name: string; dims: (number | string)[] };
  output: { name: string; dims: (number | string)[] };
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
}

export class OnnxImportError extends Error {
  override readonly name = 'OnnxImportError';
}

type LongLike = number | { toString(): string };
const num = (v: LongLike | null | undefined): number => (typeof v === 'number' ? v : Number((v ?? 0).toString()));

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function tensorOf(t: onnxProto.onnx.ITensorProto): OnnxTensor {
  const dims = (t.dims ?? []).map(num);
  const count = dims.reduce((a, b) => a * b, 1);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) throw new OnnxImportError(`initializer ${t.name}: external data files are not supported`);
  if (t.dataType === FLOAT) {
    let data: Float32Array;
    if (t.rawData && t.rawData.length) {
      // Copy: the protobuf buffer slice need not be 4-byte aligned.
      const bytes = Uint8Array.from(t.rawData);
      data = new Float32Array(bytes.buffer, 0, bytes.length / 4);
    } else data = Float32Array.from(t.floatData ?? []);
    if (data.length !== count) throw new OnnxImportError(`initializer ${t.name}: ${data.length} values for shape [${dims}]`);
    return { dims, data };
  }
  if (t.dataType === INT64) {
    let data: number[];
    if (t.rawData && t.rawData.length) {
      const view = new DataView(Uint8Array.from(t.rawData).buffer);
      data = Array.from({ length: t.rawData.length / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
    } else data = (t.int64Data ?? []).map(num);
    return { dims, data };
  }
  throw new OnnxImportError(`initializer ${t.name}: data type ${onnx.TensorProto.DataType[t.dataType ?? 0] ?? t.dataType} is not supported (float32 weights and int64 shapes only)`);
}

function attrValue(a: onnxProto.onnx.IAttributeProto): number | number[] | string {
  switch (a.type) {
    case onnx.AttributeProto.AttributeType.INT:
      return num(a.i);
    case onnx.AttributeProto.AttributeType.INTS:
      return (a.ints ?? []).map(num);
    case onnx.AttributeProto.AttributeType.FLOAT:
      return a.f ?? 0;
    case onnx.AttributeProto.AttributeType.FLOATS:
      return a.floats ?? [];
    case onnx.AttributeProto.AttributeType.STRING:
      return Buffer.from(a.s ?? new Uint8Array()).toString('utf8');
    default:
      // Tensors and graphs as attributes: no layer we map takes one.
      return `<${onnx.AttributeProto.AttributeType[a.type ?? 0] ?? a.type}>`;
  }
}

function valueInfo(v: onnxProto.onnx.IValueInfoProto): { name: string; dims: (number | string)[] } {
  const dims = (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue != null ? num(d.dimValue) : '?'));
  return { name: v.name ?? '', dims };
}

export function readOnnx(bytes: Uint8Array): OnnxGraph {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new OnnxImportError(`not an ONNX model: ${(err as Error).message}`);
  }
  const g = model.graph;
  if (!g || !g.node?.length) throw new OnnxImportError('the file holds no graph');
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.initializer ?? []) initializers.set(t.name ?? '', tensorOf(t));
  // Inputs that are initializers (older exporters list them) are weights, not the image.
  const inputs = (g.input ?? []).filter((i) => !initializers.has(i.name ?? ''));
  if (inputs.length !== 1) throw new OnnxImportError(`expected one image input, found ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`);
  if ((g.output ?? []).length !== 1) throw new OnnxImportError(`expected one output (the embedding), found ${(g.output ?? []).length}`);
  const opset = Math.max(0, ...(model.opsetImport ?? []).filter((o) => !o.domain || o.domain === 'ai.onnx').map((o) => num(o.version)));
  const nodes: OnnxNode[] = g.node.map((n, i) => ({
    name: n.name || `${n.opType}#${i}`,
    opType: n.opType ?? '',
    inputs: n.input ?? [],
    outputs: n.output ?? [],
    attrs: new Map((n.attribute ?? []).map((a) => [a.name ?? '', attrValue(a)])),
  }));
  return { opset, producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '), input: valueInfo(inputs[0]!), output: valueInfo(g.output![0]!), nodes, initializers };
}
