// MediaPipe BlazeFace (the 256x256 "back camera" / full-range variant shipped with human):
// boxes and six coarse keypoints. Decoding follows human's blazeface.ts, in plain JS since
// only 896 anchors are involved.
import * as tf from '@tensorflow/tfjs-core';
import { GraphModel } from './graph-model.js';
import { modelPath } from './models.js';
import type { Point, RgbImage } from './types.js';
import { type Affine, resizeArea } from './warp.js';

export interface FaceCandidate {
  /** Box corners in image pixel coordinates. */
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  /** Six keypoints: two eyes, nose, mouth, two ear tragions (coarse). */
  keypoints: Point[];
}

export interface BlazeFaceOptions {
  minScore: number;
  iouThreshold: number;
  maxFaces: number;
  /**
   * Largest aspect ratio stretched to the square input; wider or taller images are padded (black)
   * to it first. 1 = always pad to a square; 4/3 stretches camera frames but not portraits.
   */
  maxAspect: number;
  /** Input side in px (multiple of 32). Smaller is faster and misses the smallest faces. */
  size: number;
}

/** The network's own input size; being fully convolutional it runs at others (anchor grids follow). */
export const BLAZEFACE_NATIVE_SIZE = 256;

/** Anchor centres (input px) for the two heads: stride 16 with 2 anchors, stride 32 with 6. */
function makeAnchors(size: number): Float32Array {
  const spec = [
    { stride: 16, count: 2 },
    { stride: 32, count: 6 },
  ];
  const out: number[] = [];
  for (const { stride, count } of spec) {
    const cells = Math.floor((size + stride - 1) / stride);
    for (let gy = 0; gy < cells; gy++) {
      for (let gx = 0; gx < cells; gx++) {
        for (let k = 0; k < count; k++) out.push(stride * (gx + 0.5), stride * (gy + 0.5));
      }
    }
  }
  return Float32Array.from(out);
}

function iou(a: FaceCandidate, b: FaceCandidate): number {
  const ix = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const iy = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = ix * iy;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

export function nonMaxSuppression(cands: FaceCandidate[], iouThreshold: number, maxFaces: number): FaceCandidate[] {
  const sorted = [...cands].sort((a, b) => b.score - a.score);
  const kept: FaceCandidate[] = [];
  for (const c of sorted) {
    if (kept.length >= maxFaces) break;
    if (kept.every((k) => iou(k, c) <= iouThreshold)) kept.push(c);
  }
  return kept;
}

export class BlazeFace {
  private readonly anchors = new Map<number, Float32Array>();
  private constructor(private readonly model: GraphModel) {}

  static async load(): Promise<BlazeFace> {
    return new BlazeFace(await GraphModel.load(modelPath('blazeface')));
  }

  private anchorsFor(size: number): Float32Array {
    if (size % 32 !== 0 || size < 64) throw new Error(`BlazeFace input size must be a multiple of 32 (>= 64), got ${size}`);
    let a = this.anchors.get(size);
    if (!a) this.anchors.set(size, (a = makeAnchors(size)));
    return a;
  }

  /** Model input for `img`, and the map from input pixels back to image pixels. */
  prepare(img: RgbImage, maxAspect: number, size: number): { input: Float32Array; toImage: Affine } {
    let W = img.width, H = img.height;
    if (W / H > maxAspect) H = W / maxAspect;
    else if (H / W > maxAspect) W = H / maxAspect;
    const px = (W - img.width) / 2, py = (H - img.height) / 2;
    const sx = W / size, sy = H / size;
    // Input pixel u covers image [u*sx - px, (u+1)*sx - px) in continuous coordinates.
    const toImage: Affine = [sx, 0, 0.5 * sx - 0.5 - px, 0, sy, 0.5 * sy - 0.5 - py];
    const rgb = resizeArea(img, size, size, sx, sy, -px, -py);
    const input = new Float32Array(rgb.data.length);
    for (let i = 0; i < input.length; i++) input[i] = rgb.data[i]! / 127.5 - 1;
    return { input, toImage };
  }

  detect(img: RgbImage, opts: BlazeFaceOptions): FaceCandidate[] {
    const size = opts.size;
    const anchors = this.anchorsFor(size);
    const { input, toImage } = this.prepare(img, opts.maxAspect, size);
    const outs = this.model.executeOwned(tf.tensor4d(input, [1, size, size, 3]));
    // Four outputs: scores [1, n, 1] and regressors [1, n, 16] for the stride-16 and stride-32 anchors.
    const n16 = (size / 16) ** 2 * 2;
    const pick = (n: number, k: number) => {
      const t = outs.find((o) => o.shape[1] === n && o.shape[2] === k);
      if (!t) throw new Error(`BlazeFace output [1, ${n}, ${k}] missing`);
      return t.dataSync() as Float32Array;
    };
    const n32 = anchors.length / 2 - n16;
    let cls16: Float32Array, cls32: Float32Array, reg16: Float32Array, reg32: Float32Array;
    try {
      [cls16, cls32, reg16, reg32] = [pick(n16, 1), pick(n32, 1), pick(n16, 16), pick(n32, 16)];
    } finally {
      tf.dispose(outs);
    }
    const logitMin = Math.log(opts.minScore / (1 - opts.minScore));
    const cands: FaceCandidate[] = [];
    const sx = toImage[0], sy = toImage[4];
    // Continuous input coordinates -> image pixel-centre coordinates.
    const mapX = (u: number) => u * sx + toImage[2] - 0.5 * sx;
    const mapY = (v: number) => v * sy + toImage[5] - 0.5 * sy;
    for (let i = 0; i < n16 + n32; i++) {
      const logit = i < n16 ? cls16[i]! : cls32[i - n16]!;
      if (logit < logitMin) continue;
      const reg = i < n16 ? reg16.subarray(i * 16, i * 16 + 16) : reg32.subarray((i - n16) * 16, (i - n16) * 16 + 16);
      const ax = anchors[i * 2]!, ay = anchors[i * 2 + 1]!;
      const cx = reg[0]! + ax, cy = reg[1]! + ay, w = reg[2]!, h = reg[3]!;
      if (!(w > 0 && h > 0)) continue;
      const keypoints: Point[] = [];
      for (let k = 0; k < 6; k++) keypoints.push([mapX(reg[4 + 2 * k]! + ax), mapY(reg[5 + 2 * k]! + ay)]);
      cands.push({
        x1: mapX(cx - w / 2), y1: mapY(cy - h / 2), x2: mapX(cx + w / 2), y2: mapY(cy + h / 2),
        score: 1 / (1 + Math.exp(-logit)),
        keypoints,
      });
    }
    return nonMaxSuppression(cands, opts.iouThreshold, opts.maxFaces);
  }

  dispose(): void {
    this.model.dispose();
  }
}
