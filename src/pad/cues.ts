// Per-frame cues, computed once as each frame arrives: the eye aspect ratio, the yaw, and the
// motion and planar residual against the frame about `lagMs` earlier. The policy (liveness.ts)
// only reads these.
import { fivePoints } from '../vision/facemesh.js';
import { poseFromLandmarks } from '../vision/quality.js';
import { eyeAspectRatio } from './eyes.js';
import type { FrameObservation } from './frame-analysis.js';
import { pairMotion } from './motion.js';
import type { PassiveScores } from './passive.js';

export interface FrameCue {
  t: number;
  face: boolean;
  /** Mean eye aspect ratio; NaN without a face. */
  ear: number;
  /** Yaw in degrees from the five mesh points (src/vision/quality.ts poseFromLandmarks); NaN without a face. */
  yaw: number;
  /** Against the face `lagMs` earlier, when both frames had one. */
  pair?: { dt: number; motion: number; residual: number };
  passive?: PassiveScores;
  identity?: number;
}

/**
 * The partner of the newest frame among `earlier` (oldest first): the latest frame at least
 * `lagMs` older, provided it is at most 2 x lagMs older.
 */
export function partnerOf(t: number, earlier: readonly FrameObservation[], lagMs: number): FrameObservation | undefined {
  for (let k = earlier.length - 1; k >= 0; k--) {
    const dt = t - earlier[k]!.t;
    if (dt < lagMs) continue;
    return dt <= 2 * lagMs ? earlier[k] : undefined;
  }
  return undefined;
}

/** Cues of `obs` given its partner frame (see partnerOf). */
export function cueOf(obs: FrameObservation, partner: FrameObservation | undefined): FrameCue {
  const cue: FrameCue = { t: obs.t, face: obs.face !== null, ear: NaN, yaw: NaN, passive: obs.passive, identity: obs.identity };
  if (!obs.face) return cue;
  cue.ear = eyeAspectRatio(obs.face.points).mean;
  cue.yaw = poseFromLandmarks(fivePoints(obs.face.points)).yawDeg;
  if (partner?.face) cue.pair = { dt: obs.t - partner.t, ...pairMotion(partner.face.points, obs.face.points) };
  return cue;
}

/** Cues of a whole recorded sequence (oldest first). */
export function cuesOf(frames: readonly FrameObservation[], lagMs: number): FrameCue[] {
  return frames.map((f, i) => cueOf(f, partnerOf(f.t, frames.slice(0, i), lagMs)));
}
