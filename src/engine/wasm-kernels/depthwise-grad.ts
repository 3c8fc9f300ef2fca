// Gradients of an NHWC depthwise conv (any channel multiplier) on wasm, through the stock
// XNNPACK depthwise conv.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { composite, Pads, Scratch, TI } from './ops.js';
import { depthwiseFilterGrad, DwGeometry, hasFastDepthwiseFilterGrad } from './depthwise-filter.js';

type ConvInfo = tf.backend_util.Conv2DInfo;
type DwAttrs = tf.DepthwiseConv2dNativeBackpropFilterAttrs | tf.DepthwiseConv2dNativeBackpropInputAttrs;

function convInfo(xShape: number[], filterShape: number[], attrs: DwAttrs): ConvInfo {
  const dil = attrs.dilations ?? [1, 1];
  if (!tf.backend_util.tupleValuesAreOne(dil)) throw new Error(`wasm depthwise gradients need dilation 1, got ${dil}`);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true);
}

/**
 * dx = depthwise correlation of the stride-dilated, padded dy with the spatially flipped filter.
 * With a multiplier m, each of the C*m dy channels is filtered alone, then the m summed per input.
 */
export function depthwiseBackpropInput(s: Scratch, dy: TI, filter: TI, c: ConvInfo): TI {
  const [kh, kw, ch, m] = filter.shape;
  const [n, h, w] = [c.batchSize, c.inHeight, c.inWidth];
  if (kh === h && kw === w && c.outHeight === 1 && c.outWidth === 1 && c.padInfo.top === 0 && c.padInfo.left === 0) {
    // A global depthwise conv (MobileFaceNet's GDC): dx is dy broadcast times the filter.
    // XNNPACK has no fast path for a 7x7 window sliding over the padded 13x13 dy.
    const prod = s.run('Multiply', { a: s.reshape(dy, [n, 1, 1, ch * m]), b: s.reshape(filter, [1, kh, kw, ch * m]) });
    return m === 1 ? prod : s.sum(s.reshape(prod, [n, h, w, ch, m]), [4]);
  }
  const wF = s.reshape(s.reverse(filter, [0, 1]), [kh, kw, ch * m, 1]);
  const dyD = s.dilate(dy, c.strideHeight, c.strideWidth);
  const top = kh - 1 - c.padInfo.top, left = kw - 1 - c.padInfo.left;
  const pads: Pads = [top, h + kh - 1 - dyD.shape[1] - top, left, w + kw - 1 - dyD.shape[2] - left];
  const dx = s.conv(dyD, wF, pads, [1, 1], true); // [N, H, W, C*m]
  if (m === 1) return dx;
  return s.sum(s.reshape(dx, [n, h, w, ch, m]), [4]);
}

/**
 * dW[i,j,c,q] = sum over n,y,x of x[n, y*s+i-pt, x*s+j-pl, c] * dy[n,y,x,c*m+q]: one depthwise conv
 * of x seen as a single image with N*C channels, dy as its (stride-dilated) filter.
 */
export function depthwiseBackpropFilter(s: Scratch, x: TI, dy: TI, c: ConvInfo): TI {
  const [kh, kw, ch] = [c.filterHeight, c.filterWidth, c.inChannels];
  const m = c.outChannels / ch;
  const [n, h, w] = x.shape;
  const [ho, wo] = [c.outHeight, c.outWidth];
  const xT = s.reshape(s.transpose(x, [1, 2, 0, 3]), [1, h, w, n * ch]);
  const dyT = s.reshape(s.transpose(dy, [1, 2, 0, 3]), [ho, wo, n * ch, m]);
  const { top, left } = c.padInfo;
  const bottom = kh + (ho - 1) * c.strideHeight - h - top;
  const right = kw + (wo - 1) * c.strideWidth - w - left;
  const out = s.conv(xT, dyT, [top, bottom, left, right], [c.strideHeight, c.strideWidth], true); // [1, kh, kw, N*C*m]
  const dw = s.sum(s.reshape(out, [kh, kw, n, ch * m]), [2]);
  return s.reshape(dw, [kh, kw, ch, m]);
}

export const depthwiseBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TI; filter: TI };
    const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
    const c = convInfo(a.inputShape, filter.shape, a);
    return composite(backend, (s) => depthwiseBackpropInput(s, dy, filter, c));
  },
};

export const depthwiseBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TI; dy: TI };
    const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
    const c = convInfo(x.shape, a.filterShape, a);
    const wasm = backend as BackendWasm;
    const g: DwGeometry = {
      n: c.batchSize, h: c.inHeight, w: c.inWidth, ch: c.inChannels, m: c.outChannels / c.inChannels,
      ho: c.outHeight, wo: c.outWidth, kh: c.filterHeight, kw: c.filterWidth,
      sh: c.strideHeight, sw: c.strideWidth, top: c.padInfo.top, left: c.padInfo.left,
    };
    if (x.dtype === 'float32' && dy.dtype === 'float32' && hasFastDepthwiseFilterGrad(wasm, g)) {
      const out = wasm.makeOutput(a.filterShape, 'float32');
      depthwiseFilterGrad(wasm, x, dy, g, out);
      return out;
    }
    return composite(backend, (s) => depthwiseBackpropFilter(s, x, dy, c));
  },
};
