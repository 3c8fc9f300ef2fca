// Depthwise filter gradient as a direct loop over the wasm heap. XNNPACK has no fast path for
// the "dy as a huge filter" formulation (kernels of Ho*Wo taps, ~20x slower than this), while
// here each (image row, tap) is one f32x4 multiply-accumulate sweep along the row.
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapF32, offsetOf, simdFor, withScratch } from './simd.js';
import type { TI } from './ops.js';

export interface DwGeometry {
  n: number; h: number; w: number; ch: number; m: number;
  ho: number; wo: number; kh: number; kw: number;
  sh: number; sw: number; top: number; left: number;
}

/** Whether depthwiseFilterGrad takes its SIMD path (else the XNNPACK composite is used). */
export function hasFastDepthwiseFilterGrad(backend: BackendWasm, g: DwGeometry): boolean {
  return g.m === 1 && g.ch % 4 === 0 && simdFor(backend) !== null;
}

/**
 * dW[i,j,c] = sum over b,y,x of x[b, y*sh+i-top, x*sw+j-left, c] * dy[b,y,x,c], written to `out`
 * (kh*kw*ch floats). Needs multiplier 1 and ch % 4 == 0 (see hasFastDepthwiseFilterGrad).
 */
export function depthwiseFilterGrad(backend: BackendWasm, x: TI, dy: TI, g: DwGeometry, out: TI): void {
  const simd = simdFor(backend)!;
  const { n, h, w, ch, ho, wo, kh, kw, sh, sw, top, left } = g;
  const taps = kh * kw * ch;
  const total = new Float64Array(taps);
  const bytes = ch * 4;
  // Valid output columns per filter column j: those whose input column lies inside the image.
  const lo = new Int32Array(kw), hi = new Int32Array(kw);
  for (let j = 0; j < kw; j++) {
    lo[j] = Math.max(0, Math.ceil((left - j) / sw));
    hi[j] = Math.min(wo - 1, Math.floor((w - 1 - j + left) / sw));
  }
  withScratch(backend, taps, (acc) => {
    const xBase = offsetOf(backend, x), dyBase = offsetOf(backend, dy);
    for (let b = 0; b < n; b++) {
      // Per-image float32 partial sums, folded into float64: keeps long reductions accurate.
      heapF32(backend, acc, taps).fill(0);
      for (let y = 0; y < ho; y++) {
        for (let i = 0; i < kh; i++) {
          const yy = y * sh + i - top;
          if (yy < 0 || yy >= h) continue;
          for (let j = 0; j < kw; j++) {
            if (lo[j] > hi[j]) continue;
            const xPtr = xBase + ((b * h + yy) * w + lo[j] * sw + j - left) * bytes;
            const dyPtr = dyBase + ((b * ho + y) * wo + lo[j]) * bytes;
            simd.rows('dot', xPtr, sw * bytes, dyPtr, bytes, 0, hi[j] - lo[j] + 1, ch, acc + (i * kw + j) * bytes);
          }
        }
      }
      const part = heapF32(backend, acc, taps);
      for (let t = 0; t < taps; t++) total[t] += part[t];
    }
  });
  heapF32(backend, offsetOf(backend, out), taps).set(total);
}
