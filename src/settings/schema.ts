// The kiosk's settings (settings.json): how faces are matched, the kiosk's decision rule, what is
// kept, the camera. Strict objects: a typo in a settings patch is an error, not an ignored key.
import { z } from 'zod';
import { ActuationConfigSchema } from '../actuation/config.js';
import { PadSettingsSchema } from '../pad/config.js';

export const MetricSchema = z.enum(['cosine', 'euclidean']);

/** name@version, as gallery/schema's ModelIdSchema (not imported: that file imports this one). */
const ModelIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}@[A-Za-z0-9][A-Za-z0-9.+_-]{0,31}$/, 'model id must look like name@version');

export const SettingsSchema = z.strictObject({
  metric: MetricSchema.default('cosine'),
  /** Per-metric acceptance: cosine >= thresholds.cosine, distance <= thresholds.euclidean. */
  thresholds: z
    .strictObject({
      cosine: z.number().min(-1).max(1).default(0.4),
      euclidean: z.number().min(0).max(2).default(1.1), // ~ cosine 0.395 on unit vectors
    })
    .prefault({}),
  /**
   * The model `thresholds` were set for (its recommendation, an operator's change, its own
   * restored): a score threshold means nothing on another model's scale, so a model change
   * replaces them (FaceService). null: the built-in defaults, set for no model.
   */
  thresholdsFor: ModelIdSchema.nullable().default(null),
  /** The thresholds each earlier model ran with, by model id: restored when it is in use again (a rollback). */
  thresholdsByModel: z.record(ModelIdSchema, z.strictObject({ cosine: z.number().min(-1).max(1), euclidean: z.number().min(0).max(2) })).default({}),
  aggregate: z
    .strictObject({ mode: z.enum(['max', 'meanTopK']).default('max'), k: z.int().min(1).max(50).default(3) })
    .prefault({}),
  /** Candidates reported with an identification. */
  topK: z.int().min(1).max(100).default(5),
  /** Reject when the runner-up is closer than this to the best (0 = off). */
  minMargin: z.number().min(0).max(2).default(0),
  /** Kiosk decision: accept after k matching frames out of the last n. */
  kOfN: z
    .strictObject({ k: z.int().min(1).max(100).default(2), n: z.int().min(1).max(100).default(3) })
    .refine((v) => v.k <= v.n, 'kOfN.k must not exceed kOfN.n')
    .prefault({}),
  search: z
    .strictObject({
      /** Candidate search: exact Float32 scan, or int8 / sign-bit scan + exact re-rank (faster on large galleries). */
      coarse: z.enum(['exact', 'int8', 'binary']).default('exact'),
      /** Candidate rows re-ranked exactly; null = the matcher's default for the mode. */
      rerank: z.int().min(1).max(100_000).nullable().default(null),
    })
    .prefault({}),
  /** Keep aligned crops of enrollments (needed to re-embed after a model change, or to fine-tune). */
  keepCrops: z.boolean().default(true),
  /** Keep the camera frame of logged decisions (off by default: privacy). */
  keepSnapshots: z.boolean().default(false),
  /** How new templates are stored: f16 takes half the bytes of f32. */
  embeddingDtype: z.enum(['f32', 'f16']).default('f32'),
  camera: z
    .strictObject({
      source: z.string().min(1).max(256).default('auto'),
      width: z.int().min(16).max(8192).default(640),
      height: z.int().min(16).max(8192).default(480),
      fps: z.number().min(1).max(120).default(15),
    })
    .prefault({}),
  /**
   * Audit-trail records kept at most, whatever their age: a guard for the disk (retention is
   * audit.retentionDays). Beyond it the oldest segment files (a tenth of the cap each) and their
   * snapshots are dropped. docs/audit-trail.md.
   */
  activityCap: z.int().min(10).max(1_000_000).default(100_000),
  /** The audit trail (docs/audit-trail.md). */
  audit: z
    .strictObject({
      /** Storage limitation: records and their snapshots are purged once their day is older than this. */
      retentionDays: z.int().min(1).max(3650).default(90),
    })
    .prefault({}),
  /** What opens the door on a grant: signed webhook, MQTT, relay command (docs/door-actuation.md); none by default. */
  door: ActuationConfigSchema,
  /** Presentation-attack detection at the kiosk: off by default (docs/pad.md has its error rates). */
  liveness: PadSettingsSchema.prefault({}),
});
export type Settings = z.output<typeof SettingsSchema>;

type DeepPartial<T> = T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type SettingsPatch = DeepPartial<Settings>;

export const SettingsFileSchema = z.strictObject({
  format: z.literal('facegate-settings'),
  version: z.literal(1),
  settings: SettingsSchema.prefault({}),
});
export type SettingsFile = z.output<typeof SettingsFileSchema>;
