// Vector helpers shared by the matcher and the gallery. Embeddings are compared as unit vectors,
// so cosine is a plain dot product and Euclidean distance follows from it: |a-b|^2 = 2 - 2cos.

export type Metric = 'cosine' | 'euclidean';

/** Dot product of two equal-length vectors. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** L2 norm. */
export function norm(v: ArrayLike<number>, offset = 0, dim = v.length - offset): number {
  let s = 0;
  for (let i = offset, end = offset + dim; i < end; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/**
 * Scales v[offset..offset+dim) to unit length in place and returns the original norm.
 * Throws on zero or non-finite vectors: they cannot be compared meaningfully.
 */
export function normalizeInPlace(v: Float32Array, offset = 0, dim = v.length - offset): number {
  const n = norm(v, offset, dim);
  if (!Number.isFinite(n) || n === 0) throw new RangeError(`cannot normalise a ${n === 0 ? 'zero' : 'non-finite'} vector`);
  const inv = 1 / n;
  for (let i = offset, end = offset + dim; i < end; i++) v[i] *= inv;
  return n;
}

/** Unit-length Float32 copy of v. */
export function l2normalize(v: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(v);
  normalizeInPlace(out);
  return out;
}

/** Euclidean distance between unit vectors with cosine c (clamped: rounding can push 2-2c below 0). */
export function cosineToDistance(c: number): number {
  return Math.sqrt(Math.max(0, 2 - 2 * c));
}

/** Cosine between unit vectors at Euclidean distance d. */
export function distanceToCosine(d: number): number {
  return 1 - (d * d) / 2;
}

/** Cosine similarity expressed in the metric's own units (similarity for cosine, distance for euclidean). */
export function cosineToMetric(c: number, metric: Metric): number {
  return metric === 'cosine' ? c : cosineToDistance(c);
}

/** True when metric score a is strictly better than b (higher cosine, lower distance). */
export function isBetter(a: number, b: number, metric: Metric): boolean {
  return metric === 'cosine' ? a > b : a < b;
}

/** Open-set acceptance: cosine must reach the threshold, distance must not exceed it. */
export function passesThreshold(score: number, threshold: number, metric: Metric): boolean {
  return metric === 'cosine' ? score >= threshold : score <= threshold;
}
