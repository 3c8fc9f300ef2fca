// Admin routes: enrollment, identities (read, rename, erase), re-embedding after a model
// change, and the gallery's matching settings. All behind requireAdmin.
import { Hono } from 'hono';
import { z } from 'zod';
import { ID_PATTERNS } from '../../gallery/ids.js';
import { IdentityPatchSchema, SettingsSchema, SourceSchema } from '../../gallery/schema.js';
import type { SettingsPatch } from '../../gallery/gallery.js';
import { ServiceError } from '../../service/errors.js';
import { requireAdmin } from '../auth.js';
import { FileList, FormBoolean, acceptContent, formatBytes, limitBody, patchSchema, validate } from '../validation.js';
import type { AppDeps, AppEnv } from '../types.js';

const IdParam = z.object({ id: z.string().regex(ID_PATTERNS.identity, 'invalid identity id') });

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

/** Settings patch: any subset, unknown keys refused; activeModelId follows the loaded model. */
const SettingsPatchSchema = patchSchema(SettingsSchema.omit({ activeModelId: true }));

export function adminRoutes({ service, config, auth }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const admin = requireAdmin(auth);
  const json = [acceptContent(['application/json']), limitBody(config.limits.maxJsonBytes)] as const;
  const maxImage = config.limits.maxImageBytes;
  const maxEnrollBody = maxImage * config.limits.maxEnrollImages + 256 * 1024;

  app.post('/enroll', admin, acceptContent(['multipart/form-data']), limitBody(maxEnrollBody), validate('form', EnrollForm), async (c) => {
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

  app.get('/identities', admin, (c) => c.json({ identities: service.listIdentities() }));

  app.get('/identities/:id', admin, validate('param', IdParam), (c) => c.json(service.getIdentity(c.req.valid('param').id)));

  app.patch('/identities/:id', admin, validate('param', IdParam), ...json, validate('json', IdentityPatchSchema), async (c) => {
    return c.json(await service.updateIdentity(c.req.valid('param').id, c.req.valid('json')));
  });

  app.delete('/identities/:id', admin, validate('param', IdParam), async (c) => {
    return c.json({ erased: await service.deleteIdentity(c.req.valid('param').id) });
  });

  app.post('/gallery/reembed', admin, async (c) => c.json(await service.reembed()));

  app.get('/settings', admin, (c) => c.json(service.getSettings()));

  app.put('/settings', admin, ...json, validate('json', SettingsPatchSchema), async (c) => {
    return c.json(await service.updateSettings(c.req.valid('json') as SettingsPatch));
  });

  return app;
}
