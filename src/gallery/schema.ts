// zod schemas: the on-disk shape of gallery.json (validated on every open) and the inputs
// accepted from callers. Strict objects: a typo in a settings patch is an error, not
// a silently ignored key.
import { z } from 'zod';
import { ID_PATTERNS } from './ids.js';
import { SettingsSchema } from '../settings/schema.js';

export const ModelIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}@[A-Za-z0-9][A-Za-z0-9.+_-]{0,31}$/, 'model id must look like name@version');
export const SourceSchema = z.enum(['upload', 'camera', 'cli']);
export const DtypeSchema = z.enum(['f32', 'f16']);

const isoTime = z.iso.datetime();
const identityId = z.string().regex(ID_PATTERNS.identity, 'invalid identity id');
const templateId = z.string().regex(ID_PATTERNS.template, 'invalid template id');
/** Crop files are named after the template that first stored them. */
export const CROP_FILE = /^t_[0-9a-hjkmnp-tv-z]{20}\.jpg$/;

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
  version: z.literal(2),
  /** The model whose templates are searched; null until a model is chosen. */
  activeModelId: ModelIdSchema.nullable().default(null),
  identities: z.array(IdentitySchema).default([]),
  templates: z.array(TemplateSchema).default([]),
});
export type GalleryFile = z.output<typeof GalleryFileSchema>;

/** Version 1 also held the settings (now settings.json), activeModelId among them. */
export const GalleryFileV1Schema = z.strictObject({
  format: z.literal('facegate-gallery'),
  version: z.literal(1),
  settings: SettingsSchema.extend({ activeModelId: ModelIdSchema.nullable().default(null) }).prefault({}),
  identities: z.array(IdentitySchema).default([]),
  templates: z.array(TemplateSchema).default([]),
});

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
