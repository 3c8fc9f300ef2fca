// /api/identities: the enrolled people (list, read, rename and other fields, erase), and
// /api/gallery/reembed after a model change. Admin only (the guard at each sub-app's edge).
import { Hono } from 'hono';
import { z } from 'zod';
import { ID_PATTERNS } from '../../gallery/ids.js';
import { IdentityPatchSchema } from '../../gallery/schema.js';
import { requireAdmin } from '../../http/guards.js';
import { acceptContent, limitBody, validate } from '../../http/validation.js';
import type { AppDeps, AppEnv } from '../../http/types.js';

const IdParam = z.object({ id: z.string().regex(ID_PATTERNS.identity, 'invalid identity id') });

export function identityRoutes({ service, config, auth }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireAdmin(auth));
  const json = [acceptContent(['application/json']), limitBody(config.limits.maxJsonBytes)] as const;

  app.get('/', (c) => c.json({ identities: service.listIdentities() }));

  app.get('/:id', validate('param', IdParam), (c) => c.json(service.getIdentity(c.req.valid('param').id)));

  app.patch('/:id', validate('param', IdParam), ...json, validate('json', IdentityPatchSchema), async (c) => {
    return c.json(await service.updateIdentity(c.req.valid('param').id, c.req.valid('json')));
  });

  app.delete('/:id', validate('param', IdParam), async (c) => {
    return c.json({ erased: await service.deleteIdentity(c.req.valid('param').id) });
  });

  return app;
}

export function galleryRoutes({ service, auth }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireAdmin(auth));
  app.post('/reembed', async (c) => c.json(await service.reembed()));
  return app;
}
