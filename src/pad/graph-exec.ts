// Runs the two small passive anti-spoofing graphs (TensorFlow.js graph-model format) on the app's
// own tfjs-core and backend. src/vision/graph-model.ts covers the detector graphs' ops only, and
// these two add dense layers (_FusedMatMul), Mul, Softmax; rather than touch the vision executor
// this is a second minimal one for exactly the ops the two models use (see PAD_OPS).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

interface AttrValue {
  s?: string;
  i?: string;
  b?: boolean;
  list?: { s?: string[]; i?: string[] };
  shape?: { dim?: { size: string }[] };
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

export const PAD_OPS = new Set([
  'Const', 'Placeholder', 'Identity', '_FusedConv2D', 'Conv2D', 'MaxPool', 'Relu', 'Reshape',
  '_FusedMatMul', 'MatMul', 'BiasAdd', 'Add', 'AddV2', 'Mul', 'Sigmoid', 'Softmax',
]);

const decode = (s: string) => Buffer.from(s, 'base64').toString('latin1');
const str = (a: AttrValue | undefined) => (a?.s ? decode(a.s) : '');
const ints = (a: AttrValue | undefined) => (a?.list?.i ?? []).map(Number);
const hw = (a: AttrValue | undefined): [number, number] => {
  const v = ints(a);
  return v.length === 4 ? [v[1]!, v[2]!] : [1, 1];
};
const padding = (a: AttrValue | undefined): 'same' | 'valid' => {
  const p = str(a);
  if (p !== 'SAME' && p !== 'VALID') throw new Error(`unsupported padding "${p}"`);
  return p === 'SAME' ? 'same' : 'valid';
};
const fusedOps = (a: AttrValue | undefined) => (a?.list?.s ?? []).map(decode);

export class PadGraph {
  private constructor(
    private readonly nodes: Map<string, GraphNode>,
    private readonly weights: tf.NamedTensorMap,
    /** Input shape [-1, H, W, C]. */
    readonly inputShape: number[],
    private readonly output: string,
  ) {}

  static async load(jsonPath: string): Promise<PadGraph> {
    const json = JSON.parse(await readFile(jsonPath, 'utf8')) as ModelJson;
    if (json.format !== 'graph-model') throw new Error(`${path.basename(jsonPath)} is not a graph model`);
    const list = json.modelTopology.node;
    const unsupported = [...new Set(list.map((n) => n.op).filter((op) => !PAD_OPS.has(op)))];
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
    const inputs = list.filter((n) => n.op === 'Placeholder');
    if (inputs.length !== 1) throw new Error(`expected one input, found ${inputs.length}`);
    const dims = (inputs[0]!.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size));
    const consumed = new Set(list.flatMap((n) => (n.input ?? []).map((i) => i.replace(/^\^/, '').split(':')[0])));
    const outputs = list.filter((n) => !consumed.has(n.name) && n.op !== 'Const');
    if (outputs.length !== 1) throw new Error(`expected one output, found ${outputs.length}`);
    return new PadGraph(new Map(list.map((n) => [n.name, n])), weights, dims, outputs[0]!.name);
  }

  /** Runs the graph on `input` [n, H, W, C]; the caller owns and disposes the result. */
  execute(input: tf.Tensor4D): tf.Tensor {
    return tf.tidy(() => {
      const cache = new Map<string, tf.Tensor>();
      const evalNode = (ref: string): tf.Tensor => {
        const name = ref.replace(/^\^/, '').split(':')[0]!;
        const hit = cache.get(name);
        if (hit) return hit;
        const node = this.nodes.get(name);
        if (!node) throw new Error(`graph references unknown node ${name}`);
        const out = this.run(node, input, evalNode);
        cache.set(name, out);
        return out;
      };
      return evalNode(this.output);
    });
  }

  private run(node: GraphNode, input: tf.Tensor, evalNode: (ref: string) => tf.Tensor): tf.Tensor {
    const ins = (node.input ?? []).filter((i) => !i.startsWith('^'));
    const x = (k: number) => evalNode(ins[k]!);
    const a = node.attr ?? {};
    switch (node.op) {
      case 'Placeholder':
        return input;
      case 'Const': {
        const w = this.weights[node.name];
        if (!w) throw new Error(`no weights for constant ${node.name}`);
        return w;
      }
      case 'Identity':
        return x(0);
      case '_FusedConv2D':
      case 'Conv2D': {
        const fused = fusedOps(a.fused_ops);
        if (fused.some((f) => f !== 'BiasAdd' && f !== 'Relu')) throw new Error(`unsupported fused ops ${fused.join('+')}`);
        return tf.fused.conv2d({
          x: x(0) as tf.Tensor4D,
          filter: x(1) as tf.Tensor4D,
          strides: hw(a.strides),
          pad: padding(a.padding),
          dilations: hw(a.dilations),
          bias: fused.includes('BiasAdd') ? x(2) : undefined,
          activation: fused.includes('Relu') ? 'relu' : 'linear',
        });
      }
      case '_FusedMatMul':
      case 'MatMul': {
        const fused = fusedOps(a.fused_ops);
        if (fused.some((f) => f !== 'BiasAdd' && f !== 'Relu')) throw new Error(`unsupported fused ops ${fused.join('+')}`);
        return tf.fused.matMul({
          a: x(0) as tf.Tensor2D,
          b: x(1) as tf.Tensor2D,
          transposeA: a.transpose_a?.b ?? false,
          transposeB: a.transpose_b?.b ?? false,
          bias: fused.includes('BiasAdd') ? x(2) : undefined,
          activation: fused.includes('Relu') ? 'relu' : 'linear',
        });
      }
      case 'MaxPool':
        return tf.maxPool(x(0) as tf.Tensor4D, hw(a.ksize), hw(a.strides), padding(a.padding));
      case 'Relu':
        return tf.relu(x(0));
      case 'Reshape':
        return tf.reshape(x(0), Array.from(x(1).dataSync()));
      case 'BiasAdd':
      case 'Add':
      case 'AddV2':
        return tf.add(x(0), x(1));
      case 'Mul':
        return tf.mul(x(0), x(1));
      case 'Sigmoid':
        return tf.sigmoid(x(0));
      case 'Softmax':
        return tf.softmax(x(0));
      default:
        throw new Error(`unsupported op ${node.op}`);
    }
  }

  dispose(): void {
    for (const t of Object.values(this.weights)) t.dispose();
  }
}
