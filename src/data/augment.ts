// Training-time augmentation on interleaved RGB uint8 images. Pure functions: every random choice is drawn
// up front into AugmentParams (from the seeded RNG, in the main thread), so a worker applying them is
// deterministic whatever thread or order it runs in.
import { z } from 'zod';
import type { Rng } from './rng.js';

export interface RgbImage {
  data: Uint8Array; // width * height * 3, row-major, RGB
  width: number;
  height: number;
}

export const AugmentConfigSchema = z.object({
  /** Seed-code style: this fraction of the training images is added a second time, augmented (flip + rotation). */
  duplicateFraction: z.number().min(0).max(1).default(0.75),
  /** Duplicates are rotated by an angle drawn uniformly in [-rotateDeg, +rotateDeg]. */
  rotateDeg: z.number().min(0).max(180).default(10),
  /** Duplicates are mirrored. */
  flip: z.boolean().default(true),
  /** Mirror every sample (originals too) with probability 1/2, the usual face-training flip. */
  randomFlip: z.boolean().default(false),
  /** 0 = off; j draws brightness, contrast and saturation factors each in [1-j, 1+j], for every sample. */
  colorJitter: z.number().min(0).max(1).default(0),
  /** 0 = off; s crops a square window of side in [1-s, 1] of the image at a random place and rescales it back. */
  cropScale: z.number().min(0).max(0.5).default(0),
  /**
   * 0 = off; the probability that a sample is seen at low resolution: shrunk by a factor drawn in
   * lowResFactor (area average, as a camera far away or a small photo gives) and scaled back up
   * (bilinear, as alignment does). A 150 px photo upscaled into a frame lost half its similarity
   * to its own enrollment with a model that never saw such views.
   */
  lowRes: z.number().min(0).max(1).default(0),
  lowResFactor: z.tuple([z.number().min(1), z.number().min(1)]).default([2, 4]),
});

export type AugmentConfig = z.infer<typeof AugmentConfigSchema>;
export type AugmentConfigInput = z.input<typeof AugmentConfigSchema>;

/** Fills in defaults and validates. */
export function augmentConfig(input: AugmentConfigInput = {}): AugmentConfig {
  return AugmentConfigSchema.parse(input);
}

export interface JitterParams {
  brightness: number;
  contrast: number;
  saturation: number;
}

/** Window in fractions of the image: side `scale`, top-left at (x, y) * (1 - scale). */
export interface CropParams {
  scale: number;
  x: number;
  y: number;
}

export interface AugmentParams {
  flip: boolean;
  /** Degrees, positive = counter-clockwise as seen on screen. */
  angle: number;
  crop: CropParams | null;
  jitter: JitterParams | null;
  /** Downscale factor of a low-resolution view (absent or null = full resolution). */
  lowRes?: number | null;
}

/**
 * Draws one sample's augmentation, or null when it has none. `duplicate` marks the seed-style augmented
 * second copy. The draw order is fixed so the same RNG state always gives the same parameters.
 */
export function drawAugmentParams(rng: Rng, cfg: AugmentConfig, duplicate: boolean): AugmentParams | null {
  const coin = cfg.randomFlip ? rng.next() < 0.5 : false;
  const flip = duplicate && cfg.flip ? true : coin;
  const angle = duplicate && cfg.rotateDeg > 0 ? rng.uniform(-cfg.rotateDeg, cfg.rotateDeg) : 0;
  let crop: CropParams | null = null;
  if (cfg.cropScale > 0) crop = { scale: rng.uniform(1 - cfg.cropScale, 1), x: rng.next(), y: rng.next() };
  let jitter: JitterParams | null = null;
  if (cfg.colorJitter > 0) {
    const j = cfg.colorJitter;
    jitter = { brightness: rng.uniform(1 - j, 1 + j), contrast: rng.uniform(1 - j, 1 + j), saturation: rng.uniform(1 - j, 1 + j) };
  }
  // Drawn last, and only when enabled, so configs without it keep their exact random streams.
  let lowRes: number | null = null;
  if (cfg.lowRes > 0 && rng.next() < cfg.lowRes) lowRes = rng.uniform(cfg.lowResFactor[0], cfg.lowResFactor[1]);
  if (!flip && angle === 0 && !crop && !jitter && !lowRes) return null;
  return lowRes ? { flip, angle, crop, jitter, lowRes } : { flip, angle, crop, jitter };
}

export function flipHorizontal(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let x = 0; x < w; x++) {
      const s = row + x * 3;
      const d = row + (w - 1 - x) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { data: out, width: w, height: h };
}

/** Maps an output pixel (x, y) to the source point (a*x + b*y + c, d*x + e*y + f); pixel centres at integers. */
export type Affine = [a: number, b: number, c: number, d: number, e: number, f: number];

/** compose(m, n)(p) = m(n(p)). */
function compose(m: Affine, n: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const [a2, b2, c2, d2, e2, f2] = n;
  return [a * a2 + b * d2, a * b2 + b * e2, a * c2 + b * f2 + c, d * a2 + e * d2, d * b2 + e * e2, d * c2 + e * f2 + f];
}

/** Resamples through an inverse map with bilinear interpolation; points outside replicate the edge pixels. */
export function warpAffine(img: RgbImage, m: Affine, outWidth = img.width, outHeight = img.height): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(outWidth * outHeight * 3);
  const [a, b, c, d, e, f] = m;
  const maxX = w - 1;
  const maxY = h - 1;
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      let sx = a * x + b * y + c;
      let sy = d * x + e * y + f;
      sx = sx < 0 ? 0 : sx > maxX ? maxX : sx;
      sy = sy < 0 ? 0 : sy > maxY ? maxY : sy;
      const x0 = sx | 0; // sx >= 0 here, so truncation is floor
      const y0 = sy | 0;
      const fx = sx - x0;
      const fy = sy - y0;
      const p00 = (y0 * w + x0) * 3;
      const p10 = x0 < maxX ? p00 + 3 : p00;
      const p01 = y0 < maxY ? p00 + w * 3 : p00;
      const p11 = x0 < maxX ? p01 + 3 : p01;
      const w11 = fx * fy;
      const w10 = fx - w11;
      const w01 = fy - w11;
      const w00 = 1 - fx - w01;
      // a convex combination of bytes, so already in [0, 255]
      out[o] = (data[p00] * w00 + data[p10] * w10 + data[p01] * w01 + data[p11] * w11 + 0.5) | 0;
      out[o + 1] = (data[p00 + 1] * w00 + data[p10 + 1] * w10 + data[p01 + 1] * w01 + data[p11 + 1] * w11 + 0.5) | 0;
      out[o + 2] = (data[p00 + 2] * w00 + data[p10 + 2] * w10 + data[p01 + 2] * w01 + data[p11 + 2] * w11 + 0.5) | 0;
      o += 3;
    }
  }
  return { data: out, width: outWidth, height: outHeight };
}

function rotationMap(width: number, height: number, deg: number): Affine {
  const t = (deg * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  // inverse of a counter-clockwise turn in y-down image coordinates
  return [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy];
}

/** Rotates about the image centre by `deg` degrees counter-clockwise (as seen), same size, edges replicated. */
export function rotate(img: RgbImage, deg: number): RgbImage {
  return warpAffine(img, rotationMap(img.width, img.height, deg));
}

/** Window in source pixels (may be fractional), rescaled to the input's size. */
export interface CropWindow {
  x: number;
  y: number;
  width: number;
  height: number;
}

function cropMap(outW: number, outH: number, win: CropWindow): Affine {
  const sx = win.width / outW;
  const sy = win.height / outH;
  // pixel-centre aligned: output pixel x covers source [win.x + x*sx, win.x + (x+1)*sx)
  return [sx, 0, win.x + 0.5 * sx - 0.5, 0, sy, win.y + 0.5 * sy - 0.5];
}

export function cropRescale(img: RgbImage, win: CropWindow): RgbImage {
  return warpAffine(img, cropMap(img.width, img.height, win));
}

function cropWindow(width: number, height: number, c: CropParams): CropWindow {
  const cw = width * c.scale;
  const ch = height * c.scale;
  return { x: c.x * (width - cw), y: c.y * (height - ch), width: cw, height: ch };
}

/** Brightness (scale), then contrast (about the mean grey level), then saturation (about each pixel's grey). */
export function colorJitter(img: RgbImage, p: JitterParams): RgbImage {
  const { data } = img;
  const n = data.length / 3;
  let sum = 0;
  for (let i = 0; i < data.length; i += 3) sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
  const mean = (sum / n) * p.brightness;
  const out = new Uint8Array(data.length);
  const { brightness: b, contrast: c, saturation: s } = p;
  for (let i = 0; i < data.length; i += 3) {
    const r = (data[i] * b - mean) * c + mean;
    const g = (data[i + 1] * b - mean) * c + mean;
    const bl = (data[i + 2] * b - mean) * c + mean;
    const grey = 0.299 * r + 0.587 * g + 0.114 * bl;
    out[i] = clampByte(grey + (r - grey) * s);
    out[i + 1] = clampByte(grey + (g - grey) * s);
    out[i + 2] = clampByte(grey + (bl - grey) * s);
  }
  return { data: out, width: img.width, height: img.height };
}

function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : (v + 0.5) | 0;
}

/** Applies flip, then crop + rotation, as one resampling (less blur and work than one per step), then colour jitter. */
export function applyAugment(img: RgbImage, p: AugmentParams): RgbImage {
  let out = img;
  if (p.crop || p.angle !== 0) {
    const { width: w, height: h } = img;
    // output → (undo rotation) → point in the rescaled crop → point in the flipped image → point in the source
    let m = rotationMap(w, h, p.angle);
    if (p.crop) m = compose(cropMap(w, h, cropWindow(w, h, p.crop)), m);
    if (p.flip) m = compose([-1, 0, w - 1, 0, 1, 0], m);
    out = warpAffine(img, m);
  } else if (p.flip) {
    out = flipHorizontal(img);
  }
  if (p.jitter) out = colorJitter(out, p.jitter);
  if (p.lowRes && p.lowRes > 1) out = lowResolution(out, p.lowRes);
  return out;
}

/** Shrinks by `factor` with an area (box) average, then scales back up to the same size, bilinear. */
export function lowResolution(img: RgbImage, factor: number): RgbImage {
  const { width: w, height: h, data } = img;
  const sw = Math.max(1, Math.round(w / factor));
  const sh = Math.max(1, Math.round(h / factor));
  const small = new Uint8Array(sw * sh * 3);
  for (let y = 0; y < sh; y++) {
    const y0 = Math.floor((y * h) / sh), y1 = Math.max(y0 + 1, Math.floor(((y + 1) * h) / sh));
    for (let x = 0; x < sw; x++) {
      const x0 = Math.floor((x * w) / sw), x1 = Math.max(x0 + 1, Math.floor(((x + 1) * w) / sw));
      let r = 0, g = 0, b = 0;
      for (let yy = y0; yy < y1; yy++) {
        for (let xx = x0; xx < x1; xx++) {
          const i = (yy * w + xx) * 3;
          r += data[i];
          g += data[i + 1];
          b += data[i + 2];
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * sw + x) * 3;
      small[o] = (r / n + 0.5) | 0;
      small[o + 1] = (g / n + 0.5) | 0;
      small[o + 2] = (b / n + 0.5) | 0;
    }
  }
  return warpAffine({ data: small, width: sw, height: sh }, cropMap(w, h, { x: 0, y: 0, width: sw, height: sh }), w, h);
}
