// Top-k selection without sorting whole score arrays. Ties always go to the lower index so
// results are deterministic (the gallery's row order is insertion order).

/** Indices of the k highest scores among scores[0..n), best first; ties by lower index. */
export function topKIndices(scores: ArrayLike<number>, k: number, n = scores.length): Int32Array {
  k = Math.max(0, Math.min(k, n));
  if (k === 0) return new Int32Array(0);
  // Min-heap keyed on "worst kept" so a new score is compared against one value in the common case.
  const hi = new Int32Array(k);
  const hs = new Float64Array(k);
  let size = 0;
  const worse = (sa: number, ia: number, sb: number, ib: number) => sa < sb || (sa === sb && ia > ib);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < size && worse(hs[l], hi[l], hs[m], hi[m])) m = l;
      if (r < size && worse(hs[r], hi[r], hs[m], hi[m])) m = r;
      if (m === i) return;
      const ts = hs[i], ti = hi[i];
      hs[i] = hs[m]; hi[i] = hi[m]; hs[m] = ts; hi[m] = ti;
      i = m;
    }
  };
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    if (size < k) {
      let c = size++;
      hs[c] = s; hi[c] = i;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!worse(hs[c], hi[c], hs[p], hi[p])) break;
        const ts = hs[c], ti = hi[c];
        hs[c] = hs[p]; hi[c] = hi[p]; hs[p] = ts; hi[p] = ti;
        c = p;
      }
    } else if (s > hs[0]) {
      // Equal scores arrive with higher indices than anything kept, so they never displace.
      hs[0] = s; hi[0] = i;
      siftDown(0);
    }
  }
  const order = Array.from({ length: size }, (_, j) => j).sort((a, b) => hs[b] - hs[a] || hi[a] - hi[b]);
  return Int32Array.from(order, (j) => hi[j]);
}

/**
 * Indices of the k smallest integer distances (0..maxValue), smallest first; ties by lower index.
 * Counting selection: one pass to histogram, one to collect.
 */
export function smallestIndices(dists: Uint16Array, maxValue: number, k: number): Int32Array {
  const n = dists.length;
  k = Math.max(0, Math.min(k, n));
  if (k === 0) return new Int32Array(0);
  const hist = new Int32Array(maxValue + 2);
  for (let i = 0; i < n; i++) hist[dists[i]]++;
  // cutoff: the largest distance that is (partly) included; `room` = how many at cutoff fit.
  let cutoff = 0, acc = 0;
  while (acc + hist[cutoff] < k) acc += hist[cutoff++];
  let room = k - acc;
  // Offsets per distance value so the result comes out sorted by distance, then index.
  const start = new Int32Array(cutoff + 1);
  for (let d = 1; d <= cutoff; d++) start[d] = start[d - 1] + hist[d - 1];
  const out = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const d = dists[i];
    if (d < cutoff) out[start[d]++] = i;
    else if (d === cutoff && room > 0) { out[start[d]++] = i; room--; }
  }
  return out;
}
