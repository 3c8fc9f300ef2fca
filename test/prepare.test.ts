// prepareDataset on a small real dataset in the VGGFace2 layout: crops, manifest, skip reasons,
// aligned pass-through, resume, and the worker-thread path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { MANIFEST_NAME, type PrepareRecord, listImages, prepareDataset, readManifest } from '../src/data/prepare.js';

const DATA = new URL('../../shared/data/', import.meta.url);
const data = (rel: string) => fileURLToPath(new URL(rel, DATA));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/vision/${name}`, import.meta.url));

let root: string;
let src: string;
let glintId: string;
const celeba: string[] = [];

async function copyPhotos(from: string, to: string, n: number): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const f of (await readdir(from)).sort().slice(0, n)) await copyFile(path.join(from, f), path.join(to, f));
}

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'facegate-prepare-'));
  src = path.join(root, 'src');
  const ids = (await readdir(data('train/celeba'))).sort().slice(0, 3);
  celeba.push(...ids);
  await copyPhotos(data(`train/celeba/${ids[0]}`), path.join(src, 'train', ids[0]!), 3);
  await copyPhotos(data(`train/celeba/${ids[1]}`), path.join(src, 'train', ids[1]!), 3);
  await copyPhotos(data(`train/celeba/${ids[2]}`), path.join(src, 'test', ids[2]!), 2);
  glintId = (await readdir(data('train/glint'))).sort()[0]!;
  await copyPhotos(data(`train/glint/${glintId}`), path.join(src, 'train', glintId), 4);
  // No face: a deterministic texture; undecodable: a truncated JPEG; a WebP with a .jpg name.
  const tex = Buffer.alloc(200 * 150 * 3);
  for (let i = 0; i < tex.length; i++) tex[i] = (Math.sin(i / 97) * 90 + 128 + ((i * 7919) % 41)) & 255;
  await writeFile(path.join(src, 'train', ids[0]!, 'texture.png'), await sharp(tex, { raw: { width: 200, height: 150, channels: 3 } }).png().toBuffer());
  await copyFile(fixture('truncated.jpg'), path.join(src, 'train', ids[1]!, 'broken.jpg'));
  await copyFile(fixture('webp-named.jpg'), path.join(src, 'test', ids[2]!, 'webp.jpg'));
  await writeFile(path.join(src, 'notes.txt'), 'not a photo');
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

const manifestOf = async (out: string) => [...(await readManifest(path.join(out, MANIFEST_NAME))).values()];

test('prepares aligned 112x112 crops in the same layout, with a manifest and skip reasons', async () => {
  const out = path.join(root, 'out');
  const all = await listImages(src);
  assert.equal(all.length, 3 + 3 + 2 + 4 + 3);
  const s = await prepareDataset({ data: src, out, workers: 0 });
  assert.equal(s.found, 15);
  assert.equal(s.processed, 15);
  assert.deepEqual(s.errors, []);
  assert.deepEqual(Object.keys(s.groups).sort(), ['test', 'train']);
  const train = s.groups.train!, testG = s.groups.test!;
  assert.equal(train.total, 12);
  assert.equal(testG.total, 3);
  assert.equal(train.reasons.no_face, 1, JSON.stringify(train.reasons));
  assert.equal(train.reasons['decode:corrupt'], 1);
  assert.equal(train.passthrough, 4, 'the glint crops are recognised as aligned');
  assert.ok(train.kept >= 9 && testG.kept >= 2, JSON.stringify(s.groups));

  const recs = await manifestOf(out);
  assert.equal(recs.length, 15);
  const by = new Map(recs.map((r) => [r.src, r]));
  assert.equal(by.get(`train/${celeba[0]}/texture.png`)!.reason, 'no_face');
  const broken = by.get(`train/${celeba[1]}/broken.jpg`)!;
  assert.equal(broken.status, 'skipped');
  assert.match(broken.message!, /truncated/);
  assert.equal(by.get(`test/${celeba[2]}/webp.jpg`)!.status, 'kept', 'misnamed WebP is decoded by content');
  for (const r of recs.filter((x) => x.status === 'kept')) {
    const file = path.join(out, r.out!);
    const meta = await sharp(file).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['jpeg', 112, 112, 3], r.src);
    assert.equal(r.out, r.src.replace(/\.[^.]+$/, '.jpg'));
    if (r.mode === 'aligned') {
      assert.equal(r.landmarks!.length, 5);
      assert.ok(r.box!.width > 0 && r.quality!.faceSize! > 0 && r.score! > 0.5);
    }
  }
  // Pass-through keeps a 112x112 sRGB JPEG's bytes.
  const g = recs.find((r) => r.mode === 'passthrough')!;
  assert.deepEqual(await readFile(path.join(out, g.out!)), await readFile(path.join(src, g.src)));
});

test('a second run resumes: nothing redone, a deleted crop is redone', async () => {
  const out = path.join(root, 'out');
  const again = await prepareDataset({ data: src, out, workers: 0 });
  assert.equal(again.processed, 0);
  assert.equal(again.resumed, 15);
  assert.equal(again.groups.train!.total, 12, 'counts still cover the whole manifest');
  const kept = (await manifestOf(out)).find((r) => r.status === 'kept' && r.mode === 'aligned')!;
  await unlink(path.join(out, kept.out!));
  const third = await prepareDataset({ data: src, out, workers: 0 });
  assert.equal(third.processed, 1);
  assert.ok((await readFile(path.join(out, kept.out!))).length > 1000);
});

test('worker threads (each with its own backend) give the same records', async () => {
  const out = path.join(root, 'out-workers');
  const s = await prepareDataset({ data: src, out, workers: 2, limit: 6 });
  assert.equal(s.processed, 6);
  assert.deepEqual(s.errors, []);
  const single = new Map((await manifestOf(path.join(root, 'out'))).map((r) => [r.src, r]));
  for (const r of await manifestOf(out)) {
    const ref = single.get(r.src)!;
    assert.equal(r.status, ref.status, r.src);
    assert.equal(r.reason, ref.reason, r.src);
    if (r.landmarks && ref.landmarks) r.landmarks.forEach((p, i) => assert.ok(Math.hypot(p[0] - ref.landmarks![i]![0], p[1] - ref.landmarks![i]![1]) < 0.01));
  }
});

test('--aligned passes every photo through as a 112x112 RGB JPEG; out inside data is refused', async () => {
  const out = path.join(root, 'out-aligned');
  const s = await prepareDataset({ data: path.join(src, 'test'), out, aligned: true, workers: 0 });
  assert.equal(s.groups['.']!.passthrough, 3);
  for (const r of (await manifestOf(out)) as PrepareRecord[]) {
    const meta = await sharp(path.join(out, r.out!)).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels], [112, 112, 3]);
  }
  await assert.rejects(prepareDataset({ data: src, out: path.join(src, 'x') }), /must not be inside/);
});

test('quality overrides skip faces; keepAll keeps them with the failed checks as warnings', async () => {
  const strict = await prepareDataset({ data: path.join(src, 'test'), out: path.join(root, 'out-strict'), workers: 0, quality: { minFaceSize: 10_000 } });
  assert.deepEqual(strict.groups['.']!.reasons, { too_small: 3 });
  const kept = await prepareDataset({ data: path.join(src, 'test'), out: path.join(root, 'out-keep'), workers: 0, quality: { minFaceSize: 10_000 }, keepAll: true });
  assert.equal(kept.groups['.']!.kept, 3);
  assert.equal(kept.groups['.']!.warned, 3);
  for (const r of await manifestOf(path.join(root, 'out-keep'))) assert.equal(r.warnings, 'too_small');
});
