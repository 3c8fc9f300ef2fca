// Netpbm (PGM/PPM, binary P5/P6 and ASCII P2/P3) reader: libvips in sharp's prebuilt binary has
// no PNM loader, and the AT&T/ORL face set ships as PGM.
import type { RgbImage } from './types.js';

export interface PnmHeader {
  magic: 'P2' | 'P3' | 'P5' | 'P6';
  width: number;
  height: number;
  maxval: number;
  /** Offset of the first pixel byte (binary) or sample token (ASCII). */
  dataOffset: number;
}

export function isPnm(buf: Uint8Array): boolean {
  return buf.length >= 3 && buf[0] === 0x50 && [0x32, 0x33, 0x35, 0x36].includes(buf[1]!) && isSpace(buf[2]!);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

/** Parses the header; throws a plain Error with a reason when it is malformed. */
export function readPnmHeader(buf: Uint8Array): PnmHeader {
  const magic = String.fromCharCode(buf[0]!, buf[1]!) as PnmHeader['magic'];
  let i = 2;
  const fields: number[] = [];
  while (fields.length < 3) {
    while (i < buf.length && isSpace(buf[i]!)) i++;
    if (buf[i] === 0x23) {
      while (i < buf.length && buf[i] !== 0x0a && buf[i] !== 0x0d) i++; // comment to end of line
      continue;
    }
    const start = i;
    while (i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
    if (i === start) throw new Error('PNM header is incomplete or not numeric');
    fields.push(Number(Buffer.from(buf.subarray(start, i)).toString('ascii')));
  }
  if (i >= buf.length || !isSpace(buf[i]!)) throw new Error('PNM header has no pixel data');
  const [width, height, maxval] = fields as [number, number, number];
  if (width < 1 || height < 1) throw new Error(`PNM has empty size ${width}x${height}`);
  if (maxval < 1 || maxval > 65535) throw new Error(`PNM maxval ${maxval} out of range`);
  return { magic, width, height, maxval, dataOffset: i + 1 };
}

/** Decodes pixels to 8-bit RGB (grey replicated, 16-bit and odd maxvals rescaled). */
export function decodePnm(buf: Uint8Array, h: PnmHeader): RgbImage {
  const channels = h.magic === 'P3' || h.magic === 'P6' ? 3 : 1;
  const n = h.width * h.height * channels;
  const samples = new Uint16Array(n);
  if (h.magic === 'P5' || h.magic === 'P6') {
    const bytesPer = h.maxval > 255 ? 2 : 1;
    if (buf.length - h.dataOffset < n * bytesPer) throw new Error(`PNM is truncated: ${buf.length - h.dataOffset} of ${n * bytesPer} pixel bytes`);
    for (let k = 0, p = h.dataOffset; k < n; k++, p += bytesPer) samples[k] = bytesPer === 2 ? (buf[p]! << 8) | buf[p + 1]! : buf[p]!;
  } else {
    let p = h.dataOffset;
    for (let k = 0; k < n; k++) {
      while (p < buf.length && isSpace(buf[p]!)) p++;
      let v = 0;
      const start = p;
      while (p < buf.length && buf[p]! >= 0x30 && buf[p]! <= 0x39) v = v * 10 + (buf[p++]! - 0x30);
      if (p === start) throw new Error(`PNM is truncated: ${k} of ${n} samples`);
      samples[k] = v;
    }
  }
  const out = new Uint8Array(h.width * h.height * 3);
  const scale = 255 / h.maxval;
  for (let px = 0; px < h.width * h.height; px++) {
    for (let c = 0; c < 3; c++) {
      const s = samples[channels === 3 ? px * 3 + c : px]!;
      out[px * 3 + c] = Math.min(255, Math.round(s * scale));
    }
  }
  return { data: out, width: h.width, height: h.height };
}
