// 1:N identification with open-set rejection, and 1:1 verification, over a MatchIndex.
// Everything is computed as cosine on unit vectors and converted to the metric's units at the
// end (distance = sqrt(2 - 2cos)), so both metrics share one kernel and rank identically.
import { MatchIndex, coarseFor, defaultRerank, type Coarse } from './search-index.js';
import { topKIndices } from './select.js';
import { cosineToMetric, passesThreshold, type Metric } from './vector.js';

/** How an identity's template scores become one score: its best template, or the mean of its best k. */
export type Aggregate = { mode: 'max' } | { mode: 'meanTopK'; k: number };

export interface MatchOptions {
  metric?: Metric;
  /** In the metric's units: minimum cosine, or maximum Euclidean distance. */
  threshold: number;
  /** Per-identity override of `threshold` (same units); undefined = use the global one. */
  identityThreshold?: (identityId: string) => number | undefined;
  aggregate?: Aggregate;
  /** Candidates returned with an identification (default 5). */
  topK?: number;
  /** Reject as ambiguous when the runner-up is closer than this to the best (default 0 = off). */
  minMargin?: number;
  /** Candidate search: exact Float32 scan (default) or a coarse scan + exact re-rank. */
  coarse?: Coarse;
  /** Coarse modes: candidate rows re-ranked exactly (default: defaultRerank()). */
  rerank?: number;
}

export interface Candidate {
  identityId: string;
  /** Aggregated score in the metric's units. */
  score: number;
  /** Cosine of the identity's best template. */
  bestCosine: number;
  bestTemplateId: string;
  /** Templates of this identity that were scored. */
  templates: number;
}

export type IdentifyReason = 'match' | 'below-threshold' | 'ambiguous' | 'empty-gallery';

export interface IdentifyResult {
  decision: 'match' | 'unknown';
  reason: IdentifyReason;
  /** The matched identity; null when unknown (the nearest one is still candidates[0]). */
  identityId: string | null;
  /** Best candidate's score (metric units), also when rejected; null for an empty gallery. */
  score: number | null;
  /** Threshold applied to the best candidate. */
  threshold: number;
  metric: Metric;
  /** Best first; ties go to the identity enrolled first (lowest row). */
  candidates: Candidate[];
}

export interface VerifyResult {
  accepted: boolean;
  reason: 'match' | 'below-threshold' | 'no-templates';
  identityId: string;
  score: number | null;
  threshold: number;
  metric: Metric;
  bestTemplateId: string | null;
}

interface Scored {
  score: number;
  bestRow: number;
  bestCos: number;
}

/** Aggregates one identity's template cosines (any order) into a metric score. */
function aggregate(cos: ArrayLike<number>, rows: ArrayLike<number>, agg: Aggregate, metric: Metric): Scored {
  let bestI = 0;
  for (let i = 1; i < cos.length; i++) if (cos[i] > cos[bestI] || (cos[i] === cos[bestI] && rows[i] < rows[bestI])) bestI = i;
  const bestCos = cos[bestI];
  if (agg.mode === 'max' || cos.length === 1) return { score: cosineToMetric(bestCos, metric), bestRow: rows[bestI], bestCos };
  const k = Math.max(1, Math.min(Math.floor(agg.k), cos.length));
  const top = Array.from(cos).sort((a, b) => b - a);
  let sum = 0;
  for (let i = 0; i < k; i++) sum += cosineToMetric(top[i], metric);
  return { score: sum / k, bestRow: rows[bestI], bestCos };
}

function resolve(opts: MatchOptions) {
  return {
    metric: opts.metric ?? 'cosine',
    agg: opts.aggregate ?? ({ mode: 'max' } as Aggregate),
    topK: Math.max(1, opts.topK ?? 5),
    minMargin: opts.minMargin ?? 0,
    coarse: opts.coarse ?? 'exact',
    rerank: opts.rerank === undefined ? undefined : Math.max(1, opts.rerank),
  };
}

export function identify(index: MatchIndex, query: ArrayLike<number>, opts: MatchOptions): IdentifyResult {
  const { metric, agg, topK, minMargin, rerank } = resolve(opts);
  // Sign codes too short to be a useful filter scan int8 instead, and are re-ranked as such.
  const coarse = coarseFor(opts.coarse ?? 'exact', index.dim);
  if (index.rows === 0) {
    return { decision: 'unknown', reason: 'empty-gallery', identityId: null, score: null, threshold: opts.threshold, metric, candidates: [] };
  }
  const q = index.prepareQuery(query);

  // Which identities to score: all of them (exact) or those owning the coarse scan's best rows.
  let idents: Int32Array;
  let all: Float32Array | undefined;
  if (coarse === 'exact') {
    all = index.scoreAll(q);
    idents = Int32Array.from(index.identities, (_, k) => k);
  } else {
    // Re-rank the coarse candidates exactly, then score in full (all templates) only the
    // identities whose best candidate ranks near the top: expanding every candidate's identity
    // would cost more than the coarse scan saved.
    const cand = index.candidates(q, Math.max(rerank ?? defaultRerank(coarse, index.rows), topK), coarse);
    const exact = index.exactScores(q, cand);
    const best = new Map<number, number>();
    for (let i = 0; i < cand.length; i++) {
      const k = index.rowIdentity[cand[i]];
      const b = best.get(k);
      if (b === undefined || exact[i] > b) best.set(k, exact[i]);
    }
    const expand = Math.max(2 * topK, 10);
    idents = Int32Array.from(
      [...best]
        .sort((a, b) => b[1] - a[1] || a[0] - b[0])
        .slice(0, expand)
        .map(([k]) => k)
        .sort((a, b) => a - b),
    );
  }

  const scored: Scored[] = new Array(idents.length);
  // Ranking key: higher is better for both metrics (distance negated).
  const key = new Float64Array(idents.length);
  if (all && agg.mode === 'max') {
    // Fast path for the default: one pass over the rows keeps each identity's best row; objects
    // are only made for the identities that end up in the top k.
    const bestRow = new Int32Array(idents.length).fill(-1);
    for (let r = 0; r < index.rows; r++) {
      const k = index.rowIdentity[r];
      const b = bestRow[k];
      if (b < 0 || all[r] > all[b]) bestRow[k] = r;
    }
    for (let k = 0; k < idents.length; k++) key[k] = all[bestRow[k]];
    const order = topKIndices(key, topK);
    for (const k of order) {
      const c = all[bestRow[k]];
      scored[k] = { score: cosineToMetric(c, metric), bestRow: bestRow[k], bestCos: c };
    }
    return decide(index, opts, metric, minMargin, order, idents, scored);
  }
  for (let i = 0; i < idents.length; i++) {
    const rows = index.rowsOfIndex(idents[i]);
    let cos: ArrayLike<number>;
    if (all) {
      const c = new Float32Array(rows.length);
      for (let j = 0; j < rows.length; j++) c[j] = all[rows[j]];
      cos = c;
    } else cos = index.exactScores(q, rows);
    scored[i] = aggregate(cos, rows, agg, metric);
    key[i] = metric === 'cosine' ? scored[i].score : -scored[i].score;
  }
  // idents are in ascending identity index, so topKIndices' lower-index tie-break = enrolled first.
  return decide(index, opts, metric, minMargin, topKIndices(key, topK), idents, scored);
}

function decide(
  index: MatchIndex,
  opts: MatchOptions,
  metric: Metric,
  minMargin: number,
  order: Int32Array,
  idents: Int32Array,
  scored: Scored[],
): IdentifyResult {
  const candidates: Candidate[] = Array.from(order, (i) => {
    const s = scored[i];
    const k = idents[i];
    return {
      identityId: index.identities[k],
      score: s.score,
      bestCosine: s.bestCos,
      bestTemplateId: index.templateIds[s.bestRow],
      templates: index.rowsOfIndex(k).length,
    };
  });

  const best = candidates[0];
  const threshold = opts.identityThreshold?.(best.identityId) ?? opts.threshold;
  let reason: IdentifyReason = 'match';
  if (!passesThreshold(best.score, threshold, metric)) reason = 'below-threshold';
  else if (minMargin > 0 && candidates.length > 1 && Math.abs(best.score - candidates[1].score) < minMargin) reason = 'ambiguous';
  return {
    decision: reason === 'match' ? 'match' : 'unknown',
    reason,
    identityId: reason === 'match' ? best.identityId : null,
    score: best.score,
    threshold,
    metric,
    candidates,
  };
}

/** 1:1: compares the query with the claimed identity's templates only. */
export function verify(index: MatchIndex, query: ArrayLike<number>, identityId: string, opts: MatchOptions): VerifyResult {
  const { metric, agg } = resolve(opts);
  const threshold = opts.identityThreshold?.(identityId) ?? opts.threshold;
  const rows = index.rowsOf(identityId);
  if (rows.length === 0) {
    return { accepted: false, reason: 'no-templates', identityId, score: null, threshold, metric, bestTemplateId: null };
  }
  const q = index.prepareQuery(query);
  const s = aggregate(index.exactScores(q, rows), rows, agg, metric);
  const accepted = passesThreshold(s.score, threshold, metric);
  return {
    accepted,
    reason: accepted ? 'match' : 'below-threshold',
    identityId,
    score: s.score,
    threshold,
    metric,
    bestTemplateId: index.templateIds[s.bestRow],
  };
}
