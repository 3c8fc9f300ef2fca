// Our flat-vector Adam against TF.js's own optimizer on the same gradients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { Adam } from '../src/train/adam.js';
import { ReduceLROnPlateau } from '../src/train/plateau.js';

await initBackend({ quiet: true });

test('Adam matches tf.train.adam over several steps', () => {
  const n = 50;
  const init = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5);
  const ours = new Adam(n, { lr: 0.01, eps: 1e-8 });
  const p = Float32Array.from(init);
  const v = tf.variable(tf.tensor1d(init));
  const opt = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
  for (let step = 0; step < 20; step++) {
    // loss = sum((p - target)^2 * w): gradient 2 (p - target) w
    const target = Float32Array.from({ length: n }, (_, i) => Math.cos(i + step));
    const g = Float32Array.from(p, (x, i) => 2 * (x - target[i]!) * (1 + (i % 3)));
    ours.update(p, g);
    opt.applyGradients([{ name: v.name, tensor: tf.tensor1d(Float32Array.from(v.dataSync(), (x, i) => 2 * (x - target[i]!) * (1 + (i % 3)))) }]);
  }
  const ref = v.dataSync();
  // TF.js adds eps before bias correction, torch after; with eps = 1e-8 they agree closely.
  for (let i = 0; i < n; i++) assert.ok(Math.abs(p[i]! - ref[i]!) < 1e-4, `${i}: ${p[i]} vs ${ref[i]}`);
  assert.ok(Math.max(...p.map((x, i) => Math.abs(x - init[i]!))) > 0.05, 'parameters moved');
  opt.dispose();
  v.dispose();
});

test('ReduceLROnPlateau halves the rate after patience epochs without improvement (mode max)', () => {
  const s = new ReduceLROnPlateau({ mode: 'max', factor: 0.5, patience: 2 });
  let lr = 1e-3;
  const lrs = [0.5, 0.6, 0.6, 0.59, 0.58, 0.7, 0.7, 0.7, 0.7].map((m) => (lr = s.step(m, lr)));
  assert.deepEqual(lrs, [1e-3, 1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 5e-4, 2.5e-4]);
});
