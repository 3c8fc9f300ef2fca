// Folding BatchNorm into a conv multiplies each output channel of the kernel by that channel's
// BN scale, so channels of one kernel span very different ranges. Our uint8 format quantises a
// whole tensor with one scale (the tf.io weights format), which then rounds the small channels
// to nothing: the folded MobileFaceNet falls to cosine ~0.3 of itself after uint8 export.
// Equalising moves each channel's scale s back into the BatchNorm that follows the conv: the
// kernel channel is divided by s (max |w| = 1) and the BatchNorm rewritten to multiply by s.
// Inference is unchanged (up to rounding), training mode is too, and uint8 becomes per-channel
// in effect.
import * as tf from '@tensorflow/tfjs-core';
import type { FaceNet } from '../facenet.js';
import { DepthwiseConv2d, type BatchNorm, type Conv2d } from '../layers.js';

export function equaliseChannelScales(net: FaceNet): number {
  let layers = 0;
  for (const step of net.steps()) {
    if (step.kind === 'add') continue;
    const [conv, bn] = step.kind === 'conv' ? [step.unit.conv, step.unit.bn] : [step.conv, step.bn];
    equalise(conv, bn);
    layers++;
  }
  return layers;
}

function equalise(conv: Conv2d | DepthwiseConv2d, bn: BatchNorm): void {
  const depthwise = conv instanceof DepthwiseConv2d;
  const shape = conv.w.shape;
  const channels = depthwise ? shape[2]! : shape[3]!;
  const w = conv.w.dataSync() as Float32Array;
  // HWIO: the output channel is the fastest axis; depthwise [k,k,C,1]: the channel is.
  const s = new Float64Array(channels);
  for (let i = 0; i < w.length; i++) s[i % channels] = Math.max(s[i % channels]!, Math.abs(w[i]!));
  // A dead channel (all but zero; the folded MobileFaceNet's GDC has two) keeps its scale: dividing
  // by ~1e-30 would overflow its statistics.
  const top = Math.max(...s);
  for (let c = 0; c < channels; c++) if (!(s[c]! > top * 1e-6)) s[c] = 1;
  const scaled = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) scaled[i] = w[i]! / s[i % channels]!;
  const [g, b, m, v] = [bn.gamma, bn.beta, bn.movingMean, bn.movingVar].map((t) => t.dataSync() as Float32Array);
  const gamma = new Float32Array(channels), mean = new Float32Array(channels), variance = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    // y = a (s y') + (b - a m), a = g / sqrt(v + eps), with y' = conv(x, w / s): statistics of y' are m/s, v/s^2.
    const sc = s[c]!;
    const a = g![c]! / Math.sqrt(v![c]! + bn.eps);
    mean[c] = m![c]! / sc;
    variance[c] = v![c]! / (sc * sc);
    gamma[c] = a * sc * Math.sqrt(variance[c]! + bn.eps);
  }
  tf.tidy(() => {
    conv.w.assign(tf.tensor(scaled, shape));
    bn.gamma.assign(tf.tensor1d(gamma));
    bn.beta.assign(tf.tensor1d(b!));
    bn.movingMean.assign(tf.tensor1d(mean));
    bn.movingVar.assign(tf.tensor1d(variance));
  });
}
