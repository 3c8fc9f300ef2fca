// What a frame becomes at the door: the decision (or why there is none), the face it was made on,
// and how long each stage took. Plain JSON-able objects, the same for the API, the kiosk and the CLI.
import type { Metric } from '../match/vector.js';
import type { QualityCode, QualityMetrics } from '../vision/quality.js';
import type { Box, Point } from '../vision/types.js';

/** Why a frame gets no comparison: no face, several, or one that cannot be judged. */
export type Refusal = 'no_face' | 'poor_quality' | 'multiple_faces';
export type Decision = 'granted' | 'denied' | Refusal;
export const DECISIONS: readonly Decision[] = ['granted', 'denied', 'no_face', 'poor_quality', 'multiple_faces'];

/**
 * Milliseconds per stage; queue = waiting for the model. JavaScript is single-threaded, so while
 * another request's inference holds the thread, the wait can also show up in decode.
 */
export interface StageTimings {
  decode: number;
  queue: number;
  detect: number;
  align: number;
  quality: number;
  embed: number;
  match: number;
  total: number;
}
export const STAGES: readonly (keyof StageTimings)[] = ['decode', 'queue', 'detect', 'align', 'quality', 'embed', 'match', 'total'];

export interface Reason {
  code: QualityCode | 'no_face' | 'unreadable';
  message: string;
}

export interface FaceReport {
  box: Box;
  /** Five points (eyes, nose tip, mouth corners), image pixels. */
  landmarks: Point[];
  detectorScore: number;
  quality: { ok: boolean; reasons: Reason[]; metrics: QualityMetrics };
}

export interface IdentityRef {
  id: string;
  name: string;
}

export interface VerifyOutcome {
  decision: Decision;
  /** What the kiosk shows. */
  message: string;
  /** The person let in (granted only). */
  identity: IdentityRef | null;
  /** The claimed identity of a 1:1 verification, if any. */
  claim: IdentityRef | null;
  /** Best score in the metric's units (null when no comparison was made). */
  score: number | null;
  metric: Metric;
  threshold: number;
  /** The subject (most prominent face). */
  face: FaceReport | null;
  /** Faces detected in the frame. */
  faces: number;
  modelId: string;
  timings: StageTimings;
}

/**
 * A final decision at the door: a verify through the API, or a kiosk's k-of-n verdict. What the
 * activity log records and the door hardware (src/actuation) acts on; frames are not decisions.
 */
export interface DoorDecision {
  /** ISO 8601. */
  time: string;
  /** Where it was decided: "api", "kiosk (browser)", "kiosk (device /dev/video0)". */
  door: string;
  decision: 'granted' | 'denied';
  /** The person claimed (1:1), or null for a 1:N search. */
  claim: IdentityRef | null;
  /** The person let in (granted only). */
  identity: IdentityRef | null;
  score: number | null;
  threshold: number;
  metric: Metric;
  modelId: string;
  /** How it was reached, for the log ("2 of the last 3 frames"). */
  detail?: string;
  /** The liveness check, when the kiosk required one. */
  liveness?: { passed: boolean; method: string | null; score: number };
}

export interface IdentifyCandidate extends IdentityRef {
  score: number;
  /** Whether this candidate passes its threshold. */
  passes: boolean;
}

export interface IdentifyOutcome {
  /** A face that is unusable (several people, poor quality) is not searched, as in verify. */
  decision: 'match' | 'unknown' | Refusal;
  message: string;
  identity: IdentityRef | null;
  score: number | null;
  metric: Metric;
  threshold: number;
  candidates: IdentifyCandidate[];
  face: FaceReport | null;
  faces: number;
  modelId: string;
  timings: StageTimings;
}

export interface SampleReport {
  index: number;
  /** Upload file name or path, for the user's benefit only (never used as a path). */
  file: string | null;
  accepted: boolean;
  /** Became a template (the diverse subset of the accepted samples). */
  kept: boolean;
  reasons: Reason[];
  quality: number | null;
  box: Box | null;
}

