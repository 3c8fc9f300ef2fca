import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracyAt,
  auc,
  bestThreshold,
  calibrateThresholds,
  cosineToEuclidean,
  eer,
  rocCurve,
  summarizeVerification,
  tarAtFar,
  tenFoldAccuracy,
} from '../src/eval/metrics.js';
import { calibrateOnPairs } from '../src/train/validate.js';

const close = (actual: number, expected: number, eps = 1e-12) =>
  assert.ok(Math.abs(actual - expected) <= eps, `expected ${expected}, got ${actual}`);

// Set A: genuine 0.9, 0.7, 0.4; impostor 0.8, 0.3, 0.2.
// Descending: 0.9G 0.8I 0.7G 0.4G 0.3I 0.2I.
const A = { scores: [0.9, 0.8, 0.7, 0.4, 0.3, 0.2], labels: [true, false, true, true, false, false] };

test('ROC of set A: one point per distinct score, thresholds use score > t', () => {
  const roc = rocCurve(A.scores, A.labels);
  assert.deepEqual(roc.fpr, [0, 0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 1]);
  assert.deepEqual(roc.tpr, [0, 1 / 3, 1 / 3, 2 / 3, 1, 1, 1]);
  assert.deepEqual(roc.thresholds, [0.9, 0.8, 0.7, 0.4, 0.3, 0.2, -Infinity]);
});

test('AUC of set A = 7/9 (0.9 beats 3 impostors, 0.7 and 0.4 beat 2 each)', () => {
  close(auc(A.scores, A.labels), 7 / 9);
});

test('AUC counts tied genuine/impostor scores as half', () => {
  // G 0.5, 0.5; I 0.5, 0.2: two ties (1/2 each) + two wins = 3 of 4.
  close(auc([0.5, 0.5, 0.5, 0.2], [true, true, false, false]), 0.75);
  // ROC has the tie as one diagonal step: (0,0) -> (0.5,1) -> (1,1).
  const roc = rocCurve([0.5, 0.5, 0.5, 0.2], [true, true, false, false]);
  assert.deepEqual(roc.fpr, [0, 0.5, 1]);
  assert.deepEqual(roc.tpr, [0, 1, 1]);
});

test('EER of set A is exactly 1/3 at threshold 0.4 (accept 0.9, 0.8, 0.7)', () => {
  // FRR - FAR along the ROC: 1, 2/3, 1/3, 0 -> crossing at the point (1/3, 2/3).
  const e = eer(A.scores, A.labels);
  close(e.eer, 1 / 3);
  assert.equal(e.threshold, 0.4);
});

test('EER interpolates along a tied segment', () => {
  // G 0.8, 0.5; I 0.5, 0.1. Points (0,.5) -> (.5,1): FAR 0->.5, FRR .5->0, equal at .25.
  close(eer([0.8, 0.5, 0.5, 0.1], [true, true, false, false]).eer, 0.25);
});

test('TAR@FAR on set A follows the (K+1)-th highest impostor convention', () => {
  // far 0 -> K=0: threshold = top impostor 0.8; only 0.9 genuine is above.
  assert.deepEqual(tarAtFar(A.scores, A.labels, 0), { tar: 1 / 3, far: 0, threshold: 0.8 });
  assert.deepEqual(tarAtFar(A.scores, A.labels, 1e-3), { tar: 1 / 3, far: 0, threshold: 0.8 });
  // far 1/3 -> K=1: threshold = second impostor 0.3; all genuine above, impostor 0.8 too.
  assert.deepEqual(tarAtFar(A.scores, A.labels, 1 / 3), { tar: 1, far: 1 / 3, threshold: 0.3 });
  assert.deepEqual(tarAtFar(A.scores, A.labels, 0.5), { tar: 1, far: 1 / 3, threshold: 0.3 });
  assert.deepEqual(tarAtFar(A.scores, A.labels, 1), { tar: 1, far: 1, threshold: -Infinity });
});

test('TAR@FAR never exceeds the FAR budget when impostor scores tie', () => {
  // Impostors 0.9, 0.8, 0.8, 0.5; far 0.5 -> K=2 -> threshold 0.8 (3rd highest); only 0.9 above.
  const r = tarAtFar([0.95, 0.85, 0.9, 0.8, 0.8, 0.5], [true, true, false, false, false, false], 0.5);
  assert.deepEqual(r, { tar: 1, far: 0.25, threshold: 0.8 });
});

test('bestThreshold on set A: midpoint 0.35 gives 5/6', () => {
  // Ascending sweep: accept-all 3/6, t=.25 4/6, t=.35 5/6, t=.55 4/6, t=.75 3/6, t=.85 4/6, reject-all 3/6.
  const b = bestThreshold(A.scores, A.labels);
  close(b.threshold, 0.35, 1e-15);
  close(b.accuracy, 5 / 6);
  close(accuracyAt(A.scores, A.labels, b.threshold), 5 / 6);
});

// Three folds, one genuine + one impostor each:
//   fold 0: G 0.9, I 0.1    fold 1: G 0.6, I 0.5    fold 2: G 0.45, I 0.58
// Hold out 0: train 0.45G 0.5I 0.58I 0.6G -> sweep 2,1,2,3,2 of 4 -> t = (0.58+0.6)/2 = 0.59; test: both right -> 1.
// Hold out 1: train 0.1I 0.45G 0.58I 0.9G -> sweep 2,3,2,3,2 -> lowest best t = 0.275; test: 0.5I accepted -> 0.5.
// Hold out 2: train 0.1I 0.5I 0.6G 0.9G -> t = 0.55 (4/4); test: 0.45G rejected, 0.58I accepted -> 0.
// Mean 0.5; population std sqrt((0.25 + 0 + 0.25) / 3) = sqrt(1/6) (sample std would be 0.5).
const F = {
  scores: [0.9, 0.1, 0.6, 0.5, 0.45, 0.58],
  labels: [true, false, true, false, true, false],
  folds: [0, 0, 1, 1, 2, 2],
};

test('k-fold accuracy picks thresholds on the other folds (hand-computed, 3 folds)', () => {
  const r = tenFoldAccuracy(F.scores, F.labels, F.folds);
  assert.deepEqual(r.folds, [0, 1, 2]);
  assert.deepEqual(r.accuracies, [1, 0.5, 0]);
  close(r.thresholds[0], 0.59, 1e-15);
  close(r.thresholds[1], 0.275, 1e-15);
  close(r.thresholds[2], 0.55, 1e-15);
  close(r.mean, 0.5);
  close(r.std, Math.sqrt(1 / 6));
});

test('k-fold accuracy: perfect separation gives 1 +- 0', () => {
  const scores = [0.9, 0.1, 0.8, 0.2, 0.85, 0.15];
  const r = tenFoldAccuracy(scores, [true, false, true, false, true, false], [0, 0, 1, 1, 2, 2]);
  assert.deepEqual(r.accuracies, [1, 1, 1]);
  assert.equal(r.std, 0);
});

test('NaN scores are never dropped: wrong for accuracy, rejections for the ROC family', () => {
  // fold 0: G 0.9, I NaN   fold 1: G NaN, I 0.1
  // Hold out 0: train {G NaN, I 0.1}: best t = 0.1 (rejects 0.1I, 1/2); test 0.9G right, NaN wrong -> 0.5.
  // Hold out 1: train {G 0.9, I NaN}: best t just below 0.9 (1/2); test NaN wrong, 0.1I rejected -> 0.5.
  // Dropping NaN pairs would report 1.0.
  const scores = [0.9, NaN, NaN, 0.1];
  const labels = [true, false, true, false];
  const r = tenFoldAccuracy(scores, labels, [0, 0, 1, 1]);
  assert.deepEqual(r.accuracies, [0.5, 0.5]);
  assert.equal(r.thresholds[0], 0.1);
  assert.ok(r.thresholds[1] < 0.9 && r.thresholds[1] > 0.8999999);
  // AUC: both NaNs rank last (a missing face is rejected). Genuine x impostor pairings:
  // 0.9 > NaN win, 0.9 > 0.1 win, NaN vs NaN tie (0.5), NaN < 0.1 loss: 2.5 / 4.
  close(auc(scores, labels), 0.625);
  // TAR@FAR: the NaN impostor is a correct reject, never a false accept; the NaN genuine pair is a miss.
  assert.deepEqual(tarAtFar(scores, labels, 0), { tar: 0.5, far: 0, threshold: 0.1 });
  assert.deepEqual(tarAtFar(scores, labels, 0.5), { tar: 0.5, far: 0.5, threshold: -Infinity });
  assert.equal(accuracyAt(scores, labels, 0.5), 0.5);
  assert.equal(bestThreshold(scores, labels).accuracy, 0.5);
});

test('all scores equal: chance everywhere', () => {
  const scores = [0.3, 0.3, 0.3, 0.3];
  const labels = [true, false, true, false];
  assert.equal(auc(scores, labels), 0.5);
  assert.equal(eer(scores, labels).eer, 0.5);
  const b = bestThreshold(scores, labels);
  assert.equal(b.accuracy, 0.5);
  assert.ok(b.threshold < 0.3, 'ties in accuracy go to the lowest threshold (accept all)');
  assert.deepEqual(tarAtFar(scores, labels, 1e-2), { tar: 0, far: 0, threshold: 0.3 });
  assert.deepEqual(tenFoldAccuracy(scores, labels, [0, 0, 1, 1]).accuracies, [0.5, 0.5]);
});

test('perfect separation', () => {
  const scores = [0.9, 0.8, 0.2, 0.1];
  const labels = [true, true, false, false];
  assert.equal(auc(scores, labels), 1);
  assert.equal(eer(scores, labels).eer, 0);
  const b = bestThreshold(scores, labels);
  assert.equal(b.accuracy, 1);
  close(b.threshold, 0.5, 1e-15);
  assert.deepEqual(tarAtFar(scores, labels, 1e-3), { tar: 1, far: 0, threshold: 0.2 });
});

test('negative Euclidean distances work like any other score', () => {
  const dist = [0.4, 1.3, 0.6, 1.1];
  const labels = [true, false, true, false];
  const b = bestThreshold(dist.map((d) => -d), labels);
  assert.equal(b.accuracy, 1);
  close(b.threshold, -0.85, 1e-15);
});

test('input validation', () => {
  assert.throws(() => auc([0.1, 0.2], [true]), /2 scores but 1 labels/);
  assert.throws(() => auc([0.1, 0.2], [true, true]), /at least one genuine and one impostor/);
  assert.throws(() => auc([Infinity, 0.2], [true, false]), /finite or NaN/);
  assert.throws(() => tenFoldAccuracy([0.1, 0.2], [true, false], [0, 0]), /at least 2 folds/);
});

// Brute-force references to check the sort-once sweeps on random data with ties and NaN.
function bruteAuc(scores: number[], labels: boolean[]): number {
  const v = (s: number) => (Number.isNaN(s) ? -Infinity : s); // a missing face is a rejection
  let sum = 0;
  let n = 0;
  scores.forEach((g, i) => {
    if (!labels[i]) return;
    scores.forEach((m, j) => {
      if (labels[j]) return;
      n++;
      const a = v(g);
      const b = v(m);
      sum += a > b ? 1 : a === b ? 0.5 : 0;
    });
  });
  return sum / n;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

test('sweeps agree with brute force on random scores with ties and NaN', () => {
  const rand = rng(7);
  for (let trial = 0; trial < 20; trial++) {
    const n = 40;
    const labels = Array.from({ length: n }, (_, i) => i % 2 === 0);
    const scores = labels.map((g) => (rand() < 0.05 ? NaN : Math.round((rand() + (g ? 0.3 : 0)) * 10) / 10));
    close(auc(scores, labels), bruteAuc(scores, labels), 1e-12);
    const distinct = [...new Set(scores.filter((s) => !Number.isNaN(s)))];
    const bestBrute = Math.max(accuracyAt(scores, labels, -Infinity), ...distinct.map((t) => accuracyAt(scores, labels, t)));
    const b = bestThreshold(scores, labels);
    close(b.accuracy, bestBrute);
    close(accuracyAt(scores, labels, b.threshold), bestBrute);
  }
});

test('6,000 pairs in 10 folds summarize quickly', () => {
  const rand = rng(1);
  const n = 6000;
  const labels = Array.from({ length: n }, (_, i) => i % 2 === 0);
  const cosine = labels.map((g) => Math.max(-1, Math.min(1, (g ? 0.6 : 0.1) + (rand() - 0.5) * 0.8)));
  const folds = labels.map((_, i) => Math.floor(i / 600));
  const t0 = performance.now();
  const s = summarizeVerification({ cosine, labels, folds, failedImages: 0, msPerImage: 1 });
  const ms = performance.now() - t0;
  assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
  assert.ok(s.accuracy > 0.8 && s.accuracy < 1, `accuracy ${s.accuracy}`);
  assert.ok(s.auc > 0.9 && s.auc < 1);
});

test('summarizeVerification returns exactly the CLI --json keys', () => {
  const s = summarizeVerification({ ...F, cosine: F.scores, failedImages: 2, msPerImage: 12.5 });
  assert.deepEqual(Object.keys(s).sort(), [
    'accuracy', 'accuracy_std', 'auc', 'eer', 'failed_images', 'ms_per_image', 'pairs',
    'tar_at_far', 'threshold_cosine', 'threshold_euclidean',
  ]);
  assert.deepEqual(Object.keys(s.tar_at_far).sort(), ['1e-2', '1e-3']);
  close(s.accuracy, 0.5);
  close(s.accuracy_std, Math.sqrt(1 / 6));
  // All six: G 0.9 0.6 0.45 vs I 0.1 0.5 0.58 -> wins 3 + 3 + 1 = 7 of 9.
  close(s.auc, 7 / 9);
  // FRR - FAR along the ROC: 1, 2/3, 1/3, 0 at (1/3 FAR, 2/3 TAR) -> EER 1/3.
  close(s.eer, 1 / 3);
  assert.equal(s.pairs, 6);
  assert.equal(s.failed_images, 2);
  assert.equal(s.ms_per_image, 12.5);
  // Best on all: ascending .1I .45G .5I .58I .6G .9G -> sweep 3,4,3,4,5,4,3 -> t = (.58+.6)/2.
  close(s.threshold_cosine, 0.59, 1e-15);
  close(s.threshold_euclidean, Math.sqrt(2 - 2 * 0.59), 1e-12);
  // K = 0 for both FARs: threshold = top impostor 0.58 -> genuine 0.9, 0.6 above.
  assert.deepEqual(s.tar_at_far, { '1e-2': 2 / 3, '1e-3': 2 / 3 });
  assert.doesNotThrow(() => JSON.stringify(s));
});

test('calibrateThresholds gives FAR 1e-3 and best-accuracy operating points', () => {
  const c = calibrateThresholds([0.9, 0.7, 0.4], [0.8, 0.3, 0.2]);
  assert.equal(c.at_far_1e3.cosine, 0.8);
  close(c.at_far_1e3.euclidean, Math.sqrt(0.4), 1e-12);
  assert.equal(c.at_far_1e3.tar, 1 / 3);
  assert.equal(c.at_far_1e3.far, 0);
  close(c.best_accuracy.cosine, 0.35, 1e-15);
  close(c.best_accuracy.accuracy, 5 / 6);
  assert.equal(c.genuine_pairs, 3);
  assert.equal(c.impostor_pairs, 3);
});

test('cosineToEuclidean matches unit vectors', () => {
  // Unit vectors at 60 degrees: cos 0.5, distance 1.
  close(cosineToEuclidean(0.5), 1, 1e-15);
  assert.equal(cosineToEuclidean(1), 0);
  assert.equal(cosineToEuclidean(-1), 2);
});

test('calibration counts one person under two folders as one when the pairs say so (VGGFace2 train/ID + test/ID)', () => {
  const unit = (...v: number[]) => Float32Array.from(v, (x) => x / Math.hypot(...v));
  const embs = new Map<string, Float32Array>([
    ['train/A/1.jpg', unit(1, 0.1, 0)],
    ['train/A/2.jpg', unit(1, 0, 0.1)],
    ['test/A/3.jpg', unit(1, 0.05, 0.05)],
    ['test/A/4.jpg', unit(1, -0.1, 0)],
    ['train/B/1.jpg', unit(0, 1, 0.1)],
    ['train/B/2.jpg', unit(0.1, 1, 0)],
  ]);
  const pairs = [
    { fold: 0, same: true, a: 'train/A/1.jpg', b: 'test/A/3.jpg' },
    { fold: 0, same: false, a: 'train/A/2.jpg', b: 'train/B/1.jpg' },
  ];
  const t = calibrateOnPairs(embs, pairs, Infinity).thresholds;
  assert.equal(t.genuine_pairs, 6 + 1, 'A: 4 photos in two folders, 6 pairs; B: 1');
  assert.equal(t.impostor_pairs, 4 * 2);
});
