// MediaPipe FaceMesh (192x192 crop -> 468 3-D points + a face/no-face score).
import * as tf from '@tensorflow/tfjs-core';
import { GraphModel } from './graph-model.js';
import { modelPath } from './models.js';
import type { Point, RgbImage } from './types.js';
import { type Affine, applyAffine, warpAffineAA } from './warp.js';

export const MESH_SIZE = 192;
export const MESH_POINTS = 468;

/** MediaPipe mesh indices. The model's "right eye" is the subject's right, i.e. image-left. */
export const MESH_INDEX = {
  imageLeftEye: [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246],
  imageRightEye: [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466],
  // 4 rather than 1: on ArcFace-aligned crops (train/glint) its mean lands 0.6 px from the
  // template's nose point, index 1 four px lower.
  noseTip: 4,
  imageLeftMouth: 61,
  imageRightMouth: 291,
} as const;

export interface MeshResult {
  /** Face presence score from the mesh model, in [0, 1]. */
  score: number;
  /** 468 points in image pixel coordinates; z in image-pixel scale, relative. */
  points: Float32Array;
}

/** Crop transform: output pixel -> image, for a square of `side` px centred at (cx, cy), rotated by `angle`. */
export function cropAffine(cx: number, cy: number, side: number, angle = 0, n = MESH_SIZE): Affine {
  const s = side / n;
  const c = Math.cos(angle) * s, sn = Math.sin(angle) * s;
  const h = n / 2 - 0.5;
  // [x, y] = centre + R * s * ([u, v] - h)
  return [c, -sn, cx - c * h + sn * h, sn, c, cy - sn * h - c * h];
}

export class FaceMesh {
  private constructor(private readonly model: GraphModel) {}

  static async load(): Promise<FaceMesh> {
    return new FaceMesh(await GraphModel.load(modelPath('facemesh')));
  }

  /** Runs the mesh on one crop per face (batched). */
  run(img: RgbImage, crops: Affine[]): MeshResult[] {
    if (crops.length === 0) return [];
    const per = MESH_SIZE * MESH_SIZE * 3;
    const input = new Float32Array(per * crops.length);
    crops.forEach((m, k) => {
      const rgb = warpAffineAA(img, m, MESH_SIZE, MESH_SIZE, 0);
      for (let i = 0; i < per; i++) input[k * per + i] = rgb.data[i]! / 255;
    });
    const outs = this.model.executeOwned(tf.tensor4d(input, [crops.length, MESH_SIZE, MESH_SIZE, 3]));
    const flag = outs.find((t) => t.shape[t.shape.length - 1] === 1);
    const mesh = outs.find((t) => t.shape[t.shape.length - 1] === MESH_POINTS * 3);
    if (!flag || !mesh) {
      tf.dispose(outs);
      throw new Error('facemesh outputs not recognised');
    }
    const flags = flag.dataSync() as Float32Array;
    const pts = mesh.dataSync() as Float32Array;
    tf.dispose(outs);
    return crops.map((m, k) => {
      const scale = Math.sqrt(Math.abs(m[0] * m[4] - m[1] * m[3]));
      const points = new Float32Array(MESH_POINTS * 3);
      for (let j = 0; j < MESH_POINTS; j++) {
        const o = k * MESH_POINTS * 3 + j * 3;
        // Mesh coordinates are continuous crop coordinates; pixel centres sit at +0.5.
        const [x, y] = applyAffine(m, [pts[o]! - 0.5, pts[o + 1]! - 0.5]);
        points[j * 3] = x;
        points[j * 3 + 1] = y;
        points[j * 3 + 2] = pts[o + 2]! * scale;
      }
      return { score: flags[k]!, points };
    });
  }

  dispose(): void {
    this.model.dispose();
  }
}

const pt = (p: Float32Array, i: number): Point => [p[i * 3]!, p[i * 3 + 1]!];

function mean(p: Float32Array, idx: readonly number[]): Point {
  let x = 0, y = 0;
  for (const i of idx) {
    x += p[i * 3]!;
    y += p[i * 3 + 1]!;
  }
  return [x / idx.length, y / idx.length];
}

/**
 * The mesh's lip corners sit above the mouth corners of the detectors ArcFace data was aligned
 * with: on train/glint crops by 2.8 of the template's 40.7 px eye-to-mouth height. They are moved
 * down that fraction of the eye-to-mouth vector.
 */
export const MOUTH_DROP = 0.068;

/** ArcFace-order five points from a mesh. */
export function fivePoints(points: Float32Array): Point[] {
  const le = mean(points, MESH_INDEX.imageLeftEye);
  const re = mean(points, MESH_INDEX.imageRightEye);
  const lm = pt(points, MESH_INDEX.imageLeftMouth);
  const rm = pt(points, MESH_INDEX.imageRightMouth);
  const dx = ((lm[0] + rm[0]) / 2 - (le[0] + re[0]) / 2) * MOUTH_DROP;
  const dy = ((lm[1] + rm[1]) / 2 - (le[1] + re[1]) / 2) * MOUTH_DROP;
  return [le, re, pt(points, MESH_INDEX.noseTip), [lm[0] + dx, lm[1] + dy], [rm[0] + dx, rm[1] + dy]];
}

/** Axis-aligned bounds of the mesh's x, y. */
export function meshBounds(points: Float32Array): { x1: number; y1: number; x2: number; y2: number } {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (let j = 0; j < MESH_POINTS; j++) {
    const x = points[j * 3]!, y = points[j * 3 + 1]!;
    if (x < x1) x1 = x;
    if (x > x2) x2 = x;
    if (y < y1) y1 = y;
    if (y > y2) y2 = y;
  }
  return { x1, y1, x2, y2 };
}
