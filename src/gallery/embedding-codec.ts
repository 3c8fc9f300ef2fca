// Embeddings on disk: base64 of little-endian Float32 (or Float16 to halve the file), a single
// opaque string per template so the rest of the JSON stays readable by hand.
import os from 'node:os';

export type EmbeddingDtype = 'f32' | 'f16';

const LE = os.endianness() === 'LE';
const BYTES: Record<EmbeddingDtype, number> = { f32: 4, f16: 2 };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits of v, rounding to nearest even (Node 20 has no Float16Array). */
export function toHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rem > mid || (rem === mid && half & 1) ? half + 1 : half);
  }
  const h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent.
  return sign | (rem > 0x1000 || (rem === 0x1000 && h & 1) ? h + 1 : h);
}

export function fromHalfBits(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function encodeEmbedding(v: Float32Array, dtype: EmbeddingDtype): string {
  if (dtype === 'f32') {
    if (LE) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
    const b = Buffer.alloc(v.length * 4);
    for (let i = 0; i < v.length; i++) b.writeFloatLE(v[i], i * 4);
    return b.toString('base64');
  }
  const b = Buffer.alloc(v.length * 2);
  for (let i = 0; i < v.length; i++) b.writeUInt16LE(toHalfBits(v[i]), i * 2);
  return b.toString('base64');
}

/** Decodes into target[offset..offset+dim); throws if the byte length does not match dim. */
export function decodeEmbeddingInto(b64: string, dtype: EmbeddingDtype, dim: number, target: Float32Array, offset = 0): void {
  const b = Buffer.from(b64, 'base64');
  if (b.length !== dim * BYTES[dtype]) throw new RangeError(`embedding has ${b.length} bytes, expected ${dim * BYTES[dtype]} for ${dim} x ${dtype}`);
  if (dtype === 'f32') {
    if (LE) {
      // Copy bytes (Buffer may be unaligned inside the pool, so no Float32Array view on it).
      new Uint8Array(target.buffer, target.byteOffset + offset * 4, dim * 4).set(b);
    } else for (let i = 0; i < dim; i++) target[offset + i] = b.readFloatLE(i * 4);
    return;
  }
  for (let i = 0; i < dim; i++) target[offset + i] = fromHalfBits(b.readUInt16LE(i * 2));
}

export function decodeEmbedding(b64: string, dtype: EmbeddingDtype, dim: number): Float32Array {
  const out = new Float32Array(dim);
  decodeEmbeddingInto(b64, dtype, dim, out);
  return out;
}
