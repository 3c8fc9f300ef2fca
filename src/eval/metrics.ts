// Face-verification metrics over pair scores (higher = more similar: cosine similarity, or
// negative Euclidean distance).
//
// Conventions used everywhere in this module:
// - Decision rule: a pair is accepted as "same" iff score > threshold (strictly above).
// - A missing score (NaN, e.g. no face found in one image) is never dropped: it stays in every
//   denominator. Accuracy (best threshold, 10-fold) counts it as a wrong decision whatever the
//   label: a genuine NaN ranks below everything, an impostor NaN above everything. The ROC family
//   (ROC, AUC, EER, TAR@FAR, calibration) counts it as what the kiosk does with a photo without a
//   face: a rejection. So a genuine NaN lowers TAR, and an impostor NaN is a correct reject rather
//   than a false accept at every threshold (which would put a floor under FAR and make TAR at
//   FAR 1e-3 zero as soon as a few impostor pairs lack a face).
// - Scores are sorted once per call; everything else is linear sweeps, so 6,000 pairs with
//   ten folds costs one sort plus ~10 passes.

export type Scores = ArrayLike<number>;
export type Labels = ArrayLike<boolean>;

/** Scores with NaN mapped to the worst rank for its label, plus one ascending sort order. */
interface Ranked {
  n: number;
  score: Float64Array;
  missing: Uint8Array;
  same: Uint8Array;
  asc: Uint32Array;
  genuine: number;
  impostor: number;
  /** How missing scores were ranked (see the module comment). */
  missingAs: MissingAs;
}

type MissingAs = 'wrong' | 'rejected';

function rank(scores: Scores, labels: Labels, missingAs: MissingAs = 'wrong'): Ranked {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`metrics: ${n} scores but ${labels.length} labels`);
  const score = new Float64Array(n);
  const missing = new Uint8Array(n);
  const same = new Uint8Array(n);
  let genuine = 0;
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    same[i] = labels[i] ? 1 : 0;
    genuine += same[i];
    if (Number.isNaN(s)) {
      missing[i] = 1;
      score[i] = same[i] || missingAs === 'rejected' ? -Infinity : Infinity;
    } else if (!Number.isFinite(s)) {
      // ±Infinity would be indistinguishable from the NaN sentinels above.
      throw new Error(`metrics: score ${i} is ${s}; scores must be finite or NaN (missing)`);
    } else {
      score[i] = s;
    }
  }
  const asc = new Uint32Array(n);
  for (let i = 0; i < n; i++) asc[i] = i;
  asc.sort((x, y) => (score[x] < score[y] ? -1 : score[x] > score[y] ? 1 : x - y));
  return { n, score, missing, same, asc, genuine, impostor: n - genuine, missingAs };
}

function requireBothClasses(r: Ranked, what: string): void {
  if (r.genuine === 0 || r.impostor === 0) {
    throw new Error(`${what} needs at least one genuine and one impostor pair (got ${r.genuine} genuine, ${r.impostor} impostor)`);
  }
}

/** Largest double below x: the "accept everything" threshold under the strict > rule. */
function nextDown(x: number): number {
  if (x === 0) return -Number.MIN_VALUE;
  const f = new Float64Array([x]);
  const b = new BigInt64Array(f.buffer);
  b[0] += x > 0 ? -1n : 1n;
  return f[0];
}

/** Midpoint between consecutive distinct scores, so an unseen score near either is judged fairly. */
function midpoint(lo: number, hi: number): number {
  const m = lo + (hi - lo) / 2;
  return m < hi ? m : lo;
}

export interface ThresholdChoice {
  threshold: number;
  /** Fraction of pairs decided correctly at `threshold` (missing scores count as wrong). */
  accuracy: number;
}

/**
 * Accuracy-maximizing threshold over the pairs where `use(i)` holds. Candidates are the
 * midpoints between consecutive distinct finite scores, plus "accept all" (just below the
 * lowest) and "reject all" (the highest). Ties in accuracy go to the lowest threshold, as
 * argmax over an ascending grid does in the usual LFW tools. NaN if no finite scores.
 */
function bestOn(r: Ranked, use: (i: number) => boolean): ThresholdChoice {
  let total = 0;
  let correct = 0; // at "accept all": every genuine with a real score is right
  for (let i = 0; i < r.n; i++) {
    if (!use(i)) continue;
    total++;
    if (r.same[i] && !r.missing[i]) correct++;
  }
  if (total === 0) return { threshold: NaN, accuracy: NaN };
  let best = -1;
  let bestT = NaN;
  let cur = NaN; // value of the group being passed over
  for (let k = 0; k < r.n; k++) {
    const i = r.asc[k];
    if (r.missing[i] || !use(i)) continue;
    const v = r.score[i];
    if (v !== cur) {
      const t = Number.isNaN(cur) ? nextDown(v) : midpoint(cur, v);
      if (correct > best) {
        best = correct;
        bestT = t;
      }
      cur = v;
    }
    // Raising the threshold past v rejects this pair.
    correct += r.same[i] ? -1 : 1;
  }
  if (!Number.isNaN(cur) && correct > best) {
    best = correct;
    bestT = cur;
  }
  if (best < 0) best = correct; // only missing scores: every decision is wrong
  return { threshold: bestT, accuracy: best / total };
}

/** Threshold with the best accuracy on all pairs (decision: score > threshold). */
export function bestThreshold(scores: Scores, labels: Labels): ThresholdChoice {
  return bestOn(rank(scores, labels), () => true);
}

/** Accuracy of the rule score > threshold; NaN scores are always wrong. */
export function accuracyAt(scores: Scores, labels: Labels, threshold: number): number {
  if (labels.length !== scores.length) throw new Error(`metrics: ${scores.length} scores but ${labels.length} labels`);
  let correct = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isNaN(scores[i]) && scores[i] > threshold === Boolean(labels[i])) correct++;
  }
  return scores.length === 0 ? NaN : correct / scores.length;
}

export interface FoldAccuracy {
  /** Mean of the per-fold accuracies. */
  mean: number;
  /** Population standard deviation (divide by k, numpy's default), as LFW tools report. */
  std: number;
  /** Fold ids in ascending order; `accuracies[j]`, `thresholds[j]` belong to `folds[j]`. */
  folds: number[];
  accuracies: number[];
  /** Threshold chosen on the other folds and applied to this one. */
  thresholds: number[];
}

/**
 * LFW protocol: for each fold, choose the accuracy-maximizing threshold on all other folds
 * and measure accuracy on the held-out fold. Works for any number (>= 2) of folds.
 */
export function tenFoldAccuracy(scores: Scores, labels: Labels, folds: ArrayLike<number>): FoldAccuracy {
  return tenFoldOf(rank(scores, labels), folds);
}

function tenFoldOf(r: Ranked, folds: ArrayLike<number>): FoldAccuracy {
  if (folds.length !== r.n) throw new Error(`metrics: ${r.n} scores but ${folds.length} fold ids`);
  const ids = [...new Set(Array.from(folds))].sort((x, y) => x - y);
  if (ids.length < 2) throw new Error(`tenFoldAccuracy needs at least 2 folds, got ${ids.length}`);
  const accuracies: number[] = [];
  const thresholds: number[] = [];
  for (const f of ids) {
    const { threshold } = bestOn(r, (i) => folds[i] !== f);
    let n = 0;
    let correct = 0;
    for (let i = 0; i < r.n; i++) {
      if (folds[i] !== f) continue;
      n++;
      if (!r.missing[i] && r.score[i] > threshold === (r.same[i] === 1)) correct++;
    }
    accuracies.push(correct / n);
    thresholds.push(threshold);
  }
  const mean = accuracies.reduce((a, b) => a + b, 0) / accuracies.length;
  const std = Math.sqrt(accuracies.reduce((a, b) => a + (b - mean) ** 2, 0) / accuracies.length);
  return { mean, std, folds: ids, accuracies, thresholds };
}

export interface Roc {
  /** Non-decreasing, from 0 to 1. */
  fpr: number[];
  /** Non-decreasing, from 0 to 1. */
  tpr: number[];
  /**
   * `fpr[j]`, `tpr[j]` are the rates of score > thresholds[j]. The first point (0, 0) uses the
   * highest score; the last point (1, 1) uses -Infinity. Tied scores form one step, so the
   * curve has one point per distinct score (+1).
   */
  thresholds: number[];
}

function rocOf(r: Ranked): Roc {
  requireBothClasses(r, 'ROC');
  const fpr = [0];
  const tpr = [0];
  const thresholds: number[] = [];
  let tp = 0;
  let fp = 0;
  let k = r.n - 1;
  while (k >= 0) {
    const v = r.score[r.asc[k]];
    thresholds.push(v); // nothing strictly above v has been accepted yet
    while (k >= 0 && r.score[r.asc[k]] === v) {
      if (r.same[r.asc[k]]) tp++;
      else fp++;
      k--;
    }
    fpr.push(fp / r.impostor);
    tpr.push(tp / r.genuine);
  }
  thresholds.push(-Infinity);
  return { fpr, tpr, thresholds };
}

export function rocCurve(scores: Scores, labels: Labels): Roc {
  return rocOf(rank(scores, labels, 'rejected'));
}

function aucOf(r: Ranked): number {
  // Trapezoids over tie groups = Mann-Whitney U with ties counted as half a win.
  requireBothClasses(r, 'AUC');
  let area = 0;
  let tp = 0;
  let k = r.n - 1;
  while (k >= 0) {
    const v = r.score[r.asc[k]];
    let dtp = 0;
    let dfp = 0;
    while (k >= 0 && r.score[r.asc[k]] === v) {
      if (r.same[r.asc[k]]) dtp++;
      else dfp++;
      k--;
    }
    area += dfp * (tp + dtp / 2);
    tp += dtp;
  }
  return area / (r.genuine * r.impostor);
}

/** Area under the ROC curve (trapezoid rule; tied genuine/impostor scores count half). */
export function auc(scores: Scores, labels: Labels): number {
  return aucOf(rank(scores, labels, 'rejected'));
}

export interface EqualErrorRate {
  /** Where FAR = FRR, linearly interpolated along the ROC segment that crosses. */
  eer: number;
  /** Threshold (score > threshold) of the ROC point closest to the crossing. */
  threshold: number;
}

function eerOf(roc: Roc): EqualErrorRate {
  const { fpr, tpr, thresholds } = roc;
  let prev = 1; // FRR - FAR at (0, 0)
  for (let j = 1; j < fpr.length; j++) {
    const d = 1 - tpr[j] - fpr[j];
    if (d <= 0) {
      const t = prev / (prev - d);
      const eer = fpr[j - 1] + t * (fpr[j] - fpr[j - 1]);
      return { eer, threshold: t < 0.5 ? thresholds[j - 1] : thresholds[j] };
    }
    prev = d;
  }
  return { eer: fpr[fpr.length - 1], threshold: thresholds[thresholds.length - 1] }; // unreachable: last d = -1
}

export function eer(scores: Scores, labels: Labels): EqualErrorRate {
  return eerOf(rocOf(rank(scores, labels, 'rejected')));
}

export interface TarAtFar {
  /** Fraction of genuine pairs with score > threshold. */
  tar: number;
  /** Fraction of impostor pairs with score > threshold (<= the requested FAR). */
  far: number;
  threshold: number;
}

/**
 * Convention: with K = floor(far * impostors), the threshold is the (K+1)-th highest
 * impostor score, i.e. the lowest score such that at most K impostors lie strictly above it
 * (FAR <= far). TAR is the fraction of genuine pairs strictly above it. If far >= 1 the
 * threshold is -Infinity. With few impostors K may be 0: then the threshold is the highest
 * impostor score and FAR is exactly 0. Missing impostor scores rank highest; if there are
 * more of them than K the target is unreachable: threshold +Infinity, TAR 0, and `far`
 * reports the actual (higher) rate.
 */
function tarAtFarOf(r: Ranked, far: number): TarAtFar {
  requireBothClasses(r, 'TAR@FAR');
  if (!(far >= 0)) throw new Error(`TAR@FAR: far must be >= 0, got ${far}`);
  const allowed = Math.floor(far * r.impostor + 1e-9);
  let threshold = -Infinity;
  let seen = 0;
  for (let k = r.n - 1; k >= 0 && allowed < r.impostor; k--) {
    const i = r.asc[k];
    if (r.same[i]) continue;
    if (seen === allowed) {
      threshold = r.score[i];
      break;
    }
    seen++;
  }
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < r.n; i++) {
    // Missing genuine scores are never accepted; missing impostor scores are accepted only when
    // missing counts as wrong (never, for the ROC family: no face means no entry).
    if (r.same[i]) tp += !r.missing[i] && r.score[i] > threshold ? 1 : 0;
    else fp += r.missing[i] ? (r.missingAs === 'wrong' ? 1 : 0) : r.score[i] > threshold ? 1 : 0;
  }
  return { tar: tp / r.genuine, far: fp / r.impostor, threshold };
}

export function tarAtFar(scores: Scores, labels: Labels, far: number): TarAtFar {
  return tarAtFarOf(rank(scores, labels, 'rejected'), far);
}

/** Euclidean distance between unit vectors with cosine similarity c: sqrt(2 - 2c). */
export function cosineToEuclidean(c: number): number {
  return Math.sqrt(Math.max(0, 2 - 2 * c));
}

export interface VerificationInput {
  /** Cosine similarity per pair (NaN = a face was missing). */
  cosine: Scores;
  labels: Labels;
  folds: ArrayLike<number>;
  failedImages: number;
  msPerImage: number;
}

/** Exactly the keys `facegate eval --json` prints. */
export interface VerificationSummary {
  accuracy: number;
  accuracy_std: number;
  auc: number;
  eer: number;
  tar_at_far: { '1e-2': number; '1e-3': number };
  threshold_cosine: number;
  threshold_euclidean: number;
  pairs: number;
  failed_images: number;
  ms_per_image: number;
}

/**
 * accuracy / accuracy_std: 10-fold protocol (population std). Thresholds: best accuracy on
 * all pairs, accept iff cosine > threshold_cosine, equivalently distance < threshold_euclidean.
 */
export function summarizeVerification(input: VerificationInput): VerificationSummary {
  const r = rank(input.cosine, input.labels);
  const roc = rank(input.cosine, input.labels, 'rejected');
  const folds = tenFoldOf(r, input.folds);
  const best = bestOn(r, () => true);
  return {
    accuracy: folds.mean,
    accuracy_std: folds.std,
    auc: aucOf(roc),
    eer: eerOf(rocOf(roc)).eer,
    tar_at_far: { '1e-2': tarAtFarOf(roc, 1e-2).tar, '1e-3': tarAtFarOf(roc, 1e-3).tar },
    threshold_cosine: best.threshold,
    threshold_euclidean: cosineToEuclidean(best.threshold),
    pairs: r.n,
    failed_images: input.failedImages,
    ms_per_image: input.msPerImage,
  };
}

/** Recommended operating points for meta.json (cosine scores; accept iff cosine > cosine threshold). */
export interface CalibratedThresholds {
  at_far_1e3: { cosine: number; euclidean: number; tar: number; far: number };
  best_accuracy: { cosine: number; euclidean: number; accuracy: number };
  genuine_pairs: number;
  impostor_pairs: number;
}

export function calibrateThresholds(genuine: Scores, impostor: Scores): CalibratedThresholds {
  const scores = [...Array.from(genuine), ...Array.from(impostor)];
  const labels = scores.map((_, i) => i < genuine.length);
  const r = rank(scores, labels);
  const strict = tarAtFarOf(rank(scores, labels, 'rejected'), 1e-3);
  const best = bestOn(r, () => true);
  return {
    at_far_1e3: { cosine: strict.threshold, euclidean: cosineToEuclidean(strict.threshold), tar: strict.tar, far: strict.far },
    best_accuracy: { cosine: best.threshold, euclidean: cosineToEuclidean(best.threshold), accuracy: best.accuracy },
    genuine_pairs: genuine.length,
    impostor_pairs: impostor.length,
  };
}
