// `npm run bench -- distill`: how much of the face-api teacher a training run has taken in, on the
// run's own held-out identities (its val pairs; never the dev set). Prints 10-fold accuracy and
// TAR at FAR 1e-3 of: our 512-d embedding, the distillation projection into the teacher's space,
// and the teacher itself, raw and centred. With --proxy, also trains only the run's tail over
// cached trunk features with each candidate distillation loss (minutes instead of hours), the
// quick screen behind run v2's choice (docs/training-runs.md).
//   npm run bench -- distill [--run DIR] [--checkpoint best] [--proxy] [--images 3000] [--epochs 3] [--only 'x20,x100']
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { trainableFromCheckpoint } from '../src/train/init.js';
import { readFlat, writeFlat } from '../src/train/flat.js';
import { readPairs, type Pair } from '../src/eval/pairs.js';
import { calibrateOnPairs, readCrop } from '../src/train/validate.js';
import { TeacherCache } from '../src/train/teacher-cache.js';
import { tenFoldAccuracy } from '../src/eval/metrics.js';
import { trunkFeatures, tailEmbeddings } from '../src/finetune/tail.js';
import { l2Normalize } from '../src/model/arcface.js';
import { Dense, ParamStore } from '../src/model/layers.js';
import { Adam } from '../src/train/adam.js';
import { Rng } from '../src/data/rng.js';

const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/** 10-fold accuracy on the pairs and TAR at FAR 1e-3 over every same/different pair of the images. */
function score(files: string[], embs: Float32Array[], pairs: Pair[]): string {
  const m = new Map(files.map((f, i) => [f, embs[i]!]));
  const acc = tenFoldAccuracy(pairs.map((p) => dot(m.get(p.a)!, m.get(p.b)!)), pairs.map((p) => p.same), pairs.map((p) => p.fold));
  const tar = calibrateOnPairs(m, pairs, Infinity).thresholds.at_far_1e3.tar; // every impostor pair, none thinned
  return `acc ${(100 * acc.mean).toFixed(1)}%  TAR@1e-3 ${(100 * tar).toFixed(1)}%`;
}

interface Variant {
  name: string;
  arcface: number;
  mode?: 'projection' | 'similarity';
  centred?: boolean;
  weight: number;
  lr: number;
}

const VARIANTS: Variant[] = [
  { name: 'ArcFace only', arcface: 1, weight: 0, lr: 1e-4 },
  { name: 'projection raw x5 (v1)', arcface: 1, mode: 'projection', weight: 5, lr: 1e-4 },
  { name: 'projection centred x5', arcface: 1, mode: 'projection', centred: true, weight: 5, lr: 1e-4 },
  { name: 'projection centred x20', arcface: 1, mode: 'projection', centred: true, weight: 20, lr: 1e-4 },
  { name: 'projection centred x50', arcface: 1, mode: 'projection', centred: true, weight: 50, lr: 1e-4 },
  { name: 'projection centred x100', arcface: 1, mode: 'projection', centred: true, weight: 100, lr: 1e-4 },
  { name: 'similarity centred x20', arcface: 1, mode: 'similarity', centred: true, weight: 20, lr: 1e-4 },
  { name: 'similarity centred only', arcface: 0, mode: 'similarity', centred: true, weight: 20, lr: 1e-4 },
];

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      run: { type: 'string', default: 'models/training/facegate-default-v1' },
      checkpoint: { type: 'string', default: 'best' },
      proxy: { type: 'boolean', default: false },
      images: { type: 'string', default: '3000' },
      epochs: { type: 'string', default: '3' },
      only: { type: 'string' },
    },
  });
  await initBackend({ quiet: true });
  const runDir = values.run!;
  const ck = await loadCheckpoint(`${runDir}/checkpoints/${values.checkpoint}`);
  const cfg = ck.state.config;
  if (!cfg.teacher) throw new Error(`${runDir} was trained without a teacher`);
  const teacher = await TeacherCache.read(cfg.teacher);
  const tm = await trainableFromCheckpoint(ck);
  const net = tm.net;
  const size = cfg.inputSize;
  const root = (await readFile(`${runDir}/val-pairs.root`, 'utf8')).trim();
  const pairs = await readPairs(`${runDir}/val-pairs.tsv`, root);
  const files = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
  const crop = (f: string) => f.replace(/\.[^./]+$/, '.jpg');
  const load = (fs: string[]) => Promise.all(fs.map(async (f) => ({ data: await readCrop(crop(f), size), width: size, height: size })));
  const images = await load(files);
  console.log(`${runDir} (${values.checkpoint}, epoch ${ck.state.epoch}): ${files.length} crops of held-out identities, ${pairs.length} pairs`);

  // The spaces side by side.
  const ours: Float32Array[] = [];
  const projected: Float32Array[] = [];
  for (let i = 0; i < images.length; i += 32) {
    const chunk = images.slice(i, i + 32);
    const [e, p] = tf.tidy(() => {
      const x = tf.stack(chunk.map((c) => tf.tensor3d(c.data, [size, size, 3], 'float32'))) as tf.Tensor4D;
      const emb = net.forward(net.preprocess(x), { training: false });
      return [l2Normalize(emb).arraySync(), tm.projectToTeacher(emb)?.arraySync()];
    });
    e.forEach((r) => ours.push(Float32Array.from(r)));
    p?.forEach((r) => projected.push(Float32Array.from(r)));
  }
  const rows = files.map((f) => teacher.get(crop(f)));
  if (rows.some((r) => !r)) throw new Error('the teacher cache lacks some held-out crops');
  const raw = rows.map((r) => r!); // the cache holds unit rows
  const trainPaths = (JSON.parse(await readFile(`${runDir}/split.json`, 'utf8')) as { train: { path: string; label: number }[] }).train;
  const centred = teacher.centred(trainPaths.map((t) => t.path));
  console.log(`  ${`ours, ${cfg.embeddingSize}-d`.padEnd(28)}${score(files, ours, pairs)}`);
  if (projected.length) console.log(`  ours, projected to teacher  ${score(files, projected, pairs)}`);
  console.log(`  teacher (face-api)          ${score(files, raw, pairs)}`);
  console.log(`  teacher, centred            ${score(files, files.map((f) => centred.get(crop(f))!), pairs)}`);
  if (!values.proxy) {
    tm.dispose();
    return;
  }

  // Tail-only screen of distillation losses over cached trunk features.
  const n = Number(values.images);
  const epochs = Number(values.epochs);
  const train = Rng.derive(7, 'distill-bench').shuffle([...trainPaths]).slice(0, n);
  const t0 = performance.now();
  const trainF = await trunkFeatures(net, await load(train.map((t) => t.path)), { batchSize: 32 });
  const heldF = await trunkFeatures(net, images, { batchSize: 32 });
  console.log(`  tail proxy: ${train.length} training crops, ${epochs} epochs; trunk features in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const targets = { raw: train.map((t) => teacher.get(t.path)!), centred: train.map((t) => Float32Array.from(centred.get(t.path)!)) };
  const tailVars = net.tailVariables();
  const tail0 = readFlat(tailVars);
  const head0 = tm.head.weight.clone();
  const [h, w, c] = trainF.shape;
  const per = h * w * c;
  console.log(`    as trained                  ${score(files, tailEmbeddings(net, heldF), pairs)}`);
  const pick = values.only?.split(',').map((x) => x.trim().toLowerCase());
  for (const v of VARIANTS.filter((x) => !pick || pick.some((q) => x.name.toLowerCase().includes(q)))) {
    writeFlat(tailVars, tail0);
    tm.head.weight.assign(head0);
    const ps = new ParamStore(99);
    const proj = new Dense(ps, 'projection', cfg.embeddingSize, teacher.dim);
    const vars: [string, tf.Variable][] = [...tailVars, ['arcface.weight', tm.head.weight], ...ps.trainable.entries()];
    const params = readFlat(vars);
    const adam = new Adam(params.length, { lr: v.lr });
    const rng = Rng.derive(3, v.name);
    const t1 = performance.now();
    for (let e = 0; e < epochs; e++) {
      const order = rng.shuffle(Array.from(train.keys()));
      for (let i = 0; i + 32 <= order.length; i += 32) {
        const idx = order.slice(i, i + 32);
        const feats = new Float32Array(idx.length * per);
        idx.forEach((k, j) => feats.set(trainF.rows[k]!, j * per));
        const tRows = new Float32Array(idx.length * teacher.dim);
        idx.forEach((k, j) => tRows.set((v.centred ? targets.centred : targets.raw)[k]!, j * teacher.dim));
        const { value, grads } = tf.tidy(() => {
          const x = tf.tensor4d(feats, [idx.length, h, w, c]);
          const y = tf.tensor1d(Int32Array.from(idx, (k) => train[k]!.label), 'int32');
          const t = tf.tensor2d(tRows, [idx.length, teacher.dim]);
          return tf.variableGrads(() => {
            const emb = net.tailForward(x, { training: false });
            let loss = tf.mul(tm.head.loss(emb, y).loss, v.arcface) as tf.Scalar;
            const u = l2Normalize(emb);
            if (v.mode === 'projection') loss = tf.add(loss, tf.mul(tf.sub(1, tf.mean(tf.sum(tf.mul(l2Normalize(proj.forward(u)), t), 1))), v.weight)) as tf.Scalar;
            if (v.mode === 'similarity') loss = tf.add(loss, tf.mul(tf.mean(tf.square(tf.sub(tf.matMul(u, u, false, true), tf.matMul(t, t, false, true)))), v.weight)) as tf.Scalar;
            return loss;
          }, vars.map(([, x]) => x));
        });
        const g = new Float32Array(params.length);
        let o = 0;
        for (const [, x] of vars) {
          const gx = grads[x.name];
          if (gx) g.set(gx.dataSync() as Float32Array, o);
          o += x.size;
        }
        tf.dispose([value, ...Object.values(grads)]);
        adam.update(params, g);
        writeFlat(vars, params);
      }
    }
    console.log(`    ${v.name.padEnd(27)} ${score(files, tailEmbeddings(net, heldF), pairs)}  (${((performance.now() - t1) / 1000).toFixed(0)} s)`);
    ps.dispose();
  }
  head0.dispose();
  tm.dispose();
}
