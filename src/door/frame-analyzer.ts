// The door's one seam between a frame's bytes and the model: decode -> detect -> align -> quality
// -> embed the subject. Two implementations behind one interface:
//   - InProcessAnalyzer: on this thread, one request at a time through the inference queue (the
//     CLI, tests, and the server when inference workers are off);
//   - PooledAnalyzer (analyzer-pool.ts): on inference worker threads, one per core, each with its
//     own WASM backend, detector and copy of the model.
// Either way a result says which model embedded it (the matcher of that model must judge it), and
// the model is read when the request's queue job starts, so a switch never splits a request.
import type { Embedder } from '../service/embedder.js';
import { ServiceError, fromDecodeError } from '../service/errors.js';
import type { InferenceQueue } from '../service/inference-queue.js';
import { decodeImage, encodeJpeg, ImageDecodeError } from '../vision/decode.js';
import { extractFaces, type ExtractedFace } from '../vision/extract.js';
import type { QualityConfig } from '../vision/quality.js';
import type { FaceDetector, RgbImage } from '../vision/types.js';
import type { GalleryMatcher } from '../match/gallery-matcher.js';
import { gate } from './gate.js';
import type { StageTimings } from './types.js';

/** A loaded model and the matcher over its templates: swapped together, read together. */
export interface ActiveModel {
  embedder: Embedder;
  matcher: GalleryMatcher;
}

/** The model in use, or why there is none. */
export type ModelSource = () => ActiveModel | { reason: string };

export interface AnalyzeOptions {
  /** Embed the subject when the gate lets it through (default true). */
  embed?: boolean;
  /** The quality gate for this frame (default: the camera's). */
  quality?: Partial<QualityConfig>;
  /** Names the image in decode errors ("frame: ..."); '' when the caller names it. */
  what?: string;
  /** Hand back the decoded pixels (default true); without, only their size (a worker keeps them). */
  image?: boolean;
}

/** Milliseconds of the stages before matching (queue: on a pool, also the worker's own backlog). */
export type AnalyzerTimings = Omit<StageTimings, 'match' | 'total'>;

/** One frame after the model saw it. */
export interface AnalyzedFrame {
  /** The decoded frame, unless AnalyzeOptions.image was false (in-process it always is there). */
  image: RgbImage | undefined;
  width: number;
  height: number;
  /** Most prominent first, each with its aligned crop and quality report. */
  faces: ExtractedFace[];
  /** The subject's embedding, when the gate let it through, a model is loaded and embedding was asked. */
  embedding: Float32Array | undefined;
  /** The model the frame was analysed with (null: none loaded); `embedding` is this model's. */
  model: ActiveModel | null;
  timings: AnalyzerTimings;
}

export interface FrameAnalyzer {
  /** 'in-process', or 'pool of N workers'. */
  readonly describe: string;
  /** Inference workers (0: in-process). */
  readonly workers: number;
  /** Requests still decoding on this thread, not yet queued (background work lets them in first). */
  readonly decoding: number;
  /** Bytes -> image, faces, and the subject's embedding with the model that made it. */
  analyze(bytes: Uint8Array, opts?: AnalyzeOptions): Promise<AnalyzedFrame>;
  /** Embeds aligned crops with `e` (a model made ready with prepare()); the caller queues it. */
  embedCrops(e: Embedder, crops: RgbImage[]): Promise<Float32Array[]>;
  /** Makes `e` usable (loads it in every worker); before a model becomes the current one. */
  prepare(e: Embedder): Promise<void>;
  /** Frees what prepare() loaded for `e`, once the requests using it are done. */
  release(e: Embedder): void;
  /**
   * Runs model work on this thread (a liveness pass), one job at a time: in the inference queue
   * in-process, beside the workers with a pool.
   */
  local<T>(job: () => Promise<T>): Promise<T>;
  /** Stops the workers (in-process: nothing). */
  close(): Promise<void>;
}

export interface InProcessDeps {
  limits: { maxImageBytes: number; maxPixels: number };
  detector: FaceDetector;
  queue: InferenceQueue;
  model: ModelSource;
}

/** Decodes the bytes (image errors as ServiceErrors naming `what`). */
export async function decodeFrame(bytes: Uint8Array, limits: { maxImageBytes: number; maxPixels: number }, what = 'image'): Promise<RgbImage> {
  try {
    return await decodeImage(bytes, { maxBytes: limits.maxImageBytes, maxPixels: limits.maxPixels });
  } catch (err) {
    if (err instanceof ImageDecodeError) throw fromDecodeError(err, what);
    throw err;
  }
}

/** A uniform grey image. */
export function grey(width: number, height: number): RgbImage {
  return { data: new Uint8Array(width * height * 3).fill(128), width, height };
}

/**
 * The decoder and both detector networks once on a grey frame (the box detector over it, the mesh
 * on a face-sized region of it), and `embedder` on a grey crop: so that the first frame a thread
 * analyses, after start or a restart, is not its slowest.
 */
export async function warmUp(detector: FaceDetector, limits: { maxImageBytes: number; maxPixels: number }, embedder?: Embedder): Promise<void> {
  await decodeFrame(await encodeJpeg(grey(64, 48)), limits);
  const frame = grey(640, 480);
  await detector.detect(frame);
  const box = { x: 240, y: 160, width: 160, height: 160 };
  const landmarks: [number, number][] = [[280, 220], [360, 220], [320, 260], [290, 290], [350, 290]];
  await detector.track?.(frame, [{ box, score: 1, landmarks }]);
  if (embedder) await warmUpEmbedder(embedder);
}

/** One embedding of a grey crop: a model's folded weights and kernel set-up before its first request. */
export async function warmUpEmbedder(e: Pick<Embedder, 'net'>): Promise<void> {
  await e.net.embedCrops([grey(112, 112)]);
}

/**
 * Detect, align, quality and (unless opts.embed is false) embed the subject of a decoded frame,
 * on this thread, with the model current now. The caller holds the inference queue's slot.
 */
export async function analyzeDecoded(image: RgbImage, deps: { detector: FaceDetector; model: ModelSource }, opts: AnalyzeOptions = {}): Promise<AnalyzedFrame> {
  const m = deps.model();
  const model = 'reason' in m ? null : m;
  const x = await extractFaces(image, { detector: deps.detector, quality: opts.quality });
  const g = gate(x.faces);
  const te = performance.now();
  const embedding = model && g.kind === 'usable' && opts.embed !== false ? (await model.embedder.net.embedCrops([g.subject.crop]))[0] : undefined;
  const t = x.timings;
  return {
    image,
    width: image.width,
    height: image.height,
    faces: x.faces,
    embedding,
    model,
    timings: { decode: 0, queue: 0, detect: t.detect ?? 0, align: t.align ?? 0, quality: t.quality ?? 0, embed: embedding ? performance.now() - te : 0 },
  };
}

/** Today's path on this thread: decode outside the queue (sharp has its own threads), then detection and embedding one request at a time. */
export class InProcessAnalyzer implements FrameAnalyzer {
  readonly describe = 'in-process';
  readonly workers = 0;
  #decoding = 0;

  constructor(private readonly deps: InProcessDeps) {}

  get decoding(): number {
    return this.#decoding;
  }

  async analyze(bytes: Uint8Array, opts: AnalyzeOptions = {}): Promise<AnalyzedFrame> {
    const t0 = performance.now();
    // Counted until its queue job is queued (same tick as the decrement).
    this.#decoding++;
    let image: RgbImage;
    try {
      image = await decodeFrame(bytes, this.deps.limits, opts.what);
    } finally {
      this.#decoding--;
    }
    const t1 = performance.now();
    let tq = 0;
    const r = await this.deps.queue.run(() => {
      tq = performance.now();
      return analyzeDecoded(image, this.deps, opts);
    });
    return { ...r, timings: { ...r.timings, decode: t1 - t0, queue: tq - t1 } };
  }

  embedCrops(e: Embedder, crops: RgbImage[]): Promise<Float32Array[]> {
    return e.net.embedCrops(crops);
  }

  async prepare(): Promise<void> {}

  release(): void {}

  local<T>(job: () => Promise<T>): Promise<T> {
    return this.deps.queue.run(job);
  }

  async close(): Promise<void> {}
}

/** The error a request gets when no model is loaded. */
export function noModel(reason: string): ServiceError {
  return new ServiceError('no_model', `no face model loaded, so faces cannot be compared: ${reason}`);
}
