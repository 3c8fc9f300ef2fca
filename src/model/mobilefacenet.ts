// Edge variant: MobileFaceNet (Chen et al. 2018), as in InsightFace's arcface_torch.
// Inverted residual bottlenecks with PReLU, and a global depthwise conv (GDC) instead of average
// pooling, which keeps where in the face a feature was seen: the reason it beats GAP on faces.
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm, ConvBnAct, ForwardContext, ParamStore, Conv2d, type Padding } from './layers.js';
import type { ModelConfig } from './config.js';

/** One step of the forward pass, in order: what an importer matches another graph against. */
export type LayerStep =
  | { kind: 'conv'; name: string; unit: ConvBnAct }
  /** The embedding: a 1x1 conv with no activation, then BatchNorm (no scale). */
  | { kind: 'linear'; name: string; conv: Conv2d; bn: BatchNorm }
  /** Residual add of the block's input (the output of step `from`, -1 = the network input) and its last output. */
  | { kind: 'add'; name: string; from: number };

class Bottleneck {
  readonly expand: ConvBnAct;
  readonly dw: ConvBnAct;
  readonly project: ConvBnAct;
  readonly residual: boolean;
  constructor(ps: ParamStore, readonly name: string, inC: number, outC: number, stride: number, t: number, pad3: Padding) {
    const hidden = inC * t;
    this.expand = new ConvBnAct(ps, `${name}.expand`, inC, hidden, 1, 1, 'prelu');
    this.dw = new ConvBnAct(ps, `${name}.dw`, hidden, hidden, 3, stride, 'prelu', true, pad3);
    this.project = new ConvBnAct(ps, `${name}.project`, hidden, outC, 1, 1, 'none');
    this.residual = stride === 1 && inC === outC;
  }
  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    const y = this.project.forward(this.dw.forward(this.expand.forward(x, ctx), ctx), ctx);
    return this.residual ? tf.add(x, y) : y;
  }
}

/** [expansion t, channels c, repeats n, first stride s], the paper's table 1. */
const SETTINGS: [number, number, number, number][] = [
  [2, 64, 5, 2],
  [4, 128, 1, 2],
  [2, 128, 6, 1],
  [4, 128, 1, 2],
  [2, 128, 2, 1],
];

export class MobileFaceNet {
  private stem: ConvBnAct;
  private stemDw: ConvBnAct;
  private blocks: Bottleneck[] = [];
  private head: ConvBnAct;
  private gdc: ConvBnAct;
  private linear: Conv2d;
  private bn: BatchNorm;
  constructor(private readonly ps: ParamStore, cfg: ModelConfig) {
    const w = (c: number) => Math.max(8, Math.round(c * cfg.width));
    const pad3: Padding = cfg.padding === 'symmetric' ? 1 : 'same';
    this.stem = new ConvBnAct(ps, 'stem', 3, w(64), 3, 2, 'prelu', false, pad3);
    this.stemDw = new ConvBnAct(ps, 'stem_dw', w(64), w(64), 3, 1, 'prelu', true, pad3);
    let inC = w(64);
    SETTINGS.forEach(([t, c, n, s], i) => {
      for (let j = 0; j < n; j++) {
        this.blocks.push(new Bottleneck(ps, `block${i + 1}.${j}`, inC, w(c), j === 0 ? s : 1, t, pad3));
        inC = w(c);
      }
    });
    const headC = w(512);
    this.head = new ConvBnAct(ps, 'conv_head', inC, headC, 1, 1, 'prelu');
    // Input /16 at the end (four stride-2 stages): 7x7 at 112 px. GDC spans the whole map.
    const k = Math.ceil(cfg.inputSize / 16);
    this.gdc = new ConvBnAct(ps, 'gdc', headC, headC, k, 1, 'none', true, 'valid');
    this.linear = new Conv2d(ps, 'embedding.linear', headC, cfg.embeddingSize, 1);
    this.bn = new BatchNorm(ps, 'embedding.bn', cfg.embeddingSize, 1e-5, { scale: false });
  }
  /**
   * The GDC's 7x7 kernels weight each face position with a few large values among many small
   * ones: per-tensor uint8 costs the imported network cosine 4e-3 there, against at most 7e-4 for
   * any other kernel (16 reference crops). As float16 it adds 25 KB.
   */
  readonly float16Weights = ['gdc.dw.w'];
  /** Parameters from the last stage on: what a finetune trains over cached trunk features. */
  readonly tailPrefixes = [`block${SETTINGS.length}.`, 'conv_head.', 'gdc.', 'embedding.'];
  private get tailStart(): number {
    return this.blocks.length - SETTINGS[SETTINGS.length - 1]![2];
  }
  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    return this.tail(this.trunk(x, ctx), ctx);
  }
  /** The forward pass as a flat list of steps (see LayerStep), the order forward() runs them in. */
  steps(): LayerStep[] {
    const out: LayerStep[] = [];
    const conv = (unit: ConvBnAct, name: string) => out.push({ kind: 'conv', name, unit });
    conv(this.stem, 'stem');
    conv(this.stemDw, 'stem_dw');
    for (const b of this.blocks) {
      const input = out.length - 1;
      conv(b.expand, `${b.name}.expand`);
      conv(b.dw, `${b.name}.dw`);
      conv(b.project, `${b.name}.project`);
      if (b.residual) out.push({ kind: 'add', name: `${b.name}.add`, from: input });
    }
    conv(this.head, 'conv_head');
    conv(this.gdc, 'gdc');
    out.push({ kind: 'linear', name: 'embedding', conv: this.linear, bn: this.bn });
    return out;
  }
  /** Stem and all but the last stage (7x7x128 at 112 px). */
  trunk(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    let h = this.stemDw.forward(this.stem.forward(x, ctx), ctx);
    for (const b of this.blocks.slice(0, this.tailStart)) h = b.forward(h, ctx);
    return h;
  }
  tail(h: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    for (const b of this.blocks.slice(this.tailStart)) h = b.forward(h, ctx);
    h = this.gdc.forward(this.head.forward(h, ctx), ctx);
    if (ctx.folded && !ctx.training) {
      // The embedding BN folded into the 1x1 linear conv: one fused kernel with a bias.
      const [filter, bias] = this.ps.derived('embedding.folded', [this.linear.w, ...this.bn.statistics], () => {
        const { scale, shift } = this.bn.foldedScaleShift();
        return [tf.mul(this.linear.w, scale), shift];
      }) as [tf.Tensor4D, tf.Tensor1D];
      const e = tf.fused.conv2d({ x: h, filter, strides: 1, pad: 'valid', bias });
      if (ctx.macs) ctx.macs.count += (e.size / e.shape[0]) * h.shape[3];
      return tf.reshape(e, [e.shape[0], e.shape[3]]) as tf.Tensor2D;
    }
    const e = this.linear.forward(h, ctx);
    return this.bn.forward(tf.reshape(e, [e.shape[0], e.shape[3]]) as tf.Tensor2D, ctx);
  }
}
