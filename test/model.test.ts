// The embedder: shapes, unit norm, size figures, save/load on disk, no tensor leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { FaceNet, cosineSimilarity, euclideanDistance } from '../src/model/facenet.js';
import { defaultMeta, loadModel, saveModel } from '../src/model/io.js';
import { DEFAULT_MODEL_DIR } from '../src/config/index.js';
import { readCrop } from '../src/train/validate.js';

await initBackend({ quiet: true });
const glint = new URL('../../shared/data/train/glint/', import.meta.url).pathname;

test('both variants give unit-norm 512-d embeddings; MobileFaceNet has the published size', () => {
  for (const variant of ['efficientfr', 'mobilefacenet'] as const) {
    const net = FaceNet.create({ variant, inputSize: 112 });
    const x = tf.randomUniform([2, 112, 112, 3], 0, 255) as tf.Tensor4D;
    // The first embed folds BatchNorm into the convolutions once (kept with the parameters).
    tf.dispose(net.embed(x));
    const before = tf.memory().numTensors;
    const e = net.embed(x);
    assert.deepEqual(e.shape, [2, 512]);
    const norms = tf.tidy(() => tf.norm(e, 2, 1).dataSync());
    for (const n of norms) assert.ok(Math.abs(n - 1) < 1e-4);
    e.dispose();
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind by embed');
    x.dispose();
    if (variant === 'mobilefacenet') {
      // MobileFaceNet (Chen et al.): about 1M parameters and 221M multiply-adds at 112 px.
      assert.ok(Math.abs(net.countMacs() / 1e6 - 221) < 5, `${net.countMacs()}`);
      assert.ok(net.params.countTrainable() > 0.9e6 && net.params.countTrainable() < 1.4e6);
    }
    net.dispose();
  }
});

test('trunk then tail is the whole forward pass, and the tail holds only the last stage and embedding', async () => {
  const files = (await readdir(path.join(glint, 'Barack_Obama'))).slice(0, 2).map((f) => path.join(glint, 'Barack_Obama', f));
  const crops = await Promise.all(files.map((f) => readCrop(f, 112)));
  for (const variant of ['efficientfr', 'mobilefacenet'] as const) {
    const net = FaceNet.create({ variant, inputSize: 112 });
    const x = tf.tensor4d(Float32Array.from(crops.flatMap((c) => Array.from(c))), [2, 112, 112, 3]);
    const whole = net.embed(x);
    const split = tf.tidy(() => tf.div(net.tailForward(net.trunkFeatures(x), { training: false }), tf.norm(net.tailForward(net.trunkFeatures(x), { training: false }), 2, 1, true)));
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(whole, split))).dataSync()[0]!) < 1e-5);
    const tail = net.tailVariables().map(([n]) => n);
    const share = net.tailVariables().reduce((n, [, v]) => n + v.size, 0) / net.params.countTrainable();
    assert.ok(tail.some((n) => n.startsWith('embedding.')) && !tail.some((n) => n.startsWith('stem')), tail.join());
    assert.ok(share > 0.05 && share < 0.9, `tail is ${share} of the parameters`);
    tf.dispose([x, whole, split]);
    net.dispose();
  }
});

test('224 px input works for the seed backbone', () => {
  const net = FaceNet.create({ variant: 'efficientfr', inputSize: 224 });
  const e = net.embed(tf.zeros([1, 224, 224, 3]) as tf.Tensor4D);
  assert.deepEqual(e.shape, [1, 512]);
  e.dispose();
  net.dispose();
});

test('a saved model folder loads back to identical embeddings of real faces', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-model-'));
  try {
    const net = FaceNet.create({ variant: 'mobilefacenet' }, 7);
    const crops = await Promise.all(['Barack_Obama/0.jpg', 'Barack_Obama/1.jpg', 'Drew_Barrymore/' + (await readdir(path.join(glint, 'Drew_Barrymore')))[0]].map((f) => readCrop(path.join(glint, f), 112)));
    const imgs = crops.map((data) => ({ data, width: 112, height: 112 }));
    const a = await net.embedCrops(imgs);
    await saveModel(dir, net, defaultMeta(net, 'unit-test'));
    const { net: loaded, meta } = await loadModel(dir);
    assert.equal(meta.name, 'unit-test');
    assert.equal(meta.embeddingSize, 512);
    const b = await loaded.embedCrops(imgs);
    for (let i = 0; i < a.length; i++) for (let j = 0; j < 512; j++) assert.equal(a[i]![j], b[i]![j]);
    // A different seed gives a different model: the comparison above can fail.
    const other = FaceNet.create({ variant: 'mobilefacenet' }, 8);
    const c = await other.embedCrops(imgs);
    assert.ok(cosineSimilarity(a[0]!, c[0]!) < 0.999);
    assert.ok(Math.abs(euclideanDistance(a[0]!, a[2]!) ** 2 - (2 - 2 * cosineSimilarity(a[0]!, a[2]!))) < 1e-4);
    net.dispose();
    loaded.dispose();
    other.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loading a folder without a model says so', async () => {
  await assert.rejects(loadModel('/nonexistent/model'), /no model at/);
});

test('quantised model folders are smaller and embed real faces almost identically', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-q-'));
  try {
    const net = FaceNet.create({ variant: 'mobilefacenet' }, 9);
    const files = (await readdir(path.join(glint, 'Barack_Obama'))).sort().slice(0, 4);
    const imgs = await Promise.all(files.map(async (f) => ({ data: await readCrop(path.join(glint, 'Barack_Obama', f), 112), width: 112, height: 112 })));
    const ref = await net.embedCrops(imgs);
    const sizes: Record<string, number> = {};
    for (const q of ['none', 'float16', 'uint8'] as const) {
      const d = path.join(dir, q);
      await saveModel(d, net, defaultMeta(net, 'q'), { quantize: q });
      sizes[q] = (await stat(path.join(d, 'weights.bin'))).size;
      const { net: loaded } = await loadModel(d);
      const e = await loaded.embedCrops(imgs);
      const minCos = Math.min(...e.map((v, i) => cosineSimilarity(v, ref[i]!)));
      assert.ok(minCos > (q === 'uint8' ? 0.97 : 0.9999), `${q}: min cosine to float32 ${minCos}`);
      loaded.dispose();
    }
    // uint8 keeps tensors of up to 16k values (and BN, PReLU) at float16/float32: about a third of float32 here.
    assert.ok(sizes.float16! < 0.55 * sizes.none! && sizes.uint8! < 0.35 * sizes.none!, JSON.stringify(sizes));
    net.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('folded BatchNorm (inference) gives the unfolded embeddings of the shipped model, follows weight changes, and is freed with the net', async () => {
  const { net } = await loadModel(DEFAULT_MODEL_DIR);
  const ids = (await readdir(glint)).sort().slice(0, 6);
  const imgs = await Promise.all(ids.map(async (id) => ({ data: await readCrop(path.join(glint, id, (await readdir(path.join(glint, id))).sort()[0]!), 112), width: 112, height: 112 })));
  const embedBoth = async () => {
    net.foldBatchNorm = false;
    const plain = await net.embedCrops(imgs);
    net.foldBatchNorm = true;
    return { plain, folded: await net.embedCrops(imgs) };
  };
  const minCos = (a: Float32Array[], b: Float32Array[]) => Math.min(...a.map((v, i) => cosineSimilarity(v, b[i]!)));
  const first = await embedBoth();
  assert.ok(minCos(first.folded, first.plain) > 1 - 1e-4, `folded vs unfolded: min cosine ${minCos(first.folded, first.plain)}`);
  // A training step or an import assigns new values: the folded copies must follow, not go stale.
  const bn = [...net.params.buffers.entries()].find(([n]) => n === 'block2.0.dw.bn.moving_var')!;
  const gamma = net.params.trainable.get('block2.0.dw.bn.gamma')!;
  tf.tidy(() => {
    bn[1].assign(tf.mul(bn[1], 2.5));
    gamma.assign(tf.mul(gamma, -0.7));
  });
  const changed = await embedBoth();
  assert.ok(minCos(changed.folded, changed.plain) > 1 - 1e-4, `after assign: min cosine ${minCos(changed.folded, changed.plain)}`);
  assert.ok(minCos(changed.folded, first.folded) < 0.999, 'the change reached the folded path');
  const before = tf.memory().numTensors;
  await net.embedCrops(imgs);
  assert.equal(tf.memory().numTensors, before, 'folded once per weights, not per call');
  const vars = net.params.all().length;
  net.dispose();
  assert.ok(tf.memory().numTensors <= before - vars, 'dispose frees the folded copies with the variables');
});
