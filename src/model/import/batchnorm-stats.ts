// Population statistics for BatchNorm layers whose weights came from elsewhere. An exporter that
// folded BatchNorm into the convs leaves no statistics, only an affine map per channel (y = a x + c).
// Training normalises each batch by its own moments, so with a unit "identity" BatchNorm the first
// training step would rescale every layer and wreck the imported network. Here each BatchNorm's
// input is measured on real crops (inference mode, so every layer sees what it will see), and the
// layer is rewritten with those moments while keeping its inference map exactly:
//   moving mean m, moving variance v, gamma = a * sqrt(v + eps), beta = c + a * m.
// Batch-normalised training then starts where the imported network is.
import * as tf from '@tensorflow/tfjs-core';
import type { FaceNet } from '../facenet.js';
import type { BatchNorm } from '../layers.js';

interface Moments {
  count: number;
  sum: Float64Array;
  sumSq: Float64Array;
}

export interface RecalibrationReport {
  layers: number;
  images: number;
  /** Largest change of any layer's inference output scale: should be ~0 (rounding only). */
  maxScaleChange: number;
}

/** `batches` yields uint8-range RGB crops [n, S, S, 3] (as FaceNet.embed takes them); they are disposed here. */
export async function recalibrateBatchNorm(net: FaceNet, batches: AsyncIterable<tf.Tensor4D> | Iterable<tf.Tensor4D>): Promise<RecalibrationReport> {
  const stats = new Map<BatchNorm, Moments>();
  let images = 0;
  for await (const batch of batches) {
    images += batch.shape[0];
    tf.tidy(() => {
      net.forward(net.preprocess(batch), {
        training: false,
        observeBn: (bn, x) => {
          const axes = x.rank === 4 ? [0, 1, 2] : [0];
          const channels = x.shape[x.rank - 1]!;
          const n = x.size / channels;
          const s = tf.sum(x, axes).dataSync();
          const s2 = tf.sum(tf.square(x), axes).dataSync();
          let m = stats.get(bn);
          if (!m) stats.set(bn, (m = { count: 0, sum: new Float64Array(channels), sumSq: new Float64Array(channels) }));
          m.count += n;
          for (let c = 0; c < channels; c++) {
            m.sum[c]! += s[c]!;
            m.sumSq[c]! += s2[c]!;
          }
        },
      });
    });
    batch.dispose();
  }
  if (!images) throw new Error('no crops to measure BatchNorm statistics on');
  let maxScaleChange = 0;
  for (const [bn, m] of stats) {
    const [g0, b0, m0, v0] = [bn.gamma, bn.beta, bn.movingMean, bn.movingVar].map((t) => t.dataSync() as Float32Array);
    const c = g0!.length;
    const gamma = new Float32Array(c), beta = new Float32Array(c), mean = new Float32Array(c), variance = new Float32Array(c);
    for (let i = 0; i < c; i++) {
      const a = g0![i]! / Math.sqrt(v0![i]! + bn.eps);
      const shift = b0![i]! - a * m0![i]!;
      const mu = m.sum[i]! / m.count;
      const v = Math.max(0, m.sumSq[i]! / m.count - mu * mu);
      mean[i] = mu;
      variance[i] = v;
      gamma[i] = a * Math.sqrt(v + bn.eps);
      beta[i] = shift + a * mu;
      maxScaleChange = Math.max(maxScaleChange, Math.abs(gamma[i]! / Math.sqrt(v + bn.eps) - a) / Math.max(1e-12, Math.abs(a)));
    }
    tf.tidy(() => {
      bn.gamma.assign(tf.tensor1d(gamma));
      bn.beta.assign(tf.tensor1d(beta));
      bn.movingMean.assign(tf.tensor1d(mean));
      bn.movingVar.assign(tf.tensor1d(variance));
    });
  }
  return { layers: stats.size, images, maxScaleChange };
}
