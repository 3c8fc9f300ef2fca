// `facegate eval` end to end on real faces: our pipeline and face-api's on the same pairs, failed
// images counted as wrong decisions, the JSON report's exact keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { FaceNet } from '../src/model/facenet.js';
import { evaluate, writeEvaluation, type Evaluation } from '../src/eval/evaluate.js';
import { mirrorImage } from '../src/eval/embed-images.js';
import { recordEvaluation } from '../src/eval/record.js';
import { accuracyAt, auc } from '../src/eval/metrics.js';

const DATA = new URL('../../shared/data/', import.meta.url);
const BBT = fileURLToPath(new URL('small/bbt/', DATA));
const GLINT = fileURLToPath(new URL('train/glint/', DATA));

const PEOPLE = ['amy', 'howard', 'leonard', 'raj', 'sheldon'];
const SUMMARY_KEYS = ['accuracy', 'accuracy_std', 'auc', 'eer', 'failed_images', 'ms_per_image', 'pairs', 'tar_at_far', 'threshold_cosine', 'threshold_euclidean'];

let dir: string;
let net: FaceNet;
let ev: Evaluation;
/** Index of the genuine pair whose second image holds no face. */
let noFacePair: number;

const tsv = (rows: [number, boolean, string, string][]) => rows.map(([f, s, a, b]) => `${f}\t${s ? 1 : 0}\t${a}\t${b}`).join('\n') + '\n';

before(async () => {
  await initBackend();
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-eval-'));
  // The bbt pictures are 150 px face chips; SSD (face-api) rarely fires on a face filling the whole
  // frame, so each gets a mirrored border, as a photo would have context around the face.
  for (const who of PEOPLE) {
    await mkdir(path.join(dir, who), { recursive: true });
    for (const k of [1, 2, 3]) {
      await sharp(path.join(BBT, who, `${who}${k}.png`)).extend({ top: 75, bottom: 75, left: 75, right: 75, extendWith: 'mirror' }).png().toFile(path.join(dir, who, `${who}${k}.png`));
    }
  }
  // A "photo of amy" in which no detector can find a face: smooth random texture.
  const noise = new Uint8Array(64 * 64 * 3).map(() => Math.floor(Math.random() * 256));
  await sharp(Buffer.from(noise), { raw: { width: 64, height: 64, channels: 3 } }).resize(300, 300).png().toFile(path.join(dir, 'amy', 'amy-noface.png'));

  const rows: [number, boolean, string, string][] = [];
  PEOPLE.forEach((who, i) => {
    for (const [x, y] of [[1, 2], [1, 3], [2, 3]]) rows.push([rows.length % 3, true, `${who}/${who}${x}.png`, `${who}/${who}${y}.png`]);
    const other = PEOPLE[(i + 1) % PEOPLE.length]!;
    for (const k of [1, 2, 3]) rows.push([rows.length % 3, false, `${who}/${who}${k}.png`, `${other}/${other}${(k % 3) + 1}.png`]);
  });
  noFacePair = rows.length;
  rows.push([0, true, 'amy/amy1.png', 'amy/amy-noface.png']);
  await writeFile(path.join(dir, 'pairs.tsv'), '# fold\tsame\ta\tb\n' + tsv(rows));
  net = FaceNet.create({});
  ev = await evaluate({ pairs: path.join(dir, 'pairs.tsv'), root: dir, net, name: 'untrained', peer: 'face-api', peerWorkers: 0, detector: 'accurate' });
});

after(async () => {
  net?.dispose();
  await rm(dir, { recursive: true, force: true });
});

test('face-api on our tfjs instance separates genuine from impostor pairs', (t) => {
  const peer = ev.peer!;
  assert.equal(peer.name, 'face-api');
  const labels = ev.pairs.map((p) => p.same);
  const keep = ev.pairs.map((_, i) => i !== noFacePair);
  const scores = Array.from(peer.cosine).filter((_, i) => keep[i]);
  const same = labels.filter((_, i) => keep[i]);
  assert.ok(scores.every(Number.isFinite), 'every bbt face is found by face-api');
  const mean = (want: boolean) => scores.filter((_, i) => same[i] === want).reduce((a, b) => a + b, 0) / same.filter((s) => s === want).length;
  assert.ok(mean(true) > mean(false) + 0.05, `genuine mean ${mean(true).toFixed(3)} vs impostor ${mean(false).toFixed(3)}`);
  const a = auc(scores, same);
  t.diagnostic(`face-api on bbt: AUC ${a.toFixed(3)}, mean cosine genuine ${mean(true).toFixed(3)}, impostor ${mean(false).toFixed(3)}`);
  assert.ok(a > 0.9, `face-api AUC ${a}`);
  // Same pairs, same metric code, for both sides.
  assert.equal(ev.ours.summary.pairs, ev.pairs.length);
  assert.equal(peer.summary.pairs, ev.pairs.length);
  assert.equal(ev.images, PEOPLE.length * 3 + 1);
  assert.ok(peer.summary.ms_per_image > 0 && ev.ours.summary.ms_per_image > 0);
});

test('an image without a face is counted and its pair scored as a wrong decision', () => {
  for (const side of [ev.ours, ev.peer!]) {
    assert.equal(side.summary.failed_images, 1, `${side.name}: ${JSON.stringify(side.failed)}`);
    assert.match(side.failed[0]!.file, /amy-noface\.png$/);
    assert.ok(Number.isNaN(side.cosine[noFacePair]), `${side.name}: the pair is kept, with a missing score`);
    const labels = ev.pairs.map((p) => p.same);
    const genuine = labels.filter(Boolean).length;
    // Never accepted: at most all-but-one genuine pairs can be accepted, whatever the threshold.
    assert.ok(side.summary.tar_at_far['1e-2'] <= (genuine - 1) / genuine, `${side.name} TAR ${side.summary.tar_at_far['1e-2']}`);
    const acc = accuracyAt(side.cosine, labels, side.summary.threshold_cosine);
    assert.ok(acc <= (labels.length - 1) / labels.length, `${side.name}: accuracy ${acc} counts the missing pair as wrong`);
  }
});

test('the JSON reports have exactly the documented keys, and a ROC plot is written beside them', async () => {
  const json = path.join(dir, 'out', 'eval.json');
  const written = await writeEvaluation(ev, { json });
  for (const file of [written.json!, written.peerJson!]) {
    const obj = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(obj).sort(), SUMMARY_KEYS);
    assert.deepEqual(Object.keys(obj.tar_at_far as object).sort(), ['1e-2', '1e-3']);
    assert.equal(obj.pairs, ev.pairs.length);
    assert.equal(obj.failed_images, 1);
  }
  assert.equal(written.peerJson, path.join(dir, 'out', 'eval.face-api.json'));
  assert.equal(written.svg, path.join(dir, 'out', 'eval.roc.svg'));
  const svg = await readFile(written.svg!, 'utf8');
  assert.match(svg, /face-api/);
  assert.ok((await stat(written.png!)).size > 1000);
});

test('--record stores both sides\' figures in the model\'s meta.json and refuses a key that could be anything', async () => {
  const modelDir = path.join(dir, 'recorded-model');
  await mkdir(modelDir, { recursive: true });
  await writeFile(path.join(modelDir, 'meta.json'), JSON.stringify({ name: 'm', version: '1', metrics: { verifAcc: 0.9 } }));
  await recordEvaluation(modelDir, 'dev', ev, path.join(dir, 'pairs.tsv'));
  const meta = JSON.parse(await readFile(path.join(modelDir, 'meta.json'), 'utf8'));
  assert.equal(meta.metrics.verifAcc, 0.9, 'other metrics kept');
  assert.equal(meta.metrics.dev.count, ev.pairs.length);
  assert.equal(meta.metrics.dev.ours.accuracy, ev.ours.summary.accuracy);
  assert.equal(meta.metrics.dev.peer.auc, ev.peer!.summary.auc);
  await assert.rejects(recordEvaluation(modelDir, '../x', ev, 'p.tsv'));
});

test('aligned crops and flip TTA: no detection, no tensor growth', async () => {
  // mirrorImage is an involution and really mirrors.
  const img = { width: 3, height: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]) };
  assert.deepEqual(Array.from(mirrorImage(img).data), [7, 8, 9, 4, 5, 6, 1, 2, 3]);

  const two = async (who: string) => (await readdir(path.join(GLINT, who))).sort().slice(0, 2).map((f) => `${who}/${f}`);
  const [o1, o2] = await two('Barack_Obama');
  const [h1, h2] = await two('Halle_Berry');
  const rows: [number, boolean, string, string][] = [
    [0, true, o1!, o2!],
    [0, false, o1!, h1!],
    [1, true, h1!, h2!],
    [1, false, o2!, h2!],
  ];
  await writeFile(path.join(dir, 'aligned.tsv'), tsv(rows));
  await writeFile(path.join(dir, 'photos.tsv'), tsv([[0, true, 'amy/amy1.png', 'amy/amy2.png'], [1, false, 'amy/amy1.png', 'howard/howard1.png']]));
  const opts = { pairs: path.join(dir, 'aligned.tsv'), root: GLINT, net, name: 'untrained', aligned: true, peer: 'face-api' as const, peerWorkers: 0 };
  await evaluate(opts); // detectors and nets are loaded by the first run; this warms the crop path
  const before = tf.memory().numTensors;
  const plain = await evaluate(opts);
  const flipped = await evaluate({ ...opts, flip: true });
  const photos = await evaluate({ pairs: path.join(dir, 'photos.tsv'), root: dir, net, peer: 'face-api', peerWorkers: 0 });
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  assert.equal(photos.peer!.summary.failed_images, 0);

  for (const r of [plain, flipped]) {
    assert.equal(r.ours.summary.failed_images, 0);
    assert.equal(r.peer!.summary.failed_images, 0);
  }
  const c = plain.peer!.cosine;
  assert.ok(Math.min(c[0]!, c[2]!) > Math.max(c[1]!, c[3]!), `face-api on aligned crops: ${Array.from(c).map((x) => x.toFixed(3))}`);
  // Flip changes our embeddings (the mirror is a different input) but keeps them unit length, so cosines stay in [-1, 1].
  assert.notDeepEqual(Array.from(flipped.ours.cosine), Array.from(plain.ours.cosine));
  assert.ok(Array.from(flipped.ours.cosine).every((x) => x >= -1 && x <= 1));
  assert.equal(flipped.ours.name, 'untrained +flip');
});
