// Choosing the operating point on the calibration split (never on the split that is reported):
// the planar model of moved photos (floor + slope x motion), the motion threshold, and the
// passive thresholds.
import { type PadSettings, PadSettingsSchema } from './config.js';
import type { FrameCue } from './cues.js';
import { decide, gatherEvidence } from './liveness.js';
import { type Scored, chooseThreshold } from './metrics.js';

export interface CueSequence {
  id: string;
  kind: string;
  cues: FrameCue[];
}

export interface Calibration {
  planarFloor: number;
  planarSlope: number;
  motionMinScore: number;
  passiveMinScore: number;
  passiveVetoBelow: number;
  /** Attack presentations the fit used. */
  attacks: number;
  bonaFide: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Least-squares line through (median motion, median residual) of the attack presentations: the
 * residual a plane leaves, as a function of how much it moved.
 */
export function fitPlanarModel(seqs: readonly CueSequence[]): { planarFloor: number; planarSlope: number } {
  const pts = seqs
    .filter((s) => s.kind !== 'bona-fide')
    .map((s) => s.cues.filter((c) => c.pair).map((c) => c.pair!))
    .filter((p) => p.length >= 3)
    .map((p) => ({ x: median(p.map((q) => q.motion)), y: median(p.map((q) => q.residual)) }));
  if (pts.length < 2) throw new Error('need at least two attack presentations with motion to fit the planar model');
  const n = pts.length;
  const sx = pts.reduce((s, p) => s + p.x, 0), sy = pts.reduce((s, p) => s + p.y, 0);
  const sxx = pts.reduce((s, p) => s + p.x * p.x, 0), sxy = pts.reduce((s, p) => s + p.x * p.y, 0);
  const den = n * sxx - sx * sx;
  const slope = Math.max(0, den > 0 ? (n * sxy - sx * sy) / den : 0);
  const floor = Math.max(1e-5, (sy - slope * sx) / n);
  return { planarFloor: floor, planarSlope: slope };
}

/** Scores of each sequence under `settings` (the decision's bona fide score). */
export function scoreSequences(seqs: readonly CueSequence[], settings: PadSettings): Scored[] {
  return seqs.map((s) => ({ kind: s.kind, score: decide(gatherEvidence(s.cues, settings), settings).score }));
}

/**
 * Fits everything on `seqs` (the calibration split) so that the worst attack type's APCER is at
 * most `maxApcer` there, with the lowest BPCER that allows.
 */
export function calibrate(seqs: readonly CueSequence[], base: PadSettings, maxApcer = 0.05): { calibration: Calibration; settings: PadSettings } {
  const planar = fitPlanarModel(seqs);
  const withPlanar = PadSettingsSchema.parse({
    ...base,
    mode: 'active',
    thresholds: { ...base.thresholds, motion: { ...base.thresholds.motion, ...planar } },
  });
  // Active: blink and turn score 1; the threshold can only act on the motion score (< 1).
  const active = scoreSequences(seqs, withPlanar);
  const motionMinScore = Math.min(0.999, chooseThreshold(active, maxApcer));
  // Passive: the mean liveness score.
  const passive = scoreSequences(seqs, PadSettingsSchema.parse({ ...withPlanar, mode: 'passive' }));
  const passiveMinScore = Math.min(1, chooseThreshold(passive, maxApcer));
  // Both: veto only below every calibration bona fide presentation's passive score (with a margin),
  // so the veto costs no bona fide presentation there.
  const bf = passive.filter((p) => p.kind === 'bona-fide').map((p) => p.score);
  const passiveVetoBelow = Math.max(0, Math.min(...bf) - 0.05);
  const calibration: Calibration = {
    ...planar, motionMinScore, passiveMinScore, passiveVetoBelow,
    attacks: seqs.filter((s) => s.kind !== 'bona-fide').length,
    bonaFide: seqs.filter((s) => s.kind === 'bona-fide').length,
  };
  const settings = PadSettingsSchema.parse({
    ...base,
    thresholds: {
      ...base.thresholds,
      motion: { ...base.thresholds.motion, ...planar, minScore: motionMinScore },
      passive: { minScore: passiveMinScore, vetoBelow: passiveVetoBelow },
    },
  });
  return { calibration, settings };
}
