// Per-epoch validation: closed-set loss/accuracy on the held-out images of training identities
// (as the seed reports), and 10-fold verification accuracy on face pairs (what picks the best model).
import { readFile, access } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import type { FaceNet, TrainableFaceNet } from '../model/facenet.js';
import { readPairs, type Pair } from '../eval/pairs.js';
import { bestThreshold, calibrateThresholds, cosineToEuclidean, rocCurve, tenFoldAccuracy, type CalibratedThresholds } from '../eval/metrics.js';
import { cosineSimilarity as dot } from '../model/facenet.js';

/** Decodes a face crop file to RGB bytes at size x size. */
export async function readCrop(file: string, size: number): Promise<Uint8Array> {
  const { data } = await sharp(await readFile(file)).rotate().removeAlpha().resize(size, size, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Closed-set validation in inference mode (moving BN statistics), ArcFace loss with margin. */
export function closedSetBatch(tm: TrainableFaceNet, images: Uint8Array, labels: Int32Array): { lossSum: number; correct: number } {
  const n = labels.length;
  const s = tm.net.config.inputSize;
  return tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(images), [n, s, s, 3]);
    const y = tf.tensor1d(labels, 'int32');
    const { loss, cos } = tm.lossFn(x, y, { training: false });
    const pred = tf.argMax(cos, 1).dataSync();
    let correct = 0;
    for (let i = 0; i < n; i++) if (pred[i] === labels[i]) correct++;
    return { lossSum: (loss.dataSync()[0] as number) * n, correct };
  });
}

/**
 * Pairs over prepared (aligned) crops. A pair path may name the original photo; the crop of
 * `a/b.png` prepared as `a/b.jpg` is found too.
 */
export class PairValidator {
  private crops = new Map<string, Uint8Array | null>();
  private constructor(readonly pairs: Pair[], private size: number) {}

  static async open(pairsFile: string, root: string, size: number): Promise<PairValidator> {
    const v = new PairValidator(await readPairs(pairsFile, root), size);
    const files = [...new Set(v.pairs.flatMap((p) => [p.a, p.b]))];
    for (const f of files) v.crops.set(f, await v.load(f));
    return v;
  }

  private async load(file: string): Promise<Uint8Array | null> {
    const candidates = [file, file.replace(/\.[^./]+$/, '.jpg')];
    for (const c of candidates) {
      try {
        await access(c);
        return await readCrop(c, this.size);
      } catch {
        /* try the next name */
      }
    }
    return null;
  }

  get missing(): number {
    return [...this.crops.values()].filter((c) => c === null).length;
  }

  private async embedAll(tm: { net: FaceNet }): Promise<Map<string, Float32Array>> {
    const present = [...this.crops.keys()].filter((f) => this.crops.get(f));
    const embs = await tm.net.embedCrops(present.map((f) => ({ data: this.crops.get(f)!, width: this.size, height: this.size })), 32);
    return new Map(present.map((f, i) => [f, embs[i]!]));
  }

  /** Recommended thresholds and the ROC for meta.json (see calibrateOnPairs). */
  async calibrate(tm: { net: FaceNet }, maxPairs = 400_000): Promise<Calibration> {
    return calibrateOnPairs(await this.embedAll(tm), this.pairs, maxPairs);
  }

  /** Embeds each distinct crop once; returns 10-fold accuracy (missing crops count as errors). */
  async evaluate(tm: { net: FaceNet }): Promise<{ mean: number; std: number }> {
    return this.#accuracy(await this.embedAll(tm));
  }

  /** Thresholds, ROC and 10-fold accuracy from one embedding pass (what an exported model records). */
  async measure(tm: { net: FaceNet }, maxPairs = 400_000): Promise<Calibration & { accuracy: { mean: number; std: number } }> {
    const byFile = await this.embedAll(tm);
    return { ...calibrateOnPairs(byFile, this.pairs, maxPairs), accuracy: this.#accuracy(byFile) };
  }

  #accuracy(byFile: Map<string, Float32Array>): { mean: number; std: number } {
    const scores = this.pairs.map((p) => {
      const a = byFile.get(p.a);
      const b = byFile.get(p.b);
      return a && b ? dot(a, b) : Number.NaN;
    });
    const r = tenFoldAccuracy(scores, this.pairs.map((p) => p.same), this.pairs.map((p) => p.fold));
    return { mean: r.mean, std: r.std };
  }
}

export interface Calibration {
  thresholds: CalibratedThresholds;
  roc: { fpr: number[]; tpr: number[]; thresholds: number[] };
}

/** Writes a calibration into a model's meta: recommended thresholds, their figures, the ROC. */
export function recordCalibration(meta: { thresholds?: unknown; metrics?: Record<string, unknown> }, { thresholds: t, roc }: Calibration): void {
  meta.thresholds = {
    cosine: { far1e3: t.at_far_1e3.cosine, bestAccuracy: t.best_accuracy.cosine },
    euclidean: { far1e3: t.at_far_1e3.euclidean, bestAccuracy: t.best_accuracy.euclidean },
  };
  meta.metrics = {
    ...meta.metrics,
    calibration: { genuinePairs: t.genuine_pairs, impostorPairs: t.impostor_pairs, tarAtFar1e3: t.at_far_1e3.tar, bestAccuracy: t.best_accuracy.accuracy },
    roc,
  };
}

/**
 * Which images show the same person: those in one folder, and those the pairs call the same (a
 * VGGFace2-style set can hold one person under train/ID and test/ID). Union-find over both.
 */
function identityOf(files: readonly string[], pairs: readonly Pair[]): (f: string) => string {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  const union = (a: string, b: string) => {
    const [ra, rb] = [find(a), find(b)];
    if (ra !== rb) parent.set(ra, rb);
  };
  for (const f of files) union(f, `dir:${path.dirname(f)}`);
  for (const p of pairs) if (p.same) union(p.a, p.b);
  return find;
}

/**
 * Recommended thresholds and the ROC for meta.json from validation embeddings (identity: see identityOf).
 * FAR 1e-3 needs far more impostor pairs than a pairs file holds, so that threshold and the ROC
 * come from every same/different pair among the images; the best-accuracy threshold comes from
 * the balanced pairs (on all pairs, impostors outnumber genuine ones and "best accuracy" means
 * reject all).
 */
export function calibrateOnPairs(embs: Map<string, Float32Array>, pairs: Pair[], maxPairs = 400_000): Calibration {
  const byFile = [...embs.entries()];
  const who = identityOf(byFile.map(([f]) => f), pairs);
  const ids = byFile.map(([f]) => who(f));
  const genuine: number[] = [];
  const impostor: number[] = [];
  const total = (byFile.length * (byFile.length - 1)) / 2;
  const stride = Math.max(1, Math.ceil(total / maxPairs));
  let k = 0;
  for (let i = 0; i < byFile.length; i++) {
    for (let j = i + 1; j < byFile.length; j++, k++) {
      const same = ids[i] === ids[j];
      if (!same && k % stride) continue; // keep every genuine pair, thin the impostors evenly
      (same ? genuine : impostor).push(dot(byFile[i]![1], byFile[j]![1]));
    }
  }
  const thresholds = calibrateThresholds(genuine, impostor);
  const pairScores = pairs.map((p) => (embs.get(p.a) && embs.get(p.b) ? dot(embs.get(p.a)!, embs.get(p.b)!) : Number.NaN));
  const best = bestThreshold(pairScores, pairs.map((p) => p.same));
  thresholds.best_accuracy = { cosine: best.threshold, euclidean: cosineToEuclidean(best.threshold), accuracy: best.accuracy };
  const scores = [...genuine, ...impostor];
  const roc = rocCurve(scores, scores.map((_, i) => i < genuine.length));
  // ~200 points are plenty for the settings page's FAR/TAR preview.
  const step = Math.max(1, Math.floor(roc.fpr.length / 200));
  const keep = (a: number[]) => a.filter((_, i) => i % step === 0 || i === a.length - 1);
  return { thresholds, roc: { fpr: keep(roc.fpr), tpr: keep(roc.tpr), thresholds: keep(roc.thresholds) } };
}
