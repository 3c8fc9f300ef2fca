// Affine resampling of RGB buffers in plain JS: a 112x112 or 192x192 output is ~12-37k
// samples, far cheaper than copying a whole frame into libvips or a tensor.
import type { Point, RgbImage } from './types.js';

/** Row-major 2x3 affine [a, b, c, d, e, f]: x' = a*x + b*y + c, y' = d*x + e*y + f. */
export type Affine = [number, number, number, number, number, number];

export function applyAffine(m: Affine, p: Point): Point {
  return [m[0] * p[0] + m[1] * p[1] + m[2], m[3] * p[0] + m[4] * p[1] + m[5]];
}

export function invertAffine(m: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (Math.abs(det) < 1e-12) throw new Error('affine transform is singular');
  return [e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det];
}

/** m2 after m1. */
export function composeAffine(m2: Affine, m1: Affine): Affine {
  return [
    m2[0] * m1[0] + m2[1] * m1[3], m2[0] * m1[1] + m2[1] * m1[4], m2[0] * m1[2] + m2[1] * m1[5] + m2[2],
    m2[3] * m1[0] + m2[4] * m1[3], m2[3] * m1[1] + m2[4] * m1[4], m2[3] * m1[2] + m2[4] * m1[5] + m2[5],
  ];
}

/** Scale of an affine map (geometric mean of its axis scales). */
export function affineScale(m: Affine): number {
  return Math.sqrt(Math.abs(m[0] * m[4] - m[1] * m[3]));
}

/**
 * Bilinear warp. `dstToSrc` maps output pixel centres to input coordinates; samples outside the
 * image read `border` (0 = black, as cv2.warpAffine does for insightface's crops).
 */
export function warpAffine(img: RgbImage, dstToSrc: Affine, outW: number, outH: number, border = 0): RgbImage {
  const { data, width: W, height: H } = img;
  const out = new Uint8Array(outW * outH * 3);
  const [a, b, c, d, e, f] = dstToSrc;
  const row = W * 3;
  const px = (x: number, y: number, ch: number) => (x >= 0 && y >= 0 && x < W && y < H ? data[(y * W + x) * 3 + ch]! : border);
  let o = 0;
  for (let v = 0; v < outH; v++) {
    let sx = b * v + c;
    let sy = e * v + f;
    for (let u = 0; u < outW; u++, sx += a, sy += d, o += 3) {
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < W && y0 + 1 < H) {
        const p = (y0 * W + x0) * 3;
        const q = p + row;
        out[o] = w00 * data[p]! + w01 * data[p + 3]! + w10 * data[q]! + w11 * data[q + 3]! + 0.5;
        out[o + 1] = w00 * data[p + 1]! + w01 * data[p + 4]! + w10 * data[q + 1]! + w11 * data[q + 4]! + 0.5;
        out[o + 2] = w00 * data[p + 2]! + w01 * data[p + 5]! + w10 * data[q + 2]! + w11 * data[q + 5]! + 0.5;
      } else if (x0 >= -1 && y0 >= -1 && x0 < W && y0 < H) {
        // Straddles the edge: neighbours outside read the border value.
        for (let ch = 0; ch < 3; ch++) {
          out[o + ch] = w00 * px(x0, y0, ch) + w01 * px(x0 + 1, y0, ch) + w10 * px(x0, y0 + 1, ch) + w11 * px(x0 + 1, y0 + 1, ch) + 0.5;
        }
      } else {
        out[o] = out[o + 1] = out[o + 2] = border;
      }
    }
  }
  return { data: out, width: outW, height: outH };
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weight: Float32Array;
  stride: number;
}

/** Area-resampling taps along one axis: each output pixel averages the input span it covers. */
function areaTaps(inLen: number, outLen: number, scale: number, offset: number): Taps {
  // Output pixel i covers input [offset + i*scale, offset + (i+1)*scale) in continuous coordinates.
  const stride = Math.ceil(scale) + 2;
  const start = new Int32Array(outLen);
  const count = new Int32Array(outLen);
  const weight = new Float32Array(outLen * stride);
  for (let i = 0; i < outLen; i++) {
    const lo = offset + i * scale;
    const hi = lo + scale;
    const first = Math.floor(lo);
    let n = 0;
    for (let x = first; x < hi && n < stride; x++, n++) {
      // Pixels outside the image count as black: zero weight, but the span still normalises.
      const inside = x >= 0 && x < inLen;
      weight[i * stride + n] = inside ? (Math.min(hi, x + 1) - Math.max(lo, x)) / scale : 0;
    }
    start[i] = first;
    count[i] = n;
  }
  return { start, count, weight, stride };
}

/**
 * Axis-aligned area resize (box-filter antialiasing): input continuous x = ox + u * sx for output
 * continuous u. Used for the detector input, where a frame shrinks 2-5x. Outside reads black.
 */
export function resizeArea(img: RgbImage, outW: number, outH: number, sx: number, sy: number, ox = 0, oy = 0): RgbImage {
  if (sx < 1 || sy < 1) {
    // Enlarging: plain bilinear; dst pixel centre u maps to continuous ox + (u + 0.5) * sx.
    return warpAffine(img, [sx, 0, ox + 0.5 * sx - 0.5, 0, sy, oy + 0.5 * sy - 0.5], outW, outH, 0);
  }
  if (Number.isInteger(sx) && Number.isInteger(sy) && Number.isInteger(ox) && Number.isInteger(oy)) return resizeBoxInt(img, outW, outH, sx | 0, sy | 0, ox | 0, oy | 0);
  const { data, width: W, height: H } = img;
  const tx = areaTaps(W, outW, sx, ox);
  const ty = areaTaps(H, outH, sy, oy);
  // Horizontal pass over the rows the output needs.
  const tmp = new Float32Array(H * outW * 3);
  for (let y = 0; y < H; y++) {
    const rowIn = y * W * 3;
    const rowOut = y * outW * 3;
    for (let u = 0; u < outW; u++) {
      let r = 0, g = 0, b = 0;
      const s0 = tx.start[u]!, n = tx.count[u]!, wb = u * tx.stride;
      for (let k = 0; k < n; k++) {
        const w = tx.weight[wb + k]!;
        if (w === 0) continue;
        const p = rowIn + (s0 + k) * 3;
        r += w * data[p]!;
        g += w * data[p + 1]!;
        b += w * data[p + 2]!;
      }
      tmp[rowOut + u * 3] = r;
      tmp[rowOut + u * 3 + 1] = g;
      tmp[rowOut + u * 3 + 2] = b;
    }
  }
  const out = new Uint8Array(outW * outH * 3);
  for (let v = 0; v < outH; v++) {
    const s0 = ty.start[v]!, n = ty.count[v]!, wb = v * ty.stride;
    const o = v * outW * 3;
    for (let i = 0; i < outW * 3; i++) {
      let acc = 0;
      for (let k = 0; k < n; k++) {
        const w = ty.weight[wb + k]!;
        if (w !== 0) acc += w * tmp[(s0 + k) * outW * 3 + i]!;
      }
      out[o + i] = acc + 0.5;
    }
  }
  return { data: out, width: outW, height: outH };
}

/**
 * resizeArea for whole-pixel factors and offsets (a 640x480 frame to the detector's 160x160 is
 * 4 x 3 blocks): integer sums of each block, pixels outside the image counting as black, cheaper
 * than the general path's float taps with the same bytes out (test/vision.test.ts; in principle
 * an exact half could round apart by float error). Its time is the detector row of bench vision.
 */
function resizeBoxInt(img: RgbImage, outW: number, outH: number, kx: number, ky: number, ox: number, oy: number): RgbImage {
  // Callers pass small integers (| 0: a -0 offset, which the detector's centring gives, is a
  // double to V8 and made every index below float arithmetic).
  const { data, width: W, height: H } = img;
  const out = new Uint8Array(outW * outH * 3);
  const acc = new Uint32Array(outW * 3);
  const inv = 1 / (kx * ky);
  // Output columns [u0, u1) have their whole block inside the image: the loop without clipping.
  const u0 = Math.min(outW, Math.max(0, Math.ceil(-ox / kx)));
  const u1 = Math.max(u0, Math.min(outW, Math.floor((W - ox) / kx)));
  for (let v = 0; v < outH; v++) {
    acc.fill(0);
    const ya = Math.max(0, oy + v * ky), yb = Math.min(H, oy + (v + 1) * ky);
    for (let y = ya; y < yb; y++) {
      const row = y * W * 3;
      for (let u = 0; u < outW; u++) {
        let xa = ox + u * kx, xb = xa + kx;
        if (u < u0 || u >= u1) {
          xa = Math.max(0, xa);
          xb = Math.min(W, xb);
        }
        let r = 0, g = 0, b = 0;
        for (let p = row + xa * 3, end = row + xb * 3; p < end; p += 3) {
          r += data[p]!;
          g += data[p + 1]!;
          b += data[p + 2]!;
        }
        acc[u * 3] += r;
        acc[u * 3 + 1] += g;
        acc[u * 3 + 2] += b;
      }
    }
    const o = v * outW * 3;
    for (let i = 0; i < outW * 3; i++) out[o + i] = acc[i]! * inv + 0.5;
  }
  return { data: out, width: outW, height: outH };
}

/**
 * Averages k x k blocks of the region [x0, x0+w) x [y0, y0+h). One pass per output pixel over
 * its block (k = 2, the common case for faces of 200-400 px, unrolled, which beat per-row
 * accumulators); the same rounding, the same bytes (test/vision.test.ts).
 */
export function boxDownsample(img: RgbImage, k: number, x0 = 0, y0 = 0, w = img.width, h = img.height): RgbImage {
  const ow = Math.max(1, Math.floor(w / k));
  const oh = Math.max(1, Math.floor(h / k));
  const out = new Uint8Array(ow * oh * 3);
  const d = img.data;
  const row = img.width * 3;
  const inv = 1 / (k * k);
  for (let oy = 0, o = 0; oy < oh; oy++) {
    let p = ((y0 + oy * k) * img.width + x0) * 3;
    if (k === 2) {
      for (let ox = 0; ox < ow; ox++, p += 6, o += 3) {
        const q = p + row;
        out[o] = (d[p]! + d[p + 3]! + d[q]! + d[q + 3]!) * inv + 0.5;
        out[o + 1] = (d[p + 1]! + d[p + 4]! + d[q + 1]! + d[q + 4]!) * inv + 0.5;
        out[o + 2] = (d[p + 2]! + d[p + 5]! + d[q + 2]! + d[q + 5]!) * inv + 0.5;
      }
      continue;
    }
    for (let ox = 0; ox < ow; ox++, p += 3 * k, o += 3) {
      let r = 0, g = 0, b = 0;
      for (let dy = 0, q = p; dy < k; dy++, q += row) {
        for (let dx = 0, t = q; dx < k; dx++, t += 3) {
          r += d[t]!;
          g += d[t + 1]!;
          b += d[t + 2]!;
        }
      }
      out[o] = r * inv + 0.5;
      out[o + 1] = g * inv + 0.5;
      out[o + 2] = b * inv + 0.5;
    }
  }
  return { data: out, width: ow, height: oh };
}

/**
 * Warp that stays sharp but not aliased when shrinking: for reductions of 2x or more the source
 * region is first box-averaged by the integer factor, then sampled bilinearly.
 */
export function warpAffineAA(img: RgbImage, dstToSrc: Affine, outW: number, outH: number, border = 0): RgbImage {
  const k = Math.floor(affineScale(dstToSrc));
  if (k < 2) return warpAffine(img, dstToSrc, outW, outH, border);
  const corners: Point[] = [[0, 0], [outW - 1, 0], [0, outH - 1], [outW - 1, outH - 1]].map((p) => applyAffine(dstToSrc, p as Point));
  const x0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[0]))) - k);
  const y0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[1]))) - k);
  const x1 = Math.min(img.width, Math.ceil(Math.max(...corners.map((p) => p[0]))) + k + 1);
  const y1 = Math.min(img.height, Math.ceil(Math.max(...corners.map((p) => p[1]))) + k + 1);
  if (x1 - x0 < k || y1 - y0 < k) return warpAffine(img, dstToSrc, outW, outH, border);
  const small = boxDownsample(img, k, x0, y0, x1 - x0, y1 - y0);
  // Block i covers source pixels x0 + k*i .. x0 + k*i + k-1, centred at x0 + k*i + (k-1)/2.
  const off = (k - 1) / 2;
  const srcToSmall: Affine = [1 / k, 0, -(x0 + off) / k, 0, 1 / k, -(y0 + off) / k];
  return warpAffine(small, composeAffine(srcToSmall, dstToSrc), outW, outH, border);
}
