// Adapter over the vision pipeline's public BlazeFace and FaceMesh classes: the kiosk detector
// (src/vision/detector.ts) reduces the 468-point mesh to five points, and presentation-attack
// detection needs the eyelids and the whole mesh. This runs the same models the same way as the
// detector's 'fast' path (one 160 px BlazeFace pass, an upright mesh crop) plus the 'accurate'
// path's second mesh pass on the mesh's own bounds, which steadies the points from frame to frame.
//
// If the detector one day exposes its mesh points on DetectedFace, `fromFace` can be dropped and
// the kiosk saves the mesh pass it repeats here (see docs/pad.md, "Wiring").
import { initBackend } from '../engine/backend.js';
import { BlazeFace, type FaceCandidate } from '../vision/blazeface.js';
import { FaceMesh, MESH_POINTS, cropAffine, fivePoints, meshBounds } from '../vision/facemesh.js';
import type { Box, DetectedFace, Point, RgbImage } from '../vision/types.js';

/** A face's 468 mesh points (x, y, z per point, image pixels) and the mesh's face score. */
export interface MeshFace {
  points: Float32Array;
  score: number;
  box: Box;
}

/** Mesh crop side relative to the mesh's own bounds (src/vision/detector.ts MESH_ENLARGE). */
export const MESH_ENLARGE = 1.37;
/** Crop side relative to the BlazeFace box (human's detector.scale, detector.ts BOX_ENLARGE). */
const BOX_ENLARGE = 1.4;

function rollOf(points: Float32Array): number {
  const l = fivePoints(points);
  return Math.atan2(l[1]![1] - l[0]![1], l[1]![0] - l[0]![0]);
}

function boxOf(points: Float32Array): Box {
  const b = meshBounds(points);
  return { x: b.x1, y: b.y1, width: b.x2 - b.x1, height: b.y2 - b.y1 };
}

function area(b: Box): number {
  return b.width * b.height;
}

export class MeshLandmarker {
  private constructor(
    private readonly blaze: BlazeFace,
    private readonly mesh: FaceMesh,
    readonly minScore: number,
  ) {}

  static async load(opts: { minScore?: number } = {}): Promise<MeshLandmarker> {
    await initBackend({ quiet: true });
    const [blaze, mesh] = await Promise.all([BlazeFace.load(), FaceMesh.load()]);
    return new MeshLandmarker(blaze, mesh, opts.minScore ?? 0.5);
  }

  /** The largest face in the frame, or null. */
  detect(img: RgbImage): MeshFace | null {
    const cands = this.blaze.detect(img, { minScore: 0.5, iouThreshold: 0.3, maxFaces: 3, size: 160, maxAspect: 4 / 3 });
    if (cands.length === 0) return null;
    const best = cands.reduce((a, b) => ((b.x2 - b.x1) * (b.y2 - b.y1) > (a.x2 - a.x1) * (a.y2 - a.y1) ? b : a));
    return this.fromCandidate(img, best);
  }

  private fromCandidate(img: RgbImage, c: FaceCandidate): MeshFace | null {
    const side = Math.max(c.x2 - c.x1, c.y2 - c.y1) * BOX_ENLARGE;
    const [le, re] = c.keypoints as [Point, Point];
    const first = this.mesh.run(img, [cropAffine((c.x1 + c.x2) / 2, (c.y1 + c.y2) / 2, side, Math.atan2(re[1] - le[1], re[0] - le[0]))])[0]!;
    return this.refine(img, first);
  }

  /**
   * Mesh for a face the kiosk detector already found. Its box is the mesh's own bounds, so one
   * pass on the upright crop around it is the refine pass `detect` makes.
   */
  fromFace(img: RgbImage, face: DetectedFace): MeshFace | null {
    const [le, re] = face.landmarks as [Point, Point];
    const b = face.box;
    const crop = cropAffine(b.x + b.width / 2, b.y + b.height / 2, Math.max(b.width, b.height) * MESH_ENLARGE, Math.atan2(re[1] - le[1], re[0] - le[0]));
    const m = this.mesh.run(img, [crop])[0]!;
    if (m.score < this.minScore) return null;
    return { points: m.points, score: m.score, box: boxOf(m.points) };
  }

  /** Second pass on an upright crop around the mesh itself (the crops the mesh model was trained on). */
  private refine(img: RgbImage, first: { points: Float32Array; score: number }): MeshFace | null {
    const b = meshBounds(first.points);
    const again = this.mesh.run(img, [cropAffine((b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2, Math.max(b.x2 - b.x1, b.y2 - b.y1) * MESH_ENLARGE, rollOf(first.points))])[0]!;
    const m = again.score >= first.score * 0.9 ? again : first;
    if (m.score < this.minScore || area(boxOf(m.points)) <= 0) return null;
    return { points: m.points, score: m.score, box: boxOf(m.points) };
  }

  dispose(): void {
    this.blaze.dispose();
    this.mesh.dispose();
  }
}

export { MESH_POINTS };
