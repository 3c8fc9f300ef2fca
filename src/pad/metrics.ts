// Presentation-attack detection error rates as ISO/IEC 30107-3 defines them:
//
//   APCER (per attack type, "PAI species"): the proportion of attack presentations of that type
//          wrongly classified as bona fide presentations;
//   BPCER: the proportion of bona fide presentations wrongly classified as attack presentations.
//
// The standard reports APCER per species and, for the system, the worst species (APCER_AP = max);
// it also reports BPCER at a fixed APCER (BPCER20 at APCER 5 %). Counts here are small, so every
// rate carries its exact (Clopper-Pearson) 95 % interval.

export type Label = 'bona-fide' | string;

export interface Classified {
  /** 'bona-fide' or the attack type. */
  kind: Label;
  /** The system's decision: true = classified bona fide (would be let through). */
  live: boolean;
}

export interface Rate {
  errors: number;
  total: number;
  /** errors / total; NaN when total is 0. */
  rate: number;
  /** Exact binomial 95 % interval of the rate. */
  ci95: [number, number];
}

export interface PadErrorRates {
  apcer: Record<string, Rate>;
  /** The worst attack type's APCER (ISO/IEC 30107-3 APCER_AP). */
  maxApcer: number;
  bpcer: Rate;
}

// Regularised incomplete beta via continued fractions (Numerical Recipes betacf), for the
// binomial interval.
function logGamma(x: number): number {
  const c = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let y = x;
  const tmp = x + 5.5 - (x + 0.5) * Math.log(x + 5.5);
  let ser = 1.000000000190015;
  for (const cj of c) ser += cj / ++y;
  return -tmp + Math.log((2.5066282746310005 * ser) / x);
}

function betacf(a: number, b: number, x: number): number {
  const qab = a + b, qap = a + 1, qam = a - 1;
  let c = 1, d = 1 - (qab * x) / qap;
  if (Math.abs(d) < 1e-30) d = 1e-30;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 200; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < 1e-30) d = 1e-30;
    c = 1 + aa / c;
    if (Math.abs(c) < 1e-30) c = 1e-30;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < 1e-30) d = 1e-30;
    c = 1 + aa / c;
    if (Math.abs(c) < 1e-30) c = 1e-30;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-12) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const bt = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (bt * betacf(a, b, x)) / a : 1 - (bt * betacf(b, a, 1 - x)) / b;
}

/** Inverse of I_x(a, b) in x, by bisection. */
function betaQuantile(p: number, a: number, b: number): number {
  let lo = 0, hi = 1;
  for (let k = 0; k < 100; k++) {
    const mid = (lo + hi) / 2;
    if (incompleteBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Exact (Clopper-Pearson) two-sided 95 % interval for `k` errors out of `n`. */
export function clopperPearson(k: number, n: number, alpha = 0.05): [number, number] {
  if (n === 0) return [0, 1];
  const lo = k === 0 ? 0 : betaQuantile(alpha / 2, k, n - k + 1);
  const hi = k === n ? 1 : betaQuantile(1 - alpha / 2, k + 1, n - k);
  return [lo, hi];
}

export function rate(errors: number, total: number): Rate {
  return { errors, total, rate: total ? errors / total : NaN, ci95: clopperPearson(errors, total) };
}

/** APCER per attack type and BPCER over classified presentations. */
export function padErrorRates(results: readonly Classified[]): PadErrorRates {
  const apcer: Record<string, Rate> = {};
  const kinds = [...new Set(results.filter((r) => r.kind !== 'bona-fide').map((r) => r.kind))].sort();
  for (const k of kinds) {
    const of = results.filter((r) => r.kind === k);
    apcer[k] = rate(of.filter((r) => r.live).length, of.length);
  }
  const bf = results.filter((r) => r.kind === 'bona-fide');
  const maxApcer = kinds.length ? Math.max(...kinds.map((k) => apcer[k]!.rate)) : NaN;
  return { apcer, maxApcer, bpcer: rate(bf.filter((r) => !r.live).length, bf.length) };
}

export interface Scored {
  kind: Label;
  /** Bona fide score: higher = more likely live. Classified live when score >= threshold. */
  score: number;
}

/** Classifies scored presentations at a threshold (score >= threshold = bona fide). */
export function classify(scored: readonly Scored[], threshold: number): Classified[] {
  return scored.map((s) => ({ kind: s.kind, live: s.score >= threshold }));
}

/**
 * The operating threshold: the lowest BPCER whose worst-type APCER stays <= `maxApcer`, placed
 * halfway into the gap above the highest accepted attack score so it is not tuned to the last
 * decimal. Meant for a calibration split; report the rates on another.
 */
export function chooseThreshold(scored: readonly Scored[], maxApcer = 0.05): number {
  const candidates = [...new Set(scored.map((s) => s.score))].sort((a, b) => a - b);
  candidates.push(Infinity);
  for (let i = 0; i < candidates.length; i++) {
    const t = candidates[i]!;
    const r = padErrorRates(classify(scored, t));
    if (!(r.maxApcer > maxApcer)) {
      // Midpoint between this score and the next lower one.
      const below = i > 0 ? candidates[i - 1]! : t;
      return Number.isFinite(t) ? (t + below) / 2 : t;
    }
  }
  return Infinity;
}

/** BPCER at the lowest threshold whose worst-type APCER is <= `apcer` (BPCER20 at apcer 0.05). */
export function bpcerAtApcer(scored: readonly Scored[], apcer: number): { threshold: number; bpcer: number } {
  const t = chooseThreshold(scored, apcer);
  return { threshold: t, bpcer: padErrorRates(classify(scored, t)).bpcer.rate };
}

/**
 * Separation of a score between bona fide and attacks: the area under the ROC curve (probability
 * a random bona fide scores above a random attack; ties count half). 0.5 = no separation.
 */
export function auc(scored: readonly Scored[], attackKind?: string): number {
  const pos = scored.filter((s) => s.kind === 'bona-fide').map((s) => s.score);
  const neg = scored.filter((s) => s.kind !== 'bona-fide' && (attackKind === undefined || s.kind === attackKind)).map((s) => s.score);
  if (!pos.length || !neg.length) return NaN;
  let w = 0;
  for (const p of pos) for (const n of neg) w += p > n ? 1 : p === n ? 0.5 : 0;
  return w / (pos.length * neg.length);
}
