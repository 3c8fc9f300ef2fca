// One camera frame -> what the liveness policy looks at: the face's mesh (for the eyes, the pose
// and the motion cue) and, optionally, the passive models' scores on Human's face crop.
import { meshBounds } from '../vision/facemesh.js';
import type { Box, DetectedFace, RgbImage } from '../vision/types.js';
import type { MeshLandmarker } from './mesh-landmarks.js';
import type { PassiveModels, PassiveScores } from './passive.js';

export interface FaceObservation {
  /** 468 mesh points, x y z each, image pixels. */
  points: Float32Array;
  /** Mesh bounds. */
  box: Box;
  /** Mesh face score. */
  score: number;
}

export interface FrameObservation {
  /** Capture time in ms (any origin; only differences are used). */
  t: number;
  face: FaceObservation | null;
  passive?: PassiveScores;
  /**
   * Similarity of this frame's face to the session's reference template, in the matcher's terms
   * (cosine), when the caller computes it: the head-turn check needs the identity to stay the same.
   */
  identity?: number;
}

export class FrameAnalyzer {
  constructor(
    private readonly landmarker: MeshLandmarker,
    private readonly passive?: PassiveModels,
  ) {}

  /** Finds the largest face itself. */
  analyze(img: RgbImage, t: number, extra: { identity?: number } = {}): FrameObservation {
    return this.observe(img, t, this.landmarker.detect(img), extra);
  }

  /** Uses the face the kiosk detector already found (one more mesh pass for all 468 points). */
  analyzeFace(img: RgbImage, face: DetectedFace, t: number, extra: { identity?: number } = {}): FrameObservation {
    return this.observe(img, t, this.landmarker.fromFace(img, face), extra);
  }

  /**
   * Uses mesh points the caller already has (if the kiosk detector exposes its 468 points, see
   * docs/pad.md "Wiring"): no model runs here except the passive ones.
   */
  analyzeMesh(img: RgbImage, points: Float32Array, score: number, t: number, extra: { identity?: number } = {}): FrameObservation {
    const b = meshBounds(points);
    return this.observe(img, t, { points, score, box: { x: b.x1, y: b.y1, width: b.x2 - b.x1, height: b.y2 - b.y1 } }, extra);
  }

  private observe(img: RgbImage, t: number, face: FaceObservation | null, extra: { identity?: number }): FrameObservation {
    const obs: FrameObservation = { t, face, ...extra };
    if (face && this.passive) obs.passive = this.passive.score(img, face.box);
    return obs;
  }
}
