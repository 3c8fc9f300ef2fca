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

export class GraphModel {
  private constructor(
    private readonly nodes: Map<string, GraphNode>,
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
    return new GraphModel(nodes, weights, input.name, dims.map((d) => Number(d.size)), outputs);
  }

  /** Runs the graph; returns the outputs in `outputNames` order. The caller disposes them. */
  execute(input: tf.Tensor): tf.Tensor[] {
    return tf.tidy(() => {
      const cache = new Map<string, tf.Tensor>();
      const evalNode = (ref: string): tf.Tensor => {
        const name = ref.split(':')[0]!;
        const hit = cache.get(name);
        if (hit) return hit;
        const node = this.nodes.get(name);
        if (!node) throw new Error(`graph references unknown node ${name}`);
        const out = this.run(node, input, evalNode);
        cache.set(name, out);
        return out;
      };
      return this.outputNames.map((n) => evalNode(n));
    });
  }

  /** execute() on an input this call owns: the input is freed even when the graph throws. */
  executeOwned(input: tf.Tensor): tf.Tensor[] {
    try {
      return this.execute(input);
    } finally {
      input.dispose();
    }
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
        const fused = (a.fused_ops?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('latin1'));
        if (fused.some((f) => !['BiasAdd', 'Relu', 'Relu6', 'Prelu'].includes(f))) throw new Error(`unsupported fused ops ${fused.join('+')}`);
        const act = fused.includes('Prelu') ? 'prelu' : fused.includes('Relu6') ? 'relu6' : fused.includes('Relu') ? 'relu' : 'linear';
        const hasBias = fused.includes('BiasAdd');
        return tf.fused.conv2d({
          x: x(0) as tf.Tensor4D,
          filter: x(1) as tf.Tensor4D,
          strides: hw(a.strides, 1),
          pad: padding(a.padding),
          dilations: hw(a.dilations, 1),
          bias: hasBias ? x(2) : undefined,
          activation: act,
          preluActivationWeights: act === 'prelu' ? x(hasBias ? 3 : 2) : undefined,
        });
      }
      case 'DepthwiseConv2dNative':
        return tf.depthwiseConv2d(x(0) as tf.Tensor4D, x(1) as tf.Tensor4D, hw(a.strides, 1), padding(a.padding), 'NHWC', hw(a.dilations, 1));
      case 'AddV2':
      case 'Add':
      case 'BiasAdd':
        return tf.add(x(0), x(1));
      case 'Relu':
        return tf.relu(x(0));
      case 'Relu6':
        return tf.relu6(x(0));
      case 'Prelu':
        return tf.prelu(x(0), x(1));
      case 'Sigmoid':
        return tf.sigmoid(x(0));
      case 'MaxPool':
        return tf.maxPool(x(0) as tf.Tensor4D, hw(a.ksize, 1), hw(a.strides, 1), padding(a.padding));
      case 'Pad': {
        const p = x(1).arraySync() as [number, number][];
        return tf.pad(x(0), p);
      }
      case 'Reshape': {
        const shape = Array.from(x(1).dataSync());
        const t = x(0);
        // BlazeFace's head reshapes [1, anchors, k] bake in the anchor count of its 256 px input;
        // let the anchor axis follow the actual input size.
        if (shape.length === 3 && shape[0] === 1 && shape.reduce((p, v) => p * v, 1) !== t.size) shape[1] = -1;
        return tf.reshape(t, shape);
      }
      case 'ConcatV2': {
        const n = ins.length - 1;
        const axis = x(n).dataSync()[0]!;
        return tf.concat(ins.slice(0, n).map((_, k) => x(k)), axis);
      }
      default:
        throw new Error(`unsupported op ${node.op}`);
    }
  }

  dispose(): void {
    for (const t of Object.values(this.weights)) t.dispose();
  }
}
