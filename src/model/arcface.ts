// ArcFace (Deng et al. 2019), the additive angular margin loss, as arcface_torch's CombinedMarginLoss
// with m2 only: logit s*cos(theta + m) for the true class, s*cos(theta) for the others.
import * as tf from '@tensorflow/tfjs-core';
import { ParamStore } from './layers.js';

export interface ArcFaceOptions {
  /** Scale s (feature norm after normalisation). */
  s: number;
  /** Additive angular margin m in radians. */
  m: number;
}
export const ARCFACE_DEFAULTS: ArcFaceOptions = { s: 30, m: 0.5 };

/** Row-wise L2 normalisation, safe at zero vectors. */
export function l2Normalize(x: tf.Tensor2D, axis = 1): tf.Tensor2D {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), axis, true), 1e-12))));
}

/**
 * Margin logits from the cosine matrix. The true-class cosine becomes cos(theta + m) while
 * theta + m <= pi; past that (cos theta <= cos(pi - m)) cos(theta + m) would rise again, so the
 * standard correction cos(theta) - m*sin(m) keeps the logit monotonic.
 * The branch mask comes from tf.step, which has a (zero) gradient; tf.greater has none and
 * would break tf.grads.
 */
export function arcfaceLogits(cos: tf.Tensor2D, labels: tf.Tensor1D, opts: ArcFaceOptions = ARCFACE_DEFAULTS): tf.Tensor2D {
  return tf.tidy(() => {
    const { s, m } = opts;
    const numClasses = cos.shape[1];
    const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), numClasses), 'float32') as tf.Tensor2D;
    const cosT = tf.sum(tf.mul(cos, onehot), 1, true);
    // sin(theta) >= 0 for theta in [0, pi]; the floor keeps sqrt's gradient finite at cos = +-1.
    const sinT = tf.sqrt(tf.clipByValue(tf.sub(1, tf.square(cosT)), 1e-9, 1));
    const cosTm = tf.sub(tf.mul(cosT, Math.cos(m)), tf.mul(sinT, Math.sin(m)));
    const th = Math.cos(Math.PI - m);
    const mm = Math.sin(Math.PI - m) * m;
    const inRange = tf.step(tf.sub(cosT, th));
    const phi = tf.add(tf.mul(inRange, cosTm), tf.mul(tf.sub(1, inRange), tf.sub(cosT, mm)));
    // Replace only the true-class column: cos + onehot * (phi - cosT).
    return tf.mul(tf.add(cos, tf.mul(onehot, tf.sub(phi, cosT))), s) as tf.Tensor2D;
  });
}

/** Mean softmax cross-entropy of logits against integer labels. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1]), 'float32');
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}

/** The classifier over training identities: one unit-norm weight vector per class. */
export class ArcFaceHead {
  readonly weight: tf.Variable;
  constructor(ps: ParamStore, embeddingSize: number, readonly numClasses: number, readonly opts: ArcFaceOptions = ARCFACE_DEFAULTS) {
    this.weight = ps.param('arcface.weight', () => tf.randomNormal([embeddingSize, numClasses], 0, 0.01, 'float32', ps.nextSeed()));
  }
  /** Cosine between each (raw) embedding and each class centre. */
  cosine(embedding: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.clipByValue(tf.matMul(l2Normalize(embedding), l2Normalize(this.weight as tf.Tensor2D, 0)), -1, 1) as tf.Tensor2D);
  }
  /** Loss and the plain-cosine predictions (accuracy is measured without the margin). */
  loss(embedding: tf.Tensor2D, labels: tf.Tensor1D): { loss: tf.Scalar; cos: tf.Tensor2D } {
    const cos = this.cosine(embedding);
    return { loss: crossEntropy(arcfaceLogits(cos, labels, this.opts), labels), cos };
  }
}
