// Matrix products on wasm. Stock wasm sends anything but a plain 2-D a@b (batch 1, no transpose)
// to a naive triple loop ~10x slower than XNNPACK's GEMM, so transposes are made explicit here.
import * as tf from '@tensorflow/tfjs-core';
import { composite, Scratch, stockKernel, TI } from './ops.js';

/**
 * a^T b for a [P,M], b [P,N] (2-D; weight gradients, P = pixels in the batch). Transposes the
 * wider operand and lets XNNPACK pack the narrower one as GEMM weights: measured faster than
 * the reverse, and than splitting P into cache-sized blocks.
 */
export function matMulTN(s: Scratch, a: TI, b: TI): TI {
  if (a.shape[1]! >= b.shape[1]!) return s.matMul(s.transpose(a, [1, 0]), b);
  return s.transpose(s.matMul(s.transpose(b, [1, 0]), a), [1, 0]);
}

/** a b^T for a [M,K], b [N,K]. */
export function matMulNT(s: Scratch, a: TI, b: TI): TI {
  const [m, k] = a.shape, n = b.shape[0];
  // Either transpose b (N*K), or compute (b a^T)^T (M*K + N*M).
  if (n * k <= m * k + n * m) return s.matMul(a, s.transpose(b, [1, 0]));
  return s.transpose(s.matMul(b, s.transpose(a, [1, 0])), [1, 0]);
}

/** a^T b^T = (b a)^T for a [K,M], b [N,K]. */
export function matMulTT(s: Scratch, a: TI, b: TI): TI {
  return s.transpose(s.matMul(b, a), [1, 0]);
}

function matrixDims(t: TI): { outer: number[]; rows: number; cols: number } {
  const r = t.shape.length;
  return { outer: t.shape.slice(0, -2), rows: t.shape[r - 2], cols: t.shape[r - 1] };
}

/** True when a transposed product of single matrices can take the fast path. */
function isSingleTransposed(a: TI, b: TI, transposeA: boolean, transposeB: boolean): boolean {
  if (!transposeA && !transposeB) return false;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return false;
  return tf.util.sizeFromShape(matrixDims(a).outer) === 1 && tf.util.sizeFromShape(matrixDims(b).outer) === 1;
}

/** Product of two single (batch 1) matrices with the given transposes, as 2-D [M,N]. */
function product2d(s: Scratch, a: TI, b: TI, transposeA: boolean, transposeB: boolean): TI {
  const da = matrixDims(a), db = matrixDims(b);
  const a2 = s.reshape(a, [da.rows, da.cols]), b2 = s.reshape(b, [db.rows, db.cols]);
  if (transposeA && transposeB) return matMulTT(s, a2, b2);
  if (transposeA) return matMulTN(s, a2, b2);
  return matMulNT(s, a2, b2);
}

function outShape(a: TI, b: TI, m: number, n: number): number[] {
  const rank = Math.max(a.shape.length, b.shape.length);
  return [...new Array<number>(rank - 2).fill(1), m, n];
}

export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: tf.BatchMatMul,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TI; b: TI };
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    if (!isSingleTransposed(a, b, transposeA, transposeB)) {
      return stockKernel(tf.BatchMatMul)({ inputs, backend, attrs });
    }
    return composite(backend, (s) => {
      const out = product2d(s, a, b, transposeA, transposeB);
      return s.reshape(out, outShape(a, b, out.shape[0], out.shape[1]));
    });
  },
};

export const fusedMatMulConfig: tf.KernelConfig = {
  kernelName: tf._FusedMatMul,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TI; b: TI };
    const { transposeA, transposeB } = attrs as unknown as tf._FusedMatMulAttrs;
    if (!isSingleTransposed(a, b, transposeA, transposeB)) {
      return stockKernel(tf._FusedMatMul)({ inputs, backend, attrs });
    }
    // Materialise the transposes, then let the stock kernel fuse bias and activation.
    return composite(backend, (s) => {
      const da = matrixDims(a), db = matrixDims(b);
      let a2 = s.reshape(a, [da.rows, da.cols]), b2 = s.reshape(b, [db.rows, db.cols]);
      if (transposeA) a2 = s.transpose(a2, [1, 0]);
      if (transposeB) b2 = s.transpose(b2, [1, 0]);
      const out = s.runStock(tf._FusedMatMul, { ...inputs, a: a2, b: b2 }, { ...attrs, transposeA: false, transposeB: false });
      return s.reshape(out, outShape(a, b, out.shape[0], out.shape[1]));
    });
  },
};
