// One source photo -> one aligned 112x112 JPEG crop (or a reason it was skipped). Runs inside a
// prepare worker thread, or inline when prepareDataset is asked for 0 workers.
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import {
  ARCFACE_TEMPLATE_112,
  DATASET_QUALITY_CONFIG,
  type DetectedFace,
  type DetectorKind,
  type FaceDetector,
  ImageDecodeError,
  type QualityConfig,
  type QualityMetrics,
  type RgbImage,
  alignFace,
  assessQuality,
  createFaceDetector,
  decodeImage,
  encodeJpeg,
  photometrics,
  prominence,
  sniffFormat,
  warpAffine,
} from '../vision/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export interface PrepareTask {
  /** Absolute source path. */
  src: string;
  /** Absolute output path (.jpg). */
  out: string;
}

export interface PrepareConfig {
  /** true: every image is an aligned crop; 'auto': 112x112 images are checked and passed through. */
  aligned: boolean | 'auto';
  detector: DetectorKind;
  size: number;
  jpegQuality: number;
  quality: Partial<QualityConfig>;
  /** Keep the most prominent face even when it fails quality (e.g. for evaluation pairs); reasons go to `warnings`. */
  keepAll: boolean;
}

export interface PrepareRecord {
  src: string;
  out: string | null;
  status: 'kept' | 'skipped';
  /** Why it was skipped: decode:<code>, no_face, or quality codes joined by '+'. */
  reason?: string;
  /** Quality codes a kept face failed (only with keepAll). */
  warnings?: string;
  message?: string;
  /** How the crop was made: detected and aligned, or passed through as already aligned. */
  mode?: 'aligned' | 'passthrough';
  faces?: number;
  box?: { x: number; y: number; width: number; height: number };
  score?: number;
  landmarks?: [number, number][];
  quality?: Partial<QualityMetrics>;
}

/** Mean distance (px) of detected landmarks from the ArcFace template for a 112x112 image to count as aligned. */
export const ALIGNED_TOLERANCE_PX = 6;
/**
 * 112x112 images of a folder checked one by one before the folder gets a verdict (a majority of
 * them aligned: the rest pass through unchecked; otherwise all are detected and aligned).
 */
const ALIGNED_CHECKS_PER_FOLDER = 3;

const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

export class ImagePreparer {
  private detector?: Promise<FaceDetector>;
  /** Per source folder: 112x112 images checked, and how many of them were aligned. */
  private readonly alignedFolders = new Map<string, { checked: number; aligned: number }>();

  constructor(private readonly cfg: PrepareConfig) {}

  private getDetector(): Promise<FaceDetector> {
    this.detector ??= createFaceDetector({ kind: this.cfg.detector });
    return this.detector;
  }

  async process(task: PrepareTask): Promise<PrepareRecord> {
    let img: RgbImage;
    let bytes: Buffer;
    try {
      bytes = await readFile(task.src);
      img = await decodeImage(bytes);
    } catch (err) {
      const code = err instanceof ImageDecodeError ? err.code : 'corrupt';
      const message = err instanceof Error ? err.message : String(err);
      return { src: task.src, out: null, status: 'skipped', reason: `decode:${code}`, message };
    }
    if (this.cfg.aligned === true || (this.cfg.aligned === 'auto' && (await this.looksAligned(task.src, img)))) {
      return this.passThrough(task, img, bytes);
    }
    return this.detectAndAlign(task, img);
  }

  /** A 112x112 image whose detected landmarks sit on the ArcFace template is an aligned crop. */
  private async looksAligned(src: string, img: RgbImage): Promise<boolean> {
    if (img.width !== 112 || img.height !== 112) return false;
    const folder = path.dirname(src);
    const f = this.alignedFolders.get(folder) ?? { checked: 0, aligned: 0 };
    if (f.checked >= ALIGNED_CHECKS_PER_FOLDER) return f.aligned * 2 > f.checked;
    // Until the verdict, each image stands for itself (a profile face can miss the template).
    const ok = (await templateDistance(await this.getDetector(), img)) <= ALIGNED_TOLERANCE_PX;
    this.alignedFolders.set(folder, { checked: f.checked + 1, aligned: f.aligned + (ok ? 1 : 0) });
    return ok;
  }

  private async passThrough(task: PrepareTask, img: RgbImage, bytes: Buffer): Promise<PrepareRecord> {
    await mkdir(path.dirname(task.out), { recursive: true });
    const size = this.cfg.size;
    if (img.width === size && img.height === size && sniffFormat(bytes) === 'jpeg' && (await sharp(bytes).metadata()).space === 'srgb') {
      await copyFile(task.src, task.out); // already what we would write: keep the bytes
    } else {
      const crop = img.width === size && img.height === size ? img : await resizeTo(img, size);
      await writeFileAtomic(task.out, await encodeJpeg(crop, this.cfg.jpegQuality));
    }
    const p = photometrics(img);
    return {
      src: task.src,
      out: task.out,
      status: 'kept',
      mode: 'passthrough',
      landmarks: ARCFACE_TEMPLATE_112.map(([x, y]) => [round((x * img.width) / 112), round((y * img.height) / 112)]),
      quality: { brightness: round(p.brightness), contrast: round(p.contrast), sharpness: round(p.sharpness) },
    };
  }

  private async detectAndAlign(task: PrepareTask, img: RgbImage): Promise<PrepareRecord> {
    const faces = await (await this.getDetector()).detect(img);
    if (faces.length === 0) return { src: task.src, out: null, status: 'skipped', reason: 'no_face', message: 'no face found', faces: 0 };
    const ranked = [...faces].sort((a, b) => prominence(b, img) - prominence(a, img));
    const qcfg = { ...DATASET_QUALITY_CONFIG, ...this.cfg.quality };
    let best: { face: DetectedFace; crop: RgbImage; q: ReturnType<typeof assessQuality> } | undefined;
    let first: typeof best;
    for (const face of ranked) {
      const crop112 = alignFace(img, face.landmarks, 112);
      const q = assessQuality(img, face, faces, qcfg, crop112);
      const cand = { face, crop: crop112, q };
      first ??= cand;
      if (q.ok) {
        best = cand;
        break;
      }
    }
    if (!best && this.cfg.keepAll) best = first;
    const chosen = best ?? first!;
    const rec: PrepareRecord = {
      src: task.src,
      out: null,
      status: 'skipped',
      faces: faces.length,
      box: mapObj(chosen.face.box, (v) => round(v, 1)),
      score: round(chosen.face.score, 3),
      landmarks: chosen.face.landmarks.map(([x, y]) => [round(x), round(y)]),
      quality: mapObj(chosen.q.metrics, (v) => (Number.isFinite(v) ? round(v) : v)),
    };
    if (!best) {
      rec.reason = chosen.q.reasons.map((r) => r.code).join('+');
      rec.message = chosen.q.reasons.map((r) => r.message).join('; ');
      return rec;
    }
    if (!best.q.ok) rec.warnings = best.q.reasons.map((r) => r.code).join('+');
    const crop = this.cfg.size === 112 ? best.crop : alignFace(img, best.face.landmarks, this.cfg.size);
    await mkdir(path.dirname(task.out), { recursive: true });
    await writeFileAtomic(task.out, await encodeJpeg(crop, this.cfg.jpegQuality));
    return { ...rec, out: task.out, status: 'kept', mode: 'aligned' };
  }

  async dispose(): Promise<void> {
    if (this.detector) (await this.detector).dispose();
  }
}

function mapObj<T extends object>(o: T, f: (v: number) => number): T {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? f(v) : v])) as T;
}

async function resizeTo(img: RgbImage, size: number): Promise<RgbImage> {
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).resize(size, size, { fit: 'fill' }).raw().toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: size, height: size };
}

/**
 * Mean distance of the detected five points from the template, for a 112x112 crop. The crop is
 * centred on a 224 canvas first: a frame-filling face is outside the detector's range.
 */
export async function templateDistance(detector: FaceDetector, img: RgbImage): Promise<number> {
  const pad = warpAffine(img, [1, 0, -56, 0, 1, -56], 224, 224, 0);
  const faces = await detector.detect(pad);
  if (faces.length === 0) return Infinity;
  const f = faces.reduce((a, b) => (b.score > a.score ? b : a));
  let d = 0;
  f.landmarks.forEach(([x, y], i) => {
    const [tx, ty] = ARCFACE_TEMPLATE_112[i]!;
    d += Math.hypot(x - 56 - tx, y - 56 - ty);
  });
  return d / 5;
}
