// Blink detection over a sequence of eye aspect ratios (EAR, see eyes.ts). A blink is a dip:
// the EAR falls below `closeRatio` x the eyes' open level and comes back above `reopenRatio` x
// that level, the eyes staying shut no longer than `maxClosedMs` and the whole dip, open to open,
// lasting no longer than `maxBlinkMs`. The open level is a high quantile of the EAR over the
// preceding `baselineMs` (and the sequence so far), so a squint or a smile that narrows the eyes
// for seconds is not a blink, and people with narrow eyes are measured against themselves.

export interface BlinkOptions {
  closeRatio: number;
  reopenRatio: number;
  maxClosedMs: number;
  maxBlinkMs: number;
  baselineMs: number;
}

export const DEFAULT_BLINK: BlinkOptions = {
  closeRatio: 0.7,
  reopenRatio: 0.85,
  maxClosedMs: 500,
  maxBlinkMs: 900,
  baselineMs: 2000,
};

export interface EarSample {
  /** ms */
  t: number;
  /** Mean eye aspect ratio; NaN when no face. */
  ear: number;
}

export interface Blink {
  /** Last open sample before, first closed, last closed, first reopened (ms). */
  openBefore: number;
  closedFrom: number;
  closedTo: number;
  reopened: number;
  /** Lowest EAR over the open level. */
  depth: number;
}

/** The open level at sample i: 80th percentile of the valid EAR in [t_i - baselineMs, t_i]. */
function openLevel(samples: readonly EarSample[], i: number, baselineMs: number): number {
  const t = samples[i]!.t;
  const xs: number[] = [];
  for (let k = i; k >= 0 && samples[k]!.t >= t - baselineMs; k--) if (Number.isFinite(samples[k]!.ear)) xs.push(samples[k]!.ear);
  if (xs.length === 0) return NaN;
  xs.sort((a, b) => a - b);
  return xs[Math.min(xs.length - 1, Math.floor(0.8 * xs.length))]!;
}

/** Blinks found in the sequence (sorted by time). Samples without a face break a dip. */
export function detectBlinks(samples: readonly EarSample[], opts: BlinkOptions = DEFAULT_BLINK): Blink[] {
  const blinks: Blink[] = [];
  let i = 0;
  while (i < samples.length) {
    const s = samples[i]!;
    const level = openLevel(samples, i, opts.baselineMs);
    if (!(Number.isFinite(s.ear) && Number.isFinite(level) && s.ear < opts.closeRatio * level)) {
      i++;
      continue;
    }
    // A closed run starts at i: find the open sample before it (same open level).
    let before = -1;
    for (let k = i - 1; k >= 0 && s.t - samples[k]!.t <= opts.maxBlinkMs; k--) {
      const e = samples[k]!.ear;
      if (!Number.isFinite(e)) break;
      if (e >= opts.reopenRatio * level) {
        before = k;
        break;
      }
    }
    // The closed run, then the reopening.
    let j = i, min = s.ear, after = -1, broken = false;
    for (let k = i + 1; k < samples.length; k++) {
      const e = samples[k]!.ear;
      if (!Number.isFinite(e)) {
        broken = true;
        break;
      }
      if (e >= opts.reopenRatio * level) {
        after = k;
        break;
      }
      if (e < opts.closeRatio * level) j = k;
      min = Math.min(min, e);
      if (samples[k]!.t - samples[i]!.t > opts.maxBlinkMs) break;
    }
    if (
      !broken && before >= 0 && after >= 0 &&
      samples[j]!.t - samples[i]!.t <= opts.maxClosedMs &&
      samples[after]!.t - samples[before]!.t <= opts.maxBlinkMs
    ) {
      blinks.push({ openBefore: samples[before]!.t, closedFrom: s.t, closedTo: samples[j]!.t, reopened: samples[after]!.t, depth: min / level });
      i = after;
    } else {
      i = Math.max(i + 1, after >= 0 ? after : i + 1);
    }
  }
  return blinks;
}
