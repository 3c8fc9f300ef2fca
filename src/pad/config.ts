// Liveness (presentation-attack detection) settings: the shape the kiosk's Settings can embed as
// `liveness`. Strict objects, like src/settings/schema.ts: a typo is an error.
//
// The motion and passive defaults were chosen on the attack set's calibration split by
// `npm run bench -- pad` (docs/pad.md); the blink and head-turn defaults are physiological
// rather than fitted (a blink closes the lids to well under 70 % of their open gap for under half a
// second; a deliberate "slight" turn is 15 degrees or more).
import { z } from 'zod';

/**
 * Fitted on the calibration split (ATTACK_SET_VERSION 3, 15 fps, MeshLandmarker with the refine
 * pass): the planar-residual model of moved photos and screens, and the operating thresholds.
 * `npm run bench -- pad` refits them and says so if they drift.
 */
export const CALIBRATED = Object.freeze({
  /** Residual (face-size units) a plane leaves at rest: the mesh's own jitter. */
  planarFloor: 0.001978,
  /** Extra residual a plane leaves per unit of motion (the mesh reading a tilted photo as a head). */
  planarSlope: 0.008251,
  /** Motion score (ratio / (1 + ratio)) at or above which motion alone proves a live face. */
  motionMinScore: 0.6755,
  /** Mean passive liveness score at or above which passive mode accepts. */
  passiveMinScore: 0.996,
  /** Both mode's veto: 0.05 under the lowest calibration bona fide passive score. */
  passiveVetoBelow: 0.54,
});

const BlinkSchema = z.strictObject({
  /** The eyes count as shut below this fraction of their open aspect ratio. */
  closeRatio: z.number().gt(0).lt(1).default(0.7),
  /** ...and as open again above this fraction. */
  reopenRatio: z.number().gt(0).max(1).default(0.85),
  maxClosedMs: z.int().min(50).max(2000).default(500),
  maxBlinkMs: z.int().min(100).max(3000).default(900),
  /** Window for the eyes' open level. */
  baselineMs: z.int().min(200).max(10_000).default(2000),
});

const MotionSchema = z.strictObject({
  /** Time between the two frames compared. */
  lagMs: z.int().min(30).max(2000).default(250),
  planarFloor: z.number().gt(0).max(1).default(CALIBRATED.planarFloor),
  planarSlope: z.number().min(0).max(10).default(CALIBRATED.planarSlope),
  minScore: z.number().gt(0).lt(1).default(CALIBRATED.motionMinScore),
});

export const PadSettingsSchema = z.strictObject({
  /** A grant needs a live verdict. */
  requireLiveness: z.boolean().default(false),
  /**
   * passive: the two small CNNs only (weak: see docs/pad.md); active: blink, head turn and the
   * motion cue, prompting when undecided; both: active, vetoed when the passive score is low.
   */
  mode: z.enum(['passive', 'active', 'both']).default('active'),
  timing: z
    .strictObject({
      /** Look this long before asking for anything. */
      decideAfterMs: z.int().min(0).max(30_000).default(2000),
      /** Wait this long after each prompt ("blink, please", then "turn your head slightly"). */
      promptTimeoutMs: z.int().min(500).max(60_000).default(5000),
      /** A face gone this long ends the liveness session (next person). */
      faceLostMs: z.int().min(100).max(30_000).default(1500),
      /** Frames kept for the cues. */
      bufferMs: z.int().min(500).max(60_000).default(8000),
    })
    .prefault({}),
  thresholds: z
    .strictObject({
      blink: BlinkSchema.prefault({}),
      /** Yaw change (degrees) that counts as the requested head turn. */
      headTurnDeg: z.number().min(3).max(60).default(15),
      /**
       * Lowest similarity (the matcher's cosine) of every frame of the turn to the session's
       * reference; null = not checked (the turn then says so in its reasons).
       */
      identityMin: z.number().min(-1).max(1).nullable().default(0.4),
      motion: MotionSchema.prefault({}),
      passive: z
        .strictObject({
          /** Passive mode accepts at or above this mean liveness score. */
          minScore: z.number().min(0).max(1).default(CALIBRATED.passiveMinScore),
          /** Both mode rejects below this mean liveness score, whatever the active cues say. */
          vetoBelow: z.number().min(0).max(1).default(CALIBRATED.passiveVetoBelow),
        })
        .prefault({}),
    })
    .prefault({}),
});

export type PadSettings = z.output<typeof PadSettingsSchema>;
export type PadSettingsInput = z.input<typeof PadSettingsSchema>;

export function padSettings(input: PadSettingsInput = {}): PadSettings {
  return PadSettingsSchema.parse(input);
}
