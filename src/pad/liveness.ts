// The combining policy: a sequence of frames' cues -> live or not, a bona fide score, why, and
// what to ask the person when the frames so far do not decide.
//
// Active cues (mode 'active', and 'both'):
//   blink      an eye-aspect-ratio dip and back (blink.ts): a photo or a still screen cannot;
//   head turn  the yaw (five mesh points) changing by headTurnDeg or more while the identity
//              stays the same: a flat photo, however tilted, keeps its yaw (measured: <= 11 deg
//              of apparent change for tilts up to 22 deg on the calibration attacks);
//   motion     the face's landmarks moving in a way one homography does not explain (motion.ts),
//              beyond what the planar model of a moved photo predicts for that much motion.
// Each is sufficient. The bona fide score is 1 for a blink or a turn, else the motion score
// ratio / (1 + ratio), where ratio = median residual / (planarFloor + planarSlope x median motion).
//
// Passive cue (mode 'passive', and the veto of 'both'): the mean liveness score of the small CNN
// (passive.ts), weak on its own (docs/pad.md).
import { type Blink, detectBlinks } from './blink.js';
import type { PadSettings } from './config.js';
import { type FrameCue, cuesOf } from './cues.js';
import type { FrameObservation } from './frame-analysis.js';

export type LivenessMethod = 'blink' | 'head-turn' | 'motion' | 'passive';
export type PromptKind = 'blink' | 'turn';

/** What the door screen shows when it asks. */
export const PROMPT_TEXT: Readonly<Record<PromptKind, string>> = Object.freeze({
  blink: 'blink, please',
  turn: 'turn your head slightly',
});

export interface LivenessEvidence {
  frames: number;
  faces: number;
  spanMs: number;
  blinks: Blink[];
  motion: {
    pairs: number;
    /** Median RMS landmark motion over face size. */
    motion: number;
    /** Median RMS residual after the best homography, over face size. */
    residual: number;
    /** residual / (planarFloor + planarSlope x motion); NaN with fewer than 3 pairs. */
    ratio: number;
    /** ratio / (1 + ratio), 0 when unknown. */
    score: number;
  };
  /** Yaw change in degrees: since the turn prompt when there was one, else over the frames. */
  yawChange: number;
  /** Lowest identity similarity over the frames that carry one; null when none do. */
  identityMin: number | null;
  passive: { liveness: number; antispoof: number; frames: number } | null;
}

export interface LivenessDecision {
  live: boolean;
  /** Bona fide evidence in [0, 1]; live when >= the motion threshold (blink and turn give 1). */
  score: number;
  method: LivenessMethod | null;
  reasons: string[];
}

export interface LivenessVerdict extends LivenessDecision {
  /** live; undecided (keep looking, maybe prompt); attack (gave up: not live). */
  state: 'live' | 'undecided' | 'attack';
  prompt: PromptKind | null;
  promptText: string | null;
  evidence: LivenessEvidence;
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Second largest (one stray frame does not make a turn). */
const robustMax = (xs: number[]): number => {
  if (xs.length < 2) return NaN;
  const s = [...xs].sort((a, b) => b - a);
  return s[1]!;
};

export function gatherEvidence(cues: readonly FrameCue[], s: PadSettings, opts: { turnFrom?: number } = {}): LivenessEvidence {
  const faces = cues.filter((c) => c.face);
  const blinks = detectBlinks(cues.map((c) => ({ t: c.t, ear: c.ear })), s.thresholds.blink);
  const pairs = cues.filter((c) => c.pair).map((c) => c.pair!);
  const mt = s.thresholds.motion;
  const motion = median(pairs.map((p) => p.motion));
  const residual = median(pairs.map((p) => p.residual));
  const ratio = pairs.length >= 3 ? residual / (mt.planarFloor + mt.planarSlope * motion) : NaN;
  let yawChange: number;
  const yaws = faces.filter((c) => Number.isFinite(c.yaw));
  if (opts.turnFrom !== undefined) {
    const before = yaws.filter((c) => c.t <= opts.turnFrom! && c.t >= opts.turnFrom! - 1000).map((c) => c.yaw);
    const ref = before.length ? median(before) : median(yaws.map((c) => c.yaw));
    yawChange = robustMax(yaws.filter((c) => c.t > opts.turnFrom!).map((c) => Math.abs(c.yaw - ref)));
  } else {
    const y = yaws.map((c) => c.yaw);
    yawChange = y.length >= 2 ? robustMax(y) + robustMax(y.map((v) => -v)) : NaN;
  }
  const ids = cues.filter((c) => c.identity !== undefined).map((c) => c.identity!);
  const ps = cues.filter((c) => c.passive).map((c) => c.passive!);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    frames: cues.length,
    faces: faces.length,
    spanMs: cues.length ? cues[cues.length - 1]!.t - cues[0]!.t : 0,
    blinks,
    motion: { pairs: pairs.length, motion, residual, ratio, score: Number.isFinite(ratio) ? ratio / (1 + ratio) : 0 },
    yawChange,
    identityMin: ids.length ? Math.min(...ids) : null,
    passive: ps.length ? { liveness: mean(ps.map((p) => p.liveness)), antispoof: mean(ps.map((p) => p.antispoof)), frames: ps.length } : null,
  };
}

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

/** The active cues' verdict. */
function decideActive(e: LivenessEvidence, s: PadSettings): LivenessDecision {
  const t = s.thresholds;
  const reasons: string[] = [];
  if (e.faces === 0) return { live: false, score: 0, method: null, reasons: ['no face'] };
  if (e.blinks.length) reasons.push(`blink seen (${e.blinks.length})`);
  const idOk = t.identityMin === null || e.identityMin === null || e.identityMin >= t.identityMin;
  const turned = Number.isFinite(e.yawChange) && e.yawChange >= t.headTurnDeg;
  if (turned && idOk) reasons.push(`head turned ${e.yawChange.toFixed(0)} deg` + (t.identityMin !== null && e.identityMin === null ? ' (identity not checked)' : ''));
  if (turned && !idOk) reasons.push(`head turned ${e.yawChange.toFixed(0)} deg but the identity changed (similarity ${f2(e.identityMin!)})`);
  const m = e.motion;
  const moving = m.pairs >= 3;
  if (moving && m.score >= t.motion.minScore) reasons.push(`face moves non-rigidly (ratio ${f2(m.ratio)})`);
  const method: LivenessMethod | null = e.blinks.length ? 'blink' : turned && idOk ? 'head-turn' : moving && m.score >= t.motion.minScore ? 'motion' : null;
  if (method === null) {
    reasons.push('no blink yet');
    if (moving) reasons.push(`landmark motion fits one plane, like a photo or a screen (ratio ${f2(m.ratio)})`);
    else reasons.push('too few frames to judge motion');
  }
  const score = method === 'blink' || method === 'head-turn' ? 1 : m.score;
  return { live: method !== null, score, method, reasons };
}

/** The verdict of the settings' mode on gathered evidence. */
export function decide(e: LivenessEvidence, s: PadSettings): LivenessDecision {
  const p = s.thresholds.passive;
  if (s.mode === 'passive') {
    if (!e.passive) return { live: false, score: 0, method: null, reasons: ['passive models not run'] };
    const live = e.passive.liveness >= p.minScore;
    return { live, score: e.passive.liveness, method: live ? 'passive' : null, reasons: [`passive liveness ${f2(e.passive.liveness)} (antispoof ${f2(e.passive.antispoof)})`] };
  }
  const d = decideActive(e, s);
  if (s.mode === 'both' && e.passive && e.passive.liveness < p.vetoBelow) {
    return { live: false, score: Math.min(d.score, e.passive.liveness), method: null, reasons: [...d.reasons, `passive liveness ${f2(e.passive.liveness)} is below ${p.vetoBelow}`] };
  }
  return d;
}

/**
 * Verdict on a recorded sequence (oldest first), as the bench and tests use it. Without a live
 * verdict it is 'undecided' and asks for a blink, or for a head turn when `askedBlink`.
 */
export function assessLiveness(frames: readonly FrameObservation[], s: PadSettings, opts: { askedBlink?: boolean; turnFrom?: number } = {}): LivenessVerdict {
  const cues = cuesOf(frames, s.thresholds.motion.lagMs);
  const evidence = gatherEvidence(cues, s, { turnFrom: opts.turnFrom });
  const d = decide(evidence, s);
  const prompt: PromptKind | null = d.live || s.mode === 'passive' ? null : opts.askedBlink ? 'turn' : 'blink';
  return { ...d, state: d.live ? 'live' : 'undecided', prompt, promptText: prompt && PROMPT_TEXT[prompt], evidence };
}
