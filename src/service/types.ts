// What the service returns: plain JSON-able objects shared by the HTTP API, the CLI and the pages.
import type { Identity, Settings } from '../gallery/gallery.js';
import type { Metric } from '../match/vector.js';
import type { QualityCode, QualityMetrics } from '../vision/quality.js';
import type { Box, Point } from '../vision/types.js';

export type Decision = 'granted' | 'denied' | 'no_face' | 'poor_quality' | 'multiple_faces';
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

export interface IdentifyCandidate extends IdentityRef {
  score: number;
  /** Whether this candidate passes its threshold. */
  passes: boolean;
}

export interface IdentifyOutcome {
  decision: 'match' | 'unknown' | 'no_face';
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

export interface DuplicateMatch extends IdentityRef {
  score: number;
  metric: Metric;
  threshold: number;
}

export interface IdentityView extends Identity {
  /** Templates under the model in use (templateCount counts all models). */
  modelTemplates: number;
}

export interface EnrollOutcome {
  identity: IdentityView;
  templates: number;
  samples: SampleReport[];
  /** Identities the face matched, enrolled anyway because confirmDuplicate was set. */
  duplicateOf: DuplicateMatch[];
  modelId: string;
}

export interface ReembedOutcome {
  modelId: string;
  /** Templates computed from stored crops. */
  reembedded: number;
  /** Templates of this model that were already there. */
  kept: number;
  failed: { templateId: string; identityId: string; reason: string }[];
  /** Identities with no stored crop and no template of this model: they must enrol again. */
  needEnrollment: IdentityRef[];
}

export interface ModelSwitchOutcome {
  /** False when the folder was already the model in use (nothing done). */
  switched: boolean;
  /** Model id before the switch (null: none was loaded). */
  from: string | null;
  modelId: string;
  /** Absolute folder of the model now in use. */
  dir: string;
  /** What the switch re-embedded for the new model (null when nothing was switched). */
  reembed: ReembedOutcome | null;
  ms: number;
}

export interface HealthReport {
  status: 'ok' | 'no_model';
  /** embeddingSize: dimensions of the loaded model's embeddings (its templates have as many). */
  model: { loaded: boolean; id: string | null; dir: string; error: string | null; variant: string | null; embeddingSize: number | null };
  backend: string;
  /**
   * templates: of the loaded model; reembedPending: stored crops it has no template for yet;
   * needEnrollment: people it has no template for and whose crops cannot be re-embedded.
   */
  gallery: { dir: string; identities: number; templates: number; otherModelTemplates: number; reembedPending: number; needEnrollment: number };
  queue: number;
  uptimeSeconds: number;
  settings: Pick<Settings, 'metric' | 'thresholds'>;
}
