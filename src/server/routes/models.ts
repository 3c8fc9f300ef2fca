// Model versions and fine-tuning over the API: /api/models lists the versions under models/,
// makes one active (the service switches at once, no restart) and rolls back; /api/finetune
// starts a finetune or shows it. Admin only (the guard at each sub-app's edge). A folder is only
// ever a name checked against the registry's pattern, never a path.
import { Hono } from 'hono';
import { z } from 'zod';
import { isModelFolderName } from '../../model/registry.js';
import { requireAdmin } from '../../http/guards.js';
import { acceptContent, limitBody, validate } from '../../http/validation.js';
import type { AppDeps, AppEnv } from '../../http/types.js';

const UseBody = z.strictObject({
  folder: z.string().max(128).refine(isModelFolderName, 'not a model folder name (letters, digits, . _ + -; no slashes)'),
});

export function modelRoutes({ config, auth, models }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireAdmin(auth));

  app.get('/', async (c) => c.json(await models.view()));

  // 400 bad name, 404 no such version, 409 pinned model, 400 a model that does not load (the old one stays).
  app.post('/use', acceptContent(['application/json']), limitBody(config.limits.maxJsonBytes), validate('json', UseBody), async (c) => {
    const out = await models.use(c.req.valid('json').folder);
    return c.json({ switch: out, models: await models.view() });
  });

  // 409 when pinned or there is nothing to roll back to.
  app.post('/rollback', async (c) => {
    const out = await models.rollback();
    return c.json({ switch: out, models: await models.view() });
  });

  return app;
}

export function finetuneRoutes({ auth, models }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireAdmin(auth));

  app.get('/', async (c) => c.json(await models.finetuneStatus()));

  // 202: started in the background; poll GET /api/finetune. 409 while one runs.
  app.post('/', async (c) => {
    const started = await models.startFinetune();
    return c.json({ started: true, ...started }, 202);
  });

  return app;
}
