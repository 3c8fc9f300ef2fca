// POST /api/enroll: a new person from several photos, as a multipart form. Admin only (the guard
// at this sub-app's edge).
import { Hono } from 'hono';
import { z } from 'zod';
import { SourceSchema } from '../../gallery/schema.js';
import { ServiceError } from '../../service/errors.js';
import { requireAdmin } from '../../http/guards.js';
import { FileList, FormBoolean, acceptContent, enrollBodyLimit, formatBytes, limitMultipart, validate } from '../../http/validation.js';
import type { AppDeps, AppEnv } from '../../http/types.js';

// Names are checked again (normalised, control characters refused) by the gallery's schema.
const EnrollForm = z
  .object({
    name: z.string().min(1, 'name is required').max(200),
    badge: z.string().max(64).optional(),
    notes: z.string().max(2000).optional(),
    confirmDuplicate: FormBoolean.optional(),
    // Where the photos came from: the Enroll page's uploads or camera, or the CLI (`facegate enroll`
    // sends through the server that owns the gallery, src/owner/client.ts). Stored on each template.
    source: SourceSchema.optional(),
    // HTML forms often name repeated fields images[]; accept both.
    images: FileList.optional(),
    'images[]': FileList.optional(),
  })
  .transform(({ 'images[]': more, images, ...rest }) => ({ ...rest, images: [...(images ?? []), ...(more ?? [])] }))
  .refine((v) => v.images.length > 0, { message: 'at least one file field "images" is required', path: ['images'] });

export function enrollRoutes({ service, config, auth }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireAdmin(auth));
  const maxImage = config.limits.maxImageBytes;
  // Refused while it streams in: a body over maxEnrollImages images of maxImageBytes (plus the
  // form's fields), or any one image over maxImageBytes, is a 413 without reading the rest.
  const enrollBody = limitMultipart({ maxBytes: enrollBodyLimit(config.limits), maxFileBytes: maxImage });

  app.post('/', acceptContent(['multipart/form-data']), enrollBody, validate('form', EnrollForm), async (c) => {
    const form = c.req.valid('form');
    if (form.images.length > config.limits.maxEnrollImages) {
      throw new ServiceError('invalid_input', `${form.images.length} images: at most ${config.limits.maxEnrollImages} per enrollment`);
    }
    const images = [];
    for (const f of form.images) {
      if (f.size > maxImage) throw new ServiceError('image_too_large', `${f.name || 'an image'} is ${formatBytes(f.size)}; the limit is ${formatBytes(maxImage)}`);
      images.push({ bytes: new Uint8Array(await f.arrayBuffer()), file: f.name ? f.name.slice(0, 200) : undefined });
    }
    const out = await service.enroll({
      name: form.name,
      badge: form.badge?.trim() || undefined,
      notes: form.notes,
      images,
      confirmDuplicate: form.confirmDuplicate ?? false,
      source: form.source ?? 'upload',
    });
    return c.json(out, 201);
  });

  return app;
}
