// The seed's EfficientFR backbone, unchanged in shape: stem 3x3/2 -> 32, then four stages of
// depthwise-separable conv + a two-conv residual block, max-pool between stages, global
// average pool at the end, dense to the embedding and BatchNorm.
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm, ConvBnAct, Conv2d, Dense, DepthwiseConv2d, ForwardContext, ParamStore } from './layers.js';
import type { ModelConfig } from './config.js';

/** Depthwise 3x3 then pointwise 1x1, one BN and ReLU after the pair (as the seed). */
class SeparableConv {
  private dw: DepthwiseConv2d;
  private pw: Conv2d;
  private bn: BatchNorm;
  constructor(ps: ParamStore, name: string, inC: number, outC: number) {
    this.dw = new DepthwiseConv2d(ps, `${name}.dw`, inC, 3);
    this.pw = new Conv2d(ps, `${name}.pw`, inC, outC, 1);
    this.bn = new BatchNorm(ps, `${name}.bn`, outC);
  }
  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.relu(this.bn.forward(this.pw.forward(this.dw.forward(x, ctx), ctx), ctx));
  }
}

class Stage {
  private entry: SeparableConv;
  private res1: SeparableConv;
  private res2: SeparableConv;
  constructor(ps: ParamStore, name: string, inC: number, outC: number, private last: boolean) {
    this.entry = new SeparableConv(ps, `${name}.entry`, inC, outC);
    this.res1 = new SeparableConv(ps, `${name}.res1`, outC, outC);
    this.res2 = new SeparableConv(ps, `${name}.res2`, outC, outC);
  }
  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    const h = this.entry.forward(x, ctx);
    const r = tf.add(h, this.res2.forward(this.res1.forward(h, ctx), ctx)) as tf.Tensor4D;
    return this.last ? r : (tf.maxPool(r, 2, 2, 'valid') as tf.Tensor4D);
  }
}

export class EfficientFR {
  private stem: ConvBnAct;
  private stages: Stage[];
  private fc: Dense;
  private bn: BatchNorm;
  constructor(ps: ParamStore, cfg: ModelConfig) {
    const w = (c: number) => Math.max(8, Math.round(c * cfg.width));
    const widths = [64, 128, 256, 512].map(w);
    this.stem = new ConvBnAct(ps, 'stem', 3, w(32), 3, 2, 'relu');
    let inC = w(32);
    this.stages = widths.map((c, i) => {
      const s = new Stage(ps, `stage${i + 1}`, inC, c, i === widths.length - 1);
      inC = c;
      return s;
    });
    this.fc = new Dense(ps, 'embedding.fc', inC, cfg.embeddingSize);
    this.bn = new BatchNorm(ps, 'embedding.bn', cfg.embeddingSize);
  }
  /** No kernel measured to need more than uint8 (see MobileFaceNet.float16Weights). */
  readonly float16Weights: string[] = [];
  /** Parameters of the last stage and the embedding: what a finetune trains over cached trunk features. */
  get tailPrefixes(): string[] {
    return [`stage${this.stages.length}.`, 'embedding.'];
  }
  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    return this.tail(this.trunk(x, ctx), ctx);
  }
  /** Stem and all stages but the last. */
  trunk(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    let h = this.stem.forward(x, ctx);
    for (const s of this.stages.slice(0, -1)) h = s.forward(h, ctx);
    return h;
  }
  tail(h: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    h = this.stages[this.stages.length - 1]!.forward(h, ctx);
    const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
    return this.bn.forward(this.fc.forward(pooled, ctx), ctx);
  }
}
