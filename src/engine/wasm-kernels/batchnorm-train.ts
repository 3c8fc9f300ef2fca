// Training-mode BatchNorm (batch statistics) as one op with a closed-form gradient. Built from
// tf.moments + tf.batchNorm, autodiff runs ~19 full-size passes per layer (forward and
// backward through Mean, Sub, Square, Mean, BatchNorm, plus the adds that merge the three
// paths into dx); on wasm this op makes 3 passes each way with f32x4 kernels.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { TI } from './ops.js';
import { channelSums, heapF32, offsetOf, simdFor, withScratch } from './simd.js';

export const BN_TRAIN = 'FaceGateBatchNormTrain';
const BN_TRAIN_GRAD = 'FaceGateBatchNormTrainGrad';

export interface BatchNormTrainingResult {
  y: tf.Tensor;
  /** Batch mean and biased variance over all axes but the last, as tf.moments gives them. */
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

function fused(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): boolean {
  const c = x.shape[x.rank - 1] ?? 0;
  return tf.getBackend() === 'wasm' && tf.getKernel(BN_TRAIN, 'wasm') != null && simdFor(tf.backend() as unknown as BackendWasm) !== null
    && x.rank >= 2 && x.size > 0 && c % 4 === 0 && [x, gamma, beta].every((t) => t.dtype === 'float32')
    && gamma.rank === 1 && beta.rank === 1 && gamma.size === c && beta.size === c;
}

/**
 * y = gamma * (x - mean) / sqrt(variance + eps) + beta with the batch's own mean and (biased)
 * variance over all axes but the last, all three returned; gradients are those of
 * tf.moments + tf.batchNorm (which is what runs where the fused kernel does not apply).
 */
export function batchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): BatchNormTrainingResult {
  if (fused(x, gamma, beta)) {
    const [y, mean, variance] = tf.engine().runKernel(BN_TRAIN, { x, gamma, beta }, { varianceEpsilon: eps }) as tf.Tensor[];
    return { y: y!, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  }
  const axes = x.shape.map((_, i) => i).slice(0, -1);
  const { mean, variance } = tf.moments(x, axes);
  return { y: tf.batchNorm(x, mean, variance, beta, gamma, eps), mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

function writeChannels(backend: BackendWasm, shape: number[], values: ArrayLike<number>): TI {
  const out = backend.makeOutput(shape, 'float32');
  heapF32(backend, offsetOf(backend, out), values.length).set(values);
  return out;
}

export const batchNormTrainConfig: tf.KernelConfig = {
  kernelName: BN_TRAIN,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as { x: TI; gamma: TI; beta: TI };
    const wasm = backend as BackendWasm;
    const eps = (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon;
    const c = x.shape[x.shape.length - 1]!, rows = tf.util.sizeFromShape(x.shape) / c;
    const px = offsetOf(wasm, x);
    const y = wasm.makeOutput(x.shape, 'float32');
    const sums = channelSums(wasm, 'sum', px, 0, 0, rows, c);
    const mean = Float32Array.from(sums, (v) => v / rows);
    // Copies: heap views detach if a later allocation grows the heap.
    const g = (wasm.typedArrayFromHeap(gamma) as Float32Array).slice(), b = (wasm.typedArrayFromHeap(beta) as Float32Array).slice();
    const k = new Float32Array(c);
    const variance = withScratch(wasm, 3 * c, (p) => {
      heapF32(wasm, p, c).set(mean);
      // sum of x (x - mean) = sum of (x - mean)^2, as the deviations sum to zero.
      const sq = channelSums(wasm, 'dotc', px, px, p, rows, c);
      const v = Float32Array.from(sq, (s) => s / rows);
      for (let i = 0; i < c; i++) k[i] = g[i]! / Math.sqrt(v[i]! + eps);
      heapF32(wasm, p + 4 * c, c).set(k);
      heapF32(wasm, p + 8 * c, c).set(b);
      simdFor(wasm)!.affine(px, offsetOf(wasm, y), p, p + 4 * c, p + 8 * c, rows, c);
      return v;
    });
    return [y, writeChannels(wasm, [c], mean), writeChannels(wasm, [c], variance)];
  },
};

export const batchNormTrainGradConfig: tf.GradConfig = {
  kernelName: BN_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [x, gamma, mean, variance] = saved as tf.Tensor[];
    const [dy, dMean, dVar] = dys as tf.Tensor[];
    const [dx, dGamma, dBeta] = tf.engine().runKernel(BN_TRAIN_GRAD,
      { x: x!, dy: dy!, gamma: gamma!, mean: mean!, variance: variance!, dMean: dMean!, dVar: dVar! }, attrs) as tf.Tensor[];
    return { x: () => dx!, gamma: () => dGamma!, beta: () => dBeta! };
  },
};

/**
 * With r = 1/sqrt(var + eps), k = gamma r, n rows, S1 = sum dy, S2 = sum dy (x - mean):
 *   dbeta = S1, dgamma = r S2,
 *   dx = k (dy - S1/n - r^2 (x - mean) S2/n) + dMean/n + 2 dVar (x - mean)/n
 * which is per channel dy*k + x*B + T: one fused pass after the two reductions.
 */
export const batchNormTrainGradKernelConfig: tf.KernelConfig = {
  kernelName: BN_TRAIN_GRAD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy, gamma, mean, variance, dMean, dVar } = inputs as Record<string, TI>;
    const wasm = backend as BackendWasm;
    const eps = (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon;
    const c = x!.shape[x!.shape.length - 1]!, n = tf.util.sizeFromShape(x!.shape) / c;
    const dx = wasm.makeOutput(x!.shape, 'float32');
    const read = (t: TI) => (wasm.typedArrayFromHeap(t) as Float32Array).slice();
    const [g, m, v, dm, dv] = [gamma!, mean!, variance!, dMean!, dVar!].map(read) as Float32Array[];
    const [px, pdy] = [offsetOf(wasm, x!), offsetOf(wasm, dy!)];
    const s1 = channelSums(wasm, 'sum', pdy, 0, 0, n, c);
    const dGamma = new Float32Array(c), k = new Float32Array(c), B = new Float32Array(c), T = new Float32Array(c);
    withScratch(wasm, 3 * c, (p) => {
      heapF32(wasm, p, c).set(m!);
      const s2 = channelSums(wasm, 'dotc', px, pdy, p, n, c);
      for (let i = 0; i < c; i++) {
        const r = 1 / Math.sqrt(v![i]! + eps), ki = g![i]! * r;
        dGamma[i] = r * s2[i]!;
        k[i] = ki;
        B[i] = (-ki * r * r * s2[i]! + 2 * dv![i]!) / n;
        T[i] = (-ki * s1[i]! + dm![i]!) / n - B[i]! * m![i]!;
      }
      heapF32(wasm, p, c).set(k);
      heapF32(wasm, p + 4 * c, c).set(B);
      heapF32(wasm, p + 8 * c, c).set(T);
      simdFor(wasm)!.affine2(pdy, px, p, p + 4 * c, p + 8 * c, offsetOf(wasm, dx), n, c);
    });
    return [dx, writeChannels(wasm, [c], dGamma), writeChannels(wasm, [c], s1)];
  },
};
