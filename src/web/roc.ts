// The threshold preview on the settings page: what a threshold means on the model's dev ROC, read
// from its meta.json. The ROC is the shape src/eval/metrics.ts rocCurve() returns (cosine scores:
// fpr[j], tpr[j] are the rates of score > thresholds[j]; JSON writes -Infinity as null), under
// meta.roc or meta.metrics.roc.
import type { ModelMeta } from '../model/io.js';

export interface RocCurve {
  fpr: number[];
  tpr: number[];
  thresholds: number[];
}

export interface OperatingPoint {
  /** Impostor pairs accepted. */
  far: number;
  /** Genuine pairs accepted. */
  tar: number;
  /** The threshold as a cosine similarity (a Euclidean one is converted on unit vectors). */
  cosine: number;
}

const isNums = (a: unknown): a is unknown[] => Array.isArray(a) && a.length > 1;

export function rocOf(meta: ModelMeta | undefined): RocCurve | null {
  if (!meta) return null;
  const metrics = meta.metrics as { roc?: unknown } | undefined;
  const r = (meta.roc ?? metrics?.roc) as { fpr?: unknown; tpr?: unknown; thresholds?: unknown } | undefined;
  if (!r || !isNums(r.fpr) || !isNums(r.tpr) || !isNums(r.thresholds)) return null;
  if (r.fpr.length !== r.tpr.length || r.thresholds.length !== r.fpr.length) return null;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : NaN);
  const fpr = r.fpr.map(num);
  const tpr = r.tpr.map(num);
  if (fpr.some(Number.isNaN) || tpr.some(Number.isNaN)) return null;
  const thresholds = r.thresholds.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : -Infinity));
  return { fpr, tpr, thresholds };
}

/** Cosine similarity equivalent of a distance between unit vectors: d^2 = 2 - 2c. */
export function euclideanToCosine(d: number): number {
  return 1 - (d * d) / 2;
}

/**
 * FAR and TAR when accepting score >= threshold: the ROC point of the largest ROC threshold below
 * it (the rates of score > that one are exactly those of score >= the chosen threshold).
 */
export function operatingPoint(roc: RocCurve, metric: 'cosine' | 'euclidean', threshold: number): OperatingPoint {
  const cosine = metric === 'cosine' ? threshold : euclideanToCosine(threshold);
  let j = -1;
  for (let i = 0; i < roc.thresholds.length; i++) {
    if (roc.thresholds[i]! < cosine && (j < 0 || roc.thresholds[i]! > roc.thresholds[j]!)) j = i;
  }
  // Nothing below: the threshold is under every score, everything is accepted.
  if (j < 0) return { far: 1, tar: 1, cosine };
  return { far: roc.fpr[j]!, tar: roc.tpr[j]!, cosine };
}
