// The training loop's parts on a real (small) MobileFaceNet and real face crops: weight decay by
// the parameter groups the layers declare, and the callbacks (order, the plateau schedule, the
// checkpoint cadence, a clean stop) around the shared step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { FaceNet, TrainableFaceNet } from '../src/model/facenet.js';
import type * as tf from '@tensorflow/tfjs-core';
import { Adam } from '../src/train/adam.js';
import { readFlat, writeFlat } from '../src/train/flat.js';
import { flatGroups, weightDecayGroups } from '../src/train/param-groups.js';
import { microBatches } from '../src/train/gradients.js';
import { createGradientEngine } from '../src/train/replicas.js';
import { BnMovingStats, trainStep } from '../src/train/step.js';
import { fit, type Callback } from '../src/train/loop.js';
import { ReduceLROnPlateau } from '../src/train/plateau.js';
import { TrainConfigSchema } from '../src/train/config.js';
import { loadCheckpoint, type TrainState } from '../src/train/checkpoint.js';
import { runCallbacks } from '../src/train/trainer.js';
import { readCrop } from '../src/train/validate.js';
import { GLINT } from './fixtures/glint-subset.js';

const backend = await initBackend({ quiet: true });
const SIZE = 64;

const small = (variant: 'mobilefacenet' | 'efficientfr') =>
  new TrainableFaceNet(FaceNet.create({ variant, width: 0.25, inputSize: SIZE, embeddingSize: 64 }, 3), 4, { s: 30, m: 0.5 }, 11, { mode: 'projection', teacherDim: 16, weight: 1 });

test('weight decay reaches conv, dense and ArcFace weights and never BatchNorm or PReLU parameters', () => {
  for (const variant of ['mobilefacenet', 'efficientfr'] as const) {
    const tm = small(variant);
    try {
      const vars = tm.trainableVariables();
      const before = new Map(vars.map(([n, v]) => [n, v.dataSync().slice() as Float32Array]));
      const params = readFlat(vars);
      const lr = 0.5, wd = 0.1;
      const adam = new Adam(params.length, { lr, groups: flatGroups(vars, weightDecayGroups(vars, wd)) });
      // A zero gradient moves nothing but the decay: a decayed tensor shrinks by (1 - lr * wd).
      adam.update(params, new Float32Array(params.length));
      writeFlat(vars, params);
      const shrink = (v: tf.Variable, name: string) => {
        const was = before.get(name)!;
        const now = v.dataSync();
        let worst = 0;
        for (let i = 0; i < was.length; i++) worst = Math.max(worst, Math.abs(now[i]! - was[i]! * (1 - lr * wd)));
        return worst;
      };
      const unchanged = (v: tf.Variable, name: string) => before.get(name)!.every((x, i) => x === v.dataSync()[i]);
      // Through the layer objects, not names: each MobileFaceNet step's conv decays, its BN and PReLU do not.
      if (variant === 'mobilefacenet') {
        const nameOf = new Map(vars.map(([n, v]) => [v, n]));
        for (const step of tm.net.steps()) {
          if (step.kind === 'add') continue;
          const conv = step.kind === 'conv' ? step.unit.conv : step.conv;
          const bn = step.kind === 'conv' ? step.unit.bn : step.bn;
          assert.ok(shrink(conv.w, nameOf.get(conv.w)!) < 1e-6, `${step.name}: the kernel decays`);
          for (const v of [bn.gamma, bn.beta, ...(step.kind === 'conv' && step.unit.prelu ? [step.unit.prelu.alpha] : [])]) {
            if (nameOf.has(v)) assert.ok(unchanged(v, nameOf.get(v)!), `${nameOf.get(v)} is not decayed`);
          }
        }
        assert.ok(shrink(tm.head.weight, 'arcface.weight') < 1e-6, 'the ArcFace weight decays');
      }
      // Every tensor, against the rule the trainer used to apply by name (behaviour unchanged).
      let decayed = 0, kept = 0;
      for (const [name, v] of vars) {
        const byName = name.endsWith('.w') || name === 'arcface.weight';
        if (byName) {
          assert.ok(shrink(v, name) < 1e-6, `${variant} ${name} decays`);
          decayed++;
        } else {
          assert.ok(unchanged(v, name), `${variant} ${name} is not decayed`);
          kept++;
        }
      }
      assert.ok(decayed > 10 && kept > 10, `${decayed} decayed, ${kept} kept`);
      assert.ok(vars.some(([n]) => n === 'distill.projection.w'));
      // A group left out would never train: the optimiser refuses it.
      assert.throws(() => new Adam(params.length, { lr, groups: flatGroups(vars, weightDecayGroups(vars, wd).slice(0, 1)) }), /is in no group/);
    } finally {
      tm.dispose();
    }
  }
});

/** Two batches of 8 real crops (4 people x 4 photos), a fixed order every epoch. */
async function realBatches(): Promise<{ index: number; images: Uint8Array; labels: Int32Array }[]> {
  const ids = (await readdir(GLINT)).sort().slice(0, 4);
  const images = new Uint8Array(16 * SIZE * SIZE * 3);
  const labels = new Int32Array(16);
  let k = 0;
  for (let photo = 0; photo < 4; photo++) {
    for (const [label, id] of ids.entries()) {
      const f = (await readdir(path.join(GLINT, id))).sort()[photo]!;
      images.set(await readCrop(path.join(GLINT, id, f), SIZE), k * SIZE * SIZE * 3);
      labels[k++] = label;
    }
  }
  const per = 8 * SIZE * SIZE * 3;
  return [0, 1].map((index) => ({ index, images: images.slice(index * per, (index + 1) * per), labels: labels.slice(index * 8, (index + 1) * 8) }));
}

/** The trainer's set-up in small: the real model, step and callbacks (runCallbacks), in-thread gradients. */
async function rig(runDir: string) {
  const tm = small('mobilefacenet');
  const engine = await createGradientEngine(tm, 0, backend.name);
  const vars = tm.trainableVariables();
  const params = readFlat(vars);
  const buffers = readFlat(tm.bufferVariables());
  const adam = new Adam(params.length, { lr: 1e-3, groups: flatGroups(vars, weightDecayGroups(vars, 5e-4)) });
  const plateau = new ReduceLROnPlateau({ mode: 'max', factor: 0.5, patience: 1 });
  const state: TrainState = { epoch: 0, batch: 0, lr: 1e-3, plateau: plateau.state, best: null, history: [], config: TrainConfigSchema.parse({ data: ['glint'], runDir }), classes: ['a', 'b', 'c', 'd'] };
  const bn = new BnMovingStats(tm, buffers);
  const batches = await realBatches();
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  /** `validation` takes the trainer's validation callback's place; `first` and `last` go around the run's list. */
  const run = (o: { validation: Callback; first?: Callback; last?: Callback; signal?: AbortSignal }) =>
    fit({
      state,
      epochs: 5,
      batchesPerEpoch: () => 2,
      batches: (_epoch, from) => batches.slice(from),
      step: (b) => trainStep(params, adam, (p) => engine.compute(p, microBatches(b.images, b.labels, 4, SIZE)), bn),
      optimizer: adam,
      signal: o.signal,
      callbacks: [
        ...(o.first ? [o.first] : []),
        ...runCallbacks({ cfg: { runDir, warmupEpochs: 1, checkpointEvery: 2 }, state, log, tty: false, validation: o.validation, optimizer: adam, plateau, snapshot: () => ({ state, params, buffers, adam: adam.state }) }),
        ...(o.last ? [o.last] : []),
      ],
    });
  const close = async () => {
    await engine.close();
    tm.dispose();
  };
  return { params, adam, state, lines, run, close };
}

/** The verification figures a pair validator would report: better up to epoch 2, then flat. */
const VERIF = [0.5, 0.6, 0.55, 0.55, 0.55];
const scriptedVerification: Callback = { epochEnd: (rec) => void (rec.verifAcc = VERIF[rec.epoch - 1]) };

test('callbacks run in order around the shared step: warm-up, plateau, checkpoints every N epochs', async () => {
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'facegate-loop-'));
  const r = await rig(runDir);
  try {
    const trace: string[] = [];
    const stepLr: number[][] = [];
    const paramsAt = new Map<number, Float32Array>();
    const tracer = (who: string): Callback => ({
      epochBegin: (e) => void trace.push(`${who} begin ${e.epoch}`),
      beforeStep: (s) => void trace.push(`${who} before ${s.epoch}.${s.batch}`),
      afterStep: (s) => void trace.push(`${who} after ${s.epoch}.${s.batch}`),
      epochEnd: (rec) => void trace.push(`${who} end ${rec.epoch}`),
    });
    const last = tracer('last');
    const { interrupted } = await r.run({
      validation: scriptedVerification,
      first: tracer('first'),
      last: {
        ...last,
        afterStep: (s, m) => {
          last.afterStep!(s, m);
          (stepLr[s.epoch - 1] ??= []).push(r.adam.lr);
        },
        epochEnd: (rec, e) => {
          last.epochEnd!(rec, e);
          paramsAt.set(rec.epoch, Float32Array.from(r.params));
        },
      },
    });
    assert.equal(interrupted, false);
    assert.deepEqual(trace.filter((t) => / 1(\.|$)/.test(t)), [
      'first begin 1', 'last begin 1',
      'first before 1.0', 'last before 1.0', 'first after 1.0', 'last after 1.0',
      'first before 1.1', 'last before 1.1', 'first after 1.1', 'last after 1.1',
      'first end 1', 'last end 1',
    ]);
    // Warm-up over epoch 1, then the full rate; no improvement in epochs 3 and 4 (patience 1)
    // halves it for epoch 5.
    assert.deepEqual(stepLr, [[5e-4, 1e-3], [1e-3, 1e-3], [1e-3, 1e-3], [1e-3, 1e-3], [5e-4, 5e-4]]);
    assert.deepEqual(r.state.history.map((h) => h.lr), [1e-3, 1e-3, 1e-3, 1e-3, 5e-4]);
    assert.equal(r.state.lr, 5e-4);
    assert.ok(r.state.history[4]!.trainLoss < r.state.history[0]!.trainLoss, `the step trains: ${r.state.history.map((h) => h.trainLoss.toFixed(3))}`);

    // Every 2 epochs, plus the best and the last; latest.json names the last.
    const dirs = (await readdir(path.join(runDir, 'checkpoints'))).sort();
    assert.deepEqual(dirs, ['best', 'epoch-0002', 'epoch-0004', 'last', 'latest.json']);
    assert.deepEqual(JSON.parse(await readFile(path.join(runDir, 'history.json'), 'utf8')).map((h: { verifAcc: number }) => h.verifAcc), VERIF);
    assert.deepEqual(JSON.parse(await readFile(path.join(runDir, 'checkpoints', 'latest.json'), 'utf8')), { dir: 'last' });
    // Epoch 4's checkpoint was written after validation and the schedule had run: its history has
    // the epoch's verification figure and its state the halved rate a resume must continue at.
    const e4 = await loadCheckpoint(path.join(runDir, 'checkpoints', 'epoch-0004'));
    assert.equal(e4.state.epoch, 4);
    assert.equal(e4.state.history.at(-1)!.verifAcc, 0.55);
    assert.equal(e4.state.lr, 5e-4);
    assert.deepEqual(e4.params, paramsAt.get(4));
    assert.equal(e4.adam.step, 8);
    const best = await loadCheckpoint(path.join(runDir, 'checkpoints', 'best'));
    assert.deepEqual(best.state.best, { metric: 0.6, epoch: 2 });
    assert.deepEqual(best.params, paramsAt.get(2));
    // The log: progress lines within the epoch, then its summary with the verification figure.
    const epoch1 = r.lines.filter((l) => l.includes('epoch 1/5'));
    assert.match(epoch1.at(-2)!, /epoch 1\/5 batch 2\/2 loss/);
    assert.match(epoch1.at(-1)!, /epoch 1\/5 loss .* verif 0\.5000 \| lr 1\.00e-3/);
  } finally {
    await r.close();
    await rm(runDir, { recursive: true, force: true });
  }
});

test('an abort mid-epoch stops after the step, saves where it stopped and runs no epoch-end callback', async () => {
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'facegate-loop-'));
  const r = await rig(runDir);
  try {
    const ac = new AbortController();
    const ends: number[] = [];
    const { interrupted } = await r.run({
      validation: scriptedVerification,
      first: { afterStep: (s) => s.epoch === 2 && s.batch === 0 && ac.abort() },
      last: { epochEnd: (rec) => void ends.push(rec.epoch) },
      signal: ac.signal,
    });
    assert.equal(interrupted, true);
    assert.deepEqual(ends, [1]);
    assert.equal(r.state.history.length, 1);
    const ck = await loadCheckpoint(path.join(runDir, 'checkpoints', 'interrupted'));
    assert.deepEqual({ epoch: ck.state.epoch, batch: ck.state.batch }, { epoch: 1, batch: 1 });
    assert.equal(ck.adam.step, 3);
    assert.deepEqual(ck.params, r.params);
    assert.deepEqual(JSON.parse(await readFile(path.join(runDir, 'checkpoints', 'latest.json'), 'utf8')), { dir: 'interrupted' });
    assert.match(r.lines.at(-1)!, /interrupted in epoch 2 at batch 1\/2; checkpoint saved/);
  } finally {
    await r.close();
    await rm(runDir, { recursive: true, force: true });
  }
});
