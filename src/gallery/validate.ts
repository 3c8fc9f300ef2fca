// zod parsing that fails with a GalleryError naming what was invalid, for every store under enrolled/.
import type { z } from 'zod';
import { GalleryError } from './errors.js';

export function invalid(error: z.ZodError, what: string): GalleryError {
  const msg = error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
  return new GalleryError('INVALID_INPUT', `invalid ${what}: ${msg}`);
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(r.error, what);
  return r.data;
}

/** A file's content, validated: CORRUPT (never overwritten) when it does not match its schema. */
export function parseFile<S extends z.ZodType>(schema: S, raw: unknown, file: string, what: string): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw new GalleryError('CORRUPT', `${file} does not validate: ${invalid(r.error, what).message}`);
  return r.data;
}
