// Windows BMP reader: libvips in sharp's prebuilt binary has no BMP loader (it would go through
// ImageMagick, which the prebuilt lacks). Uncompressed and bit-field BMPs are read: 1, 2, 4 and
// 8 bits per pixel with a palette, 16 bits (5-5-5 or bit fields such as 5-6-5), 24 bits, and 32 bits
// (B-G-R-x or bit fields with alpha, flattened onto white like every other format), bottom-up or
// top-down, with any of the header versions (OS/2 core, INFO, V2-V5). Run-length (RLE4/RLE8) and
// embedded JPEG/PNG BMPs are refused by name. Errors are plain Errors whose message says why;
// decode.ts types them.
import type { RgbImage } from './types.js';

const COMPRESSION = ['BI_RGB', 'BI_RLE8', 'BI_RLE4', 'BI_BITFIELDS', 'BI_JPEG', 'BI_PNG', 'BI_ALPHABITFIELDS'] as const;

export interface BmpHeader {
  width: number;
  height: number;
  /** Rows stored top row first (negative height in the file). */
  topDown: boolean;
  bitsPerPixel: number;
  /** Byte offset of the first pixel row. */
  dataOffset: number;
  /** Bytes per stored row (padded to 4). */
  stride: number;
  /** RGB triples for 1-8 bit images. */
  palette: Uint8Array | null;
  /** Channel masks for 16 and 32 bit images (alpha 0 when there is none). */
  masks: { r: number; g: number; b: number; a: number } | null;
}

/** 'BM' and a DIB header size that exists: enough to call the bytes a BMP. */
export function isBmp(buf: Uint8Array): boolean {
  if (buf.length < 18 || buf[0] !== 0x42 || buf[1] !== 0x4d) return false;
  const dib = buf[14]! | (buf[15]! << 8) | (buf[16]! << 16) | (buf[17]! << 24);
  return [12, 16, 40, 52, 56, 64, 108, 124].includes(dib);
}

/** Thrown for a BMP variant this reader does not handle (as opposed to a damaged file). */
export class BmpUnsupportedError extends Error {
  override readonly name = 'BmpUnsupportedError';
}

/** Parses and checks the headers, palette and masks; throws an Error saying what is wrong. */
export function readBmpHeader(buf: Uint8Array): BmpHeader {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const need = (n: number, what: string) => {
    if (buf.length < n) throw new Error(`BMP is truncated in its ${what}`);
  };
  need(18, 'file header');
  const dataOffset = view.getUint32(10, true);
  const dib = view.getUint32(14, true);
  need(14 + Math.min(dib, 64), 'info header');
  let width: number;
  let rawHeight: number;
  let bitsPerPixel: number;
  let compression = 0;
  let colours = 0;
  let paletteEntry = 4;
  if (dib === 12) {
    // OS/2 1.x BITMAPCOREHEADER: 16-bit sizes, 3-byte palette entries.
    width = view.getUint16(18, true);
    rawHeight = view.getInt16(20, true);
    bitsPerPixel = view.getUint16(24, true);
    paletteEntry = 3;
  } else {
    width = view.getInt32(18, true);
    rawHeight = view.getInt32(22, true);
    bitsPerPixel = view.getUint16(28, true);
    if (dib >= 20) compression = view.getUint32(30, true);
    if (dib >= 36) colours = view.getUint32(46, true);
    // OS/2 2.x (16 or 64 bytes) numbers its compressions differently: only uncompressed is the same.
    if ((dib === 16 || dib === 64) && compression !== 0) throw new BmpUnsupportedError(`OS/2 BMP compression ${compression} is not supported (uncompressed BMP is)`);
  }
  const comp = COMPRESSION[compression] ?? `compression ${compression}`;
  if (compression === 1 || compression === 2 || compression === 4 || compression === 5) {
    throw new BmpUnsupportedError(`BMP with ${comp} compression is not supported (uncompressed and bit-field BMP are)`);
  }
  if (compression > 6) throw new BmpUnsupportedError(`BMP ${comp} is not supported`);
  if (![1, 2, 4, 8, 16, 24, 32].includes(bitsPerPixel)) throw new BmpUnsupportedError(`BMP with ${bitsPerPixel} bits per pixel is not supported`);
  if ((compression === 3 || compression === 6) && bitsPerPixel !== 16 && bitsPerPixel !== 32) {
    throw new Error(`BMP bit fields need 16 or 32 bits per pixel, not ${bitsPerPixel}`);
  }
  if (rawHeight === -2147483648) throw new Error('BMP height is out of range');
  const height = Math.abs(rawHeight);
  if (width < 1 || height < 1) throw new Error(`BMP has empty size ${width}x${height}`);

  let masks: BmpHeader['masks'] = null;
  if (bitsPerPixel === 16 || bitsPerPixel === 32) {
    if (compression === 3 || compression === 6) {
      // Masks follow a 40-byte header (12 bytes, 16 with alpha) or sit inside the V2+ headers.
      const at = 14 + 40;
      const withAlpha = compression === 6 || dib >= 56;
      need(at + (withAlpha ? 16 : 12), 'bit masks');
      masks = { r: view.getUint32(at, true), g: view.getUint32(at + 4, true), b: view.getUint32(at + 8, true), a: withAlpha ? view.getUint32(at + 12, true) : 0 };
      for (const [k, m] of Object.entries(masks)) {
        if (m !== 0 && !isContiguous(m)) throw new Error(`BMP ${k} mask ${m.toString(16)} is not one run of bits`);
      }
      if (bitsPerPixel === 16 && (masks.r | masks.g | masks.b | masks.a) > 0xffff) throw new Error('BMP masks exceed 16 bits');
    } else if (bitsPerPixel === 16) {
      masks = { r: 0x7c00, g: 0x03e0, b: 0x001f, a: 0 };
    } else {
      // Uncompressed 32-bit: B, G, R and an unused byte.
      masks = { r: 0x00ff0000, g: 0x0000ff00, b: 0x000000ff, a: 0 };
    }
  }

  let palette: Uint8Array | null = null;
  if (bitsPerPixel <= 8) {
    const max = 1 << bitsPerPixel;
    const n = colours === 0 ? max : Math.min(colours, max);
    const start = 14 + dib + (compression === 3 ? 12 : compression === 6 ? 16 : 0);
    need(start + n * paletteEntry, 'palette');
    palette = new Uint8Array(max * 3);
    for (let i = 0; i < n; i++) {
      const p = start + i * paletteEntry;
      palette[i * 3] = buf[p + 2]!;
      palette[i * 3 + 1] = buf[p + 1]!;
      palette[i * 3 + 2] = buf[p]!;
    }
  }

  const stride = Math.ceil((width * bitsPerPixel) / 32) * 4;
  return { width, height, topDown: rawHeight < 0, bitsPerPixel, dataOffset, stride, palette, masks };
}

function isContiguous(mask: number): boolean {
  const m = mask >>> 0;
  const low = (m & -m) >>> 0; // the lowest set bit
  // Adding it carries through a single run of ones and clears them all.
  return ((m + low) & m) >>> 0 === 0;
}

/** A channel mask as shift + scale to 8 bits. */
function channel(mask: number): { shift: number; max: number } | null {
  const m = mask >>> 0;
  if (m === 0) return null;
  let shift = 0;
  while (((m >>> shift) & 1) === 0) shift++;
  return { shift, max: m >>> shift };
}

/** Decodes the pixels to 8-bit RGB; alpha (from a bit-field alpha mask) is flattened onto white. */
export function decodeBmp(buf: Uint8Array, h: BmpHeader): RgbImage {
  const rowsNeeded = h.dataOffset + h.stride * (h.height - 1) + Math.ceil((h.width * h.bitsPerPixel) / 8);
  if (h.dataOffset < 14 || buf.length < rowsNeeded) {
    throw new Error(`BMP is truncated: ${Math.max(0, buf.length - h.dataOffset)} of ${h.stride * h.height} pixel bytes`);
  }
  const out = new Uint8Array(h.width * h.height * 3);
  const bpp = h.bitsPerPixel;
  if (bpp <= 8) {
    const pal = h.palette!;
    const perByte = 8 / bpp;
    const mask = (1 << bpp) - 1;
    for (let y = 0; y < h.height; y++) {
      const row = h.dataOffset + (h.topDown ? y : h.height - 1 - y) * h.stride;
      for (let x = 0; x < h.width; x++) {
        const byte = buf[row + Math.floor(x / perByte)]!;
        const idx = (byte >> (8 - bpp * ((x % perByte) + 1))) & mask;
        const o = (y * h.width + x) * 3;
        out[o] = pal[idx * 3]!;
        out[o + 1] = pal[idx * 3 + 1]!;
        out[o + 2] = pal[idx * 3 + 2]!;
      }
    }
  } else if (bpp === 24) {
    for (let y = 0; y < h.height; y++) {
      const row = h.dataOffset + (h.topDown ? y : h.height - 1 - y) * h.stride;
      for (let x = 0; x < h.width; x++) {
        const p = row + x * 3;
        const o = (y * h.width + x) * 3;
        out[o] = buf[p + 2]!;
        out[o + 1] = buf[p + 1]!;
        out[o + 2] = buf[p]!;
      }
    }
  } else {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const m = h.masks!;
    const ch = [channel(m.r), channel(m.g), channel(m.b)];
    const alpha = channel(m.a);
    const read = (p: number) => (bpp === 16 ? view.getUint16(p, true) : view.getUint32(p, true));
    // An alpha mask whose alpha is 0 everywhere is an unused byte (writers that never set it), not
    // a fully transparent image.
    let useAlpha = false;
    if (alpha) {
      for (let y = 0; y < h.height && !useAlpha; y++) {
        const row = h.dataOffset + y * h.stride;
        for (let x = 0; x < h.width; x++) {
          if (((read(row + x * (bpp / 8)) >>> alpha.shift) & alpha.max) !== 0) {
            useAlpha = true;
            break;
          }
        }
      }
    }
    for (let y = 0; y < h.height; y++) {
      const row = h.dataOffset + (h.topDown ? y : h.height - 1 - y) * h.stride;
      for (let x = 0; x < h.width; x++) {
        const px = read(row + x * (bpp / 8));
        const a = useAlpha ? ((px >>> alpha!.shift) & alpha!.max) / alpha!.max : 1;
        const o = (y * h.width + x) * 3;
        for (let c = 0; c < 3; c++) {
          const k = ch[c];
          const v = k ? (((px >>> k.shift) & k.max) * 255) / k.max : 0;
          out[o + c] = Math.round(v * a + 255 * (1 - a));
        }
      }
    }
  }
  return { data: out, width: h.width, height: h.height };
}
