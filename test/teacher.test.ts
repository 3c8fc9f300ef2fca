// The face-api teacher cache for distillation, on real ArcFace-aligned crops: worker threads,
// resume, the TeacherCache format the trainer reads, and identity structure in the descriptors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { scanDatasets } from '../src/data/dataset.js';
import { FaceApiPeer, dlibBoxForTemplate } from '../src/eval/peer-faceapi.js';
import { buildTeacherCache, TEACHER_NAME } from '../src/teacher/build-cache.js';
import { measureFramings } from '../src/teacher/framing.js';
import { TeacherCache } from '../src/train/teacher-cache.js';
import { decodeImage } from '../src/vision/index.js';

const GLINT = fileURLToPath(new URL('../../shared/data/train/glint/', import.meta.url));
const PEOPLE = ['Barack_Obama', 'Halle_Berry', 'Daniel_Radcliffe'];
const PER = 3;

let dir: string;
let data: string;
let out: string;

async function addIdentity(who: string): Promise<void> {
  const files = (await readdir(path.join(GLINT, who))).sort().slice(0, PER);
  await mkdir(path.join(data, who), { recursive: true });
  for (const f of files) await cp(path.join(GLINT, who, f), path.join(data, who, f));
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-teacher-'));
  data = path.join(dir, 'glint');
  out = path.join(dir, 'teacher.json');
  for (const who of PEOPLE.slice(0, 2)) await addIdentity(who);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('worker threads describe every crop; the cache round-trips with the trainer\'s paths', async () => {
  const progress: number[] = [];
  const s = await buildTeacherCache({ data: [data], out, aligned: true, workers: 2, onProgress: (p) => progress.push(p.done) });
  assert.equal(s.found, 2 * PER);
  assert.equal(s.added, 2 * PER);
  assert.equal(s.resumed, 0);
  assert.deepEqual(s.failed, []);
  assert.equal(progress.at(-1), 2 * PER);

  const cache = await TeacherCache.read(out);
  assert.equal(cache.index.teacher, TEACHER_NAME);
  assert.equal(cache.dim, 128);
  const scanned = (await scanDatasets([data])).items.map((it) => it.path);
  assert.deepEqual([...cache.index.paths].sort(), [...scanned].sort());
  assert.ok(scanned.every((p) => path.isAbsolute(p)));
  for (const p of scanned) assert.ok(Math.abs(Math.hypot(...cache.get(p)!) - 1) < 1e-4, `${p} is unit length`);
});

test('resume adds only new images, keeps the old rows, and matches an in-thread run', async () => {
  const first = await TeacherCache.read(out);
  await addIdentity(PEOPLE[2]!);
  const peer = await FaceApiPeer.create({ withDetector: false }); // loads the nets in this thread
  const sample = first.index.paths[0]!;
  await peer.describeCrops([await decodeImage(sample)]); // warm-up: first-call kernel setup
  const tensors = tf.memory().numTensors;

  const s = await buildTeacherCache({ data: [data], out, aligned: true, workers: 0 });
  assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
  assert.equal(s.resumed, 2 * PER);
  assert.equal(s.added, PER);
  assert.equal(s.total, 3 * PER);

  const cache = await TeacherCache.read(out);
  for (const p of first.index.paths) assert.deepEqual(Array.from(cache.get(p)!), Array.from(first.get(p)!));
  // A worker thread and this thread compute the same descriptor (same backend kind, same nets).
  const [here] = await peer.describeCrops([await decodeImage(sample)]);
  assert.ok(dot(here!, cache.get(sample)!) > 0.9999);

  // Identity structure: same-person descriptors are closer than different-person ones.
  const items = (await scanDatasets([data])).items;
  let same = 0, nSame = 0, diff = 0, nDiff = 0;
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const c = dot(cache.get(items[i]!.path)!, cache.get(items[j]!.path)!);
      if (items[i]!.label === items[j]!.label) (same += c), nSame++;
      else (diff += c), nDiff++;
    }
  }
  assert.equal(nSame, 3 * 3);
  assert.ok(same / nSame > diff / nDiff + 0.02, `same ${(same / nSame).toFixed(3)} vs different ${(diff / nDiff).toFixed(3)}`);

  // Centred rows (what `distillCentre` trains on): unit length, mean removed, and the common
  // component gone, so the same/different gap widens.
  const centred = cache.centred(items.map((it) => it.path));
  const mean = new Float32Array(128);
  for (const it of items) centred.get(it.path)!.forEach((x, k) => (mean[k]! += x / items.length));
  let cSame = 0, cDiff = 0;
  for (let i = 0; i < items.length; i++) {
    assert.ok(Math.abs(Math.hypot(...centred.get(items[i]!.path)!) - 1) < 1e-4);
    for (let j = i + 1; j < items.length; j++) {
      const c = dot(centred.get(items[i]!.path)!, centred.get(items[j]!.path)!);
      if (items[i]!.label === items[j]!.label) cSame += c;
      else cDiff += c;
    }
  }
  assert.ok(Math.hypot(...mean) < 0.5, `centred mean ${Math.hypot(...mean).toFixed(3)}`);
  assert.ok(cSame / nSame - cDiff / nDiff > same / nSame - diff / nDiff, `centred gap ${(cSame / nSame - cDiff / nDiff).toFixed(3)} vs raw ${(same / nSame - diff / nDiff).toFixed(3)}`);

  const again = await buildTeacherCache({ data: [data], out, aligned: true, workers: 0 });
  assert.equal(again.added, 0);
  assert.equal(again.resumed, 3 * PER);
});

test('a cache of another teacher is not resumed into', async () => {
  const other = path.join(dir, 'other.json');
  await TeacherCache.write(other, 'someone-else', 4, [{ path: '/x.jpg', embedding: new Float32Array(4) }]);
  await assert.rejects(buildTeacherCache({ data: [data], out: other, aligned: true, workers: 0 }), /someone-else/);
});

test('framing comparison scores both framings on the same pairs', async () => {
  // face-api's own chip around the ArcFace template: wider than the eye-mouth span, reaching below the crop.
  const box = dlibBoxForTemplate(112);
  assert.ok(box.side > 90 && box.side < 112 && box.y + box.side > 112, JSON.stringify(box));
  const m = await measureFramings({ data: [data], identities: 3, perIdentity: 3, workers: 0 });
  assert.equal(m.crops, 9);
  assert.equal(m.genuinePairs, 9);
  assert.equal(m.impostorPairs, 27);
  assert.deepEqual(m.results.map((r) => r.framing), ['crop', 'dlib']);
  for (const r of m.results) assert.ok(r.auc > 0.5 && r.meanGenuine > r.meanImpostor, JSON.stringify(r));
});
