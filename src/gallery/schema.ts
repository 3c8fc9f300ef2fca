// zod schemas: the on-disk shape of gallery.json / activity.json (validated on every open) and
// the inputs accepted from callers. Strict objects: a typo in a settings patch is an error, not
// a silently ignored key.
import { z } from 'zod';
import { ID_PATTERNS } from './ids.js';

export const MetricSchema = z.enum(['cosine', 'euclidean']);
export const ModelIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}@[A-Za-z0-9][A-Za-z0-9.+_-]{0,31}$/, 'model id must look like name@version');
export const SourceSchema = z.enum(['upload', 'camera', 'cli']);
export const DtypeSchema = z.enum(['f32', 'f16']);

const isoTime = z.iso.datetime();
const identityId = z.string().regex(ID_PATTERNS.identity, 'invalid identity id');
const templateId = z.string().regex(ID_PATTERNS.template, 'invalid template id');
const activityId = z.string().regex(ID_PATTERNS.activity, 'invalid activity id');
/** Crop files are named after the template that first stored them. */
export const CROP_FILE = /^t_[0-9a-hjkmnp-tv-z]{20}\.jpg$/;
export const SNAPSHOT_FILE = /^a_[0-9a-hjkmnp-tv-z]{20}\.jpg$/;

// Bidi overrides can make a name display as something else; control characters break logs.
const UNSAFE_TEXT = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;
const UNSAFE_NOTES = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\u202A-\u202E\u2066-\u2069]/u;

export const NAME_MAX = 80;
export const NameSchema = z
  .string()
  .transform((s) => s.normalize('NFC').replace(/\s+/g, ' ').trim())
  .pipe(
    z
      .string()
      .min(1, 'name is empty')
      .max(NAME_MAX, `name is longer than ${NAME_MAX} characters`)
      .refine((s) => !UNSAFE_TEXT.test(s), 'name contains control characters'),
  );
export const BadgeSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'badge must be 1-64 letters, digits, _ or -');
export const NotesSchema = z
  .string()
  .transform((s) => s.normalize('NFC').trim())
  .pipe(z.string().max(2000, 'notes are longer than 2000 characters').refine((s) => !UNSAFE_NOTES.test(s), 'notes contain control characters'));
export const ThresholdSchema = z.strictObject({
  cosine: z.number().min(-1).max(1).optional(),
  euclidean: z.number().min(0).max(2).optional(),
});

export const SettingsSchema = z.strictObject({
  metric: MetricSchema.default('cosine'),
  /** Per-metric acceptance: cosine >= thresholds.cosine, distance <= thresholds.euclidean. */
  thresholds: z
    .strictObject({
      cosine: z.number().min(-1).max(1).default(0.4),
      euclidean: z.number().min(0).max(2).default(1.1), // ~ cosine 0.395 on unit vectors
    })
    .prefault({}),
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
  embeddingDtype: DtypeSchema.default('f32'),
  /** Model whose templates are searched; null until a model is chosen. */
  activeModelId: ModelIdSchema.nullable().default(null),
  camera: z
    .strictObject({
      source: z.string().min(1).max(256).default('auto'),
      width: z.int().min(16).max(8192).default(640),
      height: z.int().min(16).max(8192).default(480),
      fps: z.number().min(1).max(120).default(15),
    })
    .prefault({}),
  /** Activity entries kept; the oldest (and their snapshots) are dropped beyond it. */
  activityCap: z.int().min(10).max(1_000_000).default(5000),
});
export type Settings = z.output<typeof SettingsSchema>;

export const IdentitySchema = z.strictObject({
  id: identityId,
  name: NameSchema,
  badge: BadgeSchema.nullable(),
  notes: NotesSchema,
  threshold: ThresholdSchema,
  created: isoTime,
  updated: isoTime,
});
export type IdentityRecord = z.output<typeof IdentitySchema>;

export const TemplateSchema = z.strictObject({
  id: templateId,
  identityId,
  modelId: ModelIdSchema,
  dim: z.int().min(1).max(8192),
  dtype: DtypeSchema,
  /** base64 of little-endian dtype values, unit length. */
  embedding: z.string().min(1),
  quality: z.number().min(0).max(1),
  source: SourceSchema,
  /** File under faces/<identityId>/, or null when no crop was kept. */
  crop: z.string().regex(CROP_FILE).nullable(),
  created: isoTime,
});
export type TemplateRecord = z.output<typeof TemplateSchema>;

export const GalleryFileSchema = z.strictObject({
  format: z.literal('facegate-gallery'),
  version: z.literal(1),
  settings: SettingsSchema.prefault({}),
  identities: z.array(IdentitySchema).default([]),
  templates: z.array(TemplateSchema).default([]),
});
export type GalleryFile = z.output<typeof GalleryFileSchema>;

export const ActivityEntrySchema = z.strictObject({
  id: activityId,
  time: isoTime,
  /** 'match', 'unknown', 'verify-accept', ... : open-ended so other modules can log their own. */
  decision: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'decision must be a short lower-case word'),
  identityId: identityId.nullable(),
  score: z.number().nullable(),
  metric: MetricSchema.nullable(),
  modelId: ModelIdSchema.nullable(),
  /** File under snapshots/, or null. */
  snapshot: z.string().regex(SNAPSHOT_FILE).nullable(),
  detail: z.string().max(500).nullable(),
});
export type ActivityEntry = z.output<typeof ActivityEntrySchema>;

export const ActivityFileSchema = z.strictObject({
  format: z.literal('facegate-activity'),
  version: z.literal(1),
  entries: z.array(ActivityEntrySchema).default([]),
  /** identityId -> time of the last accepted decision; kept here so a pass does not rewrite gallery.json. */
  lastSeen: z.record(identityId, isoTime).default({}),
});
export type ActivityFile = z.output<typeof ActivityFileSchema>;

export const NewIdentitySchema = z.strictObject({
  name: NameSchema,
  badge: BadgeSchema.nullish(),
  notes: NotesSchema.optional(),
  threshold: ThresholdSchema.optional(),
});
export type NewIdentity = z.input<typeof NewIdentitySchema>;

export const IdentityPatchSchema = z.strictObject({
  name: NameSchema.optional(),
  badge: BadgeSchema.nullable().optional(),
  notes: NotesSchema.optional(),
  threshold: ThresholdSchema.optional(),
});
export type IdentityPatch = z.input<typeof IdentityPatchSchema>;

type DeepPartial<T> = T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type SettingsPatch = DeepPartial<Settings>;
