// ArcFace logits against the formula computed by hand, and its gradient against finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { arcfaceLogits, crossEntropy, l2Normalize } from '../src/model/arcface.js';

await initBackend({ quiet: true });

test('margin applies to the true class only, with the theta + m > pi correction', () => {
  const s = 30, m = 0.5;
  // Row 0: true class 1 at cos 0.6 (theta ~ 0.927, theta + m < pi).
  // Row 1: true class 0 at cos -0.95 (theta ~ 2.82, theta + m > pi: correction cos - m sin m).
  // Row 2: true class 2 at cos exactly 1 (theta = 0): cos(m).
  const cos = tf.tensor2d([[0.1, 0.6, -0.2], [-0.95, 0.3, 0.0], [0.2, -0.1, 1.0]]);
  const labels = tf.tensor1d([1, 0, 2], 'int32');
  const out = arcfaceLogits(cos, labels, { s, m }).arraySync();
  const expected = [
    [0.1 * s, Math.cos(Math.acos(0.6) + m) * s, -0.2 * s],
    [(-0.95 - Math.sin(m) * m) * s, 0.3 * s, 0],
    [0.2 * s, -0.1 * s, Math.cos(m) * s],
  ];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) assert.ok(Math.abs(out[i]![j]! - expected[i]![j]!) < 1e-3, `[${i},${j}] ${out[i]![j]} vs ${expected[i]![j]}`);
  tf.dispose([cos, labels]);
});

test('gradient matches central finite differences and stays finite at cos = +-1', () => {
  const before = tf.memory().numTensors;
  const emb = tf.tensor2d([[0.3, -0.2, 0.9, 0.1], [-0.5, 0.4, 0.2, 0.7], [0.05, 0.8, -0.3, 0.2]]);
  const w = tf.tensor2d([[0.2, -0.4, 0.1], [0.5, 0.3, -0.2], [0.1, 0.6, 0.4], [-0.3, 0.2, 0.5]]);
  const labels = tf.tensor1d([2, 0, 1], 'int32');
  const loss = (e: tf.Tensor2D, ww: tf.Tensor2D) =>
    crossEntropy(arcfaceLogits(tf.matMul(l2Normalize(e), l2Normalize(ww, 0)) as tf.Tensor2D, labels, { s: 30, m: 0.5 }), labels);
  const [ge, gw] = tf.grads((e: tf.Tensor, ww: tf.Tensor) => loss(e as tf.Tensor2D, ww as tf.Tensor2D))([emb, w]);
  const eps = 1e-2; // float32: a larger step keeps rounding error below the check's tolerance
  for (const [which, base, g] of [['emb', emb, ge!], ['w', w, gw!]] as const) {
    const vals = base.arraySync() as number[][];
    const gv = g.arraySync() as number[][];
    for (let i = 0; i < vals.length; i++) {
      for (let j = 0; j < vals[0]!.length; j++) {
        const f = (d: number) => tf.tidy(() => {
          const v = vals.map((r) => r.slice());
          v[i]![j]! += d;
          const t = tf.tensor2d(v);
          return which === 'emb' ? loss(t, w).dataSync()[0]! : loss(emb, t).dataSync()[0]!;
        });
        const numeric = (f(eps) - f(-eps)) / (2 * eps);
        assert.ok(Math.abs(numeric - gv[i]![j]!) < 2e-2 * Math.max(1, Math.abs(numeric)), `${which}[${i},${j}] analytic ${gv[i]![j]} numeric ${numeric}`);
      }
    }
  }
  // cos exactly +1 and -1 on the true class: sqrt(1 - cos^2) must not produce NaN gradients.
  const cosEdge = tf.tensor2d([[1, 0.2], [0.1, -1]]);
  const lab = tf.tensor1d([0, 1], 'int32');
  const gEdge = tf.grad((c: tf.Tensor) => crossEntropy(arcfaceLogits(c as tf.Tensor2D, lab), lab))(cosEdge);
  assert.ok(Array.from(gEdge.dataSync()).every(Number.isFinite), 'finite gradient at the edges');
  tf.dispose([emb, w, labels, ge!, gw!, cosEdge, lab, gEdge]);
  assert.equal(tf.memory().numTensors, before);
});
