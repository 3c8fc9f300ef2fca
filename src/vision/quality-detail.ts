// Effective resolution of a face: how much fine detail its aligned crop really holds, whatever its
// size in pixels. A face upscaled from a small picture (a 150 px portrait held up to the camera,
// a tiny photo enlarged before upload, digital zoom) is big in pixels but smooth at the finest
// scale: the interpolation adds no detail above the source's own resolution.
//
// detail = E(0.7) / E(1.4), where E(s) is the mean squared difference between the crop's luma and
// its Gaussian blur of sigma s px, over the central face region (template x 24-88, y 32-104 at
// 112 px). E(0.7) holds only the finest detail, E(1.4) also the next octave, so the ratio does
// not depend on brightness or contrast (both scale E alike), only on how the spectrum falls off
// at the top. On the 112 px crop (face box about 79 px wide) it measured (small/bbt, small/examples
// and 120 photos each of train/celeba, google and faces94; none of the dev pairs):
//   real photos, the same enlarged 3x, bbt portraits enlarged 3.2x into 640x480 frames, face
//   80 px or more: 0.116-0.373, median 0.185 (570 faces)
//   faces shrunk to N px and enlarged again (bicubic), medians: 64 px 0.152, 50 px 0.137,
//   40 px 0.124, 32 px 0.112, 24 px 0.100 (435-539 faces each; train/glint crops too)
//   talking-head video frames (shared/data/video, 45 frames): 0.127-0.286.
// Limits: bilinear and nearest-neighbour enlargements leave kinks or blocks that read as detail,
// so they score higher than the smooth (bicubic, Lanczos) ones measured here; sensor noise and
// JPEG blocking raise the score too. The check errs towards letting faces through.
import type { RgbImage } from './types.js';

function gaussianKernel(sigma: number): Float32Array {
  const r = Math.ceil(3 * sigma);
  const k = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

const FINE = gaussianKernel(0.7);
const COARSE = gaussianKernel(1.4);

/** Mean squared (luma - blur(luma)) over [x0, x1) x [y0, y1); the blur reads up to its radius outside (clamped at the crop). */
function residualEnergy(l: Float32Array, W: number, H: number, k: Float32Array, x0: number, x1: number, y0: number, y1: number): number {
  const r = (k.length - 1) >> 1;
  const ya = Math.max(0, y0 - r), yb = Math.min(H, y1 + r);
  const rw = x1 - x0;
  // Horizontal pass over the rows the vertical pass needs, then the vertical pass inside the region.
  const tmp = new Float32Array((yb - ya) * rw);
  for (let y = ya; y < yb; y++) {
    for (let x = x0; x < x1; x++) {
      let a = 0;
      for (let i = -r; i <= r; i++) a += k[i + r]! * l[y * W + Math.min(W - 1, Math.max(0, x + i))]!;
      tmp[(y - ya) * rw + (x - x0)] = a;
    }
  }
  let s = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      let a = 0;
      for (let i = -r; i <= r; i++) a += k[i + r]! * tmp[(Math.min(yb - 1, Math.max(ya, y + i)) - ya) * rw + (x - x0)]!;
      const d = l[y * W + x]! - a;
      s += d * d;
    }
  }
  return s / ((x1 - x0) * (y1 - y0));
}

/**
 * Effective-resolution score of an aligned face crop (calibrated at 112 px; see the file comment).
 * Higher is more real detail; 0 for a flat crop.
 */
export function detailScore(crop: RgbImage): number {
  const { width: W, height: H, data } = crop;
  const l = new Float32Array(W * H);
  for (let i = 0, p = 0; i < W * H; i++, p += 3) l[i] = 0.299 * data[p]! + 0.587 * data[p + 1]! + 0.114 * data[p + 2]!;
  const x0 = Math.round(W * 0.21), x1 = Math.round(W * 0.79), y0 = Math.round(H * 0.29), y1 = Math.round(H * 0.93);
  const coarse = residualEnergy(l, W, H, COARSE, x0, x1, y0, y1);
  if (!(coarse > 1e-6)) return 0;
  return residualEnergy(l, W, H, FINE, x0, x1, y0, y1) / coarse;
}
