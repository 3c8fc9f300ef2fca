// PReLU gradient. tfjs-core's builds a bool mask (Greater), two Selects, a zerosLike and two
// Multiplies; on wasm one fused f32x4 pass gives both gradients. Other backends (or shapes the
// fused kernel does not cover) get the same maths from tf ops.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { TI } from './ops.js';
import { heapF32, offsetOf, simdFor, withScratch } from './simd.js';

/** Custom wasm kernel: inputs x, dy, alpha ([C], C = last dim of x, C % 4 == 0); outputs dx, dAlpha. */
export const PRELU_GRAD = 'FaceGatePreluGrad';

function fusedApplies(x: tf.Tensor, dy: tf.Tensor, alpha: tf.Tensor): boolean {
  const c = x.shape[x.rank - 1] ?? 0;
  return tf.getBackend() === 'wasm' && tf.getKernel(PRELU_GRAD, 'wasm') != null
    && x.dtype === 'float32' && dy.dtype === 'float32' && alpha.dtype === 'float32'
    && tf.util.arraysEqual(x.shape, dy.shape) && c % 4 === 0 && c > 0 && alpha.size === c
    && alpha.shape.every((d, i) => i === alpha.rank - 1 || d === 1)
    && simdFor(tf.backend() as unknown as BackendWasm) !== null;
}

export const preluGradConfig: tf.GradConfig = {
  kernelName: tf.Prelu,
  inputsToSave: ['x', 'alpha'],
  gradFunc: (dy, saved) => {
    const [x, alpha] = saved as [tf.Tensor, tf.Tensor];
    const g = dy as tf.Tensor;
    if (fusedApplies(x, g, alpha)) {
      const [dx, dAlpha] = tf.engine().runKernel(PRELU_GRAD, { x, dy: g, alpha }) as tf.Tensor[];
      return { x: () => dx!, alpha: () => tf.reshape(dAlpha!, alpha.shape) };
    }
    const mask = tf.greater(x, 0);
    return {
      x: () => tf.where(mask, g, tf.mul(g, alpha)),
      alpha: () => {
        const axes = tf.backend_util.getReductionAxes(alpha.shape, g.shape);
        const res = tf.where(mask, tf.zerosLike(g), tf.mul(g, x));
        return tf.reshape(axes.length > 0 ? tf.sum(res, axes) : res, alpha.shape);
      },
    };
  },
};

export const preluGradKernelConfig: tf.KernelConfig = {
  kernelName: PRELU_GRAD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const { x, dy, alpha } = inputs as { x: TI; dy: TI; alpha: TI };
    const wasm = backend as BackendWasm;
    const simd = simdFor(wasm)!;
    const c = x.shape[x.shape.length - 1]!, rows = tf.util.sizeFromShape(x.shape) / c;
    const dx = wasm.makeOutput(x.shape, 'float32');
    const dAlpha = wasm.makeOutput([c], 'float32');
    const total = new Float64Array(c);
    // Rows in chunks whose float32 partial sums are folded into float64.
    const chunk = Math.max(64, Math.floor(16384 / c));
    withScratch(wasm, c, (acc) => {
      const [px, pdy, pa, pdx] = [offsetOf(wasm, x), offsetOf(wasm, dy), offsetOf(wasm, alpha), offsetOf(wasm, dx)];
      for (let r = 0; r < rows; r += chunk) {
        heapF32(wasm, acc, c).fill(0);
        const off = r * c * 4;
        simd.preluBackward(px + off, pdy + off, pa, pdx + off, acc, Math.min(chunk, rows - r), c);
        const part = heapF32(wasm, acc, c);
        for (let i = 0; i < c; i++) total[i] += part[i]!;
      }
    });
    heapF32(wasm, offsetOf(wasm, dAlpha), c).set(total);
    return [dx, dAlpha];
  },
};
