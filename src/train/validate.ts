// Per-epoch validation: closed-set loss/accuracy on the held-out images of training identities
// (as the seed reports), and 10-fold verification accuracy on face pairs (what picks the best model).
import { readFile, access } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainableFaceNet } from '../model/facenet.js';
import { readPairs, type Pair } from '../eval/pairs.js';
import { tenFoldAccuracy } from '../eval/metrics.js';

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

  /** Embeds each distinct crop once; returns 10-fold accuracy (missing crops count as errors). */
  async evaluate(tm: TrainableFaceNet): Promise<{ mean: number; std: number }> {
    const files = [...this.crops.keys()];
    const present = files.filter((f) => this.crops.get(f));
    const embs = await tm.net.embedCrops(present.map((f) => ({ data: this.crops.get(f)!, width: this.size, height: this.size })), 32);
    const byFile = new Map(present.map((f, i) => [f, embs[i]!]));
    const scores = this.pairs.map((p) => {
      const a = byFile.get(p.a);
      const b = byFile.get(p.b);
      if (!a || !b) return Number.NaN;
      let s = 0;
      for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
      return s;
    });
    const r = tenFoldAccuracy(scores, this.pairs.map((p) => p.same), this.pairs.map((p) => p.fold));
    return { mean: r.mean, std: r.std };
  }
}

