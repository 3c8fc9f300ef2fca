// FaceNet = backbone (EfficientFR or MobileFaceNet) + L2 normalisation. Training mode adds the
// ArcFace head (images, labels -> loss); inference mode maps images to unit embeddings.
import * as tf from '@tensorflow/tfjs-core';
import { Dense, ForwardContext, ParamStore } from './layers.js';
import { EfficientFR } from './efficientfr.js';
import { MobileFaceNet, type LayerStep } from './mobilefacenet.js';
import { ArcFaceHead, ArcFaceOptions, ARCFACE_DEFAULTS, l2Normalize } from './arcface.js';
import { ModelConfig, modelConfig } from './config.js';

interface Backbone {
  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D;
  /** forward = tail(trunk(x)): the split a finetune uses to train the tail over cached features. */
  trunk(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D;
  tail(h: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D;
  readonly tailPrefixes: string[];
  /** Kernels a uint8 export keeps at float16: measured as the ones rounding hurts most. */
  readonly float16Weights: string[];
}

function buildBackbone(ps: ParamStore, cfg: ModelConfig): Backbone {
  switch (cfg.variant) {
    case 'efficientfr':
      return new EfficientFR(ps, cfg);
    case 'mobilefacenet':
      return new MobileFaceNet(ps, cfg);
  }
}

export class FaceNet {
  readonly params: ParamStore;
  private backbone: Backbone;
  /**
   * Inference (embed, trunkFeatures) with BatchNorm folded into the convolutions and each
   * conv + bias + activation as one fused kernel (ForwardContext.folded). Off only to compare
   * against the unfolded graph (bench, tests); training never uses it.
   */
  foldBatchNorm = true;

  constructor(readonly config: ModelConfig, seed = 1) {
    this.params = new ParamStore(seed);
    this.backbone = buildBackbone(this.params, config);
  }

  static create(partial: Partial<ModelConfig> = {}, seed = 1): FaceNet {
    return new FaceNet(modelConfig(partial), seed);
  }

  /**
   * uint8-range RGB [N,H,W,3] (any dtype) -> the network's input, resized if needed, in the model's
   * own convention (config.pixels). Every path (embedding, enrollment, eval, training, finetune,
   * teacher) feeds RGB crops through here, so none of them needs to know that convention.
   */
  preprocess(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let x: tf.Tensor4D = tf.cast(images, 'float32');
      const size = this.config.inputSize;
      if (x.shape[1] !== size || x.shape[2] !== size) x = tf.image.resizeBilinear(x, [size, size], true);
      const { channels, mean, std } = this.config.pixels;
      if (channels === 'RGB') return tf.div(tf.sub(x, mean), std) as tf.Tensor4D;
      // BGR: the channel swap and the scale as one 1x1 conv, then the offset. With tf.reverse the
      // imported model embedded at 46.8 faces/s against 49.1 this way (bench embedders, WASM).
      const swap = tf.tensor4d([0, 0, 1, 0, 1, 0, 1, 0, 0].map((v) => v / std), [1, 1, 3, 3]);
      return tf.sub(tf.conv2d(x, swap, 1, 'valid'), mean / std) as tf.Tensor4D;
    });
  }

  get float16Weights(): string[] {
    return this.backbone.float16Weights;
  }

  /** The forward pass as ordered steps (what an importer maps another graph onto); MobileFaceNet only. */
  steps(): LayerStep[] {
    if (!(this.backbone instanceof MobileFaceNet)) throw new Error(`variant ${this.config.variant} cannot be imported into (MobileFaceNet only)`);
    return this.backbone.steps();
  }

  /** Raw (unnormalised) embeddings from preprocessed input. */
  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    return this.backbone.forward(x, ctx);
  }

  /** Frozen-trunk features of uint8-range RGB images (inference mode). */
  trunkFeatures(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.backbone.trunk(this.preprocess(images), { training: false, folded: this.foldBatchNorm }));
  }

  /** Raw embeddings from trunk features. */
  tailForward(h: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    return this.backbone.tail(h, ctx);
  }

  /** Trainable variables of the tail (last stage and embedding layer), in creation order. */
  tailVariables(): [string, tf.Variable][] {
    const prefixes = this.backbone.tailPrefixes;
    return [...this.params.trainable.entries()].filter(([name]) => prefixes.some((p) => name.startsWith(p)));
  }

  /** Inference: uint8-range RGB images -> L2-normalised embeddings [N, embeddingSize]. */
  embed(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.forward(this.preprocess(images), { training: false, folded: this.foldBatchNorm })));
  }

  /** Embeds RGB crops (HWC uint8) in batches; returns one Float32Array per crop. */
  async embedCrops(crops: { data: Uint8Array; width: number; height: number }[], batchSize = 16): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const dim = this.config.embeddingSize;
    for (let i = 0; i < crops.length; i += batchSize) {
      const chunk = crops.slice(i, i + batchSize);
      const emb = tf.tidy(() => {
        const size = this.config.inputSize;
        // Crops of the input size (the aligner's 112) go in as one tensor, no per-crop resize ops.
        if (chunk.every((c) => c.width === size && c.height === size)) {
          const per = size * size * 3;
          const data = new Float32Array(per * chunk.length);
          chunk.forEach((c, k) => data.set(c.data.subarray(0, per), k * per));
          return this.embed(tf.tensor4d(data, [chunk.length, size, size, 3]));
        }
        const batch = tf.stack(chunk.map((c) => tf.image.resizeBilinear(tf.tensor3d(c.data, [c.height, c.width, 3], 'float32'), [size, size], true)));
        return this.embed(batch as tf.Tensor4D);
      });
      const data = (await emb.data()) as Float32Array;
      emb.dispose();
      for (let j = 0; j < chunk.length; j++) out.push(data.slice(j * dim, (j + 1) * dim));
    }
    return out;
  }

  /** Multiply-accumulates of one forward pass at the configured input size. */
  countMacs(): number {
    const macs = { count: 0 };
    tf.tidy(() => {
      const s = this.config.inputSize;
      this.forward(tf.zeros([1, s, s, 3]) as tf.Tensor4D, { training: false, macs });
    });
    return macs.count;
  }

  dispose(): void {
    this.params.dispose();
  }
}

/**
 * Knowledge distillation from a pretrained teacher's (cached) embeddings.
 * 'projection': a learned linear map from our embedding to the teacher's space, loss 1 - cos;
 * 'similarity': match the in-batch cosine-similarity matrices (dimension-free);
 * 'direct': loss 1 - cos to a teacher in our own embedding space (same dimension).
 */
export interface DistillOptions {
  mode: 'projection' | 'similarity' | 'direct';
  teacherDim: number;
  weight: number;
}

/** FaceNet plus its ArcFace head over the training identities: what a training run optimises. */
export class TrainableFaceNet {
  readonly head: ArcFaceHead;
  readonly headParams: ParamStore;
  private projection?: Dense;
  constructor(
    readonly net: FaceNet,
    numClasses: number,
    readonly arcface: ArcFaceOptions = ARCFACE_DEFAULTS,
    seed = 1000,
    readonly distill?: DistillOptions,
  ) {
    this.headParams = new ParamStore(seed);
    this.head = new ArcFaceHead(this.headParams, net.config.embeddingSize, numClasses, arcface);
    if (distill?.mode === 'direct' && distill.teacherDim !== net.config.embeddingSize) {
      throw new Error(`direct distillation needs a ${net.config.embeddingSize}-d teacher (ours), got ${distill.teacherDim}-d: use projection or similarity`);
    }
    if (distill?.mode === 'projection') this.projection = new Dense(this.headParams, 'distill.projection', net.config.embeddingSize, distill.teacherDim);
  }

  /** Trainable variables in a fixed order: backbone then heads. Workers rely on this order. */
  trainableVariables(): [string, tf.Variable][] {
    return [...this.net.params.trainable.entries(), ...this.headParams.trainable.entries()];
  }

  bufferVariables(): [string, tf.Variable][] {
    return [...this.net.params.buffers.entries()];
  }

  /**
   * Training forward: images (uint8-range) and int labels -> loss, with the batch's BN moments
   * collected in ctx for the moving averages and the cosine matrix for accuracy. With a teacher
   * batch [n, teacherDim] (unit rows) the distillation term is added.
   */
  lossFn(images: tf.Tensor4D, labels: tf.Tensor1D, ctx: ForwardContext, teacher?: tf.Tensor2D): { loss: tf.Scalar; cos: tf.Tensor2D; distill?: tf.Scalar } {
    const emb = this.net.forward(this.net.preprocess(images), ctx);
    const { loss, cos } = this.head.loss(emb, labels);
    if (!teacher || !this.distill) return { loss, cos };
    const distill = this.distillLoss(emb, teacher);
    return { loss: tf.add(loss, tf.mul(distill, this.distill.weight)) as tf.Scalar, cos, distill };
  }

  /** Unit embeddings mapped into the teacher's space by the distillation projection (none in 'similarity' mode). */
  projectToTeacher(emb: tf.Tensor2D): tf.Tensor2D | undefined {
    const p = this.projection;
    return p ? tf.tidy(() => l2Normalize(p.forward(l2Normalize(emb)))) : undefined;
  }

  private distillLoss(emb: tf.Tensor2D, teacher: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() => {
      const e = l2Normalize(emb);
      if (this.distill?.mode === 'direct') return tf.sub(1, tf.mean(tf.sum(tf.mul(e, teacher), 1))) as tf.Scalar;
      if (this.projection) {
        const p = l2Normalize(this.projection.forward(e));
        return tf.sub(1, tf.mean(tf.sum(tf.mul(p, teacher), 1))) as tf.Scalar;
      }
      const ss = tf.matMul(e, e, false, true);
      const st = tf.matMul(teacher, teacher, false, true);
      return tf.mean(tf.square(tf.sub(ss, st))) as tf.Scalar;
    });
  }

  dispose(): void {
    this.net.dispose();
    this.headParams.dispose();
  }
}

/** Cosine similarity of two unit embeddings. */
export function cosineSimilarity(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Euclidean distance of two embeddings. */
export function euclideanDistance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return Math.sqrt(s);
}
