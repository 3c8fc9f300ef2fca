// The one call the server and evaluation use: decode -> detect -> align -> quality.
import { alignFace } from './align.js';
import { type DecodeLimits, decodeImage } from './decode.js';
import { createFaceDetector } from './detector.js';
import { type QualityConfig, type QualityReport, assessQuality } from './quality.js';
import type { DetectedFace, DetectorKind, FaceDetector, RgbImage } from './types.js';

export interface ExtractOptions {
  /** Detector to use; by default one shared instance per kind, created on first use. */
  detector?: FaceDetector;
  kind?: DetectorKind;
  /** Side of the aligned crops (ArcFace template scaled), default 112. */
  size?: number;
  quality?: Partial<QualityConfig>;
  limits?: Partial<DecodeLimits>;
  /** Keep at most this many faces (most prominent first). */
  maxFaces?: number;
  /**
   * Camera loop: the faces of this camera's previous frame. When the detector can track and finds
   * every one of them again, the box detector is skipped (FaceDetector.track); otherwise the frame
   * is detected afresh. New faces are only found by a fresh detection.
   */
  previous?: readonly DetectedFace[];
}

export interface ExtractedFace {
  face: DetectedFace;
  crop: RgbImage;
  quality: QualityReport;
}

export interface ExtractResult {
  /** Most prominent first: large and central. */
  faces: ExtractedFace[];
  image: RgbImage;
  /** Milliseconds per stage: decode, detect, align, quality, total. */
  timings: Record<string, number>;
  /** The faces were tracked from `previous` (no box detection ran). */
  tracked: boolean;
}

const shared = new Map<DetectorKind, Promise<FaceDetector>>();

/** A process-wide detector of this kind (loaded once; never disposed). */
export function sharedDetector(kind: DetectorKind = 'fast'): Promise<FaceDetector> {
  let d = shared.get(kind);
  if (!d) {
    d = createFaceDetector({ kind });
    shared.set(kind, d);
    d.catch(() => shared.delete(kind));
  }
  return d;
}

/** Larger and nearer the centre ranks first: the person at the kiosk, the subject of a photo. */
export function prominence(face: DetectedFace, img: { width: number; height: number }): number {
  const cx = face.box.x + face.box.width / 2 - img.width / 2;
  const cy = face.box.y + face.box.height / 2 - img.height / 2;
  const off = Math.hypot(cx, cy) / Math.hypot(img.width / 2, img.height / 2);
  return face.box.width * (1 - 0.5 * Math.min(1, off));
}

function isRgbImage(x: unknown): x is RgbImage {
  return typeof x === 'object' && x !== null && 'data' in x && 'width' in x && 'height' in x && !Buffer.isBuffer(x);
}

export async function extractFaces(input: Buffer | Uint8Array | string | RgbImage, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const t0 = performance.now();
  const image = isRgbImage(input) ? input : await decodeImage(input, opts.limits);
  const t1 = performance.now();
  const detector = opts.detector ?? (await sharedDetector(opts.kind ?? 'fast'));
  const tracked = opts.previous?.length && detector.track ? await detector.track(image, opts.previous) : undefined;
  const all = tracked ?? (await detector.detect(image));
  const t2 = performance.now();
  const ranked = all
    .map((face) => ({ face, p: prominence(face, image) }))
    .sort((a, b) => b.p - a.p)
    .slice(0, opts.maxFaces ?? Infinity)
    .map((r) => r.face);
  const size = opts.size ?? 112;
  const crops = ranked.map((face) => alignFace(image, face.landmarks, size));
  const t3 = performance.now();
  const faces = ranked.map((face, i) => ({
    face,
    crop: crops[i]!,
    // Quality looks at every detected face, not only the kept ones ("one person at a time").
    quality: assessQuality(image, face, all, opts.quality, crops[i]),
  }));
  const t4 = performance.now();
  return {
    faces,
    image,
    timings: { decode: t1 - t0, detect: t2 - t1, align: t3 - t2, quality: t4 - t3, total: t4 - t0 },
    tracked: tracked !== undefined,
  };
}
