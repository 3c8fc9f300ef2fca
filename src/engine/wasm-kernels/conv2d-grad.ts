// Gradients of a regular NHWC conv2d on wasm, expressed through the stock XNNPACK conv and GEMM.
import * as tf from '@tensorflow/tfjs-core';
import { composite, Pads, Scratch, stockKernel, TI } from './ops.js';
import { matMulTN } from './matmul.js';

type ConvInfo = tf.backend_util.Conv2DInfo;

function convInfo(xShape: number[], filterShape: number[], attrs: tf.Conv2DBackpropFilterAttrs | tf.Conv2DBackpropInputAttrs): ConvInfo {
  const dataFormat = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, dataFormat);
  if (info.dataFormat !== 'channelsLast') throw new Error(`wasm conv2d gradients support NHWC only, got ${attrs.dataFormat}`);
  return info;
}

/** A 1x1 conv that reads every (strided) input pixel unpadded: its gradients are plain GEMMs. */
function isPointwise(c: ConvInfo): boolean {
  return c.filterHeight === 1 && c.filterWidth === 1 && c.padInfo.top === 0 && c.padInfo.left === 0;
}

/** x [N,H,W,C] sampled at the conv's strides: the pixels a 1x1 strided conv reads. */
function strided(s: Scratch, x: TI, c: ConvInfo): TI {
  if (c.strideHeight === 1 && c.strideWidth === 1 && c.outHeight === c.inHeight && c.outWidth === c.inWidth) return x;
  const [n, , , ch] = x.shape;
  return s.run('StridedSlice', { x }, {
    begin: [0, 0, 0, 0], end: [n, (c.outHeight - 1) * c.strideHeight + 1, (c.outWidth - 1) * c.strideWidth + 1, ch],
    strides: [1, c.strideHeight, c.strideWidth, 1], beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0,
  });
}

/** Patch matrices up to this width (kh*kw*Cin) are built explicitly for the filter gradient. */
const MAX_PATCH = 64;

/** out[(b,y,x), (i,j,c)] = x[b, y*sh+i-top, x*sw+j-left, c], zero outside the image (im2col). */
function im2col(x: Float32Array, c: ConvInfo, out: Float32Array): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ch, outHeight: ho, outWidth: wo } = c;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = c;
  const { top, left } = c.padInfo;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < ho; y++) {
      for (let xo = 0; xo < wo; xo++) {
        for (let i = 0; i < kh; i++) {
          const yy = y * sh + i - top;
          for (let j = 0; j < kw; j++) {
            const xx = xo * sw + j - left;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) {
              for (let k = 0; k < ch; k++) out[o++] = 0;
            } else {
              const base = ((b * h + yy) * w + xx) * ch;
              for (let k = 0; k < ch; k++) out[o++] = x[base + k]!;
            }
          }
        }
      }
    }
  }
}

/**
 * dW[i,j,ci,co] = sum over n,y,x of x[n, y*s+i-pt, x*s+j-pl, ci] * dy[n,y,x,co]. Few input
 * channels (a stem conv on RGB): one GEMM patches^T dy. Otherwise a convolution of x (batch and
 * channels swapped) with dy as the filter, the stride becoming the dilation.
 */
export function conv2DBackpropFilter(s: Scratch, x: TI, dy: TI, c: ConvInfo): TI {
  const [kh, kw, ci, co] = [c.filterHeight, c.filterWidth, c.inChannels, c.outChannels];
  if (isPointwise(c)) {
    const xs = strided(s, x, c);
    const rows = xs.shape[0] * xs.shape[1] * xs.shape[2];
    const dw = matMulTN(s, s.reshape(xs, [rows, ci]), s.reshape(dy, [rows, co]));
    return s.reshape(dw, [1, 1, ci, co]);
  }
  const patch = kh * kw * ci;
  if (patch <= MAX_PATCH && x.dtype === 'float32') {
    const rows = c.batchSize * c.outHeight * c.outWidth;
    const cols = s.output([rows, patch]);
    im2col(s.backend.typedArrayFromHeap(x) as Float32Array, c, s.backend.typedArrayFromHeap(cols) as Float32Array);
    return s.reshape(matMulTN(s, cols, s.reshape(dy, [rows, co])), [kh, kw, ci, co]);
  }
  const xT = s.transpose(x, [3, 1, 2, 0]); // [Ci, H, W, N]
  const dyT = s.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, N, Co]
  const { top, left } = c.padInfo;
  // Bottom/right pads that make the output exactly kh x kw (negative: rows the conv never read).
  const bottom = kh + (c.outHeight - 1) * c.strideHeight - c.inHeight - top;
  const right = kw + (c.outWidth - 1) * c.strideWidth - c.inWidth - left;
  const out = s.conv(xT, dyT, [top, bottom, left, right], [c.strideHeight, c.strideWidth], false); // [Ci, kh, kw, Co]
  return s.transpose(out, [1, 2, 0, 3]);
}

/**
 * dx = full correlation of the stride-dilated dy with the spatially flipped filter, its in/out
 * channels swapped; a GEMM with W^T for pointwise convs.
 */
export function conv2DBackpropInput(s: Scratch, dy: TI, filter: TI, c: ConvInfo): TI {
  const [kh, kw, ci, co] = [c.filterHeight, c.filterWidth, c.inChannels, c.outChannels];
  const [n, h, w] = [c.batchSize, c.inHeight, c.inWidth];
  const [sh, sw] = [c.strideHeight, c.strideWidth];
  if (isPointwise(c)) {
    const rows = n * c.outHeight * c.outWidth;
    const wT = s.transpose(s.reshape(filter, [ci, co]), [1, 0]);
    const dxs = s.reshape(s.matMul(s.reshape(dy, [rows, co]), wT), [n, c.outHeight, c.outWidth, ci]);
    if (sh === 1 && sw === 1 && c.outHeight === h && c.outWidth === w) return dxs;
    // Strided: the values land on every s-th pixel, zeros elsewhere.
    const spread = s.dilate(dxs, sh, sw);
    const [hs, ws] = [spread.shape[1], spread.shape[2]];
    if (hs >= h && ws >= w) return s.slice(spread, [0, 0, 0, 0], [n, h, w, ci]);
    return s.pad(s.slice(spread, [0, 0, 0, 0], [n, Math.min(h, hs), Math.min(w, ws), ci]),
      [[0, 0], [0, Math.max(0, h - hs)], [0, Math.max(0, w - ws)], [0, 0]]);
  }
  const wF = s.transpose(s.reverse(filter, [0, 1]), [0, 1, 3, 2]); // [kh, kw, Co, Ci]
  const dyD = s.dilate(dy, sh, sw); // [N, Ho*sh, Wo*sw, Co]
  const top = kh - 1 - c.padInfo.top, left = kw - 1 - c.padInfo.left;
  const pads: Pads = [top, h + kh - 1 - dyD.shape[1] - top, left, w + kw - 1 - dyD.shape[2] - left];
  return s.conv(dyD, wF, pads, [1, 1], false);
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TI; dy: TI };
    const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const c = convInfo(x.shape, a.filterShape, a);
    return composite(backend, (s) => conv2DBackpropFilter(s, x, dy, c));
  },
};

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TI; filter: TI };
    const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const c = convInfo(a.inputShape, filter.shape, a);
    // Pads beyond the filter extent would need a crop of the output: rare, so use the stock kernel.
    if (c.padInfo.top > c.filterHeight - 1 || c.padInfo.left > c.filterWidth - 1) {
      return stockKernel(tf.Conv2DBackpropInput)({ inputs, backend, attrs });
    }
    return composite(backend, (s) => conv2DBackpropInput(s, dy, filter, c));
  },
};
