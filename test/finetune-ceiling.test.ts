// A finetune of the shipped model on a small site where it is already at the ceiling (every
// held-out photo recognised, wide margins): the run is measured, found no better crop by crop, and
// refused; the active model stays. The verdict compares each held-out crop's margin before and
// after (d' alone rose on a run that made the margins worse).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { ModelRegistry } from '../src/model/registry.js';
import { loadConfig } from '../src/config/index.js';
import type { AppConfig } from '../src/config/schema.js';
import { scanDatasets } from '../src/data/dataset.js';
import { holdOutIdentities, pairsTsv } from '../src/data/val-pairs.js';
import { splitDataset, writeSplit } from '../src/data/split.js';
import { writeFileAtomic } from '../src/util/atomic-write.js';
import { runFinetune } from '../src/finetune/finetune.js';
import { FaceService } from '../src/service/index.js';
import { BBT, DATA, SHIPPED_MODEL, shippedModelExists } from './fixtures/web/harness.js';

const skip = shippedModelExists() ? false : 'models/facegate-default is missing';
const GLINT = path.join(DATA, 'train/glint');
let tmp: string;
let config: AppConfig;
let baseRun: string;

before(async () => {
  if (skip) return;
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-ceiling-'));
  await cp(SHIPPED_MODEL, path.join(tmp, 'models', 'facegate-default'), { recursive: true });
  baseRun = path.join(tmp, 'base-run');
  await mkdir(baseRun, { recursive: true });
  const held = holdOutIdentities(await scanDatasets([GLINT]), { seed: 3, identities: 8, folds: 4, pairsPerFold: 100 });
  await writeSplit(baseRun, splitDataset(held.data, { seed: 3, heldOut: 0.12, testFraction: 0.4 }));
  await writeFileAtomic(path.join(baseRun, 'val-pairs.tsv'), pairsTsv(held.pairs, (p) => path.relative(GLINT, p)));
  await writeFileAtomic(path.join(baseRun, 'val-pairs.root'), GLINT + '\n');
  config = loadConfig({ env: {}, overrides: { modelsDir: path.join(tmp, 'models'), galleryDir: path.join(tmp, 'enrolled') } });
  const service = await FaceService.open(config, { quiet: true });
  try {
    for (const who of ['amy', 'howard', 'penny', 'raj', 'sheldon']) {
      const images = await Promise.all([1, 2, 3, 4, 5].map(async (n) => ({ bytes: await readFile(path.join(BBT, who, `${who}${n}.png`)), file: `${who}${n}.png` })));
      await service.enroll({ name: who, images, confirmDuplicate: true });
    }
  } finally {
    await service.close();
  }
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('at the ceiling, a finetune of the shipped model is measured crop by crop and refused', { skip }, async () => {
  const registry = new ModelRegistry(path.join(tmp, 'models'));
  const active = registry.activeSync().active;
  const folders = (await readdir(path.join(tmp, 'models'))).sort();
  const tensors = tf.memory().numTensors;
  // The default settings' epochs, on a short replay: long enough that the change is the run's, not noise.
  const report = await runFinetune(config, { epochs: 6, replaySize: 400, maxBasePairs: 800, baseRun, log: () => {} });
  assert.equal(report.before.siteTop1, 1, `the shipped model recognises every held-out photo: ${report.table}`);
  assert.equal(report.before.siteMargins!.length, 5, 'one held-out crop per person');
  const mean = (m: number[]) => m.reduce((a, b) => a + b, 0) / m.length;
  assert.ok(mean(report.after!.siteMargins!) <= mean(report.before.siteMargins!), report.table);
  assert.equal(report.promoted, false, report.reasons.join('; '));
  assert.ok(report.reasons.some((r) => /site did not improve \(margin [-+]\d/.test(r)), report.reasons.join('; '));
  assert.equal(registry.activeSync().active, active);
  assert.deepEqual((await readdir(path.join(tmp, 'models'))).sort(), folders, 'no new version left behind');
  assert.equal(tf.memory().numTensors, tensors, 'the run frees its networks');
});
