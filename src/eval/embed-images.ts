// Embeds every distinct image of an evaluation once, with our model or with face-api. A failure
// (unreadable file, no face) is recorded as null, never dropped: the pairs using it are scored
// as wrong decisions by the metrics.
import type { FaceNet } from '../model/facenet.js';
import { decodeImage, extractFaces, type DetectorKind, type RgbImage } from '../vision/index.js';
import type { FaceApiRunner } from './faceapi-pool.js';
import { type CropFraming, DEFAULT_FRAMING } from './peer-faceapi.js';

export interface ImageEmbeddings {
  /** Unit embedding per file; null when it failed. */
  byFile: Map<string, Float32Array | null>;
  failed: { file: string; reason: string }[];
  /** Mean single-thread time per image: decode, detect, align and embed. */
  msPerImage: number;
}

export type EmbedProgress = (done: number, total: number) => void;

export interface ModelEmbedOptions {
  /** Inputs are aligned crops: decode and resize only. */
  aligned?: boolean;
  /** Also embed the mirror image; use the renormalised sum. */
  flip?: boolean;
  detector?: DetectorKind;
  batchSize?: number;
  onProgress?: EmbedProgress;
}

/** Horizontal mirror of an RGB image. */
export function mirrorImage(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const d = (y * w + (w - 1 - x)) * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
  return { width: w, height: h, data: out };
}

function unitSum(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    out[i] = a[i]! + b[i]!;
    s += out[i]! * out[i]!;
  }
  const k = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let i = 0; i < out.length; i++) out[i]! *= k;
  return out;
}

function reason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

/**
 * One image as an aligned face crop: decoded as is when it already is one, else the most prominent
 * face detected and aligned. Undefined when no face is found; throws when the file cannot be read.
 */
export async function faceCropOf(file: string, opts: { aligned?: boolean; detector?: DetectorKind } = {}): Promise<RgbImage | undefined> {
  if (opts.aligned) return decodeImage(file);
  return (await extractFaces(file, { kind: opts.detector ?? 'accurate', maxFaces: 1 })).faces[0]?.crop;
}

/** Our pipeline, in this thread: photo -> most prominent face -> aligned crop -> embedding. */
export async function embedWithModel(files: string[], net: FaceNet, opts: ModelEmbedOptions = {}): Promise<ImageEmbeddings> {
  const t0 = performance.now();
  const byFile = new Map<string, Float32Array | null>();
  const failed: ImageEmbeddings['failed'] = [];
  const batchSize = opts.batchSize ?? 16;
  let pending: { file: string; crop: RgbImage }[] = [];
  let done = 0;
  const flush = async () => {
    const crops = pending.flatMap((p) => (opts.flip ? [p.crop, mirrorImage(p.crop)] : [p.crop]));
    const embs = await net.embedCrops(crops, batchSize * (opts.flip ? 2 : 1));
    pending.forEach((p, i) => byFile.set(p.file, opts.flip ? unitSum(embs[2 * i]!, embs[2 * i + 1]!) : embs[i]!));
    done += pending.length;
    pending = [];
    opts.onProgress?.(done, files.length);
  };
  for (const file of files) {
    try {
      const crop = await faceCropOf(file, opts);
      if (crop) pending.push({ file, crop });
      else {
        byFile.set(file, null);
        failed.push({ file, reason: 'no face' });
        done++;
      }
    } catch (err) {
      byFile.set(file, null);
      failed.push({ file, reason: reason(err) });
      done++;
    }
    if (pending.length >= batchSize) await flush();
  }
  if (pending.length) await flush();
  opts.onProgress?.(done, files.length);
  return { byFile, failed, msPerImage: files.length ? (performance.now() - t0) / files.length : 0 };
}

export interface FaceApiEmbedOptions {
  aligned?: boolean;
  framing?: CropFraming;
  onProgress?: EmbedProgress;
}

/** face-api's own pipeline (photos) or recognition net alone (aligned crops), on a runner's threads. */
export async function embedWithFaceApi(files: string[], runner: FaceApiRunner, opts: FaceApiEmbedOptions = {}): Promise<ImageEmbeddings> {
  const byFile = new Map<string, Float32Array | null>();
  const failed: ImageEmbeddings['failed'] = [];
  // Photos one per task so the threads stay evenly busy; crops in small batches.
  const per = opts.aligned ? 8 : 1;
  const chunks: string[][] = [];
  for (let i = 0; i < files.length; i += per) chunks.push(files.slice(i, i + per));
  let next = 0;
  let done = 0;
  let ms = 0;
  const lanes = Math.max(1, runner.workers || 1);
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++]!;
        const outcomes = await runner.run(opts.aligned ? { mode: 'crop', files: chunk, framing: opts.framing ?? DEFAULT_FRAMING } : { mode: 'photo', files: chunk });
        for (const o of outcomes) {
          byFile.set(o.file, o.descriptor);
          if (!o.descriptor) failed.push({ file: o.file, reason: o.reason ?? 'unknown' });
          ms += o.ms;
        }
        done += outcomes.length;
        opts.onProgress?.(done, files.length);
      }
    }),
  );
  failed.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { byFile, failed, msPerImage: files.length ? ms / files.length : 0 };
}
