// @vladmandic/face-api as a reference ("peer") embedder and as the distillation teacher, run on
// OUR tfjs-core instance and backend. Its Node builds `require("@tensorflow/tfjs")` (the union
// package, not installed here) and would bundle a second tfjs otherwise; its ESM builds import
// fixed dist paths. So we evaluate the CommonJS node-wasm build with a `require` that hands it
// our tfjs-core (every op it uses lives in core). Weights are read from the package folder.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import * as tf from '@tensorflow/tfjs-core';
import type * as FaceApiTypes from '@vladmandic/face-api';
import { initBackend } from '../engine/backend.js';
import { registerChainedOps } from '../engine/tfjs-core-extras.js';
import { ARCFACE_TEMPLATE_112 } from '../vision/align.js';
import { decodeImage } from '../vision/decode.js';
import type { RgbImage } from '../vision/types.js';

export type FaceApi = typeof FaceApiTypes;

const require = createRequire(import.meta.url);

/** Folder of the face-api package (its exports map is absent, so resolving the main file is fine). */
function packageDir(): string {
  return path.resolve(path.dirname(require.resolve('@vladmandic/face-api')), '..');
}

export function faceApiModelDir(): string {
  return path.join(packageDir(), 'model');
}

let loaded: Promise<FaceApi> | undefined;

/** The face-api module bound to this process's tfjs-core (loaded once per thread). */
export function loadFaceApi(): Promise<FaceApi> {
  loaded ??= (async () => {
    await initBackend();
    await registerChainedOps();
    const file = path.join(packageDir(), 'dist', 'face-api.node-wasm.js');
    const source = await readFile(file, 'utf8');
    // ESM `import * as tf` of tfjs-core resolves to the same CommonJS main file (no exports map),
    // so this require returns the very engine our backend was registered with.
    const core = require('@tensorflow/tfjs-core') as typeof tf;
    if (core.engine() !== tf.engine()) throw new Error('face-api: tfjs-core resolved to a second instance');
    const own = createRequire(file);
    const shimRequire = (id: string): unknown => {
      if (id === '@tensorflow/tfjs') return core;
      // Only re-exported by face-api (setWasmPaths etc.); the backend is already ours.
      if (id === '@tensorflow/tfjs-backend-wasm') return {};
      return own(id);
    };
    const mod = { exports: {} as Record<string, unknown> };
    const run = vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file });
    run(mod.exports, shimRequire, mod, file, path.dirname(file));
    return mod.exports as unknown as FaceApi;
  })();
  loaded.catch(() => (loaded = undefined));
  return loaded;
}

/** face-api descriptors are not unit length; cosine of the normalised ones is our score. */
export function unitNormalize(v: ArrayLike<number>): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const k = s > 0 ? 1 / Math.sqrt(s) : 0;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * k;
  return out;
}

/**
 * How an ArcFace-aligned 112x112 crop is framed for face-api's 150x150 recognition input:
 * 'crop' = the whole crop resized; 'dlib' = the square face-api itself cuts around the eyes and
 * mouth (its `useDlibAlignment` box), computed from the ArcFace template and zero-padded where it
 * leaves the crop (it reaches below the chin line of the 112 crop).
 */
export type CropFraming = 'crop' | 'dlib';

/**
 * How our crops are shown to face-api by default, picked by `facegate teacher --measure-framing`:
 * 320 prepared crops of 40 training identities (glint, celeba, google, faces94), all 51k pairs:
 * 'dlib' (face-api's own eye-mouth box, black below the crop) AUC 0.997, TAR@FAR=1e-2 0.95;
 * 'crop' (whole 112 crop resized) AUC 0.905, TAR 0.52. face-api was trained on such chips.
 */
export const DEFAULT_FRAMING: CropFraming = 'dlib';

/** face-api's dlib box (size = mean eye-to-mouth distance / 0.45) for the ArcFace template, in crop pixels. */
export function dlibBoxForTemplate(size = 112): { x: number; y: number; side: number } {
  const k = size / 112;
  const [le, re, , ml, mr] = ARCFACE_TEMPLATE_112.map(([x, y]) => [x * k, y * k] as const);
  const mouth = [(ml![0] + mr![0]) / 2, (ml![1] + mr![1]) / 2] as const;
  const dist = (p: readonly [number, number]) => Math.hypot(mouth[0] - p[0], mouth[1] - p[1]);
  const side = (dist(le!) + dist(re!)) / 2 / 0.45;
  const cx = (le![0] + re![0] + mouth[0]) / 3;
  const cy = (le![1] + re![1] + mouth[1]) / 3;
  return { x: cx - 0.5 * side, y: cy - 0.43 * side, side };
}

const RECOGNITION_SIZE = 150;

/** Work for face-api: whole photos (its detector finds the face) or ready aligned crops. */
export type FaceApiTask = { mode: 'photo'; files: string[] } | { mode: 'crop'; files: string[]; framing: CropFraming };

export interface FaceApiOutcome {
  file: string;
  /** Unit 128-d descriptor; null when the image could not be decoded or has no face. */
  descriptor: Float32Array | null;
  /** Why descriptor is null ('no face', or the decode error). */
  reason?: string;
  /** Milliseconds of this thread spent on the image (decode included). */
  ms: number;
}

export interface FaceApiPeerOptions {
  /** Load SSD + landmarks too (needed for photos). Default true. */
  withDetector?: boolean;
  /** SSD score a detection needs (default DEFAULT_MIN_CONFIDENCE). */
  minConfidence?: number;
}

/**
 * SSD score threshold, as face-api's Node demos set it (node-wasm.js, node-match.js; the library
 * default is 0.5). Measured on dev/celeba-pairs (990 photos): 0.5 finds no face in 23, 0.1 in 4,
 * and the highest-scoring face is the same either way, so the lower threshold only rescues photos.
 */
export const DEFAULT_MIN_CONFIDENCE = 0.1;

/**
 * face-api's pipeline on our backend: SSD MobileNet v1 + 68 landmarks + the 128-d ResNet
 * recognition net (`withDetector: false` loads only the recognition net, for crops).
 */
export class FaceApiPeer {
  private constructor(
    readonly api: FaceApi,
    readonly minConfidence: number,
  ) {}

  static async create(opts: FaceApiPeerOptions = {}): Promise<FaceApiPeer> {
    const api = await loadFaceApi();
    const dir = faceApiModelDir();
    const nets = api.nets;
    if (!nets.faceRecognitionNet.isLoaded) await nets.faceRecognitionNet.loadFromDisk(dir);
    if (opts.withDetector !== false) {
      if (!nets.ssdMobilenetv1.isLoaded) await nets.ssdMobilenetv1.loadFromDisk(dir);
      if (!nets.faceLandmark68Net.isLoaded) await nets.faceLandmark68Net.loadFromDisk(dir);
    }
    return new FaceApiPeer(api, opts.minConfidence ?? DEFAULT_MIN_CONFIDENCE);
  }

  /**
   * Unit descriptor of the face face-api's own detector scores highest in a photo, or null when
   * it finds none: face-api's `detectSingleFace(...).withFaceLandmarks().withFaceDescriptor()`,
   * the face cut by its dlib-style box from the 68 landmarks.
   */
  async describePhoto(img: RgbImage): Promise<Float32Array | null> {
    const api = this.api;
    const input = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
    try {
      const asApi = input as unknown as FaceApiTypes.tf.Tensor3D;
      const opts = new api.SsdMobilenetv1Options({ minConfidence: this.minConfidence });
      const best = await api.detectSingleFace(asApi, opts).withFaceLandmarks();
      if (!best) return null;
      const box = best.landmarks.align(null, { useDlibAlignment: true });
      // extractFaceTensors drops boxes that lie wholly outside the image after clipping.
      const [face] = await api.extractFaceTensors(asApi, [box]);
      if (!face) return null;
      try {
        const d = (await api.nets.faceRecognitionNet.computeFaceDescriptor(face)) as Float32Array;
        // face-api answers an empty crop with an all-zero descriptor: no face either.
        return d.some((x) => x !== 0) ? unitNormalize(d) : null;
      } finally {
        face.dispose();
      }
    } finally {
      input.dispose();
    }
  }

  /** Runs a task image by image (crops in one batch); per-image failures are outcomes, not throws. */
  async run(task: FaceApiTask): Promise<FaceApiOutcome[]> {
    if (task.mode === 'photo') {
      const out: FaceApiOutcome[] = [];
      for (const file of task.files) {
        const t0 = performance.now();
        try {
          const descriptor = await this.describePhoto(await decodeImage(file));
          out.push({ file, descriptor, ...(descriptor ? {} : { reason: 'no face' }), ms: performance.now() - t0 });
        } catch (err) {
          out.push({ file, descriptor: null, reason: errorReason(err), ms: performance.now() - t0 });
        }
      }
      return out;
    }
    const t0 = performance.now();
    const decoded: { file: string; img: RgbImage | null; reason?: string }[] = [];
    for (const file of task.files) {
      try {
        decoded.push({ file, img: await decodeImage(file) });
      } catch (err) {
        decoded.push({ file, img: null, reason: errorReason(err) });
      }
    }
    const ok = decoded.filter((d) => d.img);
    const ds = await this.describeCrops(ok.map((d) => d.img!), task.framing);
    const ms = (performance.now() - t0) / task.files.length;
    const byFile = new Map(ok.map((d, i) => [d.file, ds[i]!]));
    return decoded.map((d) => ({ file: d.file, descriptor: byFile.get(d.file) ?? null, ...(d.reason ? { reason: d.reason } : {}), ms }));
  }

  /** Unit descriptors of ArcFace-aligned crops (any square size), framed as `framing` says. */
  async describeCrops(crops: RgbImage[], framing: CropFraming = DEFAULT_FRAMING, batchSize = 8): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const net = this.api.nets.faceRecognitionNet;
    for (let i = 0; i < crops.length; i += batchSize) {
      const chunk = crops.slice(i, i + batchSize);
      const faces = chunk.map((c) => tf.tidy(() => frameCrop(c, framing)));
      try {
        // An array input makes face-api treat it as a batch (one forward pass for all).
        const ds = (await net.computeFaceDescriptor(faces as unknown as FaceApiTypes.tf.Tensor3D[])) as Float32Array[];
        for (const d of ds) out.push(unitNormalize(d));
      } finally {
        tf.dispose(faces);
      }
    }
    return out;
  }
}

function errorReason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

/** [150,150,3] float tensor in 0..255 ready for face-api's recognition net. */
function frameCrop(c: RgbImage, framing: CropFraming): tf.Tensor3D {
  const img = tf.cast(tf.tensor4d(c.data, [1, c.height, c.width, 3], 'int32'), 'float32');
  if (framing === 'crop') return tf.squeeze(tf.image.resizeBilinear(img, [RECOGNITION_SIZE, RECOGNITION_SIZE]), [0]);
  // Box in normalised [y1, x1, y2, x2] with pixel centres on integers (cropAndResize's convention);
  // parts outside the crop are filled with black, as face-api's own square padding is.
  const { x, y, side } = dlibBoxForTemplate(c.width);
  const nx = c.width - 1;
  const ny = c.height - 1;
  const box = tf.tensor2d([[y / ny, x / nx, (y + side) / ny, (x + side) / nx]]);
  return tf.squeeze(tf.image.cropAndResize(img, box, [0], [RECOGNITION_SIZE, RECOGNITION_SIZE], 'bilinear', 0), [0]);
}
