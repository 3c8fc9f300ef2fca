// Adapting an imported network with our own pipeline: warm start from a model folder (ArcFace head
// at the class centres), a teacher cache made by that same network in our engine, direct
// distillation and low-resolution views. Real crops, the real imported MobileFaceNet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { GLINT as glint, glintSubset } from './fixtures/glint-subset.js';
import { importOnnxModel } from '../src/model/import/import-model.js';
import { buildTeacherCache } from '../src/teacher/build-cache.js';
import { train } from '../src/train/trainer.js';
import { loadModel } from '../src/model/io.js';
import { readCrop } from '../src/train/validate.js';
import type { FaceNet } from '../src/model/facenet.js';

await initBackend({ quiet: true });
const shared = new URL('../../shared/', import.meta.url).pathname;
const PIXELS = { channels: 'BGR', mean: 127.5, std: 127.5 } as const;

const smallDataset = (root: string) => glintSubset(root, 8);

async function embedAll(net: FaceNet, files: string[]): Promise<Float32Array[]> {
  return net.embedCrops(await Promise.all(files.map(async (f) => ({ data: await readCrop(f, 112), width: 112, height: 112 }))));
}

test('a run warm-started from the imported model keeps it: head at the class centres, direct distillation from itself', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-adapt-'));
  try {
    const data = await smallDataset(tmp);
    const modelDir = path.join(tmp, 'imported');
    await importOnnxModel({ file: path.join(shared, 'models/mobilefacenet-paddlex/MobileFaceNet.onnx'), out: modelDir, name: 'imported', pixels: PIXELS, calibrate: { data: [data], images: 32 } });
    const teacher = path.join(tmp, 'teacher.json');
    const t = await buildTeacherCache({ data: [data], out: teacher, aligned: true, model: modelDir });
    assert.equal(t.added, 32);
    assert.match(JSON.parse(await readFile(teacher, 'utf8')).teacher, /^model:imported@/);

    const arch = { variant: 'mobilefacenet' as const, inputSize: 112, embeddingSize: 128, width: 1, padding: 'symmetric' as const, pixels: PIXELS };
    const logs: string[] = [];
    const run = await train(
      {
        data: [data],
        runDir: path.join(tmp, 'run'),
        ...arch,
        init: modelDir,
        teacher,
        distillMode: 'direct',
        distillWeight: 10,
        augment: { duplicateFraction: 0, randomFlip: true, lowRes: 0.5 },
        epochs: 1,
        maxBatchesPerEpoch: 2,
        batchSize: 16,
        microBatch: 8,
        workers: 1,
        lr: 1e-5,
        seed: 3,
        holdout: 0.25,
      },
      { log: (l) => logs.push(l), progress: false, exportDir: path.join(tmp, 'adapted') },
    );
    const initLine = logs.find((l) => l.includes('initialised')) ?? '';
    assert.doesNotMatch(initLine, /fresh: .*arcface\.weight/, `the head starts at the class centres: ${initLine}`);
    // A random head scores chance (0.25) on 4 people; centres of a strong embedding score near 1.
    assert.ok(run.history[0]!.trainAcc > 0.8, `closed-set accuracy in the first steps: ${run.history[0]!.trainAcc}`);
    // 1 - cos to the teacher's clean-crop embedding, for flipped and low-resolution views in
    // training-mode BatchNorm: well below the ~1 of an unrelated network.
    assert.ok(run.history[0]!.distillLoss! < 0.3, `distillation loss ${run.history[0]!.distillLoss}`);

    // The adapted model is still the imported one, near enough (a small lr, two steps).
    const probe = (await readdir(path.join(glint, 'Hugh_Laurie'))).slice(0, 4).map((f) => path.join(glint, 'Hugh_Laurie', f));
    const before = await loadModel(modelDir);
    const after = await loadModel(path.join(tmp, 'adapted'));
    assert.deepEqual(after.net.config, before.net.config, 'the adapted model keeps the padding and input convention');
    assert.equal(after.meta.input.channels, 'BGR');
    const [a, b] = [await embedAll(before.net, probe), await embedAll(after.net, probe)];
    const cos = a.map((e, i) => e.reduce((s, v, k) => s + v * b[i]![k]!, 0));
    assert.ok(Math.min(...cos) > 0.97, `cosine to the import after adapting: ${cos.map((c) => c.toFixed(4))}`);
    before.net.dispose();
    after.net.dispose();
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('a warm start from a model folder of another architecture is refused, naming what differs', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-adapt-'));
  try {
    const data = await smallDataset(tmp);
    const modelDir = path.join(tmp, 'imported');
    await importOnnxModel({ file: path.join(shared, 'models/mobilefacenet-paddlex/MobileFaceNet.onnx'), out: modelDir, name: 'imported', pixels: PIXELS });
    const before = tf.memory().numTensors;
    await assert.rejects(
      train({ data: [data], runDir: path.join(tmp, 'run'), variant: 'mobilefacenet', inputSize: 112, embeddingSize: 128, init: modelDir, epochs: 1, workers: 0 }, { log: () => {}, progress: false }),
      /set variant, inputSize, embeddingSize, width, padding and pixels/,
    );
    assert.ok(tf.memory().numTensors <= before + 1, 'the refused run frees its network');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
