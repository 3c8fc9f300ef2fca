// Issue 18, item 8 (image formats): one list of accepted formats (ACCEPTED_IMAGE_FORMATS), each of
// which really decodes; BMP is accepted (our own reader: sharp's libvips has no BMP loader),
// checked against ffmpeg's decoder on ffmpeg's BMP encodings of a real photo and on hand-built
// variants; refusals name the accepted formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { ACCEPTED_FORMATS_TEXT, ACCEPTED_IMAGE_FORMATS, ImageDecodeError, decodeImage, sniffFormat, type ImageFormat } from '../src/vision/decode.js';
import type { RgbImage } from '../src/vision/types.js';
import { ffmpeg } from './fixtures/tools.js';

const PHOTO = fileURLToPath(new URL('../../shared/data/small/bbt/amy/amy2.png', import.meta.url));
const FFMPEG = ffmpeg();
const run = promisify(execFile);

/** A real photo as RGB, at an odd width so BMP rows need padding. */
async function photo(width = 45, height = 37): Promise<RgbImage> {
  const { data, info } = await sharp(PHOTO).resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

const meanAbsDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;

interface BmpSpec {
  width: number;
  height: number;
  bpp: number;
  /** DIB header size: 12 (OS/2 core), 40 (INFO), 108 (V4), 124 (V5). */
  dib?: 12 | 40 | 108 | 124;
  topDown?: boolean;
  compression?: number;
  palette?: [number, number, number][];
  /** R, G, B (and A) bit masks: after a 40-byte header, inside V4/V5 headers. */
  masks?: number[];
  /** The stored value of pixel (x, y), y from the top: palette index, packed 16/32-bit value, or 0xRRGGBB for 24 bits. */
  pixel: (x: number, y: number) => number;
}

/** A BMP file written by the book (Microsoft's BITMAPINFOHEADER..V5 and OS/2 core layouts). */
function makeBmp(s: BmpSpec): Buffer {
  const dib = s.dib ?? 40;
  const entry = dib === 12 ? 3 : 4;
  const maskBytes = dib === 40 && s.masks ? s.masks.length * 4 : 0;
  const palette = s.palette ?? [];
  const stride = Math.ceil((s.width * s.bpp) / 32) * 4;
  const offset = 14 + dib + maskBytes + palette.length * entry;
  const buf = Buffer.alloc(offset + stride * s.height);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(offset, 10);
  buf.writeUInt32LE(dib, 14);
  if (dib === 12) {
    buf.writeUInt16LE(s.width, 18);
    buf.writeUInt16LE(s.height, 20);
    buf.writeUInt16LE(1, 22);
    buf.writeUInt16LE(s.bpp, 24);
  } else {
    buf.writeInt32LE(s.width, 18);
    buf.writeInt32LE(s.topDown ? -s.height : s.height, 22);
    buf.writeUInt16LE(1, 26);
    buf.writeUInt16LE(s.bpp, 28);
    buf.writeUInt32LE(s.compression ?? 0, 30);
    buf.writeUInt32LE(stride * s.height, 34);
    buf.writeUInt32LE(palette.length, 46);
    (s.masks ?? []).forEach((m, i) => buf.writeUInt32LE(m >>> 0, 54 + 4 * i));
  }
  palette.forEach(([r, g, b], i) => {
    const p = 14 + dib + maskBytes + i * entry;
    buf[p] = b;
    buf[p + 1] = g;
    buf[p + 2] = r;
  });
  for (let y = 0; y < s.height; y++) {
    const row = offset + (s.topDown ? y : s.height - 1 - y) * stride;
    for (let x = 0; x < s.width; x++) {
      const v = s.pixel(x, y);
      if (s.bpp <= 8) {
        const bit = x * s.bpp;
        buf[row + (bit >> 3)]! |= v << (8 - s.bpp - (bit & 7));
      } else if (s.bpp === 16) buf.writeUInt16LE(v, row + x * 2);
      else if (s.bpp === 24) {
        buf[row + x * 3] = v & 0xff;
        buf[row + x * 3 + 1] = (v >> 8) & 0xff;
        buf[row + x * 3 + 2] = (v >> 16) & 0xff;
      } else buf.writeUInt32LE(v >>> 0, row + x * 4);
    }
  }
  return buf;
}

const rgbAt = (img: RgbImage, x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
const bmp24 = (img: RgbImage, topDown = false) =>
  makeBmp({ width: img.width, height: img.height, bpp: 24, topDown, pixel: (x, y) => { const [r, g, b] = rgbAt(img, x, y); return (r! << 16) | (g! << 8) | b!; } });

async function refused(input: Buffer, code: string, pattern: RegExp): Promise<string> {
  let message = '';
  await assert.rejects(decodeImage(input), (err: unknown) => {
    assert.ok(err instanceof ImageDecodeError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    message = err.message;
    return true;
  });
  return message;
}

test('every format in the one list decodes a real photo, and is recognised from its bytes', async () => {
  assert.equal(ACCEPTED_FORMATS_TEXT, 'JPEG, PNG, WebP, GIF, TIFF, AVIF, BMP or PGM/PPM');
  const img = await photo();
  const raw = () => sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } });
  const header = `P6\n${img.width} ${img.height}\n255\n`;
  const encode: Record<ImageFormat, () => Promise<Buffer>> = {
    jpeg: () => raw().jpeg({ quality: 95 }).toBuffer(),
    png: () => raw().png().toBuffer(),
    webp: () => raw().webp({ lossless: true }).toBuffer(),
    gif: () => raw().gif().toBuffer(),
    tiff: () => raw().tiff({ compression: 'lzw' }).toBuffer(),
    heif: () => raw().avif({ quality: 90, effort: 0 }).toBuffer(),
    bmp: async () => bmp24(img),
    pnm: async () => Buffer.concat([Buffer.from(header, 'latin1'), Buffer.from(img.data)]),
  };
  // Lossless formats give the pixels back exactly; the lossy ones stay close.
  const tolerance: Record<ImageFormat, number> = { jpeg: 3, png: 0, webp: 0, gif: 8, tiff: 0, heif: 6, bmp: 0, pnm: 0 };
  assert.deepEqual(ACCEPTED_IMAGE_FORMATS.map((f) => f.format).sort(), Object.keys(encode).sort(), 'every format in the list is tried here');
  for (const { format, name } of ACCEPTED_IMAGE_FORMATS) {
    const bytes = await encode[format]();
    assert.equal(sniffFormat(bytes), format, name);
    const out = await decodeImage(bytes);
    assert.deepEqual([out.width, out.height], [img.width, img.height], name);
    const d = meanAbsDiff(out.data, img.data);
    assert.ok(d <= tolerance[format], `${name}: mean difference ${d.toFixed(2)}`);
    if (tolerance[format] === 0) assert.deepEqual(out.data, img.data, name);
  }
});

test("BMP: ffmpeg's BMP encodings of a real photo decode to what ffmpeg decodes them to", { skip: FFMPEG.skip }, async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-bmp-'));
  try {
    const src = path.join(tmp, 'photo.png');
    await sharp(PHOTO).resize(61, 37, { fit: 'fill' }).png().toFile(src);
    // 32-bit, 24-bit, 16-bit 5-5-5 (plain) and 5-6-5 / 4-4-4 (bit fields), 8-bit palettes, 1-bit.
    for (const fmt of ['bgra', 'bgr24', 'rgb555le', 'rgb565le', 'rgb444le', 'pal8', 'rgb8', 'gray', 'monob']) {
      const file = path.join(tmp, `${fmt}.bmp`);
      await run(FFMPEG.path!, ['-v', 'error', '-nostdin', '-y', '-i', src, '-pix_fmt', fmt, file]);
      const ours = await decodeImage(file);
      const theirs = (await run(FFMPEG.path!, ['-v', 'error', '-nostdin', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { encoding: 'buffer', maxBuffer: 1 << 20 })).stdout as Buffer;
      assert.deepEqual([ours.width, ours.height], [61, 37], fmt);
      assert.equal(ours.data.length, theirs.length, fmt);
      let worst = 0;
      for (let i = 0; i < theirs.length; i++) {
        // ffmpeg widens 4-bit channels as v << 4 (white is 240); ours as v * 17 (white is 255).
        const want = fmt === 'rgb444le' ? (theirs[i]! / 16) * 17 : theirs[i]!;
        worst = Math.max(worst, Math.abs(ours.data[i]! - want));
      }
      // 5- and 6-bit channels: rounding (ours) against bit replication (ffmpeg) differ by at most 1.
      assert.ok(worst <= (fmt === 'rgb555le' || fmt === 'rgb565le' ? 1 : 0), `${fmt}: largest difference ${worst}`);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('BMP variants: top-down rows, 1/2/4-bit palettes, the OS/2 header, 5-5-5, V5 bit fields with alpha over white', async () => {
  const img = await photo(13, 7);
  const bottomUp = await decodeImage(bmp24(img));
  assert.deepEqual(bottomUp.data, img.data);
  assert.deepEqual((await decodeImage(bmp24(img, true))).data, img.data, 'top-down (negative height)');

  // Palettes: index = (x + 2y) mod colours, odd widths so rows end mid-byte.
  const colours = (n: number) => Array.from({ length: n }, (_, i) => [(i * 37) % 256, (i * 91) % 256, (i * 53 + 7) % 256] as [number, number, number]);
  for (const bpp of [1, 2, 4, 8]) {
    for (const dib of [40, 12] as const) {
      const pal = colours(1 << bpp);
      const index = (x: number, y: number) => (x + 2 * y) % pal.length;
      const out = await decodeImage(makeBmp({ width: 11, height: 5, bpp, dib, palette: pal, pixel: index }));
      for (let y = 0; y < 5; y++) for (let x = 0; x < 11; x++) assert.deepEqual(rgbAt(out, x, y), pal[index(x, y)], `${bpp}-bit, header ${dib}, (${x}, ${y})`);
    }
  }

  // 16-bit without masks is 5-5-5.
  const c555 = await decodeImage(makeBmp({ width: 3, height: 1, bpp: 16, pixel: (x) => [0x7c00, 0x03e0, 0x001f | (16 << 5)][x]! }));
  assert.deepEqual([...c555.data], [255, 0, 0, 0, 255, 0, 0, 132, 255]);

  // V5 header, 32-bit bit fields with alpha (A-R-G-B): transparent pixels show white, like every format.
  const argb = [0xff102030, 0x80000000, 0x00ff0000, 0xffffffff];
  const v5 = await decodeImage(makeBmp({ width: 4, height: 1, bpp: 32, dib: 124, compression: 3, masks: [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000], pixel: (x) => argb[x]! }));
  assert.deepEqual([...v5.data], [0x10, 0x20, 0x30, 127, 127, 127, 255, 255, 255, 255, 255, 255]);
  // An alpha channel that is 0 everywhere was never written: the image is opaque, not invisible.
  const unset = await decodeImage(makeBmp({ width: 2, height: 1, bpp: 32, dib: 108, compression: 3, masks: [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000], pixel: (x) => [0x00102030, 0x00405060][x]! }));
  assert.deepEqual([...unset.data], [0x10, 0x20, 0x30, 0x40, 0x50, 0x60]);
  // Plain 32-bit (B, G, R, unused): the fourth byte is ignored.
  const plain = await decodeImage(makeBmp({ width: 1, height: 1, bpp: 32, pixel: () => 0x00a0b0c0 }));
  assert.deepEqual([...plain.data], [0xa0, 0xb0, 0xc0]);
});

test('refusals say why and name the accepted formats; damaged BMPs are corrupt, oversized ones too large before decoding', async () => {
  const accepted = /; accepted formats: JPEG, PNG, WebP, GIF, TIFF, AVIF, BMP or PGM\/PPM$/;
  const rle8 = makeBmp({ width: 4, height: 2, bpp: 8, compression: 1, palette: [[0, 0, 0]], pixel: () => 0 });
  await refused(rle8, 'unsupported', /BMP with BI_RLE8 compression is not supported/);
  await refused(rle8, 'unsupported', accepted);
  const jpegInBmp = makeBmp({ width: 4, height: 2, bpp: 24, compression: 4, pixel: () => 0 });
  await refused(jpegInBmp, 'unsupported', /BI_JPEG[\s\S]*accepted formats/);
  await refused(Buffer.from('%PDF-1.7\n%\xe2\xe3\n1 0 obj', 'latin1'), 'unsupported', /PDF is not accepted; accepted formats: JPEG/);
  await refused(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'unsupported', accepted);
  await refused(Buffer.from('hello, this is text and not a photo'), 'unsupported', /unrecognised image format[\s\S]*BMP or PGM\/PPM$/);

  const img = await photo(9, 4);
  const whole = bmp24(img);
  await refused(whole.subarray(0, whole.length - 10), 'corrupt', /BMP is truncated/);
  const huge = Buffer.from(whole);
  huge.writeInt32LE(60000, 18);
  huge.writeInt32LE(60000, 22);
  await refused(huge, 'too_large', /60000x60000/);
  const badMask = makeBmp({ width: 1, height: 1, bpp: 16, compression: 3, masks: [0xf00f, 0x00f0, 0x0f00], pixel: () => 0 });
  await refused(badMask, 'corrupt', /mask f00f is not one run of bits/);
  await refused(makeBmp({ width: 0, height: 1, bpp: 24, pixel: () => 0 }), 'corrupt', /empty size/);
});

test('a BMP photo goes through decodeImage from a file path too', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-bmp-file-'));
  try {
    const img = await photo(20, 24);
    const file = path.join(tmp, 'named-like-a.jpg');
    await writeFile(file, bmp24(img));
    assert.deepEqual((await decodeImage(file)).data, img.data, 'the bytes decide, not the name');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
