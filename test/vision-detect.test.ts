// Face detection, landmarks, alignment and quality on real photos with the shipped BlazeFace +
// FaceMesh models, on the app's wasm backend.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import sharp, { type Sharp } from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import {
  ARCFACE_TEMPLATE_112,
  DEFAULT_QUALITY_CONFIG,
  type DetectedFace,
  type FaceDetector,
  type RgbImage,
  alignFace,
  alignmentTransform,
  applyAffine,
  assessQuality,
  createFaceDetector,
  decodeImage,
  extractFaces,
  invertAffine,
  warpAffine,
} from '../src/vision/index.js';
import type { Affine } from '../src/vision/warp.js';
import { GraphModel } from '../src/vision/graph-model.js';
import { modelPath } from '../src/vision/models.js';

const DATA = new URL('../../shared/data/', import.meta.url);
const data = (rel: string) => fileURLToPath(new URL(rel, DATA));

let fast: FaceDetector;
let accurate: FaceDetector;
before(async () => {
  fast = await createFaceDetector({ kind: 'fast' });
  accurate = await createFaceDetector({ kind: 'accurate' });
});
after(() => {
  fast.dispose();
  accurate.dispose();
});

const largest = (faces: DetectedFace[]) => [...faces].sort((a, b) => b.box.width - a.box.width)[0];

function assertPlausibleLandmarks(f: DetectedFace, where: string): void {
  const [le, re, nose, lm, rm] = f.landmarks as [number, number][];
  const pad = 0.05 * f.box.width;
  for (const [x, y] of f.landmarks) {
    assert.ok(x >= f.box.x - pad && x <= f.box.x + f.box.width + pad && y >= f.box.y - pad && y <= f.box.y + f.box.height + pad, `${where}: landmark (${x}, ${y}) outside the box`);
  }
  assert.ok(le![0] < re![0], `${where}: image-left eye first`);
  assert.ok(lm![0] < rm![0], `${where}: image-left mouth corner first`);
  assert.ok(Math.max(le![1], re![1]) < nose![1] && nose![1] < Math.min(lm![1], rm![1]), `${where}: eyes above nose above mouth`);
}

/** Single-person photos: the small/ examples and The Big Bang Theory portraits, and AT&T faces. */
async function singlePersonPhotos(): Promise<string[]> {
  const out: string[] = [];
  for (const who of ['obama', 'biden', 'kit_harington', 'rose_leslie', 'alex_lacamoire']) {
    for (const f of await readdir(data(`small/examples/train/${who}`))) out.push(`small/examples/train/${who}/${f}`);
  }
  for (const who of ['amy', 'howard', 'leonard', 'penny', 'raj', 'sheldon']) out.push(`small/bbt/${who}/${who}1.png`, `small/bbt/${who}/${who}3.png`);
  for (const s of ['s1', 's7', 's13', 's22', 's35']) out.push(`small/att-orl/${s}/1.pgm`);
  return out;
}

test('one face, with landmarks in order inside its box, in each single-person photo', async () => {
  const tensors = tf.memory().numTensors;
  for (const rel of await singlePersonPhotos()) {
    const img = await decodeImage(data(rel));
    for (const det of [fast, accurate]) {
      const faces = await det.detect(img);
      assert.equal(faces.length, 1, `${det.kind} on ${rel}: ${faces.length} faces`);
      assert.ok(faces[0]!.score > 0.5 && faces[0]!.score <= 1);
      assertPlausibleLandmarks(faces[0]!, `${det.kind} ${rel}`);
    }
  }
  assert.equal(tf.memory().numTensors, tensors, 'no tensors left behind');
});

test('both people in two_people.jpg, image-left person first by x', async () => {
  const img = await decodeImage(data('small/examples/misc/two_people.jpg'));
  for (const det of [fast, accurate]) {
    const faces = (await det.detect(img)).sort((a, b) => a.box.x - b.box.x);
    assert.equal(faces.length, 2, `${det.kind}`);
    assert.ok(faces[0]!.box.x + faces[0]!.box.width < faces[1]!.box.x, 'two separate faces');
    faces.forEach((f, i) => assertPlausibleLandmarks(f, `${det.kind} face ${i}`));
  }
});

test('most photos of the CelebA sample give a face (accurate detector)', async () => {
  const ids = (await readdir(data('train/celeba'))).sort().slice(0, 30);
  let found = 0;
  for (const id of ids) {
    const file = (await readdir(data(`train/celeba/${id}`))).sort()[0]!;
    const img = await decodeImage(data(`train/celeba/${id}/${file}`));
    const main = largest(await accurate.detect(img));
    if (main) {
      found++;
      assertPlausibleLandmarks(main, `celeba ${id}/${file}`);
    }
  }
  assert.ok(found >= 28, `faces in ${found}/30`);
});

/** Deterministic noise and a smooth texture: nothing face-like. */
function noFaceImages(): RgbImage[] {
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const noise = new Uint8Array(640 * 480 * 3).map(() => Math.floor(rnd() * 256));
  const tex = new Uint8Array(640 * 480 * 3);
  for (let y = 0; y < 480; y++) {
    for (let x = 0; x < 640; x++) {
      const v = 128 + 60 * Math.sin(x / 17) * Math.cos(y / 23) + 40 * Math.sin((x + y) / 7);
      tex.set([v, v * 0.8, 255 - v], (y * 640 + x) * 3);
    }
  }
  return [
    { data: noise, width: 640, height: 480 },
    { data: tex, width: 640, height: 480 },
  ];
}

test('no face in noise or a texture', async () => {
  for (const img of noFaceImages()) {
    for (const det of [fast, accurate]) assert.deepEqual(await det.detect(img), [], det.kind);
  }
});

test('aligned crops of one person put the eyes on the template within a few pixels', async () => {
  // Obama in eight photos and resolutions; re-detecting on the 112 crop (centred on a 224 canvas
  // so the face is in the detector's range) must find the eyes where the template has them.
  const files = (await readdir(data('small/examples/extra/obama'))).filter((f) => !f.includes('partial')).sort();
  assert.ok(files.length >= 6);
  const eyes = new Map<string, [number, number][]>();
  for (const f of files) {
    const img = await decodeImage(data(`small/examples/extra/obama/${f}`));
    const main = largest(await accurate.detect(img));
    assert.ok(main, f);
    const crop = alignFace(img, main.landmarks);
    const canvas = warpAffine(crop, [1, 0, -56, 0, 1, -56], 224, 224);
    const again = largest(await accurate.detect(canvas));
    assert.ok(again, `re-detect ${f}`);
    eyes.set(f, [0, 1].map((i) => [again.landmarks[i]![0] - 56, again.landmarks[i]![1] - 56]));
    for (const i of [0, 1]) {
      const [x, y] = eyes.get(f)![i]!;
      const [tx, ty] = ARCFACE_TEMPLATE_112[i]!;
      assert.ok(Math.abs(y - ty) < 4 && Math.abs(x - tx) < 4, `${f} eye ${i} at (${x.toFixed(1)}, ${y.toFixed(1)}) vs (${tx}, ${ty})`);
    }
  }
  // The same photo at 240p..1080p: the crops agree with each other to within a pixel.
  const series = files.filter((f) => /^obama-\d+p\.jpg$/.test(f));
  assert.ok(series.length >= 4);
  for (const i of [0, 1]) {
    for (const c of [0, 1]) {
      const v = series.map((f) => eyes.get(f)![i]![c]!);
      assert.ok(Math.max(...v) - Math.min(...v) < 1, `eye ${i} coord ${c} spread ${v.map((x) => x.toFixed(2)).join(' ')}`);
    }
  }
});

test('known similarity warp round trip: detect + align recover the original crop', async () => {
  // Turn a photo by a known rotation + scale + shift, detect and align again: the new crop must
  // be the old one, i.e. the template points map onto themselves within a few pixels.
  const photos = ['small/examples/train/obama/obama.jpg', 'small/examples/train/biden/biden.jpg', 'small/bbt/penny/penny1.png', 'small/examples/train/rose_leslie/img1.jpg'];
  for (const rel of photos) {
    const img = await decodeImage(data(rel));
    for (const [det, angles, tol] of [[accurate, [-30, 25], 2.5], [fast, [12], 3]] as const) {
      const f0 = largest(await det.detect(img))!;
      const crop0 = alignFace(img, f0.landmarks);
      for (const deg of angles) {
        const th = (deg * Math.PI) / 180, s = 0.8;
        const W = Math.round(img.width * 1.2), H = Math.round(img.height * 1.2);
        const cx = img.width / 2, cy = img.height / 2;
        const c = s * Math.cos(th), sn = s * Math.sin(th);
        const T: Affine = [c, -sn, W / 2 - (c * cx - sn * cy), sn, c, H / 2 - (sn * cx + c * cy)];
        const moved = warpAffine(img, invertAffine(T), W, H);
        const f1 = largest(await det.detect(moved));
        assert.ok(f1, `${det.kind} ${rel} ${deg} deg`);
        const M0 = alignmentTransform(f0.landmarks), M1 = alignmentTransform(f1.landmarks);
        let worst = 0;
        for (const p of ARCFACE_TEMPLATE_112) {
          const q = applyAffine(M1, applyAffine(T, applyAffine(invertAffine(M0), p)));
          worst = Math.max(worst, Math.hypot(q[0] - p[0], q[1] - p[1]));
        }
        assert.ok(worst < tol, `${det.kind} ${rel} at ${deg} deg: template points off by ${worst.toFixed(2)} px`);
        const crop1 = alignFace(moved, f1.landmarks);
        let diff = 0;
        for (let i = 0; i < crop0.data.length; i++) diff += Math.abs(crop0.data[i]! - crop1.data[i]!);
        assert.ok(diff / crop0.data.length < 20, `${rel} ${deg} deg: crops differ by ${(diff / crop0.data.length).toFixed(1)} levels`);
      }
    }
  }
});

test('extractFaces: faces sorted by prominence, 112x112 crops, quality reasons a kiosk can show', async () => {
  const tensors = tf.memory().numTensors;
  const two = await extractFaces(data('small/examples/misc/two_people.jpg'), { detector: fast });
  assert.equal(two.faces.length, 2);
  assert.ok(two.faces[0]!.face.box.width >= two.faces[1]!.face.box.width * 0.8);
  for (const f of two.faces) {
    assert.deepEqual([f.crop.width, f.crop.height, f.crop.data.length], [112, 112, 112 * 112 * 3]);
    assert.ok(f.quality.reasons.some((r) => r.code === 'multiple_faces' && r.message === 'One person at a time'));
  }
  for (const k of ['decode', 'detect', 'align', 'quality', 'total']) assert.ok(two.timings[k]! >= 0, k);

  const good = await extractFaces(data('small/examples/train/obama/obama.jpg'), { detector: fast });
  assert.equal(good.faces.length, 1);
  assert.deepEqual(good.faces[0]!.quality.reasons, [], JSON.stringify(good.faces[0]!.quality.metrics));
  assert.equal(good.faces[0]!.quality.ok, true);

  const frame = async (f: (s: Sharp) => Sharp) =>
    extractFaces(await f(sharp(data('small/examples/train/obama/obama.jpg')).resize(640, 480, { fit: 'contain' })).jpeg().toBuffer(), { detector: fast });
  const codes = (r: Awaited<ReturnType<typeof extractFaces>>) => r.faces[0]?.quality.reasons.map((x) => x.code) ?? ['no face'];
  assert.deepEqual(codes(await frame((s) => s.linear(0.25, 0))), ['too_dark']);
  assert.deepEqual(codes(await frame((s) => s.blur(6))), ['blurry']);
  assert.deepEqual(codes(await frame((s) => s.resize(160, 120).extend({ top: 180, bottom: 180, left: 240, right: 240, background: '#404040' }))), ['too_small']);
  assert.deepEqual(codes(await frame((s) => s.rotate(35, { background: '#404040' }))), ['pose']);
  const messages = (await frame((s) => s.linear(0.25, 0))).faces[0]!.quality.reasons.map((r) => r.message);
  assert.deepEqual(messages, ['Too dark']);
  assert.equal(tf.memory().numTensors, tensors, 'no tensors left behind');
});

test('assessQuality thresholds come from the config object', async () => {
  const img = await decodeImage(data('small/examples/train/obama/obama.jpg'));
  const face = largest(await fast.detect(img))!;
  assert.equal(assessQuality(img, face).ok, true);
  const strict = assessQuality(img, face, [face], { minFaceSize: face.box.width + 1, minSharpness: 1e9 });
  assert.deepEqual(strict.reasons.map((r) => r.code), ['too_small']); // blur is not blamed on a small face
  const strict2 = assessQuality(img, face, [face], { minSharpness: 1e9 });
  assert.deepEqual(strict2.reasons, [{ code: 'blurry', message: 'Hold still' }]);
  assert.equal(DEFAULT_QUALITY_CONFIG.maxYawDeg, 25);
});

test('the compiled graph executor frees every intermediate, keeps the caller\'s input, and cleans up when a kernel throws', async () => {
  const model = await GraphModel.load(modelPath('blazeface'));
  try {
    const x = tf.randomUniform([1, 160, 160, 3], -1, 1);
    const first = model.execute(x);
    const before = tf.memory().numTensors;
    const again = model.execute(x);
    assert.equal(tf.memory().numTensors, before + again.length, 'only the outputs are new');
    assert.equal(again.length, 4);
    for (let i = 0; i < again.length; i++) {
      assert.deepEqual(again[i]!.shape, first[i]!.shape);
      assert.deepEqual(Array.from(again[i]!.dataSync()), Array.from(first[i]!.dataSync()), 'deterministic');
    }
    assert.ok(!x.isDisposed, 'the input stays the caller\'s');
    tf.dispose([...first, ...again]);
    // Four channels: the stem conv's filter has three; the half-run graph leaves nothing behind.
    const bad = tf.zeros([1, 160, 160, 4]);
    const n = tf.memory().numTensors;
    assert.throws(() => model.execute(bad));
    assert.equal(tf.memory().numTensors, n);
    tf.dispose([x, bad]);
  } finally {
    model.dispose();
  }
});

test('camera loop: the previous frame\'s face is tracked by the mesh alone, as placed as a fresh detection; a lost face says so', async () => {
  const tensors = tf.memory().numTensors;
  const base = await decodeImage(await sharp(data('small/examples/extra/obama/obama-480p.jpg')).resize(640, 480, { fit: 'cover' }).jpeg().toBuffer());
  // The frame with its content moved by whole pixels (black where it came in from outside).
  const still = async (dx: number, dy: number) => warpAffine(base, [1, 0, -dx, 0, 1, -dy], 640, 480);
  const first = await extractFaces(await still(0, 0), { detector: fast });
  assert.equal(first.tracked, false);
  const subject = first.faces[0]!.face;
  // The person moves 12 px right and 8 down between frames.
  const moved = await still(12, 8);
  const tracked = await extractFaces(moved, { detector: fast, previous: first.faces.map((f) => f.face) });
  assert.equal(tracked.tracked, true);
  assert.equal(fast.lastTimings?.detect, 0, 'no box detection ran');
  const fresh = await extractFaces(moved, { detector: fast });
  assert.equal(tracked.faces.length, fresh.faces.length);
  // Where each landmark lands in the fresh detection's 112 px crop.
  const m = alignmentTransform(fresh.faces[0]!.face.landmarks, 112);
  tracked.faces[0]!.face.landmarks.forEach((p, k) => {
    const a = applyAffine(m, p), b = applyAffine(m, fresh.faces[0]!.face.landmarks[k]!);
    assert.ok(Math.hypot(a[0] - b[0], a[1] - b[1]) < 2, `landmark ${k}: ${a} vs ${b}`);
  });
  assert.ok(Math.abs(tracked.faces[0]!.face.box.x - subject.box.x - 12) < 4, 'the box followed');
  assert.deepEqual(tracked.faces[0]!.quality.reasons.map((r) => r.code), fresh.faces[0]!.quality.reasons.map((r) => r.code));
  // Nobody there any more: the track is lost and the frame is detected afresh (no face).
  const empty = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#505050' } }).jpeg().toBuffer();
  assert.equal(await fast.track!(await decodeImage(empty), [subject]), undefined);
  const gone = await extractFaces(empty, { detector: fast, previous: [subject] });
  assert.deepEqual([gone.tracked, gone.faces.length], [false, 0]);
  assert.equal(tf.memory().numTensors, tensors, 'no tensors left behind');
});
