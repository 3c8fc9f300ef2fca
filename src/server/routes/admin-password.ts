// PUT /api/admin/password: `facegate admin password` while this server runs
// (src/cli/commands/admin.ts). The facegate command on this machine only (its local token, the
// guard at this sub-app's edge): no remote admin may set it. Stored like the Settings page does
// it, and in force at once: a new cookie secret, every session ended.
import { Hono } from 'hono';
import { z } from 'zod';
import { AdminStore } from '../../config/admin-store.js';
import { adminFilePath } from '../../config/load.js';
import { passwordProblem } from '../../config/password.js';
import { errorJson } from '../../http/errors.js';
import { requireLocalToken } from '../../http/guards.js';
import { acceptContent, limitBody, validate } from '../../http/validation.js';
import type { AppDeps, AppEnv } from '../../http/types.js';

const PasswordBody = z.strictObject({ password: z.string().max(4096) });

export function adminPasswordRoutes({ config, auth }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireLocalToken(auth));

  app.put('/password', acceptContent(['application/json']), limitBody(config.limits.maxJsonBytes), validate('json', PasswordBody), async (c) => {
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
