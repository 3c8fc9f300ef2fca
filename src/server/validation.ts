// Request guards shared by the routes: zod validation with one JSON error shape, content-type
// checks (415) and body-size limits (413), all answering before the handler runs.
import { zValidator } from '@hono/zod-validator';
import type { MiddlewareHandler, ValidationTargets } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { errorJson } from './errors.js';

/** zValidator with a 400 { error: { code: 'invalid_input', message, issues } } on failure. */
export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result, c) => {
    if (!result.success) {
      const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      const message = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
      return errorJson(c, 400, 'invalid_input', `invalid ${target}: ${message}`, { issues });
    }
  });
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** 415 unless the body's media type is one of `types` ('image/*' matches any image type). */
export function acceptContent(types: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    const mt = mediaType(c.req.header('content-type'));
    const ok = types.some((t) => (t.endsWith('/*') ? mt.startsWith(t.slice(0, -1)) : mt === t));
    if (!ok) {
      return errorJson(c, 415, 'unsupported_media', `Content-Type ${mt ? `"${mt}"` : '(none)'} is not accepted here; send ${types.join(' or ')}`);
    }
    await next();
  };
}

export function isMediaType(header: string | undefined, type: string): boolean {
  const mt = mediaType(header);
  return type.endsWith('/*') ? mt.startsWith(type.slice(0, -1)) : mt === type;
}

/** hono/body-limit with a JSON 413 naming the limit. */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => errorJson(c, 413, 'payload_too_large', `request body exceeds ${formatBytes(maxBytes)}`),
  });
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

/** Form booleans as sent by HTML checkboxes and curl. */
export const FormBoolean = z
  .enum(['true', 'false', '1', '0', 'on', 'off', 'yes', 'no'])
  .transform((v) => ['true', '1', 'on', 'yes'].includes(v));

/** One or several uploaded files under one field name. */
export const FileList = z.union([z.file(), z.array(z.file())]).transform((v) => (Array.isArray(v) ? v : [v]));

/**
 * A deep-partial copy of a strict object schema without its defaults: a patch names only what
 * changes (zod's .partial() would fill the defaults back in and reset everything else).
 */
export function patchSchema(schema: z.ZodObject): z.ZodObject {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    let inner: z.ZodType = field;
    while (inner instanceof z.ZodDefault || inner instanceof z.ZodPrefault) inner = inner.unwrap() as z.ZodType;
    shape[key] = (inner instanceof z.ZodObject ? patchSchema(inner) : inner).optional();
  }
  return z.strictObject(shape);
}
