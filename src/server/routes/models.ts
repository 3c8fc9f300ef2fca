// Model versions and fine-tuning over the API, admin only: list the versions under models/, make
// one active (the service switches at once, no restart), roll back, and start or watch a finetune.
// A folder is only ever a name checked against the registry's pattern, never a path.
import { Hono } from 'hono';
import { z } from 'zod';
import { isModelFolderName } from '../../model/registry.js';
import { requireAdmin } from '../auth.js';
import { acceptContent, limitBody, validate } from '../validation.js';
import type { AppDeps, AppEnv } from '../types.js';

const UseBody = z.strictObject({
  folder: z.string().max(128).refine(isModelFolderName, 'not a model folder name (letters, digits, . _ + -; no slashes)'),
});

export function modelRoutes({ config, auth, models }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const admin = requireAdmin(auth);
  const json = [acceptContent(['application/json']), limitBody(config.limits.maxJsonBytes)] as const;

  app.get('/models', admin, async (c) => c.json(await models.view()));

  // 400 bad name, 404 no such version, 409 pinned model, 400 a model that does not load (the old one stays).
  app.post('/models/use', admin, ...json, validate('json', UseBody), async (c) => {
    const out = await models.use(c.req.valid('json').folder);
    return c.json({ switch: out, models: await models.view() });
  });

  // 409 when pinned or there is nothing to roll back to.
  app.post('/models/rollback', admin, async (c) => {
    const out = await models.rollback();
    return c.json({ switch: out, models: await models.view() });
  });

  app.get('/finetune', admin, async (c) => c.json(await models.finetuneStatus()));

  // 202: started in the background; poll GET /api/finetune. 409 while one runs.
  app.post('/finetune', admin, async (c) => {
    const started = await models.startFinetune();
    return c.json({ started: true, ...started }, 202);
  });

  return app;
}
