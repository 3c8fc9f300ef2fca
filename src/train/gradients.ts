// One micro-batch's forward + backward. The same function runs in the main thread (single
// process) and in each data-parallel worker, so both modes compute identical gradients.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainableFaceNet } from '../model/facenet.js';
import type { ForwardContext } from '../model/layers.js';

export interface MicroBatch {
  /** n * S * S * 3 RGB bytes at the model's input size. */
  images: Uint8Array;
  labels: Int32Array;
  /** Teacher embeddings, n * teacherDim, unit rows (distillation only). */
  teacher?: Float32Array;
}

/** Sums over micro-batches, each term weighted by its size (divide by `count` for means). */
export interface GradientSums {
  count: number;
  lossSum: number;
  /** Sum of the distillation term alone (0 without a teacher). */
  distillSum: number;
  correct: number;
  grads: Float32Array;
  /** Batch moments of every BatchNorm layer, [mean..., var...] in bnLayers() order, size-weighted. */
  bnStats: Float32Array;
}

/** Cuts a batch into micro-batches (the unit of BN statistics and of work per replica). */
export function microBatches(images: Uint8Array, labels: Int32Array, micro: number, size: number, teacher?: Float32Array): MicroBatch[] {
  const per = size * size * 3;
  const dim = teacher ? teacher.length / labels.length : 0;
  const out: MicroBatch[] = [];
  for (let i = 0, j = 0; i < labels.length; i = j) {
    j = Math.min(labels.length, i + micro);
    // A lone last image would give BatchNorm a batch variance of 0 (the 1x1 layers output beta and
    // pass no gradient): it joins the micro-batch before it.
    if (labels.length - j === 1) j++;
    out.push({ images: images.slice(i * per, j * per), labels: labels.slice(i, j), ...(teacher ? { teacher: teacher.slice(i * dim, j * dim) } : {}) });
  }
  return out;
}

/** BatchNorm layer names in a fixed order (from the moving-mean buffers). */
export function bnLayers(tm: TrainableFaceNet): { name: string; channels: number }[] {
  const out: { name: string; channels: number }[] = [];
  for (const [name, v] of tm.bufferVariables()) {
    if (name.endsWith('.moving_mean')) out.push({ name: name.slice(0, -'.moving_mean'.length), channels: v.size });
  }
  return out;
}

export function bnStatsSize(tm: TrainableFaceNet): number {
  return bnLayers(tm).reduce((n, l) => n + 2 * l.channels, 0);
}

export function emptySums(tm: TrainableFaceNet, gradSize: number): GradientSums {
  return { count: 0, lossSum: 0, distillSum: 0, correct: 0, grads: new Float32Array(gradSize), bnStats: new Float32Array(bnStatsSize(tm)) };
}

export function addSums(into: GradientSums, from: GradientSums): void {
  into.count += from.count;
  into.lossSum += from.lossSum;
  into.distillSum += from.distillSum;
  into.correct += from.correct;
  for (let i = 0; i < into.grads.length; i++) into.grads[i]! += from.grads[i]!;
  for (let i = 0; i < into.bnStats.length; i++) into.bnStats[i]! += from.bnStats[i]!;
}

/** Forward + backward on one micro-batch; adds n-weighted results into `sums`. */
export function accumulateGradients(tm: TrainableFaceNet, batch: MicroBatch, sums: GradientSums): void {
  const n = batch.labels.length;
  if (n === 0) return;
  const size = tm.net.config.inputSize;
  const expected = n * size * size * 3;
  if (batch.images.length !== expected) throw new Error(`micro-batch has ${batch.images.length} bytes, expected ${expected}`);
  const vars = tm.trainableVariables();
  const layers = bnLayers(tm);
  const ctx: ForwardContext = { training: true, bnStats: new Map() };
  let cos: tf.Tensor2D | undefined;
  let distill: tf.Scalar | undefined;
  const { value, grads } = tf.tidy(() => {
    const images = tf.tensor4d(Float32Array.from(batch.images), [n, size, size, 3]);
    const labels = tf.tensor1d(batch.labels, 'int32');
    const teacher = batch.teacher && tm.distill ? tf.tensor2d(batch.teacher, [n, tm.distill.teacherDim]) : undefined;
    return tf.variableGrads(() => {
      const out = tm.lossFn(images, labels, ctx, teacher);
      if (out.distill) distill = tf.keep(out.distill);
      // Kept past variableGrads' internal tidy: accuracy and BN moments are read afterwards.
      cos = tf.keep(out.cos);
      for (const [m, v] of ctx.bnStats!.values()) {
        tf.keep(m);
        tf.keep(v);
      }
      return out.loss;
    }, vars.map(([, v]) => v));
  });
  try {
    sums.count += n;
    sums.lossSum += (value.dataSync()[0] as number) * n;
    if (distill) sums.distillSum += (distill.dataSync()[0] as number) * n;
    const pred = tf.tidy(() => tf.argMax(cos!, 1).dataSync());
    for (let i = 0; i < n; i++) if (pred[i] === batch.labels[i]) sums.correct++;
    let o = 0;
    for (const [, v] of vars) {
      const g = grads[v.name];
      if (g) {
        const d = g.dataSync();
        for (let i = 0; i < d.length; i++) sums.grads[o + i]! += d[i]! * n;
      }
      o += v.size;
    }
    let b = 0;
    const half = sums.bnStats.length / 2;
    for (const l of layers) {
      const st = ctx.bnStats!.get(l.name);
      if (!st) throw new Error(`BatchNorm ${l.name} reported no statistics`);
      const mean = st[0].dataSync();
      const variance = st[1].dataSync();
      for (let i = 0; i < l.channels; i++) {
        sums.bnStats[b + i]! += mean[i]! * n;
        sums.bnStats[half + b + i]! += variance[i]! * n;
      }
      b += l.channels;
    }
  } finally {
    tf.dispose([value, ...Object.values(grads), cos!, ...(distill ? [distill] : [])]);
    for (const [m, v] of ctx.bnStats!.values()) tf.dispose([m, v]);
  }
}
