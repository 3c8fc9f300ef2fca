// Admin routes: enrollment, identities (read, rename, erase), re-embedding after a model
// change, and the gallery's matching settings. All behind requireAdmin. Setting the admin password
// is the facegate command's on this machine (its local token) only.
import { Hono } from 'hono';
import { z } from 'zod';
import { AdminStore } from '../../config/admin-store.js';
import { adminFilePath } from '../../config/load.js';
import { passwordProblem } from '../../config/password.js';
import { ID_PATTERNS } from '../../gallery/ids.js';
import { IdentityPatchSchema, SettingsSchema, SourceSchema } from '../../gallery/schema.js';
import type { SettingsPatch } from '../../gallery/gallery.js';
import { ServiceError } from '../../service/errors.js';
import { requireAdmin, requireLocalToken } from '../auth.js';
import { errorJson } from '../errors.js';
import { FileList, FormBoolean, acceptContent, enrollBodyLimit, formatBytes, limitBody, limitMultipart, patchSchema, validate } from '../validation.js';
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

const PasswordBody = z.strictObject({ password: z.string().max(4096) });

/** Settings patch: any subset, unknown keys refused; activeModelId follows the loaded model. */
const SettingsPatchSchema = patchSchema(SettingsSchema.omit({ activeModelId: true }));

export function adminRoutes({ service, config, auth }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const admin = requireAdmin(auth);
  const json = [acceptContent(['application/json']), limitBody(config.limits.maxJsonBytes)] as const;
  const maxImage = config.limits.maxImageBytes;
  // Refused while it streams in: a body over maxEnrollImages images of maxImageBytes (plus the
  // form's fields), or any one image over maxImageBytes, is a 413 without reading the rest.
  const enrollBody = limitMultipart({ maxBytes: enrollBodyLimit(config.limits), maxFileBytes: maxImage });

  app.post('/enroll', admin, acceptContent(['multipart/form-data']), enrollBody, validate('form', EnrollForm), async (c) => {
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

  // `facegate admin password` while this server runs (src/cli/commands/admin.ts): stored like the
  // Settings page does it, and in force at once: a new cookie secret, every session ended.
  app.put('/admin/password', requireLocalToken(auth), ...json, validate('json', PasswordBody), async (c) => {
    if (config.adminPasswordHash !== null) {
      return errorJson(c, 409, 'conflict', 'the admin password is fixed by adminPasswordHash (config file or FACEGATE_ADMIN_PASSWORD_HASH): change it there, then restart');
    }
    const problem = passwordProblem(c.req.valid('json').password);
    if (problem) return errorJson(c, 400, 'invalid_input', problem);
    const store = await AdminStore.open(adminFilePath(config));
    await store.setPassword(c.req.valid('json').password);
    auth.replaceCredentials(store.passwordHash, store.sessionSecret);
    return c.json({ changed: true, file: store.file, sessionsEnded: true });
  });

  return app;
}
