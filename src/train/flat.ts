// Parameters and gradients travel between threads as one flat Float32Array, in the fixed
// variable order of TrainableFaceNet.trainableVariables().
import * as tf from '@tensorflow/tfjs-core';

export function flatSize(vars: [string, tf.Variable][]): number {
  return vars.reduce((n, [, v]) => n + v.size, 0);
}

export function readFlat(vars: [string, tf.Variable][]): Float32Array {
  const out = new Float32Array(flatSize(vars));
  let o = 0;
  for (const [, v] of vars) {
    out.set(v.dataSync() as Float32Array, o);
    o += v.size;
  }
  return out;
}

export function writeFlat(vars: [string, tf.Variable][], flat: Float32Array): void {
  if (flat.length !== flatSize(vars)) throw new Error(`flat parameter vector has ${flat.length} values, model has ${flatSize(vars)}`);
  let o = 0;
  for (const [, v] of vars) {
    const part = flat.subarray(o, o + v.size);
    tf.tidy(() => v.assign(tf.tensor(part, v.shape, 'float32')));
    o += v.size;
  }
}
