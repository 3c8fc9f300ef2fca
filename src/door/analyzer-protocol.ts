// The messages between AnalyzerPool (main thread) and its inference workers (analyzer-worker.ts).
import type * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../model/config.js';
import type { ServiceErrorCode } from '../service/errors.js';
import type { ExtractedFace } from '../vision/extract.js';
import type { QualityConfig } from '../vision/quality.js';
import type { RgbImage } from '../vision/types.js';

/** What every worker is started with. */
export interface WorkerStart {
  detector: string;
  limits: { maxImageBytes: number; maxPixels: number };
  /** Frames detected in one round whose subjects are embedded in one batch. */
  maxBatch: number;
}

/** A model as the main thread loaded it: its exact weights, so every worker embeds as it would. */
export interface ModelPayload {
  dir: string;
  modelId: string;
  config: ModelConfig;
  weights: Uint8Array;
  specs: tf.io.WeightsManifestEntry[];
  foldBatchNorm: boolean;
}

export type ToWorker =
  | { type: 'load'; id: number; key: number; model: ModelPayload }
  | { type: 'release'; key: number }
  | { type: 'analyze'; id: number; bytes: Uint8Array; embed: boolean; image: boolean; quality: Partial<QualityConfig>; what: string | undefined; model: number | null }
  | { type: 'embed'; id: number; model: number; crops: RgbImage[] }
  | { type: 'memory'; id: number }
  | { type: 'crash' }
  | { type: 'stop' };

export interface WorkerAnalysis {
  /** Only when asked for (the main thread needs the pixels for snapshots and liveness only). */
  image: RgbImage | undefined;
  width: number;
  height: number;
  faces: ExtractedFace[];
  embedding: Float32Array | undefined;
  /** ms; wait = decoded, waiting for the worker's earlier frames. */
  timings: { decode: number; wait: number; detect: number; align: number; quality: number; embed: number };
}

export interface WorkerMemory {
  numTensors: number;
  numBytes: number;
  wasmBytes: number;
  /** Models loaded in the worker. */
  models: number;
}

export type WorkerError = { kind: 'service'; code: ServiceErrorCode; message: string; details?: Record<string, unknown> } | { kind: 'internal'; message: string; stack?: string };

export type FromWorker =
  | { type: 'ready'; backend: string }
  | { type: 'failed'; message: string }
  | { type: 'ok'; id: number; result: unknown }
  | { type: 'error'; id: number; error: WorkerError };
