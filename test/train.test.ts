// `facegate train` end to end on real face crops: split, epochs, checkpoints, curves, export,
// and an exact resume (4 epochs straight == 2 + 2 with a resume between, and == an interrupted run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, readFile, rename, rm, symlink, access } from 'node:fs/promises';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { glintSubset } from './fixtures/glint-subset.js';
import { exportCheckpoint, train } from '../src/train/trainer.js';
import { loadModel } from '../src/model/io.js';
import { FaceNet, TrainableFaceNet } from '../src/model/facenet.js';
import { modelConfig } from '../src/model/config.js';
import { initFromCheckpoint } from '../src/train/init.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { PairValidator } from '../src/train/validate.js';
import { TeacherCache } from '../src/train/teacher-cache.js';
import { readFlat } from '../src/train/flat.js';

await initBackend({ quiet: true });
const glint = new URL('../../shared/data/train/glint/', import.meta.url).pathname;

/** A small identity-per-folder dataset of real aligned crops: 4 people x 10 photos (symlinks). */
const smallDataset = (root: string) => glintSubset(root, 10);

const base = (data: string, runDir: string) => ({
  data: [data],
  runDir,
  variant: 'mobilefacenet' as const,
  width: 0.25,
  inputSize: 64,
  embeddingSize: 64,
  batchSize: 16,
  microBatch: 8,
  epochs: 4,
  workers: 1,
  checkpointEvery: 2,
  seed: 5,
  lr: 2e-3,
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('training runs, checkpoints, plots, exports, and resumes exactly', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-train-'));
  const quiet = () => {};
  try {
    const data = await smallDataset(tmp);
    const straight = await train(base(data, path.join(tmp, 'straight')), { log: quiet, progress: false, exportDir: path.join(tmp, 'model') });
    assert.equal(straight.history.length, 4);
    assert.ok(straight.history.every((h) => Number.isFinite(h.trainLoss) && h.valAcc !== undefined));
    assert.ok(straight.history[3]!.trainLoss < straight.history[0]!.trainLoss, `loss fell: ${straight.history.map((h) => h.trainLoss.toFixed(3))}`);
    for (const f of ['config.json', 'split.json', 'classes.json', 'history.json', 'history.csv', 'curves.svg', 'curves.png', 'checkpoints/epoch-0002/state.json', 'checkpoints/epoch-0004/state.json', 'checkpoints/best/state.json', 'checkpoints/last/state.json']) {
      await access(path.join(straight.runDir, f));
    }
    const { net, meta } = await loadModel(path.join(tmp, 'model'));
    assert.equal(meta.embeddingSize, 64);
    assert.equal((meta.training as { identities: number }).identities, 4);
    net.dispose();
    // Any checkpoint exports on its own (facegate model export), here quantised.
    await exportCheckpoint(straight.runDir, path.join(tmp, 'model-last-u8'), { checkpoint: 'epoch-0002', quantize: 'uint8' });
    const exported = await loadModel(path.join(tmp, 'model-last-u8'));
    assert.equal((exported.meta.training as { bestEpoch: number }).bestEpoch, 2);
    assert.equal((exported.meta.weights as { quantization: string }).quantization, 'uint8');
    // Model ids (name@version) key the gallery's templates: other weights, another version.
    assert.match(exported.meta.version, /^\d{4}-\d{2}-\d{2}\.[0-9a-f]{8}$/);
    assert.notEqual(exported.meta.version, meta.version);
    exported.net.dispose();

    // A warm start from that run's best checkpoint: the backbone is copied, a head over another
    // class list starts fresh, and a run with `init` trains on from there.
    const probe = new TrainableFaceNet(new FaceNet(modelConfig({ variant: 'mobilefacenet', width: 0.25, inputSize: 64, embeddingSize: 64 }), 99), 3);
    const report = await initFromCheckpoint(probe, path.join(straight.runDir, 'checkpoints', 'best'), ['a', 'b', 'c']);
    assert.deepEqual(report.fresh, ['arcface.weight']);
    const bestCk = await loadCheckpoint(path.join(straight.runDir, 'checkpoints', 'best'));
    // Killed between the two renames of a checkpoint swap: the old copy, moved aside, still loads;
    // the next save puts things back in order.
    const bestDir = path.join(straight.runDir, 'checkpoints', 'best');
    await rename(bestDir, `${bestDir}.old`);
    assert.equal(maxAbsDiff((await loadCheckpoint(bestDir)).params, bestCk.params), 0);
    await saveCheckpoint(bestDir, bestCk);
    assert.deepEqual((await readdir(path.join(straight.runDir, 'checkpoints'))).filter((d) => d.startsWith('best')), ['best']);
    const backbone = readFlat([...probe.net.params.trainable.entries()]);
    assert.equal(maxAbsDiff(backbone, bestCk.params.subarray(0, backbone.length)), 0);
    probe.dispose();
    const warm = await train({ ...base(data, path.join(tmp, 'warm')), epochs: 1, init: path.join(straight.runDir, 'checkpoints', 'best') }, { log: quiet, progress: false });
    assert.ok(warm.history[0]!.trainLoss < straight.history[0]!.trainLoss, `warm start ${warm.history[0]!.trainLoss.toFixed(3)} vs cold ${straight.history[0]!.trainLoss.toFixed(3)}`);

    // A teacher cache that lacks training images is refused before any training: those images
    // would otherwise be pulled towards zero targets.
    const partial = path.join(tmp, 'teacher-partial.json');
    await TeacherCache.write(partial, 'test-teacher', 8, [{ path: path.join(data, 'elsewhere.jpg'), embedding: new Float32Array(8).fill(Math.SQRT1_2 / 2) }]);
    await assert.rejects(train({ ...base(data, path.join(tmp, 'no-teacher')), epochs: 1, teacher: partial }, { log: quiet, progress: false }), /training images have no embedding in .*teacher-partial\.json/);

    // Two epochs, then a resume to four.
    const first = await train({ ...base(data, path.join(tmp, 'split-run')), epochs: 2 }, { log: quiet, progress: false });
    assert.equal(first.history.length, 2);
    // Epoch 3 through the command line, in a fresh process (nothing initialised beforehand)...
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', '--resume', path.join(tmp, 'split-run'), '--epochs', '3'], {
      cwd: new URL('..', import.meta.url).pathname,
      encoding: 'utf8',
      env: { ...process.env, FACEGATE_QUIET: '1' },
    });
    assert.equal(cli.status, 0, cli.stderr.slice(-2000));
    // ...and epoch 4 in this one.
    const resumed = await train(base(data, 'ignored'), { resume: path.join(tmp, 'split-run'), epochs: 4, log: quiet, progress: false });
    assert.equal(resumed.history.length, 4);
    assert.ok(maxAbsDiff(straight.params, resumed.params) < 1e-5, `resumed params differ by ${maxAbsDiff(straight.params, resumed.params)}`);
    assert.ok(maxAbsDiff(straight.buffers, resumed.buffers) < 1e-5);

    // Interrupted mid-epoch (as Ctrl-C does), then resumed from the interrupted checkpoint.
    const ac = new AbortController();
    let lines = 0;
    const stopped = await train(base(data, path.join(tmp, 'int-run')), {
      log: (l) => {
        if (l.includes('epoch 2/4 batch') && ++lines === 1) ac.abort();
      },
      progress: false,
      signal: ac.signal,
    });
    assert.ok(stopped.interrupted);
    const finished = await train(base(data, 'ignored'), { resume: path.join(tmp, 'int-run'), log: quiet, progress: false });
    assert.ok(maxAbsDiff(straight.params, finished.params) < 1e-5, `interrupted+resumed params differ by ${maxAbsDiff(straight.params, finished.params)}`);

    // A manual step decay between resumable runs: the new rate is used and recorded from there on.
    const decayed = await train(base(data, 'ignored'), { resume: path.join(tmp, 'split-run'), epochs: 5, lr: 1e-4, log: quiet, progress: false });
    assert.deepEqual(decayed.history.map((h) => h.lr), [...resumed.history.map((h) => h.lr), 1e-4]);
    assert.ok(maxAbsDiff(resumed.params, decayed.params) > 0, 'the extra epoch trained');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('held-out identities select the epoch and calibrate the exported thresholds', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-train-val-'));
  try {
    // 24 people x 8 photos: 20 are held out as validation identities, 4 are trained on.
    const data = path.join(tmp, 'glint24');
    for (const id of (await readdir(glint)).sort()) {
      await mkdir(path.join(data, id), { recursive: true });
      for (const f of (await readdir(path.join(glint, id))).sort().slice(0, 8)) await symlink(path.join(glint, id, f), path.join(data, id, f));
    }
    const r = await train({ ...base(data, path.join(tmp, 'run')), epochs: 2, valIdentities: 20 }, { log: () => {}, progress: false, exportDir: path.join(tmp, 'model') });
    assert.ok(r.history.every((h) => h.verifAcc !== undefined && h.verifAcc >= 0 && h.verifAcc <= 1));
    const { net, meta } = await loadModel(path.join(tmp, 'model'));
    net.dispose();
    assert.equal((meta.training as { identities: number }).identities, 4);
    const t = meta.thresholds!;
    assert.ok(t.cosine!.far1e3! > -1 && t.cosine!.far1e3! <= 1 && t.cosine!.bestAccuracy! > -1 && t.cosine!.bestAccuracy! <= 1, JSON.stringify(t));
    assert.ok(Math.abs(t.euclidean!.far1e3! - Math.sqrt(2 - 2 * t.cosine!.far1e3!)) < 1e-6);
    const roc = (meta.metrics as { roc: { fpr: number[]; tpr: number[] } }).roc;
    assert.ok(roc.fpr.length > 10 && roc.fpr.length === roc.tpr.length);
    assert.equal(roc.fpr.at(-1), 1);

    // A uint8 export's thresholds are those of the uint8 weights it ships, not of the float ones.
    await exportCheckpoint(r.runDir, path.join(tmp, 'model-u8'), { quantize: 'uint8' });
    const u8 = await loadModel(path.join(tmp, 'model-u8'));
    const root = (await readFile(path.join(r.runDir, 'val-pairs.root'), 'utf8')).trim();
    const pairs = await PairValidator.open(path.join(r.runDir, 'val-pairs.tsv'), root, 64);
    const shipped = new TrainableFaceNet(u8.net, 4);
    const cal = (await pairs.calibrate(shipped)).thresholds;
    shipped.dispose();
    assert.ok(Math.abs(u8.meta.thresholds!.cosine!.far1e3! - cal.at_far_1e3.cosine) < 1e-6, `${u8.meta.thresholds!.cosine!.far1e3} vs ${cal.at_far_1e3.cosine} on the shipped weights`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
