// The hostile files of the robustness battery (issue 18, "Prove it": hostile inputs), made at test
// time from real photos with sharp and Buffer surgery. Only the small fixtures that already exist
// (test/fixtures/vision, see its README) are read from disk; nothing large is ever stored: the
// 50 MB upload is built in memory when its case runs.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { BBT, DATA } from '../fixtures/web/harness.js';

const VISION = fileURLToPath(new URL('../fixtures/vision/', import.meta.url));
export const OBAMA_240P = path.join(DATA, 'small/examples/extra/obama/obama-240p.jpg');
const CELEBA = path.join(DATA, 'dev/celeba');

export const fixture = (name: string) => readFile(path.join(VISION, name));
export const bbt = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));

/** A real colour photo (240 x 336, CelebA dev set) with one face about 90 px wide. */
const portrait = () => readFile(path.join(CELEBA, '7207', '001321.jpg'));

/** What the service documents for a file (see src/http/errors.ts, src/service/errors.ts, src/door). */
export type Outcome =
  /** Refused: this status and error code, with a message naming the problem (enrollment: the photo's reason, 'unreadable'). */
  | { kind: 'refused'; status: number; code: string; message: RegExp }
  /** Decoded and looked at: a 200 decision, and enrollment's verdict on the photo ('accepted' or the reason code it is refused with). */
  | { kind: 'decision'; verify: readonly string[]; identify: readonly string[]; enroll: string; faces?: number };

export interface HostileFile {
  id: string;
  /** The upload's file name (and the CLI's file name). */
  file: string;
  what: string;
  bytes: () => Promise<Buffer>;
  outcome: Outcome;
  /** The same picture as an ordinary file: the face must be found where it is found in that one (within a few pixels). */
  sameFaceAs?: () => Promise<Buffer>;
  /** The enrollment route refuses this one while it streams in (413), before the service sees it. */
  enrollStatus?: { status: number; code: string; message: RegExp };
  /** What the CLI says when it differs from the API (no HTTP body limit there: the decoder's limit speaks). */
  cli?: { code: string; message: RegExp };
}

const ACCEPTED = /accepted formats: JPEG, PNG, WebP, GIF, TIFF, AVIF, BMP or PGM\/PPM/;

const refused = (status: number, code: string, message: RegExp): Outcome => ({ kind: 'refused', status, code, message });
const corrupt = (message: RegExp) => refused(422, 'corrupt_image', message);
const unsupported = (message: RegExp) => refused(415, 'unsupported_media', message);
const tooLarge = (message: RegExp) => refused(413, 'image_too_large', message);

/** Offsets of every JPEG marker segment (FF xx with a length) before the scan data. */
function jpegSegments(buf: Buffer): { marker: number; at: number; length: number }[] {
  const out: { marker: number; at: number; length: number }[] = [];
  let i = 2;
  while (i + 4 <= buf.length && buf[i] === 0xff) {
    const marker = buf[i + 1]!;
    const length = buf.readUInt16BE(i + 2);
    out.push({ marker, at: i, length });
    if (marker === 0xda) break; // start of scan: entropy-coded data follows
    i += 2 + length;
  }
  return out;
}

/** A baseline JPEG of a real face with standard (not optimised) Huffman tables. */
const baselineJpeg = async () => sharp(await portrait()).jpeg({ quality: 90, optimiseCoding: false, mozjpeg: false }).toBuffer();

/**
 * The first DC Huffman table made impossible while its segment stays well formed: three codes of
 * length 1 (only two exist), the total count unchanged. libjpeg refuses it when it builds the table.
 */
async function badHuffman(): Promise<Buffer> {
  const buf = Buffer.from(await baselineJpeg());
  const dht = jpegSegments(buf).find((s) => s.marker === 0xc4);
  if (!dht) throw new Error('no DHT segment');
  const counts = dht.at + 5; // FF C4, length (2), Tc/Th (1), then 16 counts
  const donor = [...Array(16).keys()].find((k) => k > 0 && buf[counts + k]! >= 3);
  if (donor === undefined) throw new Error('no count to move');
  buf[counts + donor]! -= 3;
  buf[counts]! += 3;
  return buf;
}

/** A JPEG whose SOF header claims 65000 x 65000. */
async function jpegClaiming(width: number, height: number): Promise<Buffer> {
  const buf = Buffer.from(await baselineJpeg());
  const sof = jpegSegments(buf).find((s) => s.marker === 0xc0);
  if (!sof) throw new Error('no SOF0');
  buf.writeUInt16BE(height, sof.at + 5);
  buf.writeUInt16BE(width, sof.at + 7);
  return buf;
}

/** A PNG whose IHDR says width x height (CRC recomputed, so only the size is a lie). */
async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const buf = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer());
  buf.writeUInt32BE(width, 16);
  buf.writeUInt32BE(height, 20);
  buf.writeUInt32BE(crc32(buf.subarray(12, 29)), 29);
  return buf;
}

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** Six different people in a 3 x 2 grid, each face large enough to be found. */
async function sixFaces(): Promise<Buffer> {
  const people = ['amy', 'penny', 'raj', 'howard', 'sheldon', 'leonard'];
  const tiles = await Promise.all(people.map(async (p) => sharp(await bbt(p, 1)).resize(150, 150).toColourspace('srgb').png().toBuffer()));
  return sharp({ create: { width: 3 * 210 + 60, height: 2 * 210 + 60, channels: 3, background: '#d0d0d0' } })
    .composite(tiles.map((input, i) => ({ input, left: 60 + (i % 3) * 210, top: 60 + Math.floor(i / 3) * 210 })))
    .jpeg({ quality: 92 })
    .toBuffer();
}

/** A whole head shrunk to 16 px (its face about 10 px wide) on a 320 x 240 wall. */
async function tinyFace(): Promise<Buffer> {
  const head = await sharp(await bbt('amy', 2)).resize(16, 16).toColourspace('srgb').png().toBuffer();
  return sharp({ create: { width: 320, height: 240, channels: 3, background: '#9aa4ad' } }).composite([{ input: head, left: 152, top: 100 }]).png().toBuffer();
}

/** A real photo without a face: a smooth wall with sensor noise. */
async function noFace(): Promise<Buffer> {
  const w = 320;
  const h = 240;
  const px = Buffer.alloc(w * h * 3);
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) % 17;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = 90 + Math.round((x / w) * 80) + c * 12 + rnd();
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

/** A file made of these characters (latin1: one byte each). */
const text = (s: string) => async () => Buffer.from(s, 'latin1');

/** A minimal BMP header (BITMAPINFOHEADER, 24-bit) claiming width x height, with `pixels` bytes after it. */
function bmp(width: number, height: number, pixels: number): Buffer {
  const buf = Buffer.alloc(54 + pixels);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(24, 28);
  return buf;
}

const MB = 1024 * 1024;

/** The upload size of the "50 MB upload" case. */
export const FIFTY_MB = 50 * MB;

const decision = (verify: readonly string[], identify: readonly string[], enroll: string, faces?: number): Outcome => ({ kind: 'decision', verify, identify, enroll, faces });
/** A usable face, decoded right: a real decision (only Amy is enrolled). */
const aFace = decision(['granted', 'denied'], ['match', 'unknown'], 'accepted', 1);
/** A face found, but too small in the frame to compare: "Come closer" (a photo: too small to enrol). */
const smallFace = decision(['poor_quality'], ['poor_quality'], 'too_small', 1);
const nothing = decision(['no_face'], ['no_face'], 'no_face', 0);

export const HOSTILE_FILES: HostileFile[] = [
  // ---- broken encodings ----
  { id: 'truncated-jpeg', file: 'truncated.jpg', what: 'the first 40 % of a JPEG', bytes: () => fixture('truncated.jpg'), outcome: corrupt(/truncated image data .*premature end of JPEG/) },
  { id: 'bad-huffman', file: 'bad-huffman.jpg', what: 'a JPEG with an impossible Huffman table (3 codes of length 1)', bytes: badHuffman, outcome: corrupt(/cannot decode this JPEG: .*Bogus Huffman table/) },
  { id: 'jpeg-soi-eoi', file: 'empty-jpeg.jpg', what: 'JPEG start and end markers, nothing between', bytes: async () => Buffer.from([0xff, 0xd8, 0xff, 0xd9]), outcome: corrupt(/cannot decode this JPEG: .*contains no image/) },
  { id: 'png-truncated', file: 'truncated.png', what: 'a PNG photo cut in half', bytes: async () => half(await bbt('amy', 2)), outcome: corrupt(/truncated image data/) },
  { id: 'png-bad-deflate', file: 'bad-deflate.png', what: 'a PNG whose compressed pixels are garbled', bytes: badDeflate, outcome: corrupt(/PNG|truncated image data/) },
  { id: 'png-zero-width', file: 'zero-width.png', what: 'a PNG claiming 0 x 8', bytes: () => pngClaiming(0, 8), outcome: corrupt(/cannot decode this PNG: .*corrupt header/) },
  { id: 'gif-truncated', file: 'truncated.gif', what: 'a GIF header with no image data', bytes: async () => (await fixture('two-frames.gif')).subarray(0, 40), outcome: corrupt(/truncated image data .*GIF/) },
  { id: 'gif-polyglot', file: 'polyglot.gif', what: 'GIF89a followed by JavaScript (a GIF/JS polyglot)', bytes: text('GIF89a/*\x00\x00*/=1;alert(document.cookie)//'), outcome: corrupt(/cannot decode this GIF: .*no frames/) },
  { id: 'webp-truncated', file: 'truncated.webp', what: 'a WebP cut to its first 200 bytes', bytes: async () => (await fixture('webp-named.jpg')).subarray(0, 200), outcome: corrupt(/cannot decode this WebP/) },
  { id: 'tiff-garbage', file: 'garbage.tiff', what: 'TIFF magic with a nonsense directory offset', bytes: async () => Buffer.concat([Buffer.from('II*\0', 'latin1'), Buffer.from([0xff, 0xff, 0xff, 0x7f]), Buffer.alloc(64, 0xab)]), outcome: corrupt(/damaged TIFF: its header cannot be read/) },
  { id: 'bmp-truncated', file: 'truncated.bmp', what: 'a BMP header for 64 x 64 with 10 bytes of pixels', bytes: async () => bmp(64, 64, 10), outcome: corrupt(/BMP is truncated: 10 of 12288 pixel bytes/) },
  { id: 'pgm-truncated', file: 'truncated.pgm', what: 'a P5 header for 100 x 100 and 5 pixel bytes', bytes: text('P5\n100 100\n255\nabcde'), outcome: corrupt(/PNM is truncated: 5 of 10000 pixel bytes/) },
  { id: 'pgm-maxval-0', file: 'maxval0.pgm', what: 'a P5 image with maxval 0', bytes: text('P5\n2 2\n0\n\0\0\0\0'), outcome: corrupt(/PNM maxval 0 out of range/) },

  // ---- not images at all, whatever their names say ----
  { id: 'empty', file: 'empty.jpg', what: 'a 0-byte file', bytes: async () => Buffer.alloc(0), outcome: refused(400, 'empty_image', /empty|no bytes/) },
  { id: 'html-as-jpg', file: 'page.jpg', what: 'an HTML page with a script, named .jpg', bytes: text('<!doctype html><html><body><script>fetch("/api/identities").then(r=>r.text()).then(alert)</script></body></html>'), outcome: unsupported(/unrecognised image format .*; accepted formats: JPEG, PNG/) },
  { id: 'svg-script-as-jpg', file: 'vector.jpg', what: 'an SVG with a script, named .jpg', bytes: text('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" onload="alert(1)"><script>alert(document.domain)</script><circle r="40" cx="50" cy="50"/></svg>'), outcome: unsupported(/SVG is not accepted .*; accepted formats/) },
  { id: 'svg-xml-prolog', file: 'prolog.png', what: 'an SVG behind an XML prolog, named .png', bytes: text('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), outcome: unsupported(/SVG is not accepted/) },
  { id: 'pdf-as-jpg', file: 'scan.jpg', what: 'a PDF named .jpg', bytes: text('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n'), outcome: unsupported(/PDF is not accepted; accepted formats/) },
  { id: 'zip-as-png', file: 'archive.png', what: 'a ZIP archive named .png', bytes: text('PK\x03\x04\x14\x00\x00\x00\x08\x00' + 'x'.repeat(64)), outcome: unsupported(/unrecognised image format \(first bytes 504b0304/) },
  { id: 'mp4-as-heic', file: 'iphone.heic', what: 'ISO media of a video brand, named .heic', bytes: async () => Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42\0\0\0\0mp42isom', 'latin1'), Buffer.alloc(32)]), outcome: unsupported(/ISO media that is not AVIF\/HEIF/) },

  // ---- sizes ----
  { id: 'png-60000', file: 'bomb-60000.png', what: 'a 93-byte PNG claiming 60000 x 60000', bytes: () => fixture('bomb-60000.png'), outcome: tooLarge(/60000x60000 = 3600\.0 MP exceeds the 16\.0 MP limit/) },
  { id: 'jpeg-65000', file: 'bomb-65000.jpg', what: 'a JPEG whose frame header claims 65000 x 65000', bytes: () => jpegClaiming(65000, 65000), outcome: tooLarge(/65000x65000 = 4225\.0 MP exceeds/) },
  { id: 'bmp-60000', file: 'bomb.bmp', what: 'a BMP header claiming 60000 x 60000', bytes: async () => bmp(60000, 60000, 16), outcome: tooLarge(/60000x60000 = 3600\.0 MP exceeds/) },
  { id: 'pgm-100000', file: 'bomb.pgm', what: 'a PGM header claiming 100000 x 100000', bytes: text('P5\n100000 100000\n255\n\0\0\0\0'), outcome: tooLarge(/100000x100000 = 10000\.0 MP exceeds/) },
  {
    id: 'fifty-mb',
    file: 'huge.jpg',
    what: 'a 50 MB upload (a real JPEG padded to 50 MB)',
    bytes: async () => {
      const jpeg = await baselineJpeg();
      return Buffer.concat([jpeg, Buffer.alloc(FIFTY_MB - jpeg.length, 0x20)]);
    },
    // verify and identify: the body limit (one image and the form's framing) refuses the request.
    outcome: refused(413, 'payload_too_large', /request body exceeds 10\.1 MB/),
    // Enrollment measures each file part while it streams in: refused once it passes 10 MB.
    enrollStatus: { status: 413, code: 'image_too_large', message: /huge\.jpg is over the 10 MB limit for one image/ },
    // The command line refuses it by its size before reading it (verify, identify and enroll).
    cli: { code: 'image_too_large', message: /52428800 bytes exceeds the 10485760-byte limit/ },
  },
  { id: 'one-pixel', file: 'pixel.png', what: 'a 1 x 1 pixel PNG', bytes: () => sharp({ create: { width: 1, height: 1, channels: 3, background: '#c08060' } }).png().toBuffer(), outcome: nothing },

  // ---- odd but valid: decoded right, and a real decision ----
  { id: 'misnamed-webp', file: 'webp-named.jpg', what: 'a WebP photo named .jpg (the bytes decide)', bytes: () => fixture('webp-named.jpg'), outcome: smallFace, sameFaceAs: () => readFile(OBAMA_240P) },
  { id: 'exif-orientation-6', file: 'exif-orientation-6.jpg', what: 'a photo stored sideways with EXIF Orientation=6', bytes: () => fixture('exif-orientation-6.jpg'), outcome: smallFace, sameFaceAs: () => readFile(OBAMA_240P) },
  { id: 'exif-orientation-6-portrait', file: 'sideways-portrait.jpg', what: 'a portrait stored sideways with EXIF Orientation=6, face large enough to decide', bytes: async () => sharp(await portrait()).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 92 }).toBuffer(), outcome: aFace, sameFaceAs: portrait },
  { id: 'animated-gif', file: 'two-frames.gif', what: 'an animated GIF (a face, then grey): the first frame counts', bytes: () => fixture('two-frames.gif'), outcome: smallFace },
  { id: 'cmyk-jpeg', file: 'cmyk.jpg', what: 'a CMYK JPEG portrait', bytes: async () => sharp(await portrait()).toColourspace('cmyk').jpeg({ quality: 92 }).toBuffer(), outcome: aFace, sameFaceAs: portrait },
  { id: 'png-16bit', file: 'rgb16.png', what: 'a 16-bit RGB PNG portrait', bytes: async () => sharp(await portrait()).toColourspace('rgb16').png().toBuffer(), outcome: aFace, sameFaceAs: portrait },
  { id: 'grey16-alpha', file: 'grey16-alpha.png', what: 'a 16-bit grey + alpha PNG', bytes: () => fixture('grey16-alpha.png'), outcome: decision(['poor_quality'], ['poor_quality'], 'accepted', 1) },
  { id: 'png-bad-crc', file: 'bad-crc.png', what: 'a PNG whose header checksum is wrong (pixels intact: decoded)', bytes: badCrc, outcome: aFace, sameFaceAs: () => bbt('amy', 2) },
  { id: 'trailing-garbage', file: 'trailing.jpg', what: 'a JPEG portrait followed by 100 KB of junk', bytes: async () => Buffer.concat([await baselineJpeg(), Buffer.alloc(100 * 1024, 0x5a)]), outcome: aFace, sameFaceAs: portrait },
  { id: 'jpeg-garbage-scan', file: 'garbage-scan.jpg', what: 'JPEG headers followed by random scan data (decodes to noise)', bytes: garbageScan, outcome: nothing },
  { id: 'no-face', file: 'wall.jpg', what: 'a photo of a wall: no face', bytes: noFace, outcome: nothing },
  { id: 'six-faces', file: 'six.jpg', what: 'six people in one photo', bytes: sixFaces, outcome: decision(['multiple_faces'], ['multiple_faces'], 'multiple_faces', 6) },
  { id: 'ten-px-face', file: 'far-away.png', what: 'a face about 10 px wide in a 320 x 240 frame', bytes: tinyFace, outcome: nothing },
];

async function garbageScan(): Promise<Buffer> {
  const buf = await baselineJpeg();
  const sos = jpegSegments(buf).find((s) => s.marker === 0xda)!;
  const head = buf.subarray(0, sos.at + 2 + sos.length);
  const junk = Buffer.alloc(4000);
  let seed = 99;
  for (let i = 0; i < junk.length; i++) junk[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  return Buffer.concat([head, junk, Buffer.from([0xff, 0xd9])]);
}

/** A PNG with bytes in the middle of its IDAT (the deflate stream) overwritten. */
async function badDeflate(): Promise<Buffer> {
  const buf = Buffer.from(await sharp(await portrait()).png({ compressionLevel: 6 }).toBuffer());
  const idat = buf.indexOf('IDAT', 8, 'latin1');
  const at = idat + 4 + 200;
  for (let i = 0; i < 64; i++) buf[at + i] = (i * 37 + 11) & 0xff;
  return buf;
}

async function badCrc(): Promise<Buffer> {
  const buf = Buffer.from(await bbt('amy', 2));
  buf.writeUInt32BE((buf.readUInt32BE(29) ^ 0xdeadbeef) >>> 0, 29);
  return buf;
}

const half = (b: Buffer) => b.subarray(0, b.length >> 1);
