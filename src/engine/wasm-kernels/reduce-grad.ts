// Gradients of Sum and Mean. tfjs-core's broadcast dy by multiplying with ones(x.shape), a
// tensor it fills in JavaScript and uploads on every call; adding dy (scaled first, while
// small) to zerosLike(x) broadcasts the same on every backend without that.
import * as tf from '@tensorflow/tfjs-core';

function reduceGrad(kernelName: string, mean: boolean): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [tf.Tensor];
      const axes = tf.util.parseAxisParam((attrs as unknown as tf.SumAttrs).axis, x.shape);
      const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const size = axes.reduce((n, a) => n * x.shape[a]!, 1);
      return {
        x: () => {
          const d = dy as tf.Tensor;
          const g = tf.reshape(d.dtype === 'float32' ? d : tf.cast(d, 'float32'), expanded);
          const zeros = tf.zerosLike(x.dtype === 'float32' ? x : tf.cast(x, 'float32'));
          return tf.add(zeros, mean ? tf.div(g, tf.scalar(size)) : g);
        },
      };
    },
  };
}

export const sumGradConfig = reduceGrad(tf.Sum, false);
export const meanGradConfig = reduceGrad(tf.Mean, true);
