// Int8 copy of the gallery matrix with one scale per row (symmetric, max-abs/127), scanned to
// pick candidates that are then re-ranked exactly.
//
// Two rows share each Float64 lane (a + b * 2^24): one multiply by an integer query value yields
// both products, and the sums stay exact integers below 2^53, so the two 24-bit dot products are
// split apart exactly afterwards. In plain JS the scan is bound by instruction count, so this
// halves the work; the price is memory: 4 bytes per value, like Float32, not 1.
// Rounding uses Math.floor(x + 0.5): V8's Math.round measured ~6x slower here.

const LANE = 2 ** 24;
/** Each lane's dot product must stay within +-2^23 to be split exactly. */
const LANE_LIMIT = 2 ** 23 - 1;

export interface Int8Rows {
  /** pairs x dim: row 2p in the low lane, row 2p+1 in the high lane (zeros past the last row). */
  readonly packed: Float64Array;
  /** Dequantisation scale of each row: value ~= q * scale. */
  readonly scales: Float32Array;
  readonly dim: number;
  readonly rows: number;
  /** Largest query level, chosen so dim * 127 * qMax stays inside a lane (127 up to 520 dims). */
  readonly qMax: number;
}

export function quantizeRows(matrix: Float32Array, dim: number): Int8Rows {
  const rows = dim === 0 ? 0 : matrix.length / dim;
  const pairs = Math.ceil(rows / 2);
  const packed = new Float64Array(pairs * dim);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let max = 0;
    // Math.max/abs stay branch-free; a compare-and-branch mispredicts on random signs.
    for (let j = 0; j < dim; j++) max = Math.max(max, Math.abs(matrix[o + j]));
    const scale = max / 127;
    scales[r] = scale;
    if (scale === 0) continue;
    const inv = 1 / scale;
    const weight = r & 1 ? LANE : 1;
    const p = (r >> 1) * dim;
    for (let j = 0; j < dim; j++) packed[p + j] += Math.floor(matrix[o + j] * inv + 0.5) * weight;
  }
  return { packed, scales, dim, rows, qMax: Math.max(1, Math.min(127, Math.floor(LANE_LIMIT / (127 * Math.max(1, dim))))) };
}

/** The query quantised to integer levels (held as doubles: they multiply the packed lanes). */
export function quantizeQuery(q: Float32Array, qMax = 127): { data: Float64Array; scale: number } {
  let max = 0;
  for (let j = 0; j < q.length; j++) max = Math.max(max, Math.abs(q[j]));
  const scale = max / qMax;
  const data = new Float64Array(q.length);
  if (scale > 0) for (let j = 0; j < q.length; j++) data[j] = Math.floor(q[j] / scale + 0.5);
  return { data, scale };
}

/** out[r] ~= row r . q (approximate cosine) for every row. */
export function dotRowsInt8(m: Int8Rows, q: { data: Float64Array; scale: number }, out: Float32Array): void {
  const { packed, scales, dim, rows } = m;
  const x = q.data;
  const pairs = Math.ceil(rows / 2);
  // Split a lane sum into (low, high) dot products and scale them into out.
  const emit = (p: number, s: number) => {
    const hi = Math.floor(s / LANE + 0.5);
    const r = 2 * p;
    out[r] = (s - hi * LANE) * scales[r] * q.scale;
    if (r + 1 < rows) out[r + 1] = hi * scales[r + 1] * q.scale;
  };
  let p = 0;
  for (; p + 3 < pairs; p += 4) {
    const o0 = p * dim, o1 = o0 + dim, o2 = o1 + dim, o3 = o2 + dim;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let j = 0; j < dim; j++) {
      const v = x[j];
      s0 += packed[o0 + j] * v;
      s1 += packed[o1 + j] * v;
      s2 += packed[o2 + j] * v;
      s3 += packed[o3 + j] * v;
    }
    emit(p, s0);
    emit(p + 1, s1);
    emit(p + 2, s2);
    emit(p + 3, s3);
  }
  for (; p < pairs; p++) {
    const o = p * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) s += packed[o + j] * x[j];
    emit(p, s);
  }
}

/** Quantised value of row r, dimension j (unpacks a lane; for tests and debugging). */
export function int8Value(m: Int8Rows, r: number, j: number): number {
  const cell = m.packed[(r >> 1) * m.dim + j];
  const hi = Math.floor(cell / LANE + 0.5);
  return r & 1 ? hi : cell - hi * LANE;
}
