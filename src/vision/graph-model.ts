// A minimal executor for TensorFlow.js graph-model files (model.json + .bin), run with the app's
// own tfjs-core. @tensorflow/tfjs-converter is not installed here (it is only an optional
// dependency of tfjs-node), and the detector graphs below use a dozen plain ops, so running
// their node list directly keeps one tfjs-core and one backend in the process.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

interface AttrValue {
  s?: string;
  i?: string;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { s?: string[]; i?: string[]; f?: number[] };
}

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

interface ModelJson {
  format?: string;
  modelTopology: { node: GraphNode[] };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

const SUPPORTED = new Set([
  'Const', 'Placeholder', 'Identity', '_FusedConv2D', 'Conv2D', 'DepthwiseConv2dNative', 'AddV2', 'Add', 'BiasAdd',
  'Relu', 'Relu6', 'Prelu', 'Sigmoid', 'MaxPool', 'Pad', 'Reshape', 'ConcatV2',
  // The passive liveness models' dense layers and heads (src/pad/passive.ts).
  '_FusedMatMul', 'MatMul', 'Mul', 'Softmax',
]);

const str = (a: AttrValue | undefined): string => (a?.s ? Buffer.from(a.s, 'base64').toString('latin1') : '');
const ints = (a: AttrValue | undefined): number[] => (a?.list?.i ?? []).map(Number);
const hw = (a: AttrValue | undefined, fallback: number): [number, number] => {
  const v = ints(a);
  return v.length === 4 ? [v[1]!, v[2]!] : [fallback, fallback];
};
const padding = (a: AttrValue | undefined): 'same' | 'valid' => {
  const p = str(a);
  if (p !== 'SAME' && p !== 'VALID') throw new Error(`unsupported padding "${p}"`);
  return p === 'SAME' ? 'same' : 'valid';
};

/** One node of the compiled plan: its op on already-resolved inputs. */
interface Step {
  name: string;
  /** Input slots (>= 0) or constants (the tensor itself). */
  inputs: (number | tf.Tensor)[];
  run: (ins: tf.Tensor[]) => tf.Tensor;
  /** Slots whose last reader this step is: freed after it runs (not outputs, not the input). */
  release: number[];
}

/**
 * The graph compiled once at load: nodes in execution order with their attributes parsed and
 * constant operands (paddings, shapes, axes) read, so a call is a loop over kernels; each
 * intermediate is freed right after its last reader instead of at the end of a tidy (both cut
 * the time against the node-walking, tidy-wrapped executor this replaced, with the same outputs
 * bit for bit). The detector's times per network: `npm run bench -- verify` (boxes, landmarks).
 */
export class GraphModel {
  private constructor(
    private readonly steps: Step[],
    private readonly outputSlots: number[],
    private readonly weights: tf.NamedTensorMap,
    readonly inputName: string,
    readonly inputShape: number[],
    readonly outputNames: string[],
  ) {}

  /** Loads model.json and its weight files from a local path. */
  static async load(jsonPath: string): Promise<GraphModel> {
    const json = JSON.parse(await readFile(jsonPath, 'utf8')) as ModelJson;
    const nodes = new Map(json.modelTopology.node.map((n) => [n.name, n]));
    const unsupported = [...new Set(json.modelTopology.node.map((n) => n.op).filter((op) => !SUPPORTED.has(op)))];
    if (unsupported.length) throw new Error(`${path.basename(jsonPath)} uses ops this executor lacks: ${unsupported.join(', ')}`);
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: Buffer[] = [];
    for (const group of json.weightsManifest) {
      specs.push(...group.weights);
      for (const p of group.paths) buffers.push(await readFile(path.join(path.dirname(jsonPath), p)));
    }
    const all = Buffer.concat(buffers);
    const weights = tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength), specs);
    for (const t of Object.values(weights)) tf.keep(t);
    const placeholders = json.modelTopology.node.filter((n) => n.op === 'Placeholder');
    if (placeholders.length !== 1) throw new Error(`expected one input, found ${placeholders.length}`);
    const input = placeholders[0]!;
    const dims = (input.attr?.shape as unknown as { shape?: { dim?: { size: string }[] } })?.shape?.dim ?? [];
    // Outputs: Identity nodes that nothing consumes, in name order (Identity, Identity_1, ...).
    const consumed = new Set(json.modelTopology.node.flatMap((n) => (n.input ?? []).map((i) => i.replace(/^\^/, '').split(':')[0])));
    const outputs = json.modelTopology.node
      .filter((n) => !consumed.has(n.name) && n.op !== 'Const')
      .map((n) => n.name)
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const { steps, outputSlots } = compile(nodes, weights, input.name, outputs);
    return new GraphModel(steps, outputSlots, weights, input.name, dims.map((d) => Number(d.size)), outputs);
  }

  /** Runs the graph; returns the outputs in `outputNames` order. The caller disposes them. */
  execute(input: tf.Tensor): tf.Tensor[] {
    const slots: (tf.Tensor | undefined)[] = new Array(this.steps.length + 1);
    slots[0] = input;
    const kept = new Set(this.outputSlots);
    try {
      for (let k = 0; k < this.steps.length; k++) {
        const step = this.steps[k]!;
        const ins = step.inputs.map((i) => (typeof i === 'number' ? slots[i]! : i));
        const out = (slots[k + 1] = step.run(ins));
        for (const r of step.release) {
          // A kernel may hand back its input's tensor itself: that one lives on as this output.
          if (r !== 0 && !kept.has(r) && slots[r] !== out) {
            slots[r]!.dispose();
            slots[r] = undefined;
          }
        }
      }
      return this.outputSlots.map((i) => slots[i]!);
    } catch (err) {
      for (let i = 1; i < slots.length; i++) slots[i]?.dispose();
      throw err;
    }
  }

  /** execute() on an input this call owns: the input is freed even when the graph throws. */
  executeOwned(input: tf.Tensor): tf.Tensor[] {
    try {
      return this.execute(input);
    } finally {
      input.dispose();
    }
  }

  dispose(): void {
    for (const t of Object.values(this.weights)) t.dispose();
  }
}

/** Orders the nodes the outputs need (inputs first) and binds each to its kernel. */
function compile(nodes: Map<string, GraphNode>, weights: tf.NamedTensorMap, inputName: string, outputs: string[]): { steps: Step[]; outputSlots: number[] } {
  const slotOf = new Map<string, number | tf.Tensor>([[inputName, 0]]);
  const steps: Step[] = [];
  const order: GraphNode[] = [];
  const visiting = new Set<string>();
  const visit = (ref: string): void => {
    const name = ref.split(':')[0]!;
    if (slotOf.has(name) || visiting.has(name)) return;
    const node = nodes.get(name);
    if (!node) throw new Error(`graph references unknown node ${name}`);
    if (node.op === 'Const') {
      const w = weights[name];
      if (!w) throw new Error(`no weights for constant ${name}`);
      slotOf.set(name, w);
      return;
    }
    visiting.add(name);
    for (const i of node.input ?? []) if (!i.startsWith('^')) visit(i);
    visiting.delete(name);
    // Identity passes its input through: no step, the same slot.
    if (node.op === 'Identity') {
      slotOf.set(name, slotOf.get(node.input![0]!.split(':')[0]!)!);
      return;
    }
    order.push(node);
    slotOf.set(name, order.length);
  };
  for (const o of outputs) visit(o);
  const lastUse = new Map<number, number>();
  for (const node of order) {
    const inputs = (node.input ?? []).filter((i) => !i.startsWith('^')).map((i) => slotOf.get(i.split(':')[0]!)!);
    const k = steps.length;
    for (const i of inputs) if (typeof i === 'number') lastUse.set(i, k);
    steps.push({ name: node.name, inputs, run: bind(node, inputs), release: [] });
  }
  for (const [slot, k] of lastUse) steps[k]!.release.push(slot);
  const outputSlots = outputs.map((o) => {
    const s = slotOf.get(o);
    if (typeof s !== 'number') throw new Error(`output ${o} is a constant`);
    return s;
  });
  return { steps, outputSlots };
}

/** The node's kernel, its attributes and constant operands read once. */
function bind(node: GraphNode, inputs: (number | tf.Tensor)[]): (ins: tf.Tensor[]) => tf.Tensor {
  const a = node.attr ?? {};
  const constant = (k: number): tf.Tensor => {
    const c = inputs[k];
    if (!(c instanceof tf.Tensor)) throw new Error(`${node.op} ${node.name}: operand ${k} must be a constant`);
    return c;
  };
  switch (node.op) {
    case '_FusedConv2D':
    case 'Conv2D': {
      const fused = (a.fused_ops?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('latin1'));
      if (fused.some((f) => !['BiasAdd', 'Relu', 'Relu6', 'Prelu'].includes(f))) throw new Error(`unsupported fused ops ${fused.join('+')}`);
      const activation = fused.includes('Prelu') ? 'prelu' : fused.includes('Relu6') ? 'relu6' : fused.includes('Relu') ? 'relu' : 'linear';
      const hasBias = fused.includes('BiasAdd');
      const strides = hw(a.strides, 1), pad = padding(a.padding), dilations = hw(a.dilations, 1);
      return (x) => tf.fused.conv2d({
        x: x[0] as tf.Tensor4D,
        filter: x[1] as tf.Tensor4D,
        strides,
        pad,
        dilations,
        bias: hasBias ? x[2] : undefined,
        activation,
        preluActivationWeights: activation === 'prelu' ? x[hasBias ? 3 : 2] : undefined,
      });
    }
    case '_FusedMatMul':
    case 'MatMul': {
      const fused = (a.fused_ops?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('latin1'));
      if (fused.some((f) => f !== 'BiasAdd' && f !== 'Relu')) throw new Error(`unsupported fused ops ${fused.join('+')}`);
      const transposeA = a.transpose_a?.b ?? false, transposeB = a.transpose_b?.b ?? false;
      const bias = fused.includes('BiasAdd'), activation = fused.includes('Relu') ? 'relu' : 'linear';
      return (x) => tf.fused.matMul({ a: x[0] as tf.Tensor2D, b: x[1] as tf.Tensor2D, transposeA, transposeB, bias: bias ? x[2] : undefined, activation });
    }
    case 'Mul':
      return (x) => tf.mul(x[0]!, x[1]!);
    case 'Softmax':
      return (x) => tf.softmax(x[0]!);
    case 'DepthwiseConv2dNative': {
      const strides = hw(a.strides, 1), pad = padding(a.padding), dilations = hw(a.dilations, 1);
      return (x) => tf.depthwiseConv2d(x[0] as tf.Tensor4D, x[1] as tf.Tensor4D, strides, pad, 'NHWC', dilations);
    }
    case 'AddV2':
    case 'Add':
    case 'BiasAdd':
      return (x) => tf.add(x[0]!, x[1]!);
    case 'Relu':
      return (x) => tf.relu(x[0]!);
    case 'Relu6':
      return (x) => tf.relu6(x[0]!);
    case 'Prelu':
      return (x) => tf.prelu(x[0]!, x[1]!);
    case 'Sigmoid':
      return (x) => tf.sigmoid(x[0]!);
    case 'MaxPool': {
      const ksize = hw(a.ksize, 1), strides = hw(a.strides, 1), pad = padding(a.padding);
      return (x) => tf.maxPool(x[0] as tf.Tensor4D, ksize, strides, pad);
    }
    case 'Pad': {
      const p = constant(1).arraySync() as [number, number][];
      return (x) => tf.pad(x[0]!, p);
    }
    case 'Reshape': {
      const target = Array.from(constant(1).dataSync());
      return (x) => {
        const t = x[0]!;
        const shape = [...target];
        // BlazeFace's head reshapes [1, anchors, k] bake in the anchor count of its 256 px input;
        // let the anchor axis follow the actual input size.
        if (shape.length === 3 && shape[0] === 1 && shape.reduce((q, v) => q * v, 1) !== t.size) shape[1] = -1;
        return tf.reshape(t, shape);
      };
    }
    case 'ConcatV2': {
      const n = inputs.length - 1;
      const axis = constant(n).dataSync()[0]!;
      return (x) => tf.concat(x.slice(0, n), axis);
    }
    default:
      throw new Error(`unsupported op ${node.op}`);
  }
}
