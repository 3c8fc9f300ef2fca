import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { scanDatasets } from '../src/data/dataset.js';
import {
  applyAugment,
  augmentConfig,
  colorJitter,
  cropRescale,
  drawAugmentParams,
  flipHorizontal,
  lowResolution,
  rotate,
  type RgbImage,
} from '../src/data/augment.js';
import { BatchLoader, type Batch, type LoaderItem } from '../src/data/loader.js';
import { decodeImage } from '../src/data/loader-worker.js';
import { Rng } from '../src/data/rng.js';

const data = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const faces94 = path.join(data, 'train/faces94');
const bbt = path.join(data, 'small/bbt');
const S = 112;
const PX = S * S * 3;

/** sharp's own decode of a file at S x S, for comparison with what the loader hands out. */
async function sharpDecode(file: string): Promise<Uint8Array> {
  const { data: buf, info } = await sharp(file)
    .autoOrient()
    .resize(S, S, { fit: 'cover' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return new Uint8Array(buf);
}

async function collect(loader: BatchLoader, epoch: number, start = 0): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.batches(epoch, start)) out.push(b);
  return out;
}

function synthetic(w: number, h: number, fn: (x: number, y: number) => [number, number, number]): RgbImage {
  const d = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d.set(fn(x, y), (y * w + x) * 3);
  return { data: d, width: w, height: h };
}

const pixel = (img: RgbImage, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

test('augment: flip, rotate, crop and colour jitter do what they say', async () => {
  const face: RgbImage = { data: await sharpDecode(path.join(faces94, 'anpage/anpage.1.jpg')), width: S, height: S };

  const flipped = flipHorizontal(face);
  assert.notDeepEqual(flipped.data, face.data);
  assert.deepEqual(pixel(flipped, 0, 40), pixel(face, S - 1, 40));
  assert.deepEqual(pixel(flipped, 30, 70), pixel(face, S - 31, 70));
  assert.deepEqual(flipHorizontal(flipped).data, face.data);

  assert.deepEqual(rotate(face, 0).data, face.data);

  // a bright 4x4 spot 30 px right of the centre, turned 10° counter-clockwise, lands at centre + 30·(cos, -sin)
  const c = (S - 1) / 2;
  const spot = synthetic(S, S, (x, y) => (Math.abs(x - (c + 30)) <= 1.5 && Math.abs(y - c) <= 1.5 ? [255, 255, 255] : [0, 0, 0]));
  const turned = rotate(spot, 10);
  let sum = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const v = turned.data[(y * S + x) * 3];
      sum += v;
      sx += v * x;
      sy += v * y;
    }
  }
  const t = (10 * Math.PI) / 180;
  assert.ok(Math.abs(sx / sum - (c + 30 * Math.cos(t))) < 0.25, `x ${sx / sum}`);
  assert.ok(Math.abs(sy / sum - (c - 30 * Math.sin(t))) < 0.25, `y ${sy / sum}`);
  assert.deepEqual(pixel(turned, Math.round(c + 30), Math.round(c)), [0, 0, 0], 'the old place is empty');
  assert.ok(Math.abs(sum / (16 * 255) - 1) < 0.05, 'the spot keeps its mass');

  // edges are replicated, so a flat image stays flat (no black corners)
  const flat = synthetic(S, S, () => [200, 100, 50]);
  assert.deepEqual(rotate(flat, 10).data, flat.data);

  // cropping the top-left quarter of a gradient doubles its slope; the full window changes nothing
  const grad = synthetic(S, S, (x, y) => [2 * x, 2 * y, 128]);
  const quarter = cropRescale(grad, { x: 0, y: 0, width: S / 2, height: S / 2 });
  for (const [x, y] of [[0, 0], [10, 20], [57, 3], [111, 111]]) assert.deepEqual(pixel(quarter, x, y), [x, y, 128]);
  assert.deepEqual(cropRescale(face, { x: 0, y: 0, width: S, height: S }).data, face.data);

  assert.deepEqual(colorJitter(face, { brightness: 1, contrast: 1, saturation: 1 }).data, face.data);
  const grey = colorJitter(face, { brightness: 1, contrast: 1, saturation: 0 });
  for (let i = 0; i < grey.data.length; i += 3) assert.ok(grey.data[i] === grey.data[i + 1] && grey.data[i] === grey.data[i + 2]);
  assert.ok(colorJitter(face, { brightness: 0, contrast: 1, saturation: 1 }).data.every((v) => v === 0));
  const brighter = colorJitter(face, { brightness: 1.2, contrast: 1, saturation: 1 });
  const mean = (img: RgbImage): number => img.data.reduce((a, b) => a + b, 0) / img.data.length;
  assert.ok(mean(brighter) > mean(face) * 1.1);

  // the combined warp is the same picture as flipping then rotating (up to rounding)
  const combined = applyAugment(face, { flip: true, angle: 7, crop: null, jitter: null });
  const stepwise = rotate(flipHorizontal(face), 7);
  assert.ok(combined.data.every((v, i) => Math.abs(v - stepwise.data[i]) <= 1));
  assert.deepEqual(applyAugment(face, { flip: true, angle: 0, crop: null, jitter: null }).data, flipped.data);
});

test('augment: config defaults and parameter draws', () => {
  const cfg = augmentConfig();
  assert.deepEqual(cfg, { duplicateFraction: 0.75, rotateDeg: 10, flip: true, randomFlip: false, colorJitter: 0, cropScale: 0, lowRes: 0, lowResFactor: [2, 4] });
  assert.throws(() => augmentConfig({ duplicateFraction: 2 }));
  const rng = new Rng(3);
  for (let i = 0; i < 200; i++) {
    assert.equal(drawAugmentParams(rng, cfg, false), null, 'seed style: originals are left alone');
    const p = drawAugmentParams(rng, cfg, true)!;
    assert.equal(p.flip, true);
    assert.ok(Math.abs(p.angle) <= 10);
  }
  const rf = augmentConfig({ randomFlip: true, colorJitter: 0.2, cropScale: 0.1 });
  let flips = 0;
  for (let i = 0; i < 400; i++) {
    const p = drawAugmentParams(rng, rf, false)!;
    if (p.flip) flips++;
    assert.equal(p.angle, 0);
    assert.ok(p.jitter!.brightness >= 0.8 && p.jitter!.brightness <= 1.2);
    assert.ok(p.crop!.scale >= 0.9 && p.crop!.scale <= 1);
  }
  assert.ok(flips > 150 && flips < 250, `${flips} of 400 flipped`);
  // Low-resolution views: drawn with their probability, factors within the range.
  const lr = augmentConfig({ duplicateFraction: 0, lowRes: 0.5 });
  let low = 0;
  for (let i = 0; i < 400; i++) {
    const p = drawAugmentParams(rng, lr, false);
    if (!p) continue;
    low++;
    assert.ok(p.lowRes! >= 2 && p.lowRes! <= 4, `factor ${p.lowRes}`);
  }
  assert.ok(low > 150 && low < 250, `${low} of 400 at low resolution`);
});

test('augment: a low-resolution view keeps the size and the picture, and loses the fine detail', async () => {
  const face: RgbImage = { data: await sharpDecode(path.join(faces94, 'anpage/anpage.1.jpg')), width: S, height: S };
  const low = lowResolution(face, 4);
  assert.equal(low.width, face.width);
  assert.equal(low.height, face.height);
  // Same picture: the mean stays, the pixels stay close on average...
  const mean = (img: RgbImage): number => img.data.reduce((a, b) => a + b, 0) / img.data.length;
  assert.ok(Math.abs(mean(low) - mean(face)) < 2, `${mean(low)} vs ${mean(face)}`);
  // ...and the neighbour-to-neighbour differences (fine detail) shrink.
  const detail = (img: RgbImage): number => {
    let d = 0;
    for (let i = 3; i < img.data.length; i++) d += Math.abs(img.data[i]! - img.data[i - 3]!);
    return d / img.data.length;
  };
  assert.ok(detail(low) < detail(face) * 0.6, `detail ${detail(low)} vs ${detail(face)}`);
  assert.ok(detail(lowResolution(face, 2)) > detail(low), 'a factor of 2 keeps more detail than 4');
  // Applied through applyAugment as the loader does.
  assert.deepEqual(applyAugment(face, { flip: false, angle: 0, crop: null, jitter: null, lowRes: 4 }).data, low.data);
});

test('loader: batch shapes, labels and pixels match the files', async () => {
  const ds = await scanDatasets([faces94]);
  const loader = new BatchLoader(ds.items, { batchSize: 50, inputSize: S, augment: null, shuffle: false, seed: 1 });
  try {
    assert.equal(loader.epochPlan(0), 8);
    const batches = await collect(loader, 0);
    assert.deepEqual(batches.map((b) => b.n), [50, 50, 50, 50, 50, 50, 50, 10]);
    assert.deepEqual(batches.map((b) => b.index), [0, 1, 2, 3, 4, 5, 6, 7]);
    for (const b of batches) {
      assert.ok(b.images instanceof Uint8Array && b.labels instanceof Int32Array);
      assert.equal(b.images.length, b.n * PX);
      assert.equal(b.labels.length, b.n);
    }
    const labels = batches.flatMap((b) => Array.from(b.labels));
    assert.deepEqual(labels, ds.items.map((it) => it.label));
    for (const k of [0, 1, 49, 50, 123, 359]) {
      const b = batches[Math.floor(k / 50)];
      const j = k % 50;
      assert.deepEqual(b.images.subarray(j * PX, (j + 1) * PX), await sharpDecode(ds.items[k].path), ds.items[k].path);
    }
  } finally {
    await loader.close();
  }
});

test('loader: epoch plan with seed-style duplicates', () => {
  const items: LoaderItem[] = Array.from({ length: 360 }, (_, i) => ({ path: `x${i}.jpg`, label: i % 18 }));
  const train = new BatchLoader(items, { batchSize: 64, inputSize: S, augment: augmentConfig(), shuffle: true, seed: 9 });
  assert.equal(train.epochSamples(), 630);
  assert.equal(train.epochPlan(0), 10);
  assert.equal(new BatchLoader(items, { batchSize: 64, inputSize: S, augment: augmentConfig(), shuffle: true, seed: 9, dropLast: true }).epochPlan(0), 9);
  const plan = train.planEpoch(0);
  assert.equal(plan.length, 630);
  const originals = plan.filter((s) => !s.duplicate).map((s) => s.item).sort((a, b) => a - b);
  assert.deepEqual(originals, items.map((_, i) => i));
  const dups = plan.filter((s) => s.duplicate);
  assert.equal(dups.length, 270);
  assert.equal(new Set(dups.map((s) => s.item)).size, 270);
  for (const s of dups) assert.ok(s.params!.flip && Math.abs(s.params!.angle) <= 10);
  assert.notDeepEqual(train.planEpoch(1), plan, 'a new order every epoch');
});

test('loader: deterministic across worker counts, resumable mid-epoch, cache gives the same bytes', async () => {
  const ds = await scanDatasets([faces94, bbt], { exclude: ['misc'] });
  const items = new Rng(11).shuffle([...ds.items]).slice(0, 96);
  const opts = {
    batchSize: 16,
    inputSize: S,
    augment: augmentConfig({ randomFlip: true, colorJitter: 0.2, cropScale: 0.1 }),
    shuffle: true,
    seed: 5,
  };
  const one = new BatchLoader(items, { ...opts, workers: 1 });
  const two = new BatchLoader(items, { ...opts, workers: 2, prefetch: 3 });
  const inline = new BatchLoader(items, { ...opts, workers: 0 });
  const cached = new BatchLoader(items, { ...opts, workers: 2, cache: true });
  try {
    const ref = await collect(one, 1);
    assert.equal(ref.length, one.epochPlan(1)); // 96 + 72 duplicates = 168 → 11 batches
    assert.equal(ref.length, 11);
    assert.deepEqual(await collect(two, 1), ref);
    assert.deepEqual(await collect(inline, 1), ref);
    assert.deepEqual(await collect(one, 1, 6), ref.slice(6));

    // every sample is its planned item, decoded and augmented with its planned parameters
    const plan = one.planEpoch(1);
    for (const pos of [0, 17, 100, 167]) {
      const s = plan[pos];
      const b = ref[Math.floor(pos / 16)];
      const j = pos % 16;
      assert.equal(b.labels[j], items[s.item].label);
      const raw: RgbImage = { data: await sharpDecode(items[s.item].path), width: S, height: S };
      const expected = s.params ? applyAugment(raw, s.params).data : raw.data;
      assert.deepEqual(b.images.subarray(j * PX, (j + 1) * PX), expected);
    }

    const epoch2 = await collect(one, 2);
    assert.notDeepEqual(epoch2.map((b) => b.labels), ref.map((b) => b.labels));
    const otherSeed = new BatchLoader(items, { ...opts, seed: 6, workers: 0 });
    assert.notDeepEqual((await collect(otherSeed, 1, 10)).map((b) => b.images), ref.slice(10).map((b) => b.images));

    assert.deepEqual(await collect(cached, 1), ref);
    assert.equal(cached.cachedCount, items.length);
    assert.deepEqual(await collect(cached, 2), epoch2, 'from the cache, the same bytes as decoding again');
  } finally {
    await Promise.all([one.close(), two.close(), inline.close(), cached.close()]);
  }
  await assert.rejects(collect(one, 0), /closed/);
});

test('loader: an unreadable image is reported once and dropped, not fatal', async (t) => {
  const tmp = await mkdtemp(path.join(tmpdir(), 'facegate-loader-'));
  try {
    const root = path.join(tmp, 'tiny');
    const src = (await readdir(path.join(faces94, 'anpage'))).sort().map((f) => path.join(faces94, 'anpage', f));
    for (const [i, id] of ['alice', 'alice', 'alice', 'bob', 'bob', 'bob'].entries()) {
      await mkdir(path.join(root, id), { recursive: true });
      await copyFile(src[i], path.join(root, id, `${i}.jpg`));
    }
    const jpeg = await readFile(src[6]);
    await writeFile(path.join(root, 'alice', 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length * 0.4)));
    await writeFile(path.join(root, 'bob', 'garbage.jpg'), 'this is not an image');
    const ds = await scanDatasets([root]);
    assert.equal(ds.items.length, 8);

    const warn = t.mock.method(console, 'warn', () => {});
    const loader = new BatchLoader(ds.items, { batchSize: 4, inputSize: S, augment: null, shuffle: false, seed: 1, workers: 1 });
    try {
      for (const epoch of [0, 1]) {
        const batches = await collect(loader, epoch);
        // items sorted: alice 0,1,2,truncated | bob 3,4,5,garbage
        assert.deepEqual(batches.map((b) => b.n), [3, 3]);
        assert.deepEqual(batches.map((b) => Array.from(b.labels)), [[0, 0, 0], [1, 1, 1]]);
        assert.deepEqual(batches[0].images.subarray(2 * PX), await sharpDecode(path.join(root, 'alice', '2.jpg')));
      }
    } finally {
      await loader.close();
    }
    const messages = warn.mock.calls.map((c) => String(c.arguments[0]));
    assert.equal(messages.length, 2, messages.join('\n'));
    assert.ok(messages.some((m) => m.includes('truncated.jpg')));
    assert.ok(messages.some((m) => m.includes('garbage.jpg')));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('loader: binary PGM (no libvips loader for it in sharp) decodes to grey RGB', async () => {
  const dir = path.join(data, 'small/att-orl/s1');
  const file = path.join(dir, '1.pgm');
  const img = await decodeImage(file, S);
  assert.equal(img.length, PX);
  for (let i = 0; i < img.length; i += 3) assert.ok(img[i] === img[i + 1] && img[i] === img[i + 2]);
  // P5 92x112 maxval 255; 'cover' keeps the centre 92 rows, so compare with their mean grey
  const raw = await readFile(file);
  const pixels = raw.subarray(raw.length - 92 * 112).subarray(10 * 92, 102 * 92);
  const fileMean = pixels.reduce((a, b) => a + b, 0) / pixels.length;
  const decodedMean = img.reduce((a, b) => a + b, 0) / img.length;
  assert.ok(Math.abs(fileMean - decodedMean) < 6, `${fileMean} vs ${decodedMean}`);

  const ds = await scanDatasets([path.dirname(dir)]);
  const loader = new BatchLoader(ds.items.slice(0, 20), { batchSize: 20, inputSize: S, augment: null, shuffle: false, seed: 1, workers: 0 });
  const [batch] = await collect(loader, 0);
  assert.equal(batch.n, 20);
  await loader.close();
});
