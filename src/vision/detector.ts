// Face detector = BlazeFace (where) + FaceMesh (confirms the face and places 468 points, from
// which the five ArcFace landmarks come). 'fast' is the live-kiosk path; 'accurate' (for preparing
// in-the-wild photos) adds a second detector scale, a second mesh pass on the upright mesh crop,
// and a quarter-turn retry for people lying down.
import { initBackend } from '../engine/backend.js';
import { BlazeFace, type FaceCandidate, nonMaxSuppression } from './blazeface.js';
import { FaceMesh, type MeshResult, cropAffine, fivePoints, meshBounds } from './facemesh.js';
import type { DetectedFace, DetectorKind, FaceDetector, Point, RgbImage } from './types.js';
import { type Affine, applyAffine, warpAffine } from './warp.js';

export interface DetectorOptions {
  kind?: DetectorKind;
  /** BlazeFace score needed to try the mesh on a candidate. */
  minDetectorScore?: number;
  /** FaceMesh face-presence score needed to report a face. */
  minMeshScore?: number;
  maxFaces?: number;
  /** BlazeFace passes, merged by NMS (default per kind, see PASSES_FAST / PASSES_ACC). */
  passes?: DetectorPass[];
}

export interface DetectorPass {
  /** BlazeFace input side, multiple of 32. */
  size: number;
  /** Aspect ratio up to which the image is stretched to the square input (see BlazeFaceOptions). */
  maxAspect: number;
}

interface Settings {
  minDetectorScore: number;
  minMeshScore: number;
  maxFaces: number;
  passes: DetectorPass[];
  refine: boolean;
  /** Turn the first mesh crop upright by BlazeFace's eye keypoints. */
  rotate: boolean;
  /** When nothing is found, look again with the image turned a quarter each way (people lying down). */
  quarterTurns: boolean;
}

/**
 * Live path: one 160 px pass finds every face >= 32 px wide pasted into a 640x480 frame, at about
 * a third of the cost of 256 px. Photos: that pass for large faces plus a square 256 px pass for
 * small ones (>= 20 px); chosen on train/celeba, google and small/ samples.
 */
const PASSES_FAST: DetectorPass[] = [{ size: 160, maxAspect: 4 / 3 }];
const PASSES_ACC: DetectorPass[] = [{ size: 160, maxAspect: 4 / 3 }, { size: 256, maxAspect: 1 }];
const SETTINGS: Record<DetectorKind, Settings> = {
  fast: { minDetectorScore: 0.5, minMeshScore: 0.5, maxFaces: 10, passes: PASSES_FAST, refine: false, rotate: true, quarterTurns: false },
  accurate: { minDetectorScore: 0.4, minMeshScore: 0.5, maxFaces: 20, passes: PASSES_ACC, refine: true, rotate: true, quarterTurns: true },
};

/** Crop side relative to the BlazeFace box (human's detector.scale). */
const BOX_ENLARGE = 1.4;
/** Crop side relative to the mesh's own bounds, for the refining pass (measured median ratio). */
const MESH_ENLARGE = 1.37;

function rollOf(points: Float32Array): number {
  const l = fivePoints(points);
  return Math.atan2(l[1]![1] - l[0]![1], l[1]![0] - l[0]![0]);
}

class MeshFaceDetector implements FaceDetector {
  lastTimings: Record<string, number> = {};
  constructor(
    readonly kind: DetectorKind,
    private readonly settings: Settings,
    private readonly blaze: BlazeFace,
    private readonly mesh: FaceMesh,
  ) {}

  async detect(img: RgbImage): Promise<DetectedFace[]> {
    const t0 = performance.now();
    const timing = { detect: 0, landmarks: 0 };
    let faces = this.detectUpright(img, timing);
    if (faces.length === 0 && this.settings.quarterTurns) {
      for (const turn of [1, 3] as const) {
        const { image, toOriginal } = quarterTurn(img, turn);
        faces = this.detectUpright(image, timing).map((f) => mapFace(f, toOriginal));
        if (faces.length) break;
      }
    }
    this.lastTimings = { ...timing, total: performance.now() - t0 };
    return faces;
  }

  private detectUpright(img: RgbImage, timing: { detect: number; landmarks: number }): DetectedFace[] {
    const s = this.settings;
    const t0 = performance.now();
    let cands: FaceCandidate[] = [];
    for (const pass of s.passes) {
      cands.push(...this.blaze.detect(img, { minScore: s.minDetectorScore, iouThreshold: 0.3, maxFaces: s.maxFaces, ...pass }));
    }
    if (s.passes.length > 1) cands = nonMaxSuppression(cands, 0.3, s.maxFaces);
    const t1 = performance.now();
    const crops = cands.map((c) => {
      const side = Math.max(c.x2 - c.x1, c.y2 - c.y1) * BOX_ENLARGE;
      const [le, re] = c.keypoints as [Point, Point];
      const angle = s.rotate ? Math.atan2(re[1] - le[1], re[0] - le[0]) : 0;
      return cropAffine((c.x1 + c.x2) / 2, (c.y1 + c.y2) / 2, side, angle);
    });
    let meshes: MeshResult[] = this.mesh.run(img, crops);
    if (s.refine) {
      // Re-crop on the mesh itself, turned upright: the mesh model was trained on such crops.
      const again = meshes.map((m) => {
        const b = meshBounds(m.points);
        return cropAffine((b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2, Math.max(b.x2 - b.x1, b.y2 - b.y1) * MESH_ENLARGE, rollOf(m.points));
      });
      const refined = this.mesh.run(img, again);
      meshes = meshes.map((m, k) => (refined[k]!.score >= m.score * 0.9 ? refined[k]! : m));
    }
    const faces: DetectedFace[] = [];
    meshes.forEach((m, k) => {
      if (m.score < s.minMeshScore) return;
      const b = meshBounds(m.points);
      faces.push({
        box: { x: b.x1, y: b.y1, width: b.x2 - b.x1, height: b.y2 - b.y1 },
        score: Math.min(m.score, cands[k]!.score),
        landmarks: fivePoints(m.points),
      });
    });
    timing.detect += t1 - t0;
    timing.landmarks += performance.now() - t1;
    return dedupe(faces);
  }

  /**
   * Camera loop: the previous frame's faces found again by the mesh alone, each on a crop around
   * where it was (its mesh bounds enlarged, turned upright by its eyes: the accurate detector's
   * refining crop), without the BlazeFace pass. Undefined when any of them is lost (mesh score
   * below minMeshScore, e.g. the person left or moved fast): run detect() then. New faces are not
   * looked for, so a caller still runs detect() every few frames (a bystander stepping in).
   */
  async track(img: RgbImage, previous: readonly DetectedFace[]): Promise<DetectedFace[] | undefined> {
    const t0 = performance.now();
    if (previous.length === 0) return undefined;
    const crops = previous.map((f) => {
      const [le, re] = f.landmarks as [Point, Point];
      const side = Math.max(f.box.width, f.box.height) * MESH_ENLARGE;
      return cropAffine(f.box.x + f.box.width / 2, f.box.y + f.box.height / 2, side, Math.atan2(re[1] - le[1], re[0] - le[0]));
    });
    const meshes = this.mesh.run(img, crops);
    this.lastTimings = { detect: 0, landmarks: performance.now() - t0, total: performance.now() - t0 };
    if (meshes.some((m) => m.score < this.settings.minMeshScore)) return undefined;
    const faces = dedupe(
      meshes.map((m) => {
        const b = meshBounds(m.points);
        return { box: { x: b.x1, y: b.y1, width: b.x2 - b.x1, height: b.y2 - b.y1 }, score: m.score, landmarks: fivePoints(m.points) };
      }),
    );
    // Two tracks converging on one face: the picture changed, look afresh.
    return faces.length === previous.length ? faces : undefined;
  }

  dispose(): void {
    this.blaze.dispose();
    this.mesh.dispose();
  }
}

/** The image turned clockwise by 90 degrees x `turns`, and the map from its pixels back. */
function quarterTurn(img: RgbImage, turns: 1 | 3): { image: RgbImage; toOriginal: Affine } {
  const { width: W, height: H } = img;
  // Output (u, v) of size H x W. Clockwise: u = H-1-y, v = x, so x = v, y = H-1-u.
  const toOriginal: Affine = turns === 1 ? [0, 1, 0, -1, 0, H - 1] : [0, -1, W - 1, 1, 0, 0];
  return { image: warpAffine(img, toOriginal, H, W), toOriginal };
}

function mapFace(f: DetectedFace, m: Affine): DetectedFace {
  const corners = [
    applyAffine(m, [f.box.x, f.box.y]),
    applyAffine(m, [f.box.x + f.box.width, f.box.y + f.box.height]),
  ];
  const x = Math.min(corners[0]![0], corners[1]![0]), y = Math.min(corners[0]![1], corners[1]![1]);
  return {
    box: { x, y, width: Math.abs(corners[1]![0] - corners[0]![0]), height: Math.abs(corners[1]![1] - corners[0]![1]) },
    score: f.score,
    // Order stays face-relative (as seen upright), which is what alignment needs.
    landmarks: f.landmarks.map((p) => applyAffine(m, p)),
  };
}

/**
 * Drops a face whose box lies mostly inside a better-scored one: two candidates converging on a
 * face, or a part of a frame-filling face (an eye and cheek) read as a face of its own.
 */
function dedupe(faces: DetectedFace[]): DetectedFace[] {
  const out: DetectedFace[] = [];
  for (const f of [...faces].sort((a, b) => b.score - a.score)) {
    const dup = out.some((o) => {
      const ix = Math.max(0, Math.min(o.box.x + o.box.width, f.box.x + f.box.width) - Math.max(o.box.x, f.box.x));
      const iy = Math.max(0, Math.min(o.box.y + o.box.height, f.box.y + f.box.height) - Math.max(o.box.y, f.box.y));
      return (ix * iy) / Math.min(o.box.width * o.box.height, f.box.width * f.box.height) > 0.5;
    });
    if (!dup) out.push(f);
  }
  return out;
}

export async function createFaceDetector(opts: DetectorOptions = {}): Promise<FaceDetector> {
  await initBackend({ quiet: true });
  const kind = opts.kind ?? 'fast';
  const base = SETTINGS[kind];
  const settings: Settings = {
    ...base,
    minDetectorScore: opts.minDetectorScore ?? base.minDetectorScore,
    minMeshScore: opts.minMeshScore ?? base.minMeshScore,
    maxFaces: opts.maxFaces ?? base.maxFaces,
    passes: opts.passes ?? base.passes,
  };
  const [blaze, mesh] = await Promise.all([BlazeFace.load(), FaceMesh.load()]);
  return new MeshFaceDetector(kind, settings, blaze, mesh);
}

