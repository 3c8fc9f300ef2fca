// The passive checks: two small CNNs shipped in the @vladmandic/human npm package (MIT), run on
// our own engine through the detector's graph executor (src/vision/graph-model.ts).
//
//   antispoof  128x128 RGB in [0, 1] -> sigmoid, 1 = real. Converted by vladmandic from the
//              Kaggle notebook anku420/fake-face-detection (its generatedBy field). Human's faceid
//              demo: "checks if input is realistic (e.g. computer generated faces)".
//   liveness   32x32 RGB in [0, 1] -> softmax over 2 classes. Converted from leokwu/livenessnet
//              (the pyimagesearch LivenessNet: real / fake frames of a face filmed live or
//              replayed on a phone). Human reads class 0 as its `live` score.
//
// The crop both get in Human (src/face/antispoof.ts, liveness.ts, facemesh.ts): the face tensor
// the mesh ran on, i.e. the BlazeFace box enlarged 1.4x, squared, upright (detector.rotation is
// off by default), cut and resized to 192x192, divided by 255, then resizeBilinear to the
// model's input. Here the same square comes from the mesh bounds (x 1.37, the measured mesh ->
// BlazeFace-crop ratio, src/vision/detector.ts MESH_ENLARGE).
//
// What they measure on this project's attack set is in docs/pad.md: weak, as issue 20 warns.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { humanModelsDir } from '../vision/models.js';
import type { Box, RgbImage } from '../vision/types.js';
import { type Affine, warpAffineAA } from '../vision/warp.js';
import { GraphModel } from '../vision/graph-model.js';
import { MESH_ENLARGE } from './mesh-landmarks.js';

/** Side of Human's face tensor (the mesh input). */
export const HUMAN_FACE_SIZE = 192;

export interface PassiveScores {
  /** antispoof model: probability the face is a real, not computer-made, face. */
  antispoof: number;
  /** liveness model: Human's `live` (softmax class 0). */
  liveness: number;
  /** The other liveness class (softmax class 1); reported for the record. */
  livenessOther: number;
}

/** Where the two models are: Human's models folder in node_modules (no network). */
export function passiveModelPaths(dir = humanModelsDir()): { antispoof: string; liveness: string } {
  return { antispoof: path.join(dir, 'antispoof.json'), liveness: path.join(dir, 'liveness.json') };
}

/** Human's face crop, 192x192 RGB: an upright square of 1.37 x the mesh bounds' longer side. */
export function humanFaceCrop(img: RgbImage, meshBox: Box): RgbImage {
  const side = Math.max(meshBox.width, meshBox.height) * MESH_ENLARGE;
  const cx = meshBox.x + meshBox.width / 2, cy = meshBox.y + meshBox.height / 2;
  const s = side / HUMAN_FACE_SIZE;
  const h = HUMAN_FACE_SIZE / 2 - 0.5;
  const m: Affine = [s, 0, cx - s * h, 0, s, cy - s * h];
  return warpAffineAA(img, m, HUMAN_FACE_SIZE, HUMAN_FACE_SIZE, 0);
}

export class PassiveModels {
  private constructor(
    private readonly antispoof: GraphModel,
    private readonly liveness: GraphModel,
  ) {}

  static async load(dir?: string): Promise<PassiveModels> {
    await initBackend({ quiet: true });
    const p = passiveModelPaths(dir);
    const [a, l] = await Promise.all([GraphModel.load(p.antispoof), GraphModel.load(p.liveness)]);
    return new PassiveModels(a, l);
  }

  /** Scores for a batch of Human face crops (192x192 RGB, see humanFaceCrop). */
  scoreCrops(crops: RgbImage[]): PassiveScores[] {
    if (crops.length === 0) return [];
    const n = HUMAN_FACE_SIZE;
    const per = n * n * 3;
    const buf = new Float32Array(per * crops.length);
    crops.forEach((c, k) => {
      if (c.width !== n || c.height !== n) throw new Error(`face crop must be ${n}x${n}, got ${c.width}x${c.height}`);
      for (let i = 0; i < per; i++) buf[k * per + i] = c.data[i]! / 255;
    });
    const [spoof, live] = tf.tidy(() => {
      const x = tf.tensor4d(buf, [crops.length, n, n, 3]);
      const size = (g: GraphModel): [number, number] => [g.inputShape[1]!, g.inputShape[2]!];
      // One output each: the antispoof sigmoid, the liveness softmax.
      const a = this.antispoof.execute(tf.image.resizeBilinear(x, size(this.antispoof), false))[0]!;
      const l = this.liveness.execute(tf.image.resizeBilinear(x, size(this.liveness), false))[0]!;
      return [a, l];
    });
    const a = spoof.dataSync(), l = live.dataSync();
    tf.dispose([spoof, live]);
    return crops.map((_, k) => ({ antispoof: a[k]!, liveness: l[k * 2]!, livenessOther: l[k * 2 + 1]! }));
  }

  /** Scores for the face with mesh bounds `meshBox` in `img`. */
  score(img: RgbImage, meshBox: Box): PassiveScores {
    return this.scoreCrops([humanFaceCrop(img, meshBox)])[0]!;
  }

  dispose(): void {
    this.antispoof.dispose();
    this.liveness.dispose();
  }
}
