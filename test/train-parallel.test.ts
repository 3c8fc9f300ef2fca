// Data-parallel training on real faces: two worker replicas follow the same trajectory as the
// in-thread computation on the same micro-batches, and the loss falls as the batch is memorised.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { FaceNet, TrainableFaceNet } from '../src/model/facenet.js';
import { createGradientEngine } from '../src/train/replicas.js';
import { readFlat } from '../src/train/flat.js';
import { Adam } from '../src/train/adam.js';
import { microBatches } from '../src/train/gradients.js';
import { readCrop } from '../src/train/validate.js';

const backend = await initBackend({ quiet: true });
const glint = new URL('../../shared/data/train/glint/', import.meta.url).pathname;

async function realBatch(people: number, each: number): Promise<{ images: Uint8Array; labels: Int32Array }> {
  const ids = (await readdir(glint)).sort().slice(0, people);
  const images = new Uint8Array(people * each * 112 * 112 * 3);
  const labels = new Int32Array(people * each);
  let k = 0;
  for (const [label, id] of ids.entries()) {
    const files = (await readdir(path.join(glint, id))).sort().slice(0, each);
    for (const f of files) {
      images.set(await readCrop(path.join(glint, id, f), 112), k * 112 * 112 * 3);
      labels[k++] = label;
    }
  }
  return { images, labels };
}

async function run(workers: number, steps: number, batch: { images: Uint8Array; labels: Int32Array }) {
  const tm = new TrainableFaceNet(FaceNet.create({ variant: 'mobilefacenet' }, 3), 4, { s: 30, m: 0.5 }, 11);
  const engine = await createGradientEngine(tm, workers, backend.name);
  const params = readFlat(tm.trainableVariables());
  const adam = new Adam(params.length, { lr: 1e-3 });
  const losses: number[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      const sums = await engine.compute(params, microBatches(batch.images, batch.labels, 8, 112));
      for (let i = 0; i < sums.grads.length; i++) sums.grads[i]! /= sums.count;
      adam.update(params, sums.grads);
      losses.push(sums.lossSum / sums.count);
    }
  } finally {
    await engine.close();
    tm.dispose();
  }
  return { losses, params };
}

test('two WASM worker replicas match in-thread training and overfit a real batch', async () => {
  const batch = await realBatch(4, 4);
  const before = tf.memory().numTensors;
  const single = await run(0, 6, batch);
  assert.equal(tf.memory().numTensors, before, 'in-thread training leaks no tensors');
  const parallel = await run(2, 6, batch);
  for (let i = 0; i < single.losses.length; i++) {
    assert.ok(Math.abs(single.losses[i]! - parallel.losses[i]!) <= 1e-3 * Math.abs(single.losses[i]!), `step ${i}: ${single.losses[i]} vs ${parallel.losses[i]}`);
  }
  let maxDiff = 0;
  for (let i = 0; i < single.params.length; i++) maxDiff = Math.max(maxDiff, Math.abs(single.params[i]! - parallel.params[i]!));
  assert.ok(maxDiff < 1e-3, `parameters diverged by ${maxDiff}`);
  const l = single.losses;
  assert.ok(l.at(-1)! < 0.6 * l[0]!, `loss should fall on a memorisable batch: ${l.map((x) => x.toFixed(2)).join(' ')}`);
});

test('a gradient worker that dies fails the step instead of hanging it', { timeout: 60_000 }, async () => {
  const batch = await realBatch(2, 4);
  const tm = new TrainableFaceNet(FaceNet.create({ variant: 'mobilefacenet', width: 0.25, inputSize: 112 }, 3), 2, { s: 30, m: 0.5 }, 11);
  const engine = await createGradientEngine(tm, 2, backend.name);
  try {
    const params = readFlat(tm.trainableVariables());
    // The replicas are private; reach one worker to kill it as an aborted WASM module would.
    const replicas = (engine as unknown as { replicas: { worker: { terminate(): Promise<number> } }[] }).replicas;
    await replicas[1]!.worker.terminate();
    await assert.rejects(engine.compute(params, microBatches(batch.images, batch.labels, 4, 112)), /gradient worker exited with code 1/);
  } finally {
    await engine.close();
    tm.dispose();
  }
});

test('micro-batches never leave one image alone (BatchNorm would see a variance of 0)', () => {
  const sizes = (n: number, micro: number) => microBatches(new Uint8Array(n * 2 * 2 * 3), new Int32Array(n), micro, 2).map((m) => m.labels.length);
  assert.deepEqual(sizes(17, 8), [8, 9]);
  assert.deepEqual(sizes(18, 8), [8, 8, 2]);
  assert.deepEqual(sizes(16, 8), [8, 8]);
  assert.deepEqual(sizes(1, 8), [1]);
});
