import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dotRows, dotRowsBatch, dotSelected } from '../src/match/matvec.js';
import { dotRowsInt8, int8Value, quantizeQuery, quantizeRows } from '../src/match/int8.js';
import { hammingAll, querySignCode, signCodes } from '../src/match/binary.js';
import { smallestIndices, topKIndices } from '../src/match/select.js';
import { MIN_SIGN_BITS, MatchIndex, coarseFor } from '../src/match/search-index.js';
import { identify, verify, type Aggregate, type MatchOptions } from '../src/match/identify.js';
import { cosineToDistance, distanceToCosine, type Metric } from '../src/match/vector.js';

// ---- helpers ------------------------------------------------------------------------------------

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return { next, gauss };
}

function unit(v: number[]): Float32Array {
  const n = Math.hypot(...v);
  return Float32Array.from(v, (x) => x / n);
}

function randomUnit(r: ReturnType<typeof rng>, dim: number): Float32Array {
  return unit(Array.from({ length: dim }, r.gauss));
}

/** Unit vector at roughly cosine `c` from v. */
function near(r: ReturnType<typeof rng>, v: Float32Array, c: number): Float32Array {
  const noise = randomUnit(r, v.length);
  const s = Math.sqrt(1 - c * c);
  return unit(Array.from(v, (x, i) => c * x + s * noise[i]));
}

interface Toy {
  matrix: Float32Array;
  dim: number;
  templateIds: string[];
  identityIds: string[];
  vectors: Float32Array[];
}

function gallery(rows: Float32Array[], owners: string[]): Toy {
  const dim = rows[0]?.length ?? 0;
  const matrix = new Float32Array(rows.length * dim);
  rows.forEach((v, i) => matrix.set(v, i * dim));
  return { matrix, dim, templateIds: rows.map((_, i) => `t${i}`), identityIds: owners, vectors: rows };
}

function randomGallery(seed: number, identities: number, perIdentity: number, dim: number): Toy {
  const r = rng(seed);
  const rows: Float32Array[] = [];
  const owners: string[] = [];
  for (let i = 0; i < identities; i++) {
    const base = randomUnit(r, dim);
    // Uneven template counts per identity; interleaving is irrelevant to the matcher.
    const n = 1 + ((i * 7) % perIdentity);
    for (let k = 0; k < n; k++) {
      rows.push(near(r, base, 0.8));
      owners.push(`id${i}`);
    }
  }
  return gallery(rows, owners);
}

/** Naive reference: float64 dot products, explicit per-identity grouping, full sort. */
function reference(g: Toy, query: Float32Array, metric: Metric, agg: Aggregate) {
  const qn = Math.hypot(...query);
  const byId = new Map<string, number[]>();
  g.vectors.forEach((v, i) => {
    let d = 0;
    for (let j = 0; j < v.length; j++) d += v[j] * (query[j] / qn);
    const dist = Math.sqrt(v.reduce((s, x, j) => s + (x - query[j] / qn) ** 2, 0));
    const list = byId.get(g.identityIds[i]) ?? [];
    list.push(metric === 'cosine' ? d : dist);
    byId.set(g.identityIds[i], list);
  });
  const order = [...new Set(g.identityIds)];
  const scored = order.map((id, enrolled) => {
    const s = byId.get(id)!.sort((a, b) => (metric === 'cosine' ? b - a : a - b));
    const k = agg.mode === 'max' ? 1 : Math.min(agg.k, s.length);
    return { id, enrolled, score: s.slice(0, k).reduce((a, b) => a + b, 0) / k };
  });
  scored.sort((a, b) => (metric === 'cosine' ? b.score - a.score : a.score - b.score) || a.enrolled - b.enrolled);
  return scored;
}

// ---- kernels ------------------------------------------------------------------------------------

test('dotRows / dotSelected / dotRowsBatch equal naive dot products for odd and even shapes', () => {
  const r = rng(1);
  for (const [rows, dim] of [[1, 1], [2, 3], [7, 5], [9, 512], [33, 129], [0, 16]]) {
    const m = Float32Array.from({ length: rows * dim }, () => r.next() - 0.5);
    const q = Float32Array.from({ length: dim }, () => r.next() - 0.5);
    const naive = Array.from({ length: rows }, (_, i) => {
      let s = 0;
      for (let j = 0; j < dim; j++) s += m[i * dim + j] * q[j];
      return s;
    });
    const out = new Float32Array(rows);
    dotRows(m, dim, q, out);
    naive.forEach((v, i) => assert.ok(Math.abs(out[i] - v) < 1e-4, `rows=${rows} dim=${dim} row ${i}: ${out[i]} vs ${v}`));
    const pick = Int32Array.from({ length: rows }, (_, i) => rows - 1 - i);
    const sel = dotSelected(m, dim, q, pick);
    pick.forEach((row, i) => assert.ok(Math.abs(sel[i] - naive[row]) < 1e-4));
    const q2 = Float32Array.from(q, (x) => -x);
    const outs = [new Float32Array(rows), new Float32Array(rows)];
    dotRowsBatch(m, dim, [q, q2], outs, 2);
    naive.forEach((v, i) => {
      assert.ok(Math.abs(outs[0][i] - v) < 1e-4);
      assert.ok(Math.abs(outs[1][i] + v) < 1e-4);
    });
  }
});

test('topKIndices matches a full sort, ties going to the lower index', () => {
  const r = rng(2);
  const scores = Float32Array.from({ length: 500 }, () => Math.round(r.next() * 40) / 40); // many ties
  const expected = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
  for (const k of [0, 1, 5, 37, 500, 600]) assert.deepEqual(Array.from(topKIndices(scores, k)), expected.slice(0, k));
  assert.deepEqual(Array.from(topKIndices([0.5, 0.9, 0.5, 0.9, 0.1], 3)), [1, 3, 0]);
});

test('smallestIndices matches a full sort of integer distances, ties by index', () => {
  const r = rng(3);
  const d = Uint16Array.from({ length: 400 }, () => Math.floor(r.next() * 30));
  const expected = Array.from(d.keys()).sort((a, b) => d[a] - d[b] || a - b);
  for (const k of [1, 10, 77, 400]) assert.deepEqual(Array.from(smallestIndices(d, 512, k)), expected.slice(0, k));
});

test('int8 rows dequantise within half a step; Hamming codes count differing signs', () => {
  const r = rng(4);
  const dim = 37;
  const rows = 20;
  const m = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) m.set(randomUnit(r, dim), i * dim);
  const q8 = quantizeRows(m, dim);
  for (let i = 0; i < m.length; i++) {
    const r = Math.floor(i / dim);
    const v = int8Value(q8, r, i % dim);
    assert.ok(Number.isInteger(v) && Math.abs(v) <= 127);
    assert.ok(Math.abs(v * q8.scales[r] - m[i]) <= q8.scales[r] / 2 + 1e-7);
  }
  for (const d of [37, 200, 512]) {
    const mm = new Float32Array(rows * d);
    for (let i = 0; i < rows; i++) mm.set(randomUnit(r, d), i * d);
    const codes = signCodes(mm, d);
    const q = randomUnit(r, d);
    const out = new Uint16Array(rows);
    hammingAll(codes, querySignCode(codes, q), out);
    for (let i = 0; i < rows; i++) {
      let diff = 0;
      for (let j = 0; j < d; j++) diff += (mm[i * d + j] > codes.center[j]) !== (q[j] > codes.center[j]) ? 1 : 0;
      assert.equal(out[i], diff, `dim ${d} row ${i}`);
    }
  }
});

test('packed int8 scan equals the integer dot products exactly, for odd row counts and wide vectors', () => {
  const r = rng(12);
  for (const [rows, dim] of [[1, 8], [7, 37], [19, 512], [9, 1024], [5, 4096]]) {
    const m = new Float32Array(rows * dim);
    for (let i = 0; i < rows; i++) m.set(randomUnit(r, dim), i * dim);
    const q8 = quantizeRows(m, dim);
    assert.ok(dim * 127 * q8.qMax < 2 ** 23, 'lane cannot overflow');
    const q = randomUnit(r, dim);
    const qq = quantizeQuery(q, q8.qMax);
    const out = new Float32Array(rows);
    dotRowsInt8(q8, qq, out);
    for (let i = 0; i < rows; i++) {
      let intDot = 0;
      let trueDot = 0;
      for (let j = 0; j < dim; j++) {
        intDot += int8Value(q8, i, j) * qq.data[j];
        trueDot += m[i * dim + j] * q[j];
      }
      assert.ok(Math.abs(out[i] - Math.fround(intDot * q8.scales[i] * qq.scale)) <= 1e-6, `rows=${rows} dim=${dim} row ${i}`);
      assert.ok(Math.abs(out[i] - trueDot) < 0.05, `approximation ${out[i]} vs ${trueDot}`);
    }
  }
});

test('Euclidean distance of unit vectors is sqrt(2 - 2 cos)', () => {
  const r = rng(5);
  for (let i = 0; i < 50; i++) {
    const a = randomUnit(r, 64);
    const b = randomUnit(r, 64);
    const cos = a.reduce((s, x, j) => s + x * b[j], 0);
    const dist = Math.sqrt(a.reduce((s, x, j) => s + (x - b[j]) ** 2, 0));
    assert.ok(Math.abs(cosineToDistance(cos) - dist) < 1e-6);
    assert.ok(Math.abs(distanceToCosine(dist) - cos) < 1e-6);
  }
  assert.equal(cosineToDistance(1.0000001), 0); // rounding above 1 must not give NaN
});

// ---- identification against the reference -------------------------------------------------------

test('identify ranks identities like the naive reference (both metrics, max and mean-of-top-k)', () => {
  const g = randomGallery(6, 60, 5, 37);
  const index = MatchIndex.build(g);
  const r = rng(7);
  for (const metric of ['cosine', 'euclidean'] as const) {
    for (const agg of [{ mode: 'max' }, { mode: 'meanTopK', k: 2 }, { mode: 'meanTopK', k: 4 }] as Aggregate[]) {
      for (let qi = 0; qi < 20; qi++) {
        // Half planted near a template (scaled: queries need not be unit length), half random.
        const base = qi % 2 ? g.vectors[Math.floor(r.next() * g.vectors.length)] : randomUnit(r, g.dim);
        const query = Float32Array.from(near(r, base, 0.7), (x) => x * 3);
        const ref = reference(g, query, metric, agg);
        const res = identify(index, query, { metric, threshold: metric === 'cosine' ? 0.5 : 1.0, aggregate: agg, topK: 8 });
        assert.deepEqual(res.candidates.map((c) => c.identityId), ref.slice(0, 8).map((c) => c.id), `${metric} ${agg.mode} q${qi}`);
        res.candidates.forEach((c, i) => assert.ok(Math.abs(c.score - ref[i].score) < 1e-5, `${c.score} vs ${ref[i].score}`));
        const accept = metric === 'cosine' ? ref[0].score >= 0.5 : ref[0].score <= 1.0;
        assert.equal(res.decision, accept ? 'match' : 'unknown');
        assert.equal(res.identityId, accept ? ref[0].id : null);
      }
    }
  }
});

// ---- hand-computed cases --------------------------------------------------------------------------

// A: [1,0,0]; B: [0,1,0]. Query [4,3,0] -> unit [0.8,0.6,0]:
//   cos A = 0.8, cos B = 0.6; distance A = sqrt(2-1.6) = 0.63246, B = sqrt(2-1.2) = 0.89443.
const hand = gallery([unit([1, 0, 0]), unit([0, 1, 0])], ['A', 'B']);
const handQuery = Float32Array.from([4, 3, 0]);

test('hand-computed cosine scores and threshold', () => {
  const index = MatchIndex.build(hand);
  const yes = identify(index, handQuery, { metric: 'cosine', threshold: 0.75 });
  assert.equal(yes.decision, 'match');
  assert.equal(yes.identityId, 'A');
  assert.ok(Math.abs(yes.score! - 0.8) < 1e-6);
  assert.deepEqual(yes.candidates.map((c) => [c.identityId, Math.round(c.score * 1e5) / 1e5]), [['A', 0.8], ['B', 0.6]]);
  const no = identify(index, handQuery, { metric: 'cosine', threshold: 0.85 });
  assert.equal(no.decision, 'unknown');
  assert.equal(no.reason, 'below-threshold');
  assert.equal(no.identityId, null);
  assert.equal(no.candidates[0].identityId, 'A'); // nearest is still reported
  // Exactly at the threshold is accepted (>=).
  assert.equal(identify(index, [1, 0, 0], { metric: 'cosine', threshold: 1 }).decision, 'match');
});

test('hand-computed Euclidean distances and threshold (lower is better)', () => {
  const index = MatchIndex.build(hand);
  const yes = identify(index, handQuery, { metric: 'euclidean', threshold: 0.7 });
  assert.equal(yes.identityId, 'A');
  assert.ok(Math.abs(yes.score! - Math.sqrt(0.4)) < 1e-6);
  assert.ok(Math.abs(yes.candidates[1].score - Math.sqrt(0.8)) < 1e-6);
  const no = identify(index, handQuery, { metric: 'euclidean', threshold: 0.6 });
  assert.equal(no.decision, 'unknown');
  assert.equal(no.reason, 'below-threshold');
});

test('mean of top-k templates vs best template (hand-computed)', () => {
  // A has templates at cos 1 and 0 from the query; B one template at cos 0.8 (unit [0.8,0.6]).
  const g = gallery([unit([1, 0]), unit([0, 1]), unit([0.8, 0.6])], ['A', 'A', 'B']);
  const index = MatchIndex.build(g);
  const max = identify(index, [1, 0], { threshold: 0.5, aggregate: { mode: 'max' } });
  assert.equal(max.identityId, 'A');
  const mean = identify(index, [1, 0], { threshold: 0.5, aggregate: { mode: 'meanTopK', k: 2 } });
  assert.equal(mean.identityId, 'B'); // A's mean is (1 + 0) / 2 = 0.5 < 0.8
  assert.ok(Math.abs(mean.candidates[1].score - 0.5) < 1e-6);
  assert.equal(mean.candidates[1].bestTemplateId, 't0');
});

test('top-k ties: equal scores rank by enrollment order; a margin turns a tie into unknown', () => {
  // X enrolled first, Y and Z identical templates; Y before Z.
  const v = unit([1, 1, 0]);
  const g = gallery([unit([0, 0, 1]), v, Float32Array.from(v), unit([1, 0, 0])], ['X', 'Y', 'Z', 'W']);
  const index = MatchIndex.build(g);
  const res = identify(index, v, { threshold: 0.5, topK: 3 });
  assert.deepEqual(res.candidates.map((c) => c.identityId), ['Y', 'Z', 'W']);
  assert.equal(res.candidates[0].score, res.candidates[1].score);
  assert.equal(res.identityId, 'Y');
  const amb = identify(index, v, { threshold: 0.5, minMargin: 0.05 });
  assert.equal(amb.decision, 'unknown');
  assert.equal(amb.reason, 'ambiguous');
  // Same ordering through the slower per-identity path and the coarse paths.
  for (const opts of [{ aggregate: { mode: 'meanTopK', k: 2 } as Aggregate }, { coarse: 'int8' as const }, { coarse: 'binary' as const }]) {
    const r2 = identify(index, v, { threshold: 0.5, topK: 2, ...opts });
    assert.deepEqual(r2.candidates.map((c) => c.identityId), ['Y', 'Z']);
  }
});

test('ties between templates of one identity report the first enrolled template', () => {
  const v = unit([1, 2, 3]);
  const index = MatchIndex.build(gallery([unit([3, 2, 1]), v, Float32Array.from(v)], ['A', 'B', 'B']));
  for (const aggregate of [{ mode: 'max' }, { mode: 'meanTopK', k: 2 }] as Aggregate[]) {
    assert.equal(identify(index, v, { threshold: 0.5, aggregate }).candidates[0].bestTemplateId, 't1');
    assert.equal(verify(index, v, 'B', { threshold: 0.5, aggregate }).bestTemplateId, 't1');
  }
});

test('per-identity threshold overrides the global one', () => {
  const index = MatchIndex.build(hand);
  const opts: MatchOptions = { metric: 'cosine', threshold: 0.5, identityThreshold: (id) => (id === 'A' ? 0.9 : undefined) };
  const res = identify(index, handQuery, opts);
  assert.equal(res.decision, 'unknown');
  assert.equal(res.threshold, 0.9);
  assert.equal(verify(index, [0.6, 0.8, 0], 'B', opts).accepted, true); // B keeps 0.5
});

test('verify compares against the claimed identity only', () => {
  const index = MatchIndex.build(hand);
  const a = verify(index, handQuery, 'A', { threshold: 0.75 });
  assert.equal(a.accepted, true);
  assert.equal(a.bestTemplateId, 't0');
  const b = verify(index, handQuery, 'B', { threshold: 0.5 });
  assert.equal(b.accepted, true); // 0.6 >= 0.5 even though A is closer: 1:1 ignores A
  assert.ok(Math.abs(b.score! - 0.6) < 1e-6);
  const bStrict = verify(index, handQuery, 'B', { threshold: 0.7 });
  assert.equal(bStrict.accepted, false);
  assert.equal(bStrict.reason, 'below-threshold');
  const e = verify(index, handQuery, 'B', { metric: 'euclidean', threshold: 0.8 });
  assert.equal(e.accepted, false); // distance 0.894 > 0.8
  const none = verify(index, handQuery, 'nobody', { threshold: 0.1 });
  assert.equal(none.accepted, false);
  assert.equal(none.reason, 'no-templates');
});

test('unknown faces are rejected: random queries against a random gallery', () => {
  const g = randomGallery(8, 200, 3, 128);
  const index = MatchIndex.build(g);
  const r = rng(9);
  for (let i = 0; i < 50; i++) {
    const res = identify(index, randomUnit(r, 128), { threshold: 0.5 });
    assert.equal(res.decision, 'unknown');
    assert.ok(res.score! < 0.5);
    const e = identify(index, randomUnit(r, 128), { metric: 'euclidean', threshold: cosineToDistance(0.5) });
    assert.equal(e.decision, 'unknown');
  }
});

test('empty gallery and malformed queries', () => {
  const empty = MatchIndex.build({ matrix: new Float32Array(0), dim: 0, templateIds: [], identityIds: [] });
  const res = identify(empty, [1, 0], { threshold: 0.5 });
  assert.equal(res.reason, 'empty-gallery');
  assert.deepEqual(res.candidates, []);
  const index = MatchIndex.build(hand);
  assert.throws(() => identify(index, [1, 0], { threshold: 0.5 }), /dims/);
  assert.throws(() => identify(index, [0, 0, 0], { threshold: 0.5 }), /zero/);
  assert.throws(() => identify(index, [NaN, 1, 0], { threshold: 0.5 }), /non-finite/);
  assert.throws(() => MatchIndex.build({ matrix: new Float32Array(5), dim: 2, templateIds: [], identityIds: [] }), /multiple/);
});

// ---- coarse search ---------------------------------------------------------------------------------

test('int8 and binary coarse search find the same best identity as exact search for planted matches', () => {
  const dim = 512;
  const g = randomGallery(10, 800, 5, dim); // ~2400 templates
  const index = MatchIndex.build(g, { prebuild: ['int8', 'binary'] });
  const r = rng(11);
  let agreeInt8 = 0;
  let agreeBinary = 0;
  const queries = 60;
  for (let i = 0; i < queries; i++) {
    const row = Math.floor(r.next() * g.vectors.length);
    const q = near(r, g.vectors[row], 0.6); // a genuine attempt: cos ~0.6 to one template
    const exact = identify(index, q, { threshold: 0.4 });
    assert.equal(exact.identityId, g.identityIds[row]);
    const i8 = identify(index, q, { threshold: 0.4, coarse: 'int8', rerank: 16 });
    const bin = identify(index, q, { threshold: 0.4, coarse: 'binary', rerank: 64 });
    if (i8.identityId === exact.identityId) agreeInt8++;
    if (bin.identityId === exact.identityId) agreeBinary++;
    // Re-ranked scores are exact, not approximations.
    if (i8.identityId === exact.identityId) assert.ok(Math.abs(i8.score! - exact.score!) < 1e-6);
    const hitsExact = index.searchTemplates(index.prepareQuery(q), 3);
    const hitsInt8 = index.searchTemplates(index.prepareQuery(q), 3, { coarse: 'int8', rerank: 16 });
    assert.equal(hitsInt8[0].templateId, hitsExact[0].templateId);
  }
  assert.equal(agreeInt8, queries);
  assert.equal(agreeBinary, queries);
});

test('128-d rows (the shipped model): coarse search keeps genuine matches just above its threshold, short sign codes scanning int8', () => {
  const dim = 128;
  // One template per person; probes at cosine ~0.35 to it, just above the 128-d model's threshold (0.32).
  const g = randomGallery(12, 3000, 1, dim);
  const index = MatchIndex.build(g, { prebuild: ['int8', 'binary'] });
  const r = rng(13);
  let found = 0;
  for (let i = 0; i < 60; i++) {
    const row = Math.floor(r.next() * g.vectors.length);
    const q = near(r, g.vectors[row], 0.35);
    const exact = identify(index, q, { threshold: 0.3 });
    if (exact.identityId === g.identityIds[row]) found++;
    for (const coarse of ['int8', 'binary'] as const) {
      const c = identify(index, q, { threshold: 0.3, coarse });
      assert.deepEqual([c.identityId, c.score], [exact.identityId, exact.score], `${coarse} query ${i}`);
    }
  }
  // Strangers reach cosine ~0.32 among 3000 random 128-d rows, so some probes are not even found exactly.
  assert.ok(found >= 40, `the exact search finds the planted person (${found}/60)`);
  assert.deepEqual([coarseFor('binary', dim), coarseFor('binary', 512), coarseFor('int8', dim), MIN_SIGN_BITS > dim], ['int8', 'binary', 'int8', true]);
});
