// Builds our own trainable MobileFaceNet from an ONNX MobileFaceNet. The graph is walked along its
// data flow, step by step against MobileFaceNet.steps(), so anything that is not our network (an
// unknown op, another kernel size, a missing residual, a stray node) is refused with the node's
// name and the reason, instead of being loaded into the wrong layer.
//
// Weights are copied exactly. ONNX convs are OIHW, ours HWIO (depthwise: [C,1,k,k] -> [k,k,C,1]).
// An exporter that folded BatchNorm into the conv leaves a bias: it goes into our BatchNorm as
// beta with an identity normalisation (mean 0, variance 1 - eps), so inference is unchanged.
// Statistics that let training continue from these weights come from recalibrateBatchNorm().
import * as tf from '@tensorflow/tfjs-core';
import { FaceNet } from '../facenet.js';
import { modelConfig, type Pixels } from '../config.js';
import { BatchNorm, Conv2d, DepthwiseConv2d, type ConvBnAct } from '../layers.js';
import type { LayerStep } from '../mobilefacenet.js';
import { equaliseChannelScales } from './channel-scale.js';
import { OnnxImportError, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx-graph.js';

export interface ImportReport {
  nodes: number;
  ops: Record<string, number>;
  parameters: number;
  inputSize: number;
  embeddingSize: number;
  width: number;
  /** BatchNorm layers loaded from BatchNormalization nodes (the rest were folded into conv bias). */
  unfoldedBatchNorms: number;
}

const SUPPORTED = new Set(['Conv', 'PRelu', 'Add', 'BatchNormalization', 'Reshape', 'Flatten', 'Squeeze']);

function fail(node: OnnxNode | undefined, why: string): never {
  throw new OnnxImportError(node ? `node "${node.name}" (${node.opType}): ${why}` : why);
}

const ints = (node: OnnxNode, key: string, dflt: number[]): number[] => {
  const v = node.attrs.get(key);
  return Array.isArray(v) ? v : typeof v === 'number' ? [v] : dflt;
};

/** OIHW -> HWIO (regular conv) or [C,1,kh,kw] -> [kh,kw,C,1] (depthwise). */
function toHwio(w: Float32Array, [o, i, kh, kw]: number[], depthwise: boolean): tf.Tensor4D {
  const out = new Float32Array(w.length);
  if (depthwise) {
    for (let c = 0; c < o!; c++) for (let h = 0; h < kh!; h++) for (let x = 0; x < kw!; x++) out[(h * kw! + x) * o! + c] = w[(c * kh! + h) * kw! + x]!;
    return tf.tensor4d(out, [kh!, kw!, o!, 1]);
  }
  for (let a = 0; a < o!; a++)
    for (let b = 0; b < i!; b++)
      for (let h = 0; h < kh!; h++) for (let x = 0; x < kw!; x++) out[((h * kw! + x) * i! + b) * o! + a] = w[((a * i! + b) * kh! + h) * kw! + x]!;
  return tf.tensor4d(out, [kh!, kw!, i!, o!]);
}

class GraphWalker {
  private consumers = new Map<string, OnnxNode[]>();
  private producers = new Map<string, OnnxNode>();
  readonly used = new Set<OnnxNode>();
  constructor(private g: OnnxGraph) {
    for (const n of g.nodes) {
      if (!SUPPORTED.has(n.opType)) fail(n, `op ${n.opType} has no counterpart in our MobileFaceNet (supported: ${[...SUPPORTED].join(', ')})`);
      for (const t of n.inputs) if (!g.initializers.has(t)) this.consumers.set(t, [...(this.consumers.get(t) ?? []), n]);
      for (const t of n.outputs) this.producers.set(t, n);
    }
  }
  /** The unused node of type `op` that reads `tensor`; the error names what reads it instead. */
  take(op: string, tensor: string, forLayer: string): OnnxNode {
    const readers = (this.consumers.get(tensor) ?? []).filter((n) => !this.used.has(n));
    const n = readers.find((r) => r.opType === op);
    if (!n) {
      const found = readers.length ? readers.map((r) => `"${r.name}" (${r.opType})`).join(', ') : 'nothing reads it';
      // Name a node either way: the one that reads the tensor wrongly, else the one that made it.
      const at = readers[0] ?? this.producers.get(tensor);
      fail(at, `our layer ${forLayer} expects a ${op} reading ${tensor}${readers[0] ? '' : ' (this node\'s output)'}; found ${found}`);
    }
    this.used.add(n);
    return n;
  }
  /** The unused node of type `op` reading `tensor`, if there is one (optional BatchNorm, PRelu). */
  peek(op: string, tensor: string): OnnxNode | undefined {
    return (this.consumers.get(tensor) ?? []).find((r) => !this.used.has(r) && r.opType === op);
  }
  weight(node: OnnxNode, index: number, what: string): OnnxTensor & { data: Float32Array } {
    const name = node.inputs[index];
    const t = name ? this.g.initializers.get(name) : undefined;
    if (!t || !(t.data instanceof Float32Array)) fail(node, `${what} (input ${index}) must be a float32 initializer`);
    return t as OnnxTensor & { data: Float32Array };
  }
  unused(): OnnxNode[] {
    return this.g.nodes.filter((n) => !this.used.has(n));
  }
}

/** Architecture from the graph: input size, width (stem channels / 64), embedding size (last conv). */
function inferShape(g: OnnxGraph): { inputSize: number; width: number; embeddingSize: number } {
  const [, c, h, w] = g.input.dims;
  if (g.input.dims.length !== 4 || c !== 3 || typeof h !== 'number' || h !== w) {
    throw new OnnxImportError(`input "${g.input.name}" is [${g.input.dims}]; expected NCHW [N, 3, S, S] (a square RGB/BGR crop)`);
  }
  const convs = g.nodes.filter((n) => n.opType === 'Conv');
  if (convs.length < 3) throw new OnnxImportError(`only ${convs.length} Conv nodes: not a MobileFaceNet`);
  const dims = (n: OnnxNode) => g.initializers.get(n.inputs[1] ?? '')?.dims ?? fail(n, 'its weight is not an initializer');
  const stem = dims(convs[0]!)[0]!;
  const width = stem / 64;
  const embeddingSize = dims(convs[convs.length - 1]!)[0]!;
  return { inputSize: h, width, embeddingSize };
}

/**
 * Our MobileFaceNet with the ONNX graph's weights. `pixels` is the input convention the file's
 * publisher documents (ONNX does not record it); it is stored in the model's config.
 */
export function importMobileFaceNet(g: OnnxGraph, pixels: Pixels): { net: FaceNet; report: ImportReport } {
  const walker = new GraphWalker(g);
  const shape = inferShape(g);
  const net = new FaceNet(modelConfig({ variant: 'mobilefacenet', ...shape, padding: 'symmetric', pixels }));
  let unfolded = 0;
  try {
    const steps = net.steps();
    const outputs: string[] = [];
    let cur = g.input.name;

    /** Conv (+ optional BatchNormalization) into conv and bn; returns the tensor after BN. */
    const loadConv = (layer: string, conv: Conv2d | DepthwiseConv2d, bn: BatchNorm): string => {
      const node = walker.take('Conv', cur, layer);
      const depthwise = conv instanceof DepthwiseConv2d;
      const ourShape = conv.w.shape; // HWIO, or [k,k,C,1]
      const outC = depthwise ? ourShape[2]! : ourShape[3]!;
      const inC = ourShape[2]!;
      const w = walker.weight(node, 1, 'the kernel');
      const want = depthwise ? [outC, 1, conv.k, conv.k] : [outC, inC, conv.k, conv.k];
      if (w.dims.join('x') !== want.join('x')) fail(node, `kernel is [${w.dims}]; our layer ${layer} needs [${want}]`);
      const group = (node.attrs.get('group') as number | undefined) ?? 1;
      if (group !== (depthwise ? outC : 1)) fail(node, `group ${group}; our layer ${layer} is ${depthwise ? `depthwise (group ${outC})` : 'a full conv (group 1)'}`);
      const strides = ints(node, 'strides', [1, 1]);
      if (strides.some((s) => s !== conv.stride)) fail(node, `strides [${strides}]; our layer ${layer} has stride ${conv.stride}`);
      if (ints(node, 'dilations', [1, 1]).some((d) => d !== 1)) fail(node, 'dilated convolutions are not supported');
      const autoPad = node.attrs.get('auto_pad');
      if (autoPad !== undefined && autoPad !== 'NOTSET') fail(node, `auto_pad ${autoPad} is not supported (explicit pads only)`);
      const p = conv.pad === 'valid' || conv.k === 1 ? 0 : conv.pad === 'same' ? fail(node, `our layer ${layer} pads TF-style; an import needs symmetric padding`) : conv.pad;
      const pads = ints(node, 'pads', [0, 0, 0, 0]);
      if (pads.some((v) => v !== p)) fail(node, `pads [${pads}]; our layer ${layer} pads ${p} on every side`);
      const kernel = toHwio(w.data, w.dims, depthwise);
      conv.w.assign(kernel);
      kernel.dispose();
      const bias = node.inputs[2] ? walker.weight(node, 2, 'the bias').data : new Float32Array(outC);
      if (bias.length !== outC) fail(node, `bias has ${bias.length} values for ${outC} channels`);
      let out = node.outputs[0]!;
      const bnNode = walker.peek('BatchNormalization', out);
      if (bnNode) {
        walker.used.add(bnNode);
        const [scale, beta, mean, variance] = [1, 2, 3, 4].map((i) => walker.weight(bnNode, i, ['scale', 'B', 'mean', 'var'][i - 1]!).data);
        const eps = (bnNode.attrs.get('epsilon') as number | undefined) ?? 1e-5;
        // BN(x + bias) with the file's epsilon, written with ours.
        setBn(bn, {
          gamma: scale!,
          beta: beta!,
          mean: mean!.map((m, c) => m - bias[c]!),
          variance: variance!.map((v) => v + eps - bn.eps),
        });
        unfolded++;
        out = bnNode.outputs[0]!;
      } else {
        setBn(bn, { gamma: new Float32Array(outC).fill(1), beta: bias, mean: new Float32Array(outC), variance: new Float32Array(outC).fill(1 - bn.eps) });
      }
      return out;
    };

    const loadUnit = (layer: string, unit: ConvBnAct): string => {
      let out = loadConv(layer, unit.conv, unit.bn);
      const prelu = walker.peek('PRelu', out);
      if (unit.prelu) {
        const n = walker.take('PRelu', out, layer);
        const slope = walker.weight(n, 1, 'the slope').data;
        const c = unit.prelu.channels;
        if (slope.length !== c && slope.length !== 1) fail(n, `slope has ${slope.length} values; our layer ${layer} has ${c} channels`);
        const alpha = tf.tensor1d(slope.length === 1 ? new Float32Array(c).fill(slope[0]!) : slope);
        unit.prelu.alpha.assign(alpha);
        alpha.dispose();
        out = n.outputs[0]!;
      } else if (unit.act === 'relu') {
        fail(walker.peek('Conv', out), `our layer ${layer} ends in ReLU, which no MobileFaceNet has`);
      } else if (prelu) {
        fail(prelu, `our layer ${layer} has no activation here (a linear bottleneck)`);
      }
      return out;
    };

    steps.forEach((step: LayerStep, i) => {
      if (step.kind === 'conv') cur = loadUnit(step.name, step.unit);
      else if (step.kind === 'linear') cur = loadConv(step.name, step.conv, step.bn);
      else {
        const skip = step.from < 0 ? g.input.name : outputs[step.from]!;
        const n = walker.take('Add', cur, step.name);
        if (!n.inputs.includes(skip)) fail(n, `our residual ${step.name} adds the block input ${skip}, this node adds [${n.inputs.join(', ')}]`);
        cur = n.outputs[0]!;
      }
      outputs[i] = cur;
    });

    // The [N, E, 1, 1] -> [N, E] reshape at the end is ours too (FaceNet returns [N, E]).
    for (let n = walker.peek('Reshape', cur) ?? walker.peek('Flatten', cur) ?? walker.peek('Squeeze', cur); n; n = walker.peek('Reshape', cur) ?? walker.peek('Flatten', cur) ?? walker.peek('Squeeze', cur)) {
      walker.used.add(n);
      cur = n.outputs[0]!;
    }
    const stray = walker.unused();
    if (stray.length) fail(stray[0], `left over after the embedding layer: our MobileFaceNet has no such node (${stray.length} unused nodes)`);
    if (cur !== g.output.name) throw new OnnxImportError(`the graph's output is "${g.output.name}", but the embedding layer ends in "${cur}"`);

    // Stored per-tensor uint8 needs each kernel's channels on one scale (see channel-scale.ts).
    equaliseChannelScales(net);
    const ops: Record<string, number> = {};
    for (const n of g.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
    return {
      net,
      report: { nodes: g.nodes.length, ops, parameters: net.params.countTrainable(), ...shape, unfoldedBatchNorms: unfolded },
    };
  } catch (err) {
    net.dispose();
    throw err;
  }
}

function setBn(bn: BatchNorm, v: { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array }): void {
  tf.tidy(() => {
    bn.gamma.assign(tf.tensor1d(v.gamma));
    bn.beta.assign(tf.tensor1d(v.beta));
    bn.movingMean.assign(tf.tensor1d(v.mean));
    bn.movingVar.assign(tf.tensor1d(v.variance));
  });
}
