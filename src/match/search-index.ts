// In-memory search structure over one model's templates: the contiguous Float32 matrix plus the
// row -> identity mapping, with optional coarse copies (int8, sign bits) built on first use.
import { dotRows, dotSelected } from './matvec.js';
import { dotRowsInt8, quantizeQuery, quantizeRows, type Int8Rows } from './int8.js';
import { hammingAll, querySignCode, signCodes, type SignCodes } from './binary.js';
import { smallestIndices, topKIndices } from './select.js';
import { normalizeInPlace } from './vector.js';

/** How candidates are found before exact Float32 scoring: full scan, int8 scan, or sign-bit scan. */
export type Coarse = 'exact' | 'int8' | 'binary';

/**
 * Candidate rows to re-rank when not given: int8 scores are close to exact, so a few dozen
 * suffice; one-bit codes are coarser and need ~1% of the gallery (bounded: re-ranking is exact work).
 */
export function defaultRerank(coarse: Coarse, rows: number): number {
  if (coarse === 'int8') return 32;
  if (coarse === 'binary') return Math.min(2048, Math.max(256, Math.ceil(rows / 100)));
  return 0;
}

/**
 * Sign codes have one bit per dimension, and with few bits Hamming distance cannot tell a genuine
 * match near the threshold from a stranger. Random unit vectors, 20k rows, the default re-rank:
 * a probe at cosine 0.3 to its template (the 128-d model's threshold is 0.32) is found 100% of the
 * time with 512 bits, 49% with 128 (and 78% re-ranking 4x as many rows). Below this many
 * dimensions the binary scan is replaced by the int8 one.
 */
export const MIN_SIGN_BITS = 256;

/** The coarse scan used for `dim`-dimensional rows: 'binary' becomes 'int8' below MIN_SIGN_BITS. */
export function coarseFor(coarse: Coarse, dim: number): Coarse {
  return coarse === 'binary' && dim < MIN_SIGN_BITS ? 'int8' : coarse;
}

export interface IndexSource {
  /** rows x dim, row-major. */
  readonly matrix: Float32Array;
  readonly dim: number;
  readonly templateIds: readonly string[];
  /** Identity of each row. */
  readonly identityIds: readonly string[];
}

export interface BuildOptions {
  /** Coarse structures to build now rather than on first query. */
  prebuild?: readonly Coarse[];
  /** Rows are already unit length (the gallery guarantees it): skip the normalising copy. */
  normalized?: boolean;
}

export interface TemplateHit {
  row: number;
  templateId: string;
  identityId: string;
  /** Exact cosine similarity. */
  cosine: number;
}

export class MatchIndex {
  readonly dim: number;
  readonly rows: number;
  readonly matrix: Float32Array;
  readonly templateIds: readonly string[];
  /** Identity of each row. */
  readonly rowIdentityIds: readonly string[];
  /** Distinct identities, in order of first row. */
  readonly identities: readonly string[];
  /** Row -> index into `identities`. */
  readonly rowIdentity: Int32Array;
  readonly #identityRows: Int32Array[];
  readonly #identityIndex = new Map<string, number>();
  #int8?: Int8Rows;
  #codes?: SignCodes;
  #scratch?: Float32Array;

  private constructor(src: IndexSource, normalized: boolean) {
    const { dim } = src;
    if (!Number.isInteger(dim) || dim < 0) throw new RangeError(`bad dim ${dim}`);
    const rows = dim === 0 ? 0 : src.matrix.length / dim;
    if (!Number.isInteger(rows)) throw new RangeError(`matrix length ${src.matrix.length} is not a multiple of dim ${dim}`);
    if (src.templateIds.length !== rows || src.identityIds.length !== rows) {
      throw new RangeError(`expected ${rows} template and identity ids, got ${src.templateIds.length} and ${src.identityIds.length}`);
    }
    this.dim = dim;
    this.rows = rows;
    if (normalized) this.matrix = src.matrix;
    else {
      this.matrix = Float32Array.from(src.matrix);
      for (let r = 0; r < rows; r++) normalizeInPlace(this.matrix, r * dim, dim);
    }
    this.templateIds = src.templateIds;
    this.rowIdentityIds = src.identityIds;
    const identities: string[] = [];
    const counts: number[] = [];
    this.rowIdentity = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      const id = src.identityIds[r];
      let k = this.#identityIndex.get(id);
      if (k === undefined) {
        k = identities.length;
        this.#identityIndex.set(id, k);
        identities.push(id);
        counts.push(0);
      }
      this.rowIdentity[r] = k;
      counts[k]++;
    }
    this.identities = identities;
    this.#identityRows = counts.map((c) => new Int32Array(c));
    const fill = new Int32Array(identities.length);
    for (let r = 0; r < rows; r++) {
      const k = this.rowIdentity[r];
      this.#identityRows[k][fill[k]++] = r;
    }
  }

  static build(src: IndexSource, opts: BuildOptions = {}): MatchIndex {
    const index = new MatchIndex(src, opts.normalized ?? false);
    for (const c of opts.prebuild ?? []) index.#ensure(coarseFor(c, index.dim));
    return index;
  }

  /** Checks a query's shape and returns a unit-length Float32 copy. */
  prepareQuery(query: ArrayLike<number>): Float32Array {
    if (query.length !== this.dim) throw new RangeError(`query has ${query.length} dims, gallery has ${this.dim}`);
    const q = Float32Array.from(query);
    normalizeInPlace(q); // throws on zero / NaN, which would otherwise poison every score
    return q;
  }

  identityIndexOf(identityId: string): number | undefined {
    return this.#identityIndex.get(identityId);
  }

  /** Rows holding this identity's templates (empty when it has none under this model). */
  rowsOf(identityId: string): Int32Array {
    const k = this.#identityIndex.get(identityId);
    return k === undefined ? new Int32Array(0) : this.#identityRows[k];
  }

  rowsOfIndex(k: number): Int32Array {
    return this.#identityRows[k];
  }

  /** Exact cosine of a unit query against every row. The returned array is reused by the next call. */
  scoreAll(q: Float32Array): Float32Array {
    const out = this.#scratchScores();
    dotRows(this.matrix, this.dim, q, out);
    return out;
  }

  exactScores(q: Float32Array, rows: ArrayLike<number>): Float32Array {
    return dotSelected(this.matrix, this.dim, q, rows);
  }

  /**
   * Up to `count` candidate rows for a unit query, most promising first. 'exact' ranks by true
   * cosine; the coarse modes rank by their approximation (re-rank the result with exactScores).
   */
  candidates(q: Float32Array, count: number, coarse: Coarse = 'exact'): Int32Array {
    if (this.rows === 0 || count <= 0) return new Int32Array(0);
    coarse = coarseFor(coarse, this.dim);
    if (coarse === 'exact') return topKIndices(this.scoreAll(q), count);
    if (coarse === 'int8') {
      const m = this.#ensure('int8') as Int8Rows;
      const out = this.#scratchScores();
      dotRowsInt8(m, quantizeQuery(q, m.qMax), out);
      return topKIndices(out, count);
    }
    const codes = this.#ensure('binary') as SignCodes;
    const d = new Uint16Array(this.rows);
    hammingAll(codes, querySignCode(codes, q), d);
    return smallestIndices(d, this.dim, count);
  }

  /** Top-k templates by exact cosine; coarse modes re-rank their best `rerank` rows exactly. */
  searchTemplates(q: Float32Array, k: number, opts: { coarse?: Coarse; rerank?: number } = {}): TemplateHit[] {
    const coarse = coarseFor(opts.coarse ?? 'exact', this.dim);
    let rows: Int32Array;
    let scores: Float32Array;
    if (coarse === 'exact') {
      scores = this.scoreAll(q);
      rows = topKIndices(scores, k);
      return Array.from(rows, (r) => this.#hit(r, scores[r]));
    }
    const cand = this.candidates(q, Math.max(k, opts.rerank ?? defaultRerank(coarse, this.rows)), coarse);
    scores = this.exactScores(q, cand);
    const order = topKIndices(scores, k);
    // Re-sort ties by row so exact and coarse paths agree on order.
    return Array.from(order, (i) => this.#hit(cand[i], scores[i])).sort((a, b) => b.cosine - a.cosine || a.row - b.row);
  }

  #hit(row: number, cosine: number): TemplateHit {
    return { row, templateId: this.templateIds[row], identityId: this.rowIdentityIds[row], cosine };
  }

  #scratchScores(): Float32Array {
    return (this.#scratch ??= new Float32Array(this.rows));
  }

  #ensure(c: Coarse): Int8Rows | SignCodes | undefined {
    if (c === 'int8') return (this.#int8 ??= quantizeRows(this.matrix, this.dim));
    if (c === 'binary') return (this.#codes ??= signCodes(this.matrix, this.dim));
    return undefined;
  }
}
