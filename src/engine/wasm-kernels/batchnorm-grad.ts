// Gradient of FusedBatchNorm without the Tile that tfjs-core's version builds (which dominates
// its cost, and fails for 2-D x with 1-D statistics): per-channel factors broadcast instead.
// Pure tf ops, so it is correct on every backend.
import * as tf from '@tensorflow/tfjs-core';

export const fusedBatchNormGradConfig: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
    const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const g = dy as tf.Tensor;
    const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const reduce = (t: tf.Tensor) => (axes.length > 0 ? tf.sum(t, axes) : t);
    const r = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const k = scale == null ? r : tf.mul(r, scale); // d out / d x, per channel
    // The two reductions are shared by mean/offset and variance/scale, so computed once here
    // (the engine frees them with the rest of the backward pass).
    const sumDy = reduce(g);
    const sumDyXc = reduce(tf.mul(g, tf.sub(x, mean)));
    return {
      x: () => tf.reshape(tf.mul(g, k), x.shape),
      mean: () => tf.reshape(tf.neg(tf.mul(sumDy, k)), mean.shape),
      variance: () => tf.reshape(tf.mul(sumDyXc, tf.mul(k, tf.mul(tf.square(r), tf.scalar(-0.5)))), mean.shape),
      scale: () => tf.reshape(tf.mul(sumDyXc, r), mean.shape),
      offset: () => tf.reshape(sumDy, mean.shape),
    };
  },
};
