// Importing the ONNX MobileFaceNet into our own layers: our WASM forward must give the ONNX
// runtime's embeddings (reference-embeddings.json, from onnxruntime-node), before and after uint8
// export; BatchNorm statistics measured after the import keep inference exact and make training
// mode agree with it; a graph that is not our network is refused naming the node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { readOnnx, type OnnxGraph } from '../src/model/import/onnx-graph.js';
import { importMobileFaceNet } from '../src/model/import/mobilefacenet-onnx.js';
import { recalibrateBatchNorm } from '../src/model/import/batchnorm-stats.js';
import { importOnnxModel } from '../src/model/import/import-model.js';
import { loadModel } from '../src/model/io.js';
import type { FaceNet } from '../src/model/facenet.js';
import { readCrop } from '../src/train/validate.js';

await initBackend({ quiet: true });
const shared = new URL('../../shared/', import.meta.url).pathname;
const onnxFile = path.join(shared, 'models/mobilefacenet-paddlex/MobileFaceNet.onnx');
const PIXELS = { channels: 'BGR', mean: 127.5, std: 127.5 } as const;
const ref = JSON.parse(await readFile(path.join(shared, 'models/mobilefacenet-paddlex/reference-embeddings.json'), 'utf8')) as { crops: { file: string; raw: number[] }[] };
const crops = await Promise.all(ref.crops.map((c) => readCrop(path.join(shared, 'data', c.file), 112)));
const batch = () => tf.tensor4d(Uint8Array.from(crops.flatMap((c) => [...c])), [crops.length, 112, 112, 3], 'int32');

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return d / Math.sqrt(na * nb);
}

/** Raw (unnormalised) outputs for the 16 reference crops, in inference or training mode. */
function raw(net: FaceNet, training = false): Float32Array[] {
  const x = batch();
  const out = tf.tidy(() => net.forward(net.preprocess(x), { training }).dataSync() as Float32Array);
  x.dispose();
  const dim = net.config.embeddingSize;
  return crops.map((_, i) => out.slice(i * dim, (i + 1) * dim));
}

const graph: OnnxGraph = readOnnx(await readFile(onnxFile));

test('the imported network gives the ONNX runtime\'s embeddings (cosine >= 0.9999 on each of the 16 crops)', () => {
  const before = tf.memory().numTensors;
  const { net, report } = importMobileFaceNet(graph, PIXELS);
  assert.equal(report.embeddingSize, 128, 'embedding size taken from the file');
  assert.deepEqual(report.ops, { Conv: 50, PRelu: 33, Add: 12, Reshape: 1 });
  assert.equal(net.config.padding, 'symmetric');
  assert.deepEqual(net.config.pixels, PIXELS);
  const ours = raw(net);
  ours.forEach((e, i) => assert.ok(cosine(e, ref.crops[i]!.raw) >= 0.9999, `${ref.crops[i]!.file}: cosine ${cosine(e, ref.crops[i]!.raw)}`));
  // The convention matters: the same weights fed RGB are measurably worse, so BGR is really applied.
  const rgb = importMobileFaceNet(graph, { ...PIXELS, channels: 'RGB' }).net;
  const worst = Math.min(...raw(rgb).map((e, i) => cosine(e, ref.crops[i]!.raw)));
  assert.ok(worst < 0.999, `RGB input should not match the BGR reference (worst cosine ${worst})`);
  rgb.dispose();
  net.dispose();
  assert.equal(tf.memory().numTensors, before, 'import leaves no tensors behind');
});

test('BatchNorm statistics after the import: inference unchanged, and training mode now agrees with it', async () => {
  const { net } = importMobileFaceNet(graph, PIXELS);
  const folded = raw(net);
  // Identity statistics: a training-mode forward renormalises every layer and loses the network.
  const trainBefore = raw(net, true).map((e, i) => cosine(e, folded[i]!));
  const glint = path.join(shared, 'data/train/glint');
  const people = ['Barack_Obama', 'Hugh_Jackman', 'Halle_Berry', 'James_Spader'];
  const files: string[] = [];
  for (const p of people) files.push(...(await readdir(path.join(glint, p))).slice(0, 8).map((f) => path.join(glint, p, f)));
  const imgs = await Promise.all(files.map((f) => readCrop(f, 112)));
  const before = tf.memory().numTensors;
  const r = await recalibrateBatchNorm(net, [tf.tensor4d(Uint8Array.from(imgs.flatMap((c) => [...c])), [imgs.length, 112, 112, 3], 'int32')]);
  assert.equal(tf.memory().numTensors, before, 'recalibration leaves no tensors behind');
  assert.equal(r.layers, 50);
  assert.equal(r.images, files.length);
  const after = raw(net);
  after.forEach((e, i) => assert.ok(cosine(e, ref.crops[i]!.raw) >= 0.9999, `inference changed: ${cosine(e, ref.crops[i]!.raw)}`));
  const trainAfter = raw(net, true).map((e, i) => cosine(e, folded[i]!));
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(mean(trainAfter) > 0.9, `training-mode forward should stay near the import (mean cosine ${mean(trainAfter)})`);
  assert.ok(mean(trainAfter) > mean(trainBefore) + 0.2, `statistics should matter: ${mean(trainBefore)} -> ${mean(trainAfter)}`);
  net.dispose();
});

test('a uint8 export of the import still matches the ONNX runtime (cosine >= 0.999 each) and stays under 1.5 MB', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fg-import-'));
  try {
    const out = path.join(dir, 'imported');
    const r = await importOnnxModel({ file: onnxFile, out, name: 'imported', pixels: PIXELS, quantize: 'uint8', provenance: { origin: 'test' } });
    assert.equal(r.meta.embeddingSize, 128);
    assert.deepEqual(r.meta.input, { size: 112, channels: 'BGR', alignment: 'arcface-5pt' });
    assert.deepEqual(r.meta.normalization, { mean: 127.5, std: 127.5 });
    assert.equal((r.meta.source as { md5: string }).md5, 'c430908f7ccc0b4386339a2caa0041f9');
    const { net, meta } = await loadModel(out);
    assert.ok((meta.weights as { bytes: number }).bytes <= 1.5e6, `${(meta.weights as { bytes: number }).bytes} bytes`);
    raw(net).forEach((e, i) => assert.ok(cosine(e, ref.crops[i]!.raw) >= 0.999, `${ref.crops[i]!.file}: cosine ${cosine(e, ref.crops[i]!.raw)} after uint8`));
    net.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A copy of the graph with one node changed. */
function mutate(change: (g: OnnxGraph) => void): OnnxGraph {
  const g: OnnxGraph = { ...graph, nodes: graph.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: new Map(n.attrs) })) };
  change(g);
  return g;
}

test('a graph that is not our MobileFaceNet is refused with the node and the reason', () => {
  const before = tf.memory().numTensors;
  const cases: [string, (g: OnnxGraph) => void, RegExp][] = [
    ['unknown op', (g) => (g.nodes[1]!.opType = 'Sigmoid'), /node "PRelu\.0" \(Sigmoid\): op Sigmoid has no counterpart/],
    ['another stride', (g) => g.nodes.find((n) => n.name === 'Conv.3')!.attrs.set('strides', [1, 1]), /node "Conv\.3" \(Conv\): strides \[1,1\]; our layer block1\.0\.dw has stride 2/],
    ['TF-style padding', (g) => g.nodes.find((n) => n.name === 'Conv.0')!.attrs.set('pads', [0, 0, 1, 1]), /node "Conv\.0" \(Conv\): pads \[0,0,1,1\]/],
    ['a missing residual', (g) => g.nodes.find((n) => n.name === 'Add.0')!.inputs.splice(0, 1, 'prelu_4.tmp_0'), /node "Add\.0" \(Add\): our residual block1\.1\.add/],
    ['a missing activation', (g) => (g.nodes.find((n) => n.name === 'PRelu.2')!.inputs[0] = 'batch_norm_4.tmp_2'), /node "Conv\.2" \(Conv\): our layer block1\.0\.expand expects a PRelu/],
  ];
  for (const [what, change, message] of cases) {
    assert.throws(() => importMobileFaceNet(mutate(change), PIXELS), message, what);
  }
  assert.throws(() => readOnnx(new Uint8Array([1, 2, 3, 4, 5])), /not an ONNX model|no graph/);
  assert.equal(tf.memory().numTensors, before, 'a refused import frees what it built');
});
