// The before/after yardsticks of a finetune: how well held-out site crops are identified against
// the site's templates, and verification accuracy on the base model's validation pairs.
import { cosineSimilarity as dot } from '../model/facenet.js';
import { tenFoldAccuracy } from '../eval/metrics.js';
import type { Pair } from '../eval/pairs.js';
import type { FinetuneMetrics } from './status.js';

export interface Labelled {
  identityId: string;
  emb: Float32Array;
}

function meanVar(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return [m, xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length)];
}

/**
 * 1:N as the kiosk does it: every training crop is a template, an identity's score is its best
 * template. Genuine = the true identity's score; impostor = the best other identity's score.
 */
export function siteMetrics(templates: readonly Labelled[], probes: readonly Labelled[]): Pick<FinetuneMetrics, 'siteTop1' | 'siteGenuine' | 'siteImpostor' | 'siteSeparation' | 'siteMargins' | 'siteOthers'> {
  const genuine: number[] = [];
  const impostor: number[] = [];
  let correct = 0;
  for (const p of probes) {
    const best = new Map<string, number>();
    for (const t of templates) best.set(t.identityId, Math.max(best.get(t.identityId) ?? -Infinity, dot(p.emb, t.emb)));
    const own = best.get(p.identityId) ?? -1;
    let other = -1;
    for (const [id, s] of best) if (id !== p.identityId && s > other) other = s;
    genuine.push(own);
    impostor.push(other);
    if (own > other) correct++;
  }
  const [mg, vg] = meanVar(genuine);
  const [mi, vi] = meanVar(impostor);
  return {
    siteTop1: correct / Math.max(1, probes.length),
    siteGenuine: mg,
    siteImpostor: mi,
    siteSeparation: (mg - mi) / Math.sqrt(Math.max(1e-12, (vg + vi) / 2)),
    siteMargins: genuine.map((g, i) => g - impostor[i]!),
    siteOthers: impostor,
  };
}

/**
 * Did the site get better, crop by crop? The change of each held-out crop's margin (own score minus
 * best other) from before to after: better when the mean change is positive. d' alone was fooled at
 * the ceiling: with a strong base model and one held-out crop per person, a run on shuffled labels
 * lowered the margins on average (0.610 -> 0.595) yet raised d' (8.8 -> 9.1) by narrowing the spread
 * of five scores. The standard error is reported beside the mean: with one held-out crop per person
 * a small site's verdict is noisy (base verification guards against general harm).
 */
export function marginGain(before: readonly number[], after: readonly number[]): { mean: number; se: number; better: boolean } {
  if (before.length !== after.length || before.length === 0) return { mean: 0, se: Infinity, better: false };
  const d = after.map((a, i) => a - before[i]!);
  const [m, v] = meanVar(d);
  const se = d.length > 1 ? Math.sqrt(v / (d.length - 1)) : Infinity;
  return { mean: m, se, better: m > 0 };
}

/**
 * The site half of a finetune's verdict. The held-out margins must rise on average (marginGain).
 * Top-1 counts a few held-out crops (one per person): on a small site one crop turning is noise,
 * so it may fall by one crop, but never by a crop the parent recognised that the new model would
 * let in as someone else (the other person's score at or above `admits`, the threshold the
 * promoted model would get).
 */
export function siteVerdict(
  before: Pick<FinetuneMetrics, 'siteTop1' | 'siteMargins'>,
  after: Pick<FinetuneMetrics, 'siteTop1' | 'siteMargins' | 'siteOthers'>,
  admits: number,
): { better: boolean; gain: ReturnType<typeof marginGain>; admitted: number } {
  const margins = before.siteMargins ?? [];
  const gain = marginGain(margins, after.siteMargins ?? []);
  const oneCrop = 1 / Math.max(1, margins.length);
  const admitted = margins.filter((m, i) => m > 0 && (after.siteMargins?.[i] ?? 0) <= 0 && (after.siteOthers?.[i] ?? -1) >= admits).length;
  return { better: gain.better && admitted === 0 && after.siteTop1 >= before.siteTop1 - oneCrop - 1e-9, gain, admitted };
}

/** 10-fold accuracy; a pair with an image that had no face counts as an error. */
export function pairMetrics(pairs: readonly Pair[], byFile: Map<string, Float32Array>): { mean: number; std: number } {
  const scores = pairs.map((p) => {
    const a = byFile.get(p.a);
    const b = byFile.get(p.b);
    return a && b ? dot(a, b) : Number.NaN;
  });
  const r = tenFoldAccuracy(scores, pairs.map((p) => p.same), pairs.map((p) => p.fold));
  return { mean: r.mean, std: r.std };
}

const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);
const num = (x: number) => x.toFixed(3);

/** The before/after table as Markdown (printed by the CLI, shown by the Model page). */
export function metricsTable(before: FinetuneMetrics, after: FinetuneMetrics | null): string {
  const rows: [string, (m: FinetuneMetrics) => string][] = [
    ['site 1:N top-1 (held-out crops)', (m) => pct(m.siteTop1)],
    ['site genuine cosine (mean)', (m) => num(m.siteGenuine)],
    ['site best-impostor cosine (mean)', (m) => num(m.siteImpostor)],
    ["site separation d'", (m) => num(m.siteSeparation)],
    ['site margin, own - best other (mean)', (m) => (m.siteMargins?.length ? num(m.siteMargins.reduce((a, b) => a + b, 0) / m.siteMargins.length) : '-')],
    ['base verification (10-fold)', (m) => (m.baseVerif === null ? '-' : `${pct(m.baseVerif)} ± ${(100 * (m.baseVerifStd ?? 0)).toFixed(1)}`)],
  ];
  const lines = ['| metric | before | after |', '| --- | ---: | ---: |'];
  for (const [name, f] of rows) lines.push(`| ${name} | ${f(before)} | ${after ? f(after) : '-'} |`);
  return lines.join('\n');
}
