// Transposes that swap two blocks of axes (2-D [R,C] -> [C,R] underneath, e.g. NHWC ->
// C,NHW for weight gradients) with f32x4 4x4 tiles; stock wasm's generic loop is ~10x slower.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { stockKernel, TI } from './ops.js';
import { heapF32, offsetOf, simdFor } from './simd.js';

/** [R, C] if perm moves the trailing axes from k on in front of the leading ones, else null. */
export function blockSwap(shape: number[], perm: number[]): [number, number] | null {
  const n = perm.length, k = perm[0]!;
  if (k === 0 || perm.some((p, i) => p !== (k + i) % n)) return null;
  return [tf.util.sizeFromShape(shape.slice(0, k)), tf.util.sizeFromShape(shape.slice(k))];
}

/** Columns per band (measured: 16 beats 8 and 32+ on MobileFaceNet shapes). */
const BAND = 16;

/** out = x^T for x viewed as [rows, cols] (float32). */
export function transpose2d(backend: BackendWasm, x: TI, rows: number, cols: number, out: TI): void {
  const simd = simdFor(backend)!;
  const r4 = rows - (rows % 4), c4 = cols - (cols % 4);
  const src = offsetOf(backend, x), dst = offsetOf(backend, out);
  // Column bands: a band's destination rows are written sequentially, and few enough to stay
  // in cache even when the row stride is a multiple of 4 KB (all in one cache set).
  for (let c = 0; c < c4; c += BAND) {
    simd.transpose(src + c * 4, dst + c * rows * 4, r4, Math.min(BAND, c4 - c), cols * 4, rows * 4);
  }
  if (r4 === rows && c4 === cols) return;
  // The ragged right columns and bottom rows.
  const a = heapF32(backend, src, rows * cols), o = heapF32(backend, dst, rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = r < r4 ? c4 : 0; c < cols; c++) o[c * rows + r] = a[r * cols + c]!;
  }
}

export const transposeConfig: tf.KernelConfig = {
  kernelName: tf.Transpose,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TI };
    const { perm } = attrs as unknown as tf.TransposeAttrs;
    const wasm = backend as BackendWasm;
    const split = x.dtype === 'float32' && simdFor(wasm) ? blockSwap(x.shape, perm) : null;
    if (!split || split[0] === 1 || split[1] === 1) return stockKernel(tf.Transpose)({ inputs, backend, attrs });
    const out = wasm.makeOutput(perm.map((p) => x.shape[p]!), 'float32');
    transpose2d(wasm, x, split[0], split[1], out);
    return out;
  },
};
