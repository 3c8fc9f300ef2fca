// Decoding, alignment geometry and photometric quality on real photos (no detector needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import sharp, { type Sharp } from 'sharp';
import {
  ARCFACE_TEMPLATE_112,
  ImageDecodeError,
  alignFace,
  applyAffine,
  arcfaceTemplate,
  decodeImage,
  encodeJpeg,
  estimateSimilarity,
  photometrics,
  sniffFormat,
  warpAffine,
} from '../src/vision/index.js';
import type { Point, RgbImage } from '../src/vision/index.js';
import { resizeArea } from '../src/vision/warp.js';
import { detailScore } from '../src/vision/quality-detail.js';
import { DEFAULT_QUALITY_CONFIG, coreCutOff } from '../src/vision/quality.js';

const DATA = new URL('../../shared/data/', import.meta.url);
const FIX = new URL('./fixtures/vision/', import.meta.url);
const data = (rel: string) => fileURLToPath(new URL(rel, DATA));
const fixture = (name: string) => fileURLToPath(new URL(name, FIX));

const meanAbsDiff = (a: Uint8Array, b: Uint8Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
};

async function rejects(input: string | Buffer, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(decodeImage(input), (err: unknown) => {
    assert.ok(err instanceof ImageDecodeError, `expected ImageDecodeError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

test('decodes JPEG, PNG and PGM photos to 8-bit RGB of the right size', async () => {
  const jpg = await decodeImage(data('small/examples/train/obama/obama.jpg'));
  const meta = await sharp(data('small/examples/train/obama/obama.jpg')).metadata();
  assert.equal(jpg.width, meta.width);
  assert.equal(jpg.height, meta.height);
  assert.equal(jpg.data.length, jpg.width * jpg.height * 3);
  // 32-bit RGBA PNG: alpha dropped, three channels out.
  const png = await decodeImage(data('small/examples/misc/32bit.png'));
  assert.equal(png.data.length, png.width * png.height * 3);
  // ORL faces are 92x112 grey PGM, which libvips here cannot read; ours replicates grey to RGB.
  const pgm = await decodeImage(data('small/att-orl/s1/1.pgm'));
  assert.deepEqual([pgm.width, pgm.height], [92, 112]);
  for (let i = 0; i < pgm.data.length; i += 3) assert.ok(pgm.data[i] === pgm.data[i + 1] && pgm.data[i] === pgm.data[i + 2]);
  const raw = await readFile(data('small/att-orl/s1/1.pgm'));
  assert.equal(pgm.data[0], raw[raw.length - 92 * 112]); // first pixel byte after the header
});

test('the content decides the format: a WebP named .jpg decodes like the original', async () => {
  const file = fixture('webp-named.jpg');
  assert.equal(sniffFormat(await readFile(file)), 'webp');
  const webp = await decodeImage(file);
  const orig = await decodeImage(data('small/examples/extra/obama/obama-240p.jpg'));
  assert.deepEqual([webp.width, webp.height], [orig.width, orig.height]);
  assert.ok(meanAbsDiff(webp.data, orig.data) < 6, 'lossy WebP copy stays close to the JPEG');
});

test('EXIF orientation is applied', async () => {
  const img = await decodeImage(fixture('exif-orientation-6.jpg'));
  const orig = await decodeImage(data('small/examples/extra/obama/obama-240p.jpg'));
  assert.deepEqual([img.width, img.height], [orig.width, orig.height], 'stored 240x427, shown 427x240');
  assert.ok(meanAbsDiff(img.data, orig.data) < 8, 'upright again after orientation');
});

test('16-bit grey with alpha, and the first frame of an animated GIF, become 8-bit RGB', async () => {
  const g = await decodeImage(fixture('grey16-alpha.png'));
  assert.deepEqual([g.width, g.height, g.data.length], [92, 112, 92 * 112 * 3]);
  const orl = await decodeImage(data('small/att-orl/s1/1.pgm'));
  // 80 % opaque over white: v*0.8 + 255*0.2.
  let err = 0;
  for (let i = 0; i < g.data.length; i += 3) err += Math.abs(g.data[i]! - (orl.data[i]! * 0.8 + 51));
  assert.ok(err / (92 * 112) < 2, `alpha flattened onto white (mean error ${err / (92 * 112)})`);
  const gif = await decodeImage(fixture('two-frames.gif'));
  assert.deepEqual([gif.width, gif.height], [200, 112], 'one frame, not the stacked pages');
  const grey = gif.data.every((v, i) => i % 3 !== 0 || Math.abs(v - 0x77) < 4);
  assert.equal(grey, false, 'first frame is the face, not the flat second frame');
});

test('truncated, oversized, empty and non-image inputs are refused with typed errors', async () => {
  await rejects(fixture('truncated.jpg'), 'corrupt', /truncated/i);
  await rejects(fixture('bomb-60000.png'), 'too_large', /60000x60000.*40\.0 MP/);
  await rejects(Buffer.alloc(0), 'empty', /no bytes/);
  await rejects(fixture('README.md'), 'unsupported', /unrecognised image format/);
  await rejects(fixture('does-not-exist.jpg'), 'not_found', /not found/);
  await rejects(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'unsupported', /SVG/);
  // Byte limit is checked before reading the pixels.
  await assert.rejects(decodeImage(data('small/examples/train/obama/obama.jpg'), { maxBytes: 1000 }), /exceeds the 1000-byte limit/);
  // A PGM claiming a huge size is refused from its header too.
  await rejects(Buffer.from('P5\n70000 70000\n255\n\x00'), 'too_large', /70000x70000/);
  await rejects(Buffer.from('P5\n92 112\n255\n\x00\x00'), 'corrupt', /truncated/);
});

test('estimateSimilarity recovers a known similarity exactly, and the template scales', () => {
  const th = 0.4, s = 1.7, tx = 31, ty = -12;
  const T = [s * Math.cos(th), -s * Math.sin(th), tx, s * Math.sin(th), s * Math.cos(th), ty] as const;
  const src = ARCFACE_TEMPLATE_112 as Point[];
  const dst = src.map((p) => applyAffine([...T], p));
  const est = estimateSimilarity(src, dst);
  est.forEach((v, i) => assert.ok(Math.abs(v - T[i]!) < 1e-9, `coefficient ${i}: ${v} vs ${T[i]}`));
  assert.deepEqual(arcfaceTemplate(224)[0], [38.2946 * 2, 51.6963 * 2]);
});

test('aligning an already-aligned crop at the template is the identity', async () => {
  const crop = await decodeImage(data('train/glint/' + (await firstGlint())));
  const again = alignFace(crop, ARCFACE_TEMPLATE_112 as Point[]);
  assert.deepEqual([again.width, again.height], [112, 112]);
  assert.ok(meanAbsDiff(again.data, crop.data) < 0.6, 'same pixels (up to rounding)');
  const big = alignFace(crop, arcfaceTemplate(112), 224);
  assert.deepEqual([big.width, big.height], [224, 224]);
});

async function firstGlint(): Promise<string> {
  const { readdir } = await import('node:fs/promises');
  const ids = (await readdir(data('train/glint'))).sort();
  const files = (await readdir(data(`train/glint/${ids[0]}`))).sort();
  return `${ids[0]}/${files[0]}`;
}

test('warps: a whole-pixel shift moves pixels exactly; area resize keeps the mean and equals 2x2 averaging', async () => {
  const img = await decodeImage(data('small/examples/extra/obama/obama-240p.jpg'));
  const shifted = warpAffine(img, [1, 0, 7, 0, 1, 3], 100, 80);
  for (const [u, v] of [[0, 0], [50, 40], [99, 79]] as const) {
    for (let c = 0; c < 3; c++) assert.equal(shifted.data[(v * 100 + u) * 3 + c], img.data[((v + 3) * img.width + u + 7) * 3 + c]);
  }
  const half = resizeArea(img, Math.floor(img.width / 2), Math.floor(img.height / 2), 2, 2);
  const p = (im: RgbImage, x: number, y: number, c: number) => im.data[(y * im.width + x) * 3 + c]!;
  const expect = (p(img, 20, 10, 1) + p(img, 21, 10, 1) + p(img, 20, 11, 1) + p(img, 21, 11, 1)) / 4;
  assert.ok(Math.abs(p(half, 10, 5, 1) - expect) <= 0.5 + 1e-9);
  const mean = (im: RgbImage) => im.data.reduce((a, v) => a + v, 0) / im.data.length;
  const small = resizeArea(img, 160, 90, img.width / 160, img.height / 90);
  assert.ok(Math.abs(mean(small) - mean(img)) < 0.5, 'area resampling keeps the mean brightness');
});

test('whole-pixel area resize (the detector\'s 640x480 -> 160x160, a padded 16:9 frame) equals the general area taps', async () => {
  const src = data('small/examples/extra/obama/obama-480p.jpg');
  for (const [W, H] of [[640, 480], [1280, 720]] as const) {
    const img = await decodeImage(await sharp(src).resize(W, H, { fit: 'cover' }).jpeg().toBuffer());
    // As BlazeFace.prepare: the frame padded (black) to 4:3 and centred, then 160x160. The -0 offset
    // the centring gives on a 4:3 frame must take the whole-pixel path too.
    const h = W / (4 / 3), sx = W / 160, sy = h / 160, oy = -(h - H) / 2;
    const fast = resizeArea(img, 160, 160, sx, sy, -0, oy);
    // A sub-pixel nudge takes the general float-tap path over the same spans.
    const general = resizeArea(img, 160, 160, sx, sy, 1e-9, oy + 1e-9);
    assert.equal(meanAbsDiff(fast.data, general.data), 0, `${W}x${H}`);
  }
});

test('photometrics: darker, flatter and blurrier copies of a real face score lower', async () => {
  const crop = await decodeImage(data('train/glint/' + (await firstGlint())));
  const variant = async (f: (s: Sharp) => Sharp) => {
    const buf = await f(sharp(crop.data, { raw: { width: 112, height: 112, channels: 3 } })).raw().toBuffer();
    return photometrics({ data: new Uint8Array(buf), width: 112, height: 112 });
  };
  const base = photometrics(crop);
  const dark = await variant((s) => s.linear(0.3, 0));
  const flat = await variant((s) => s.linear(0.3, 100));
  const blur = await variant((s) => s.blur(2));
  assert.ok(dark.brightness < base.brightness * 0.4);
  assert.ok(flat.contrast < base.contrast * 0.4);
  assert.ok(blur.sharpness < base.sharpness * 0.25, `blur ${blur.sharpness} vs ${base.sharpness}`);
  // JPEG round trip at q95 barely moves them.
  const re = photometrics(await decodeImage(await encodeJpeg(crop, 95)));
  assert.ok(Math.abs(re.brightness - base.brightness) < 1.5);
});

test('detailScore: a real crop keeps its score through JPEG and a change of light; enlarged from a thumbnail it falls below the gate', async () => {
  const crop = await decodeImage(data('train/glint/' + (await firstGlint())));
  const raw = (s: Sharp) => s.raw().toBuffer().then((b) => ({ data: new Uint8Array(b), width: 112, height: 112 }));
  const from = () => sharp(crop.data, { raw: { width: 112, height: 112, channels: 3 } });
  const base = detailScore(crop);
  assert.ok(base >= DEFAULT_QUALITY_CONFIG.minDetail, `the real crop ${base}`);
  // A ratio of two detail energies: brightness and contrast cancel out.
  const dimmer = detailScore(await raw(from().linear(0.6, 40)));
  assert.ok(Math.abs(dimmer - base) < 0.01, `dimmer and flatter ${dimmer} vs ${base}`);
  assert.ok(Math.abs(detailScore(await decodeImage(await encodeJpeg(crop, 95))) - base) < 0.02, 'JPEG q95');
  // Shrunk to 28 px (a face about 20 px wide) and enlarged back (bicubic): same size, little detail.
  const thumb = await from().resize(28, 28).png().toBuffer();
  const up = detailScore(await raw(sharp(thumb).resize(112, 112, { kernel: 'cubic' })));
  assert.ok(up < DEFAULT_QUALITY_CONFIG.minDetail && up < base * 0.7, `enlarged ${up} vs ${base}`);
  assert.equal(detailScore({ data: new Uint8Array(112 * 112 * 3).fill(128), width: 112, height: 112 }), 0, 'flat');
});

test('coreCutOff: the share of the face core (template x 24-88, y 32-104) outside the image', () => {
  const lm = ARCFACE_TEMPLATE_112 as Point[];
  assert.equal(coreCutOff(lm, 112, 112), 0, 'an aligned crop holds its whole core');
  assert.ok(Math.abs(coreCutOff(lm, 56, 112) - 0.5) < 0.03, 'cut at x 56: half the core');
  assert.ok(Math.abs(coreCutOff(lm, 112, 68) - 0.5) < 0.03, 'cut at y 68: half the core');
  // Twice as large and shifted: the same face, wholly inside a 224 px image.
  assert.equal(coreCutOff(lm.map(([x, y]) => [x * 2 + 10, y * 2 + 10] as Point), 250, 250), 0);
});
