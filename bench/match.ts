// Matcher benchmark: 1:N identify over N templates x dim, exact Float32 scan vs coarse scans
// (int8, sign bits) with exact re-ranking. Reports ms per query (p50/p95) and how often the
// coarse path returns the same best identity as the exact one (recall@1), for genuine queries
// (planted near an enrolled template) and for impostors (random: the hard case for a coarse
// filter, though these are rejected as unknown anyway).
//   npm run bench -- match [--sizes 1000,10000,100000,1000000] [--dim 128] [--per-identity 5]
//                          [--queries N] [--rerank-int8 N] [--rerank-binary N] [--genuine-cos 0.6]
// (rerank defaults: defaultRerank() in src/match/search-index.ts)
import type { BenchSummary } from './summary.js';
import { MatchIndex, defaultRerank, type Coarse } from '../src/match/search-index.js';
import { identify, type IdentifyResult } from '../src/match/identify.js';
import { dotRows, dotRowsBatch } from '../src/match/matvec.js';

function arg(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
}

/** xorshift32 floats in [-0.5, 0.5): fast enough to fill 512M values. */
function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296 - 0.5;
  };
}

function fillUnitRows(m: Float32Array, dim: number, rnd: () => number): void {
  for (let o = 0; o < m.length; o += dim) {
    let s = 0;
    for (let j = 0; j < dim; j++) {
      const x = rnd() + rnd(); // triangular: closer to isotropic than uniform
      m[o + j] = x;
      s += x * x;
    }
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < dim; j++) m[o + j] *= inv;
  }
}

function nearRow(m: Float32Array, dim: number, row: number, cos: number, rnd: () => number): Float32Array {
  const noise = new Float32Array(dim);
  fillUnitRows(noise, dim, rnd);
  const s = Math.sqrt(1 - cos * cos);
  return Float32Array.from(noise, (x, j) => cos * m[row * dim + j] + s * x);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

interface Row {
  templates: string;
  method: string;
  p50: string;
  p95: string;
  'recall@1 genuine': string;
  'recall@1 impostor': string;
  'build ms': string;
  'extra MB': string;
}

export async function run(args: string[]): Promise<BenchSummary> {
  const sizes = arg(args, 'sizes', '1000,10000,100000,1000000').split(',').map(Number);
  // 128: the shipped model's embedding size (512 for models trained here with the seed's defaults).
  const dim = Number(arg(args, 'dim', '128'));
  const perIdentity = Number(arg(args, 'per-identity', '5'));
  const rerankArg = (name: string) => (args.includes(`--${name}`) ? Number(arg(args, name, '0')) : undefined);
  const genuineCos = Number(arg(args, 'genuine-cos', '0.6'));
  const fixedQueries = args.includes('--queries') ? Number(arg(args, 'queries', '20')) : undefined;
  const rows: Row[] = [];
  console.log(`dim ${dim}, ${perIdentity} templates per identity, genuine queries at cos ${genuineCos} to one template; single thread, Node ${process.version}`);

  for (const n of sizes) {
    const queries = fixedQueries ?? (n <= 10_000 ? 100 : n <= 100_000 ? 40 : 8);
    const rnd = prng(n);
    const matrix = new Float32Array(n * dim);
    fillUnitRows(matrix, dim, rnd);
    const templateIds = Array.from({ length: n }, (_, i) => `t${i}`);
    const identityIds = Array.from({ length: n }, (_, i) => `p${Math.floor(i / perIdentity)}`);
    const index = MatchIndex.build({ matrix, dim, templateIds, identityIds }, { normalized: true });
    const build: Record<string, number> = {};
    for (const c of ['int8', 'binary'] as const) {
      const t0 = performance.now();
      index.candidates(new Float32Array(dim).fill(1 / Math.sqrt(dim)), 1, c); // builds the coarse copy
      build[c] = performance.now() - t0;
    }
    const genuine = Array.from({ length: queries }, () => nearRow(matrix, dim, Math.floor((rnd() + 0.5) * n), genuineCos, rnd));
    const impostor = Array.from({ length: queries }, () => {
      const q = new Float32Array(dim);
      fillUnitRows(q, dim, rnd);
      return q;
    });
    const rerank8 = rerankArg('rerank-int8') ?? defaultRerank('int8', n);
    const rerankBin = rerankArg('rerank-binary') ?? defaultRerank('binary', n);
    const methods: { name: string; coarse: Coarse; rerank: number; extraMB: number }[] = [
      { name: 'float32 exact', coarse: 'exact', rerank: 0, extraMB: 0 },
      { name: `int8 + rerank ${rerank8}`, coarse: 'int8', rerank: rerank8, extraMB: (Math.ceil(n / 2) * dim * 8 + n * 4) / 1e6 },
      { name: `sign bits + rerank ${rerankBin}`, coarse: 'binary', rerank: rerankBin, extraMB: (n * Math.ceil(dim / 32) * 4) / 1e6 },
    ];
    let exactBest: { genuine: (string | null)[]; impostor: (string | null)[] } | undefined;
    for (const m of methods) {
      const opts = { threshold: 0.3, coarse: m.coarse, rerank: m.rerank, topK: 5 };
      for (let w = 0; w < 3; w++) identify(index, genuine[w % queries], opts); // JIT warm-up
      const times: number[] = [];
      const run = (qs: Float32Array[]) =>
        qs.map((q) => {
          const t0 = performance.now();
          const r: IdentifyResult = identify(index, q, opts);
          times.push(performance.now() - t0);
          return r.candidates[0]?.identityId ?? null;
        });
      const best = { genuine: run(genuine), impostor: run(impostor) };
      exactBest ??= best;
      times.sort((a, b) => a - b);
      const recall = (k: 'genuine' | 'impostor') => (best[k].filter((id, i) => id === exactBest![k][i]).length / queries).toFixed(3);
      rows.push({
        templates: n.toLocaleString('en'),
        method: m.name,
        p50: pct(times, 0.5).toFixed(2),
        p95: pct(times, 0.95).toFixed(2),
        'recall@1 genuine': recall('genuine'),
        'recall@1 impostor': recall('impostor'),
        'build ms': m.coarse === 'exact' ? '-' : build[m.coarse].toFixed(0),
        'extra MB': m.extraMB.toFixed(1),
      });
    }
    // Scan only (no aggregation): one query at a time vs 4 queries sharing each row block.
    const out = [0, 1, 2, 3].map(() => new Float32Array(n));
    const qs = genuine.slice(0, 4);
    const single: number[] = [];
    const batch: number[] = [];
    for (let rep = 0; rep < Math.max(2, Math.min(10, queries / 4)); rep++) {
      let t0 = performance.now();
      for (let k = 0; k < qs.length; k++) dotRows(matrix, dim, qs[k], out[k]);
      single.push((performance.now() - t0) / qs.length);
      t0 = performance.now();
      dotRowsBatch(matrix, dim, qs, out);
      batch.push((performance.now() - t0) / qs.length);
    }
    single.sort((a, b) => a - b);
    batch.sort((a, b) => a - b);
    for (const [name, t] of [['float32 scan only, 1 query', single], ['float32 scan only, 4-query blocks', batch]] as const) {
      rows.push({ templates: n.toLocaleString('en'), method: name, p50: pct(t, 0.5).toFixed(2), p95: pct(t, 0.95).toFixed(2), 'recall@1 genuine': '-', 'recall@1 impostor': '-', 'build ms': '-', 'extra MB': '-' });
    }
    console.error(`done ${n}`);
  }
  console.log('ms per query:');
  console.table(rows);
  const command = `npm run bench -- match --sizes ${sizes.join(',')}`;
  return {
    figures: sizes.flatMap((n) => {
      const size = n.toLocaleString('en');
      const exact = rows.find((r) => r.templates === size && r.method === 'float32 exact');
      const int8 = rows.find((r) => r.templates === size && r.method.startsWith('int8'));
      return [
        ...(exact ? [{ what: `1:N search, ${size} templates (${dim}-d), exact, p50 ms`, ours: exact.p50, command }] : []),
        ...(int8 ? [{ what: `1:N search, ${size} templates, int8 + re-rank, p50 ms (recall@1 ${int8['recall@1 genuine']})`, ours: int8.p50, command }] : []),
      ];
    }),
  };
}
