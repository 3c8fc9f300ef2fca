import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanDatasets } from '../src/data/dataset.js';
import { SPLIT_FILE, readSplit, splitDataset, writeSplit } from '../src/data/split.js';
import { Rng, hashSeed } from '../src/data/rng.js';

const data = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const faces94 = path.join(data, 'train/faces94');
const bbt = path.join(data, 'small/bbt');

/** Independent count: identity folder → number of image files in it. */
async function folderCounts(root: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const files = (await readdir(path.join(root, e.name))).filter((f) => /\.(jpe?g|png)$/i.test(f));
    out.set(e.name, files.length);
  }
  return out;
}

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'facegate-dataset-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('rng: seeded, resumable from its state, unbiased enough, shuffles to a permutation', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const seqA = Array.from({ length: 50 }, () => a.uint32());
  assert.deepEqual(Array.from({ length: 50 }, () => b.uint32()), seqA);
  const c = new Rng(43);
  assert.notDeepEqual(Array.from({ length: 50 }, () => c.uint32()), seqA);

  // checkpoint mid-stream, resume from the JSON-roundtripped state
  const r = new Rng(7);
  for (let i = 0; i < 1000; i++) r.next();
  const saved = JSON.parse(JSON.stringify(r.getState())) as ReturnType<Rng['getState']>;
  const expected = Array.from({ length: 20 }, () => r.int(1000));
  const resumed = new Rng(0);
  resumed.setState(saved);
  assert.deepEqual(Array.from({ length: 20 }, () => resumed.int(1000)), expected);
  const restored = Rng.fromState(saved);
  assert.deepEqual(Array.from({ length: 20 }, () => restored.int(1000)), expected);
  assert.throws(() => resumed.setState([1, 2, 3] as unknown as ReturnType<Rng['getState']>), RangeError);

  // int(n) stays in range and fills the buckets evenly (chi-square, 9 dof, p ≈ 1e-6 bound)
  const counts = new Array(10).fill(0);
  const g = new Rng(1);
  for (let i = 0; i < 20000; i++) counts[g.int(10)]++;
  const chi2 = counts.reduce((s, c) => s + (c - 2000) ** 2 / 2000, 0);
  assert.ok(chi2 < 40, `chi2 ${chi2}`);
  for (let i = 0; i < 1000; i++) {
    const x = g.next();
    assert.ok(x >= 0 && x < 1);
  }

  const arr = Array.from({ length: 100 }, (_, i) => i);
  const shuffled = new Rng(5).shuffle([...arr]);
  assert.notDeepEqual(shuffled, arr);
  assert.deepEqual([...shuffled].sort((x, y) => x - y), arr);
  assert.deepEqual(new Rng(5).shuffle([...arr]), shuffled);

  assert.equal(hashSeed(1, 'a'), hashSeed(1, 'a'));
  assert.notEqual(hashSeed(1, 2), hashSeed(2, 1));
  assert.notEqual(hashSeed(1), hashSeed('1'));
});

test('scan: faces94 counts and labels match the folders', async () => {
  const ds = await scanDatasets([faces94]);
  const counts = await folderCounts(faces94);
  assert.equal(ds.classes.length, counts.size);
  assert.equal(ds.classes.length, 18);
  assert.deepEqual(ds.classes, [...counts.keys()].map((k) => `faces94/${k}`).sort());
  assert.equal(ds.items.length, [...counts.values()].reduce((a, b) => a + b, 0));
  for (const it of ds.items) {
    assert.ok(path.isAbsolute(it.path));
    assert.equal(`faces94/${path.basename(path.dirname(it.path))}`, ds.classes[it.label]);
  }
  for (const [id, n] of counts) assert.equal(ds.items.filter((it) => ds.classes[it.label] === `faces94/${id}`).length, n);
  assert.deepEqual(ds.summary, [
    { root: faces94, name: 'faces94', layout: 'flat', identities: 18, images: 360, skippedIdentities: 0, ignoredDirs: [] },
  ]);
  assert.deepEqual(ds.skipped, []);
});

test('scan: two roots, prefixes, root-level files ignored, exclude and minImagesPerClass', async () => {
  const ds = await scanDatasets([faces94, bbt], { exclude: ['misc'] });
  assert.equal(ds.classes.length, 18 + 8);
  assert.deepEqual(ds.classes, [...ds.classes].sort());
  assert.ok(ds.classes.includes('bbt/sheldon') && ds.classes.includes('faces94/anpage'));
  assert.equal(ds.items.length, 360 + 40);
  assert.deepEqual(ds.skipped, [{ identity: 'bbt/misc', reason: 'excluded' }]);
  assert.ok(!ds.items.some((it) => it.path.endsWith('.txt')), 'LICENSE_MIT.txt at the root is not an identity or an image');

  const all = await scanDatasets([bbt]);
  assert.equal(all.classes.length, 9); // misc is a folder of images like any other
  const strict = await scanDatasets([bbt], { minImagesPerClass: 6 });
  assert.deepEqual(strict.classes, ['bbt/misc']);
  assert.equal(strict.skipped.length, 8);
  assert.match(strict.skipped[0].reason, /5 image\(s\), fewer than 6/);
  const pngOnly = await scanDatasets([bbt], { extensions: ['png'] });
  assert.equal(pngOnly.items.length, 40);
});

test('scan: VGGFace2 layout merges train/ and test/, skips hidden, manifest and non-image files', async () => {
  await withTemp(async (tmp) => {
    const root = path.join(tmp, 'vgg');
    const src = (await readdir(path.join(faces94, 'anpage'))).sort().map((f) => path.join(faces94, 'anpage', f));
    const put = async (rel: string, from: string): Promise<void> => {
      await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
      await copyFile(from, path.join(root, rel));
    };
    await put('train/n001/a.jpg', src[0]);
    await put('train/n001/b.JPG', src[1]);
    await put('test/n001/c.jpg', src[2]);
    await put('train/n002/a.jpg', src[3]);
    await put('test/n003/a.jpg', src[4]);
    await put('test/n003/b.jpeg', src[5]);
    await writeFile(path.join(root, 'train/n001/.DS_Store'), 'x');
    await writeFile(path.join(root, 'train/n001/._a.jpg'), 'x');
    await writeFile(path.join(root, 'train/n001/manifest.jpg'), 'x');
    await writeFile(path.join(root, 'train/n001/notes.txt'), 'x');
    await writeFile(path.join(root, 'train/n001/boxes.json'), '{}');
    await mkdir(path.join(root, 'train/.cache'), { recursive: true });
    await put('train/.cache/x.jpg', src[6]);
    await mkdir(path.join(root, 'train/n004'), { recursive: true }); // empty identity
    await put('meta/n009/a.jpg', src[7]);

    const ds = await scanDatasets([root], { minImagesPerClass: 2 });
    assert.deepEqual(ds.classes, ['vgg/n001', 'vgg/n003']);
    assert.deepEqual(
      ds.items.map((it) => [ds.classes[it.label], path.relative(root, it.path)]),
      [
        ['vgg/n001', 'test/n001/c.jpg'],
        ['vgg/n001', 'train/n001/a.jpg'],
        ['vgg/n001', 'train/n001/b.JPG'],
        ['vgg/n003', 'test/n003/a.jpg'],
        ['vgg/n003', 'test/n003/b.jpeg'],
      ],
    );
    assert.deepEqual(ds.skipped, [
      { identity: 'vgg/n002', reason: '1 image(s), fewer than 2' },
      { identity: 'vgg/n004', reason: 'no images' },
    ]);
    assert.equal(ds.summary[0].layout, 'vggface2');
    assert.deepEqual(ds.summary[0].ignoredDirs, ['meta']);

    await assert.rejects(scanDatasets([root, path.join(tmp, 'x', 'vgg')]), /same folder name/);
  });
});

test('split: stratified 88/7.2/4.8, deterministic per seed, small identities train-only, saved and read back', async () => {
  const ds = await scanDatasets([faces94, bbt]);
  const split = splitDataset(ds, { seed: 1 });
  const all = [...split.train, ...split.val, ...split.test];
  assert.equal(all.length, ds.items.length);
  assert.equal(new Set(all.map((it) => it.path)).size, ds.items.length, 'no image in two parts');
  assert.deepEqual(split.trainOnly, []);

  // global proportions within one image of the exact target
  const n = ds.items.length; // 412
  const held = split.val.length + split.test.length;
  assert.ok(Math.abs(held - n * 0.12) <= 1, `held ${held} of ${n}`);
  assert.ok(Math.abs(split.test.length - held * 0.4) <= 1, `test ${split.test.length} of ${held}`);
  // and per identity: every identity is in train, and its held-out share is the floor or ceiling of 12 %
  for (let label = 0; label < ds.classes.length; label++) {
    const size = ds.items.filter((it) => it.label === label).length;
    const tr = split.train.filter((it) => it.label === label).length;
    const h = size - tr;
    assert.ok(tr >= 1, ds.classes[label]);
    assert.ok(h === Math.floor(size * 0.12) || h === Math.ceil(size * 0.12), `${ds.classes[label]}: ${h} of ${size} held out`);
  }
  for (const it of all) assert.equal(ds.items.find((d) => d.path === it.path)!.label, it.label);

  assert.deepEqual(splitDataset(ds, { seed: 1 }), split);
  const other = splitDataset(ds, { seed: 2 });
  assert.notDeepEqual(other.val, split.val);
  assert.equal(other.val.length + other.test.length, held);

  // identities below minImagesToSplit stay wholly in train and are reported
  const strict = splitDataset(ds, { seed: 1, minImagesToSplit: 6 });
  assert.equal(strict.trainOnly.length, 8);
  for (const id of strict.trainOnly) {
    const label = ds.classes.indexOf(id);
    assert.ok(!strict.val.some((it) => it.label === label) && !strict.test.some((it) => it.label === label));
    assert.equal(strict.train.filter((it) => it.label === label).length, 5);
  }

  await withTemp(async (dir) => {
    const file = await writeSplit(dir, split);
    assert.equal(file, path.join(dir, SPLIT_FILE));
    assert.deepEqual(await readSplit(dir), split);
    await writeFile(file, JSON.stringify({ ...split, version: 2 }));
    await assert.rejects(readSplit(dir), /not a valid split/);
  });
});
