// `facegate eval`: verification accuracy of our model (and optionally face-api, same pairs, same
// metric code) on a pairs file, from raw photos or ready crops.
import { writeFile, mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { loadModel } from '../model/io.js';
import type { FaceNet } from '../model/facenet.js';
import { rocChart, writeChart } from '../report/charts.js';
import type { DetectorKind } from '../vision/index.js';
import { embedWithFaceApi, embedWithModel, type ImageEmbeddings } from './embed-images.js';
import { openFaceApi } from './faceapi-pool.js';
import { rocCurve, summarizeVerification, type Roc, type VerificationSummary } from './metrics.js';
import { readPairs, type Pair } from './pairs.js';

export const DEFAULT_MODEL_DIR = 'models/facegate-default';
export type PeerName = 'face-api';
export const PEERS: readonly PeerName[] = ['face-api'];

export interface EvaluateOptions {
  pairs: string;
  root: string;
  /** Model folder (default models/facegate-default); ignored when `net` is given. */
  model?: string;
  /** An already loaded embedder (tests, the trainer). */
  net?: FaceNet;
  /** Name shown for our model (default: the model folder's name). */
  name?: string;
  aligned?: boolean;
  flip?: boolean;
  peer?: PeerName;
  detector?: DetectorKind;
  /** face-api's SSD score threshold (default DEFAULT_MIN_CONFIDENCE). */
  peerMinConfidence?: number;
  /** Threads for the peer (default one per core; 0 = this thread). */
  peerWorkers?: number;
  onProgress?: (side: string, done: number, total: number) => void;
}

export interface SideResult {
  name: string;
  summary: VerificationSummary;
  /** Cosine similarity per pair, in pairs-file order; NaN where an image failed. */
  cosine: Float64Array;
  roc: Roc;
  failed: { file: string; reason: string }[];
}

export interface Evaluation {
  pairs: Pair[];
  /** Distinct images in the pairs. */
  images: number;
  ours: SideResult;
  peer?: SideResult;
  seconds: number;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Cosine per pair; NaN when either image has no embedding (a wrong decision in the metrics). */
export function pairCosines(pairs: Pair[], byFile: Map<string, Float32Array | null>): Float64Array {
  return Float64Array.from(pairs, (p) => {
    const a = byFile.get(p.a);
    const b = byFile.get(p.b);
    // Clamp float32 round-off: |cos| of unit vectors cannot exceed 1.
    return a && b ? Math.max(-1, Math.min(1, dot(a, b))) : Number.NaN;
  });
}

function side(name: string, pairs: Pair[], emb: ImageEmbeddings): SideResult {
  const cosine = pairCosines(pairs, emb.byFile);
  const labels = pairs.map((p) => p.same);
  const summary = summarizeVerification({
    cosine,
    labels,
    folds: pairs.map((p) => p.fold),
    failedImages: emb.failed.length,
    msPerImage: emb.msPerImage,
  });
  return { name, summary, cosine, roc: rocCurve(cosine, labels), failed: emb.failed };
}

export async function evaluate(opts: EvaluateOptions): Promise<Evaluation> {
  const t0 = performance.now();
  await initBackend();
  const pairs = await readPairs(opts.pairs, opts.root);
  if (pairs.length === 0) throw new Error(`${opts.pairs}: no pairs`);
  const files = [...new Set(pairs.flatMap((p) => [p.a, p.b]))].sort();

  let net = opts.net;
  let name = opts.name;
  const modelDir = opts.model ?? DEFAULT_MODEL_DIR;
  if (!net) {
    net = (await loadModel(modelDir)).net;
    name ??= path.basename(path.resolve(modelDir));
  }
  let ours: SideResult;
  try {
    const emb = await embedWithModel(files, net, {
      aligned: opts.aligned,
      flip: opts.flip,
      detector: opts.detector,
      onProgress: (d, n) => opts.onProgress?.('ours', d, n),
    });
    ours = side((name ?? 'ours') + (opts.flip ? ' +flip' : ''), pairs, emb);
  } finally {
    if (!opts.net) net.dispose();
  }

  let peer: SideResult | undefined;
  if (opts.peer) {
    if (!PEERS.includes(opts.peer)) throw new Error(`unknown peer "${opts.peer}" (known: ${PEERS.join(', ')})`);
    const workers = Math.min(opts.peerWorkers ?? availableParallelism(), files.length);
    const runner = await openFaceApi({ workers, withDetector: !opts.aligned, minConfidence: opts.peerMinConfidence });
    try {
      const emb = await embedWithFaceApi(files, runner, { aligned: opts.aligned, onProgress: (d, n) => opts.onProgress?.(opts.peer!, d, n) });
      peer = side(opts.peer, pairs, emb);
    } finally {
      await runner.close();
    }
  }
  return { pairs, images: files.length, ours, peer, seconds: (performance.now() - t0) / 1000 };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Plain-text table: one column per embedder, one row per metric. */
export function formatEvaluation(ev: Evaluation): string {
  const sides = [ev.ours, ...(ev.peer ? [ev.peer] : [])];
  const rows: [string, (s: VerificationSummary) => string][] = [
    ['10-fold accuracy', (s) => `${pct(s.accuracy)} ± ${(100 * s.accuracy_std).toFixed(1)}`],
    ['AUC', (s) => s.auc.toFixed(4)],
    ['EER', (s) => pct(s.eer)],
    ['TAR @ FAR=1e-2', (s) => pct(s.tar_at_far['1e-2'])],
    ['TAR @ FAR=1e-3', (s) => pct(s.tar_at_far['1e-3'])],
    ['threshold (cosine >)', (s) => s.threshold_cosine.toFixed(4)],
    ['threshold (euclidean <)', (s) => s.threshold_euclidean.toFixed(4)],
    ['pairs', (s) => String(s.pairs)],
    ['failed images', (s) => String(s.failed_images)],
    ['ms / image', (s) => s.ms_per_image.toFixed(0)],
  ];
  const lines = [`| metric | ${sides.map((s) => s.name).join(' | ')} |`, `|---|${sides.map(() => '---:').join('|')}|`];
  for (const [label, f] of rows) lines.push(`| ${label} | ${sides.map((s) => f(s.summary)).join(' | ')} |`);
  lines.push(`${ev.pairs.length} pairs over ${ev.images} images; ${ev.seconds.toFixed(0)} s`);
  return lines.join('\n');
}

export interface WrittenFiles {
  json?: string;
  peerJson?: string;
  svg?: string;
  png?: string;
}

/**
 * `json`: our summary, exactly the VerificationSummary keys; the peer's goes beside it as
 * `<json without .json>.<peer>.json`. ROC (both curves) at `roc` (a base path), or beside the JSON.
 */
export async function writeEvaluation(ev: Evaluation, out: { json?: string; roc?: string }): Promise<WrittenFiles> {
  const written: WrittenFiles = {};
  if (out.json) {
    await mkdir(path.dirname(path.resolve(out.json)), { recursive: true });
    await writeFile(out.json, JSON.stringify(ev.ours.summary, null, 2) + '\n');
    written.json = out.json;
    if (ev.peer) {
      written.peerJson = `${out.json.replace(/\.json$/i, '')}.${ev.peer.name}.json`;
      await writeFile(written.peerJson, JSON.stringify(ev.peer.summary, null, 2) + '\n');
    }
  }
  const rocBase = out.roc ?? (out.json ? `${out.json.replace(/\.json$/i, '')}.roc` : undefined);
  if (rocBase) {
    const sides = [ev.ours, ...(ev.peer ? [ev.peer] : [])];
    // AUCs go in the title: the legend truncates long labels.
    const curves = sides.map((s) => ({ label: s.name, fpr: s.roc.fpr, tpr: s.roc.tpr }));
    const title = `ROC, ${ev.pairs.length} pairs; AUC ${sides.map((s) => `${s.name} ${s.summary.auc.toFixed(3)}`).join(', ')}`;
    const chart = await rocChart(curves, { title });
    const { svgPath, pngPath } = await writeChart(chart.svg, rocBase);
    written.svg = svgPath;
    written.png = pngPath;
  }
  return written;
}
