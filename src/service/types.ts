// What the service returns: plain JSON-able objects shared by the HTTP API, the CLI and the pages.
import type { Identity } from '../gallery/gallery.js';
import type { Settings } from '../settings/index.js';
import type { Metric } from '../match/vector.js';
import type { IdentityRef, SampleReport } from '../door/types.js';

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

export interface AddSamplesOutcome {
  identityId: string;
  templates: number;
  samples: SampleReport[];
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
  /**
   * Where inference runs (FaceService.inference), its workers (0 in-process) ready and restarted,
   * and where requests ran with the lone routes' averages (null unless workers and main-thread threads).
   */
  inference: { describe: string; workers: number; live: number; restarts: number; lone: LoneStats | null };
  uptimeSeconds: number;
  settings: Pick<Settings, 'metric' | 'thresholds'>;
}

/** Where requests ran (door/analyzer-pool.ts PooledAnalyzer.served) and the lone routes' moving averages, ms (null: not measured). */
export interface LoneStats {
  servedHere: number;
  servedByWorkers: number;
  loneMsHere: number | null;
  loneMsWorkers: number | null;
}
