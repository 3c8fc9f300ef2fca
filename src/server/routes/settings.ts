// /api/settings: the gallery's matching settings (metric, thresholds, k-of-n, camera, crops).
// Admin only (the guard at this sub-app's edge).
import { Hono } from 'hono';
import { SettingsSchema, type SettingsPatch } from '../../settings/index.js';
import { requireAdmin } from '../../http/guards.js';
import { acceptContent, limitBody, patchSchema, validate } from '../../http/validation.js';
import type { AppDeps, AppEnv } from '../../http/types.js';

/** Settings patch: any subset, unknown keys refused. */
const SettingsPatchSchema = patchSchema(SettingsSchema);

export function settingsRoutes({ service, config, auth }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireAdmin(auth));

  app.get('/', (c) => c.json(service.getSettings()));

  app.put('/', acceptContent(['application/json']), limitBody(config.limits.maxJsonBytes), validate('json', SettingsPatchSchema), async (c) => {
    return c.json(await service.updateSettings(c.req.valid('json') as SettingsPatch));
  });

  return app;
}
