// Any photo or frame -> 8-bit RGB. The bytes decide the format (some photos are WebP named
// .jpg); headers are checked against limits before any pixel is decoded (decompression bombs).
// The accepted formats are ACCEPTED_IMAGE_FORMATS below: sharp (libvips) decodes most of them;
// PGM/PPM (pnm.ts) and BMP (decode-bmp.ts) have our own readers, as sharp's libvips lacks both.
import { readFile, stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { BmpUnsupportedError, decodeBmp, isBmp, readBmpHeader } from './decode-bmp.js';
import { decodePnm, isPnm, readPnmHeader } from './pnm.js';
import type { RgbImage } from './types.js';

export type ImageDecodeErrorCode = 'not_found' | 'empty' | 'too_large' | 'unsupported' | 'corrupt';

export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
  constructor(
    readonly code: ImageDecodeErrorCode,
    message: string,
    readonly source?: string,
  ) {
    super(source ? `${source}: ${message}` : message);
  }
}

export interface DecodeLimits {
  /** Largest accepted width x height, checked on the header before decoding. */
  maxPixels: number;
  /** Largest accepted encoded size. */
  maxBytes: number;
}

export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxPixels: 40_000_000,
  maxBytes: 50 * 1024 * 1024,
});

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'heif' | 'bmp' | 'pnm';

/**
 * The image formats FaceGate accepts (uploads, API bodies, CLI photos, datasets), recognised from
 * their bytes whatever the file is called. The one list: refusals name it, docs should quote it.
 */
export const ACCEPTED_IMAGE_FORMATS: readonly { format: ImageFormat; name: string; note?: string }[] = [
  { format: 'jpeg', name: 'JPEG' },
  { format: 'png', name: 'PNG' },
  { format: 'webp', name: 'WebP' },
  { format: 'gif', name: 'GIF', note: 'first frame' },
  { format: 'tiff', name: 'TIFF' },
  { format: 'heif', name: 'AVIF', note: 'HEIF with AV1; HEIC is not decoded' },
  { format: 'bmp', name: 'BMP', note: 'uncompressed or bit fields; not RLE' },
  { format: 'pnm', name: 'PGM/PPM' },
];

/** "JPEG, PNG, WebP, GIF, TIFF, AVIF, BMP or PGM/PPM". */
export const ACCEPTED_FORMATS_TEXT = ((names) => `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`)(ACCEPTED_IMAGE_FORMATS.map((f) => f.name));

/** An 'unsupported' refusal: the reason, then the formats that are accepted. */
function unsupported(reason: string, source?: string): ImageDecodeError {
  return new ImageDecodeError('unsupported', `${reason}; accepted formats: ${ACCEPTED_FORMATS_TEXT}`, source);
}

/** Recognises the container from its magic bytes; undefined when it is none we decode. */
export function sniffFormat(buf: Uint8Array): ImageFormat | undefined {
  const b = (i: number) => buf[i] ?? -1;
  const ascii = (from: number, len: number) => Buffer.from(buf.subarray(from, from + len)).toString('latin1');
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'jpeg';
  if (b(0) === 0x89 && ascii(1, 3) === 'PNG') return 'png';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'webp';
  if (ascii(0, 4) === 'GIF8') return 'gif';
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'tiff';
  if (ascii(4, 4) === 'ftyp' && /^(avif|avis|heic|heix|heim|heis|hevc|hevx|mif1|msf1)$/.test(ascii(8, 4))) return 'heif';
  if (isBmp(buf)) return 'bmp';
  if (isPnm(buf)) return 'pnm';
  return undefined;
}

function describeUnknown(buf: Uint8Array): string {
  const head = Buffer.from(buf.subarray(0, 16)).toString('latin1');
  if (/^\s*(<\?xml|<svg)/i.test(head)) return 'SVG is not accepted (vector, not a photo)';
  if (head.startsWith('%PDF')) return 'PDF is not accepted';
  if (head.startsWith('BM')) return 'a BMP header of an unknown version';
  if (Buffer.from(buf.subarray(4, 8)).toString('latin1') === 'ftyp') return 'ISO media that is not AVIF/HEIF (a video?)';
  return `unrecognised image format (first bytes ${Buffer.from(buf.subarray(0, 8)).toString('hex')})`;
}

function checkSize(width: number, height: number, limits: DecodeLimits, source?: string): void {
  if (!(width > 0 && height > 0)) throw new ImageDecodeError('corrupt', `header gives an empty size ${width}x${height}`, source);
  if (width * height > limits.maxPixels) {
    throw new ImageDecodeError(
      'too_large',
      `${width}x${height} = ${((width * height) / 1e6).toFixed(1)} MP exceeds the ${(limits.maxPixels / 1e6).toFixed(1)} MP limit`,
      source,
    );
  }
}

function classifySharpError(err: unknown, source?: string, format?: ImageFormat): ImageDecodeError {
  const msg = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(msg)) return new ImageDecodeError('too_large', msg, source);
  const name = format ? ACCEPTED_IMAGE_FORMATS.find((f) => f.format === format)?.name : undefined;
  // The bytes start like a format we decode, yet no libvips loader takes them: a damaged file
  // (a cut or garbled TIFF header), not a foreign format. HEIF brands we do not decode stay unsupported.
  if (name && format !== 'heif' && /unsupported image format/i.test(msg)) {
    return new ImageDecodeError('corrupt', `damaged ${name}: its header cannot be read (${msg.split('\n')[0]})`, source);
  }
  if (/unsupported image format|no loader|not a known|not supported/i.test(msg)) return unsupported(msg.split('\n')[0]!, source);
  if (/premature end|truncated|unexpected end|end of (file|stream)|read error|out of data/i.test(msg)) {
    return new ImageDecodeError('corrupt', `truncated image data (${msg.split('\n')[0]})`, source);
  }
  return new ImageDecodeError('corrupt', `cannot decode${name ? ` this ${name}` : ''}: ${msg.split('\n')[0]!.replace(/:\s*$/, '')}`, source);
}

/**
 * Decodes a file path or encoded bytes to RGB: EXIF orientation applied, alpha flattened onto
 * white (transparent cut-outs otherwise show undefined colours), grey / 16-bit / CMYK to 8-bit
 * sRGB, first frame of animations. Throws ImageDecodeError.
 */
export async function decodeImage(input: Buffer | Uint8Array | string, limits: Partial<DecodeLimits> = {}): Promise<RgbImage> {
  const lim: DecodeLimits = { ...DEFAULT_DECODE_LIMITS, ...limits };
  const source = typeof input === 'string' ? input : undefined;
  let buf: Buffer;
  if (typeof input === 'string') {
    let size: number;
    try {
      const st = await stat(input);
      if (!st.isFile()) throw new ImageDecodeError('not_found', 'not a regular file', source);
      size = st.size;
    } catch (err) {
      if (err instanceof ImageDecodeError) throw err;
      throw new ImageDecodeError('not_found', 'file not found or unreadable', source);
    }
    if (size > lim.maxBytes) throw new ImageDecodeError('too_large', `${size} bytes exceeds the ${lim.maxBytes}-byte limit`, source);
    buf = await readFile(input);
  } else {
    buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    if (buf.length > lim.maxBytes) throw new ImageDecodeError('too_large', `${buf.length} bytes exceeds the ${lim.maxBytes}-byte limit`, source);
  }
  if (buf.length === 0) throw new ImageDecodeError('empty', 'no bytes', source);

  const format = sniffFormat(buf);
  if (!format) throw unsupported(describeUnknown(buf), source);

  if (format === 'bmp') {
    try {
      const header = readBmpHeader(buf);
      checkSize(header.width, header.height, lim, source);
      return decodeBmp(buf, header);
    } catch (err) {
      if (err instanceof ImageDecodeError) throw err;
      if (err instanceof BmpUnsupportedError) throw unsupported(err.message, source);
      throw new ImageDecodeError('corrupt', (err as Error).message, source);
    }
  }

  if (format === 'pnm') {
    try {
      const header = readPnmHeader(buf);
      checkSize(header.width, header.height, lim, source);
      return decodePnm(buf, header);
    } catch (err) {
      if (err instanceof ImageDecodeError) throw err;
      throw new ImageDecodeError('corrupt', (err as Error).message, source);
    }
  }

  const opts = { failOn: 'truncated' as const, limitInputPixels: lim.maxPixels, autoOrient: true, pages: 1 };
  let meta: Metadata;
  try {
    // Header only: no pixel limit here so that an oversized image gets our clearer message below.
    meta = await sharp(buf, { ...opts, limitInputPixels: false }).metadata();
  } catch (err) {
    throw classifySharpError(err, source, format);
  }
  if (meta.format === 'heif' && meta.compression && meta.compression !== 'av1') {
    throw unsupported(`HEIF with ${meta.compression} compression (HEIC) is not supported`, source);
  }
  // Animated inputs report the height of all frames stacked; pageHeight is one frame.
  checkSize(meta.width ?? 0, meta.pageHeight ?? meta.height ?? 0, lim, source);

  try {
    const { data, info } = await sharp(buf, opts)
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (err) {
    throw classifySharpError(err, source, format);
  }
}

/** RGB -> JPEG bytes (4:4:4 chroma: small face crops lose visible colour detail at 4:2:0). */
export async function encodeJpeg(img: RgbImage, quality = 95): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({ quality, chromaSubsampling: '4:4:4' })
    .toBuffer();
}

/** RGB -> PNG bytes (lossless; for fixtures and debugging). */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
}
