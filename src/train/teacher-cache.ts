// Cached teacher embeddings for distillation: computed once per image (the teacher is slow and
// frozen), stored as `<file>` (JSON: teacher name, dimension, image paths) + `<file>.bin`
// (float32 rows in the same order).
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';

export interface TeacherCacheIndex {
  teacher: string;
  dim: number;
  paths: string[];
}

export class TeacherCache {
  private rows = new Map<string, number>();
  constructor(readonly index: TeacherCacheIndex, private data: Float32Array) {
    index.paths.forEach((p, i) => this.rows.set(p, i));
  }

  get dim(): number {
    return this.index.dim;
  }

  get(path: string): Float32Array | undefined {
    const i = this.rows.get(path);
    return i === undefined ? undefined : this.data.subarray(i * this.dim, (i + 1) * this.dim);
  }

  /** Teacher rows for a batch of paths. A missing row is an error: a zero row would be a target. */
  gather(paths: string[]): Float32Array {
    const rows = new Float32Array(paths.length * this.dim);
    paths.forEach((p, k) => {
      const r = this.get(p);
      if (!r) throw new Error(`no teacher embedding for ${p}`);
      rows.set(r, k * this.dim);
    });
    return rows;
  }

  /**
   * The same rows with the mean over `paths` subtracted and renormalised. face-api's descriptors
   * share a large common component (different people score cos ~0.6-0.9), so matching raw rows
   * spends the loss on that component; centred rows put it on what tells people apart.
   */
  centred(paths: readonly string[]): TeacherCache {
    const dim = this.dim;
    const mean = new Float64Array(dim);
    let n = 0;
    for (const p of paths) {
      const r = this.get(p);
      if (!r) continue;
      for (let k = 0; k < dim; k++) mean[k]! += r[k]!;
      n++;
    }
    if (!n) throw new Error('no teacher embedding for any of the given paths');
    const data = new Float32Array(this.data.length);
    for (let i = 0; i < this.index.paths.length; i++) {
      let norm = 0;
      for (let k = 0; k < dim; k++) norm += (this.data[i * dim + k]! - mean[k]! / n) ** 2;
      norm = Math.sqrt(norm) || 1;
      for (let k = 0; k < dim; k++) data[i * dim + k] = (this.data[i * dim + k]! - mean[k]! / n) / norm;
    }
    return new TeacherCache(this.index, data);
  }

  /** The embedding dimension, from the index alone (no rows read). */
  static async dimOf(file: string): Promise<number> {
    return (JSON.parse(await readFile(file, 'utf8')) as TeacherCacheIndex).dim;
  }

  static async read(file: string): Promise<TeacherCache> {
    const index = JSON.parse(await readFile(file, 'utf8')) as TeacherCacheIndex;
    const bin = await readFile(`${file}.bin`);
    const data = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
    if (data.length !== index.paths.length * index.dim) throw new Error(`${file}.bin holds ${data.length} values, index expects ${index.paths.length} x ${index.dim}`);
    return new TeacherCache(index, data);
  }

  static async write(file: string, teacher: string, dim: number, entries: { path: string; embedding: Float32Array }[]): Promise<void> {
    const data = new Float32Array(entries.length * dim);
    entries.forEach((e, i) => data.set(e.embedding, i * dim));
    await writeFileAtomic(`${file}.bin`, new Uint8Array(data.buffer));
    await writeFileAtomic(file, JSON.stringify({ teacher, dim, paths: entries.map((e) => e.path) } satisfies TeacherCacheIndex) + '\n');
  }
}
