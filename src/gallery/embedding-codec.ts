// Embeddings on disk: base64 of little-endian Float32 (or Float16 to halve the file), a single
// opaque string per template so the rest of the JSON stays readable by hand.
import os from 'node:os';

export type EmbeddingDtype = 'f32' | 'f16';

const LE = os.endianness() === 'LE';
const BYTES: Record<EmbeddingDtype, number> = { f32: 4, f16: 2 };

export { fromHalfBits, toHalfBits } from '../util/float16.js';
import { fromHalfBits, toHalfBits } from '../util/float16.js';

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
