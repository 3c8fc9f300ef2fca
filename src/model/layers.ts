// A minimal PyTorch-style module system over tf.Variables, in the spirit of arcface_torch:
// layers own named parameters, a forward pass is a plain function, and the trainer sees one
// flat, ordered list of trainable variables (which data-parallel workers can mirror exactly).
import * as tf from '@tensorflow/tfjs-core';
import { batchNormTraining } from '../engine/wasm-kernels/index.js';

/** Per-forward state: training mode, and the batch statistics BatchNorm layers measured. */
export interface ForwardContext {
  training: boolean;
  /** Filled in training mode: name -> [batch mean, batch variance], for the moving averages. */
  bnStats?: Map<string, [tf.Tensor1D, tf.Tensor1D]>;
  /** When present, conv and dense layers add their multiply-accumulates (for `model info`). */
  macs?: { count: number };
  /** Inference mode only: sees each BatchNorm's input (re-estimating statistics after an import). */
  observeBn?: (bn: BatchNorm, x: tf.Tensor) => void;
  /**
   * Inference mode only, never under a gradient tape: each conv + BatchNorm (+ activation) runs as
   * one fused kernel with BN folded into the conv's weights and bias (ParamStore.derived keeps the
   * folded copies until a weight is assigned anew). The copies are constants, so no gradient would
   * reach the variables: FaceNet.embed and trunkFeatures set it, nothing that trains does.
   */
  folded?: boolean;
}

/** TF's 'same'/'valid', or a number of pixels on every side (PyTorch/ONNX symmetric padding). */
export type Padding = 'same' | 'valid' | number;

/**
 * Parameters their layer declared exempt from weight decay (BatchNorm's affine pair, PReLU slopes),
 * as torch recipes put them in a param group with weight_decay 0. The trainer's groups
 * (src/train/param-groups.ts) come from `decays`; no name is matched anywhere.
 */
const noDecay = new WeakSet<tf.Variable>();

/** Whether weight decay applies to this trainable variable (see ParamStore.param). */
export function decays(v: tf.Variable): boolean {
  return !noDecay.has(v);
}

/** Owns every variable of a model, keyed by a stable dotted name. */
export class ParamStore {
  readonly trainable = new Map<string, tf.Variable>();
  /** Non-trainable state saved with the model (BatchNorm moving mean/variance). */
  readonly buffers = new Map<string, tf.Variable>();
  private seed: number;
  /** Tensors computed from variables (folded BatchNorm), with the data each was computed from. */
  private readonly derivedCache = new Map<string, { sources: object[]; tensors: tf.Tensor[] }>();

  constructor(seed = 1) {
    this.seed = seed;
  }

  nextSeed(): number {
    return this.seed++;
  }

  /** A trainable variable; `decay: false` puts it in the group weight decay leaves alone. */
  param(name: string, init: () => tf.Tensor, opts: { decay?: boolean } = {}): tf.Variable {
    if (this.trainable.has(name) || this.buffers.has(name)) throw new Error(`duplicate parameter ${name}`);
    // Engine-wide variable names must be unique, so TF.js names them; ours live in the map.
    const v = tf.tidy(() => tf.variable(init(), true));
    this.trainable.set(name, v);
    if (opts.decay === false) noDecay.add(v);
    return v;
  }

  buffer(name: string, init: () => tf.Tensor): tf.Variable {
    if (this.trainable.has(name) || this.buffers.has(name)) throw new Error(`duplicate parameter ${name}`);
    const v = tf.tidy(() => tf.variable(init(), false));
    this.buffers.set(name, v);
    return v;
  }

  /** Every variable, trainable first, in creation order (the serialisation order). */
  all(): [string, tf.Variable][] {
    return [...this.trainable.entries(), ...this.buffers.entries()];
  }

  countTrainable(): number {
    let n = 0;
    for (const v of this.trainable.values()) n += v.size;
    return n;
  }

  /**
   * Tensors made from `sources` by `make` (e.g. BatchNorm folded into a conv), cached under `key`
   * and made again once any source is assigned a new value (assign gives a variable new data:
   * loading, importing, every training step). Freed by dispose(); callers must not dispose them.
   */
  derived(key: string, sources: readonly tf.Variable[], make: () => tf.Tensor[]): tf.Tensor[] {
    const hit = this.derivedCache.get(key);
    if (hit && hit.sources.length === sources.length && hit.sources.every((d, i) => d === sources[i]!.dataId)) return hit.tensors;
    const tensors = tf.tidy(make);
    for (const t of tensors) tf.keep(t);
    if (hit) tf.dispose(hit.tensors);
    this.derivedCache.set(key, { sources: sources.map((v) => v.dataId), tensors });
    return tensors;
  }

  dispose(): void {
    for (const [, v] of this.all()) v.dispose();
    for (const { tensors } of this.derivedCache.values()) tf.dispose(tensors);
    this.derivedCache.clear();
    this.trainable.clear();
    this.buffers.clear();
  }
}

/** Kaiming-normal (fan-in, gain sqrt(2)) as torchvision does for conv layers followed by ReLU. */
function heNormal(shape: number[], fanIn: number, seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed);
}

export class Conv2d {
  readonly w: tf.Variable;
  constructor(
    ps: ParamStore,
    readonly name: string,
    inC: number,
    outC: number,
    readonly k: number,
    readonly stride = 1,
    readonly pad: Padding = 'same',
  ) {
    this.w = ps.param(`${name}.w`, () => heNormal([k, k, inC, outC], k * k * inC, ps.nextSeed()), { decay: true });
  }
  forward(x: tf.Tensor4D, ctx?: ForwardContext): tf.Tensor4D {
    const y = tf.conv2d(x, this.w as tf.Tensor4D, this.stride, this.pad);
    if (ctx?.macs) ctx.macs.count += (y.size / y.shape[0]) * this.k * this.k * x.shape[3];
    return y;
  }
}

export class DepthwiseConv2d {
  readonly w: tf.Variable;
  constructor(
    ps: ParamStore,
    readonly name: string,
    channels: number,
    readonly k: number,
    readonly stride = 1,
    readonly pad: Padding = 'same',
  ) {
    this.w = ps.param(`${name}.w`, () => heNormal([k, k, channels, 1], k * k, ps.nextSeed()), { decay: true });
  }
  forward(x: tf.Tensor4D, ctx?: ForwardContext): tf.Tensor4D {
    const y = tf.depthwiseConv2d(x, this.w as tf.Tensor4D, this.stride, this.pad);
    if (ctx?.macs) ctx.macs.count += (y.size / y.shape[0]) * this.k * this.k;
    return y;
  }
}

export class Dense {
  readonly w: tf.Variable;
  constructor(ps: ParamStore, readonly name: string, inF: number, outF: number) {
    this.w = ps.param(`${name}.w`, () => tf.randomNormal([inF, outF], 0, Math.sqrt(1 / inF), 'float32', ps.nextSeed()), { decay: true });
  }
  forward(x: tf.Tensor2D, ctx?: ForwardContext): tf.Tensor2D {
    if (ctx?.macs) ctx.macs.count += this.w.size;
    return tf.matMul(x, this.w as tf.Tensor2D);
  }
}

/**
 * BatchNorm over the last axis. In training it normalises with the batch's own moments (their
 * gradient flows through tf.moments) and reports them in ctx.bnStats; the trainer folds them
 * into the moving averages after the step, outside the gradient tape.
 */
export class BatchNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly movingMean: tf.Variable;
  readonly movingVar: tf.Variable;
  constructor(
    ps: ParamStore,
    readonly name: string,
    channels: number,
    readonly eps = 1e-5,
    opts: { affine?: boolean; scale?: boolean } = {},
  ) {
    const affine = opts.affine ?? true;
    // arcface_torch's final "features" BatchNorm1d fixes gamma at 1 (no scale).
    this.gamma = opts.scale === false || !affine
      ? ps.buffer(`${name}.gamma`, () => tf.ones([channels]))
      : ps.param(`${name}.gamma`, () => tf.ones([channels]), { decay: false });
    this.beta = affine ? ps.param(`${name}.beta`, () => tf.zeros([channels]), { decay: false }) : ps.buffer(`${name}.beta`, () => tf.zeros([channels]));
    this.movingMean = ps.buffer(`${name}.moving_mean`, () => tf.zeros([channels]));
    this.movingVar = ps.buffer(`${name}.moving_var`, () => tf.ones([channels]));
  }
  /** Inference: y = x * scale + shift per channel, the moving statistics folded (for fused kernels). */
  foldedScaleShift(): { scale: tf.Tensor1D; shift: tf.Tensor1D } {
    return tf.tidy(() => {
      const scale = tf.mul(this.gamma, tf.rsqrt(tf.add(this.movingVar, this.eps))) as tf.Tensor1D;
      return { scale, shift: tf.sub(this.beta, tf.mul(this.movingMean, scale)) as tf.Tensor1D };
    });
  }
  /** The variables foldedScaleShift reads. */
  get statistics(): tf.Variable[] {
    return [this.gamma, this.beta, this.movingMean, this.movingVar];
  }
  forward<T extends tf.Tensor>(x: T, ctx: ForwardContext): T {
    if (!ctx.training) {
      ctx.observeBn?.(this, x);
      return tf.batchNorm(x, this.movingMean, this.movingVar, this.beta, this.gamma, this.eps) as T;
    }
    // One fused kernel on WASM (half the heap of moments + batchNorm); exactly that pair elsewhere.
    const { y, mean, variance } = batchNormTraining(x, this.gamma, this.beta, this.eps);
    ctx.bnStats?.set(this.name, [mean, variance]);
    return y as T;
  }
}

export class PReLU {
  readonly alpha: tf.Variable;
  readonly channels: number;
  constructor(ps: ParamStore, name: string, channels: number) {
    this.channels = channels;
    this.alpha = ps.param(`${name}.alpha`, () => tf.fill([channels], 0.25), { decay: false });
  }
  forward<T extends tf.Tensor>(x: T): T {
    return tf.prelu(x, this.alpha as tf.Tensor) as T;
  }
}

export type Activation = 'relu' | 'prelu' | 'none';

/** Conv (regular or depthwise) + BN + activation: the unit both backbones are built from. */
export class ConvBnAct {
  readonly conv: Conv2d | DepthwiseConv2d;
  readonly bn: BatchNorm;
  readonly prelu?: PReLU;
  readonly name: string;
  private readonly ps: ParamStore;
  constructor(
    ps: ParamStore,
    name: string,
    inC: number,
    outC: number,
    k: number,
    stride: number,
    readonly act: Activation,
    depthwise = false,
    pad: Padding = 'same',
  ) {
    if (depthwise && inC !== outC) throw new Error(`${name}: depthwise conv keeps channels`);
    this.ps = ps;
    this.name = name;
    this.conv = depthwise ? new DepthwiseConv2d(ps, `${name}.dw`, inC, k, stride, pad) : new Conv2d(ps, `${name}.conv`, inC, outC, k, stride, pad);
    this.bn = new BatchNorm(ps, `${name}.bn`, outC);
    if (act === 'prelu') this.prelu = new PReLU(ps, `${name}.prelu`, outC);
  }
  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    if (ctx.folded && !ctx.training) return this.forwardFolded(x, ctx);
    const y = this.bn.forward(this.conv.forward(x, ctx), ctx);
    if (this.act === 'relu') return tf.relu(y);
    if (this.prelu) return this.prelu.forward(y);
    return y;
  }
  /**
   * The same function as one fused kernel: BN folded into the kernel (w * scale per output channel)
   * and a bias (shift), the activation applied in the kernel's epilogue. On the imported
   * MobileFaceNet 50 BatchNorm and 33 PReLU kernels go (`npm run bench -- embedders` against
   * `--no-fold`); embeddings stay within 1e-4 cosine of the unfolded graph (test/model.test.ts).
   */
  private forwardFolded(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    const conv = this.conv;
    const [filter, bias] = this.ps.derived(`${this.name}.folded`, [conv.w, ...this.bn.statistics], () => {
      const { scale, shift } = this.bn.foldedScaleShift();
      // Output channels are the last filter axis for a conv, the third for a depthwise one ([k, k, C, 1]).
      const k = conv instanceof DepthwiseConv2d ? tf.reshape(scale, [1, 1, -1, 1]) : scale;
      return [tf.mul(conv.w, k), shift];
    }) as [tf.Tensor4D, tf.Tensor1D];
    const activation = this.act === 'none' ? 'linear' : this.act;
    const args = { x, filter, strides: conv.stride, pad: conv.pad, bias, activation, preluActivationWeights: this.prelu?.alpha } as const;
    const y = conv instanceof DepthwiseConv2d ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
    if (ctx.macs) ctx.macs.count += (y.size / y.shape[0]) * conv.k * conv.k * (conv instanceof DepthwiseConv2d ? 1 : x.shape[3]);
    return y;
  }
}
