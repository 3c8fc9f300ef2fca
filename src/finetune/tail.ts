// Finetuning the tail over a frozen trunk. On these CPUs a full backward pass through
// MobileFaceNet runs at ~15 img/s; the last stage plus the embedding layer costs a twentieth of
// the forward MACs, so the trunk runs once per image (features cached in memory) and only the tail
// and an ArcFace head are trained. forward(x) = tail(trunk(x)) exactly, so "before" and "after"
// are both measured through the same cached features. The loop and the step are the trainer's.
import * as tf from '@tensorflow/tfjs-core';
import type { FaceNet } from '../model/facenet.js';
import { ArcFaceHead, l2Normalize, type ArcFaceOptions } from '../model/arcface.js';
import { ParamStore } from '../model/layers.js';
import { Adam } from '../train/adam.js';
import { flatSize, readFlat, writeFlat } from '../train/flat.js';
import { fit, type Callback, type LoopState } from '../train/loop.js';
import { trainStep } from '../train/step.js';
import type { GradientSums } from '../train/gradients.js';
import { Rng } from '../data/rng.js';
import { mirrorImage } from '../eval/embed-images.js';
import type { RgbImage } from '../vision/types.js';

export interface Features {
  /** Per image, the trunk output flattened ([h, w, c]). */
  rows: Float32Array[];
  shape: [number, number, number];
}

/** Trunk features of aligned crops (and of their mirror images when `flip`, interleaved after them). */
export async function trunkFeatures(net: FaceNet, images: readonly RgbImage[], opts: { flip?: boolean; batchSize?: number; onProgress?: (done: number) => void } = {}): Promise<Features> {
  const all = opts.flip ? images.flatMap((im) => [im, mirrorImage(im)]) : [...images];
  const size = net.config.inputSize;
  const bs = opts.batchSize ?? 16;
  const rows: Float32Array[] = [];
  let shape: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < all.length; i += bs) {
    const chunk = all.slice(i, i + bs);
    const f = tf.tidy(() => {
      const x = tf.stack(chunk.map((c) => tf.image.resizeBilinear(tf.tensor3d(c.data, [c.height, c.width, 3], 'float32'), [size, size], true))) as tf.Tensor4D;
      return net.trunkFeatures(x);
    });
    shape = [f.shape[1], f.shape[2], f.shape[3]];
    const data = (await f.data()) as Float32Array;
    f.dispose();
    const per = shape[0] * shape[1] * shape[2];
    for (let j = 0; j < chunk.length; j++) rows.push(data.slice(j * per, (j + 1) * per));
    opts.onProgress?.(rows.length);
  }
  return { rows, shape };
}

function batchTensor(rows: readonly Float32Array[], shape: [number, number, number]): tf.Tensor4D {
  const per = shape[0] * shape[1] * shape[2];
  const buf = new Float32Array(rows.length * per);
  rows.forEach((r, i) => buf.set(r, i * per));
  return tf.tensor4d(buf, [rows.length, ...shape]);
}

/** Unit embeddings of cached features through the current tail (inference mode). */
export function tailEmbeddings(net: FaceNet, feats: Features, batchSize = 64): Float32Array[] {
  const out: Float32Array[] = [];
  const dim = net.config.embeddingSize;
  for (let i = 0; i < feats.rows.length; i += batchSize) {
    const chunk = feats.rows.slice(i, i + batchSize);
    const data = tf.tidy(() => l2Normalize(net.tailForward(batchTensor(chunk, feats.shape), { training: false })).dataSync() as Float32Array);
    for (let j = 0; j < chunk.length; j++) out.push(data.slice(j * dim, (j + 1) * dim));
  }
  return out;
}

export interface TailSample {
  feat: Float32Array;
  label: number;
  /** The old model's embedding of a replay image: kept close so the base identities are not forgotten. */
  anchor?: Float32Array;
}

export interface TailTrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  /** Weight of 1 - cos(new, old) on replay images. */
  preserveWeight: number;
  arcface: ArcFaceOptions;
  seed: number;
  /** Class centres to start from (weight imprinting): [numClasses][dim], unit rows. */
  centres: Float32Array[];
  /** Progress and status, as `facegate train`'s (src/train/loop.ts). */
  callbacks?: Callback[];
  signal?: AbortSignal;
}

/** Mean unit embedding per class: the ArcFace head starts where the old model puts each person. */
export function imprintCentres(embs: readonly Float32Array[], labels: readonly number[], numClasses: number, dim: number): Float32Array[] {
  const centres = Array.from({ length: numClasses }, () => new Float32Array(dim));
  embs.forEach((e, i) => {
    const c = centres[labels[i]!]!;
    for (let k = 0; k < dim; k++) c[k]! += e[k]!;
  });
  for (const c of centres) {
    const n = Math.hypot(...c) || 1;
    for (let k = 0; k < dim; k++) c[k]! /= n;
  }
  return centres;
}

/**
 * Trains the tail of `net` in place (Adam over the tail's variables and an imprinted ArcFace head),
 * with the loop and the step `facegate train` uses. BatchNorm stays in inference mode: a few
 * hundred images would only add noise to its statistics.
 */
export async function trainTail(net: FaceNet, samples: readonly TailSample[], shape: [number, number, number], opts: TailTrainOptions): Promise<{ losses: number[]; accuracies: number[] }> {
  const dim = net.config.embeddingSize;
  const headStore = new ParamStore(opts.seed);
  const head = new ArcFaceHead(headStore, dim, opts.centres.length, opts.arcface);
  const w = new Float32Array(dim * opts.centres.length);
  opts.centres.forEach((c, j) => {
    for (let k = 0; k < dim; k++) w[k * opts.centres.length + j] = c[k]!;
  });
  tf.tidy(() => head.weight.assign(tf.tensor2d(w, [dim, opts.centres.length])));
  const vars: [string, tf.Variable][] = [...net.tailVariables(), ...headStore.trainable.entries()];
  const params = readFlat(vars);
  const adam = new Adam(params.length, { lr: opts.lr });
  const rng = Rng.derive(opts.seed, 'tail');
  const state: LoopState = { epoch: 0, batch: 0, history: [] };
  try {
    await fit({
      state,
      epochs: opts.epochs,
      batchesPerEpoch: () => Math.ceil(samples.length / opts.batchSize),
      batches: () => shuffledBatches(samples, opts.batchSize, rng),
      step: (b) =>
        trainStep(params, adam, (p) => {
          writeFlat(vars, p);
          return tailGradients(net, head, vars, b.samples, shape, opts.preserveWeight);
        }),
      optimizer: adam,
      callbacks: opts.callbacks ?? [],
      signal: opts.signal,
    });
    writeFlat(vars, params);
  } finally {
    headStore.dispose();
  }
  return { losses: state.history.map((h) => h.trainLoss), accuracies: state.history.map((h) => h.trainAcc) };
}

/** An epoch's batches: the samples in a fresh order from `rng`, cut in runs of `size`. */
function* shuffledBatches(samples: readonly TailSample[], size: number, rng: Rng): Generator<{ index: number; samples: TailSample[] }> {
  const order = rng.shuffle(Array.from(samples.keys()));
  for (let i = 0; i < order.length; i += size) yield { index: i / size, samples: order.slice(i, i + size).map((k) => samples[k]!) };
}

/**
 * ArcFace loss over the tail's embeddings, plus `preserveWeight` x (1 - cos(new, old)) on replay
 * images, as gradient sums (the batch-mean gradient times its size, as the replicas return them).
 */
function tailGradients(net: FaceNet, head: ArcFaceHead, vars: [string, tf.Variable][], batch: readonly TailSample[], shape: [number, number, number], preserveWeight: number): GradientSums {
  const n = batch.length;
  const dim = net.config.embeddingSize;
  const anchors = new Float32Array(n * dim);
  const mask = new Float32Array(n);
  batch.forEach((s, j) => {
    if (s.anchor) {
      anchors.set(s.anchor, j * dim);
      mask[j] = 1;
    }
  });
  const anchored = mask.reduce((a, b) => a + b, 0);
  let cos: tf.Tensor2D | undefined;
  const { value, grads, pred } = tf.tidy(() => {
    const x = batchTensor(batch.map((s) => s.feat), shape);
    const labels = tf.tensor1d(Int32Array.from(batch, (s) => s.label), 'int32');
    const a = tf.tensor2d(anchors, [n, dim]);
    const m = tf.tensor1d(mask);
    const r = tf.variableGrads(() => {
      const emb = net.tailForward(x, { training: false });
      const out = head.loss(emb, labels);
      // Kept past variableGrads' own tidy for the accuracy below; disposed after the step.
      cos = tf.keep(out.cos);
      if (anchored === 0 || preserveWeight === 0) return out.loss;
      const drift = tf.div(tf.sum(tf.mul(m, tf.sub(1, tf.sum(tf.mul(l2Normalize(emb), a), 1)))), anchored);
      return tf.add(out.loss, tf.mul(drift, preserveWeight)) as tf.Scalar;
    }, vars.map(([, v]) => v));
    return { ...r, pred: tf.argMax(cos!, 1) };
  });
  const sums: GradientSums = { count: n, lossSum: 0, distillSum: 0, correct: 0, grads: new Float32Array(flatSize(vars)), bnStats: new Float32Array(0) };
  try {
    let o = 0;
    for (const [, v] of vars) {
      const g = grads[v.name];
      if (g) {
        const d = g.dataSync();
        for (let i = 0; i < d.length; i++) sums.grads[o + i] = d[i]! * n;
      }
      o += v.size;
    }
    sums.lossSum = (value.dataSync()[0] as number) * n;
    const p = pred.dataSync();
    for (let j = 0; j < n; j++) if (p[j] === batch[j]!.label) sums.correct++;
  } finally {
    tf.dispose([value, pred, cos!, ...Object.values(grads)]);
  }
  return sums;
}
