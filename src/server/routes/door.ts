// /api/door: the door hardware's state and the "test the door" button. Admin only (the guard at
// this sub-app's edge): the test opens the door on purpose.
import { Hono } from 'hono';
import { requireAdmin } from '../../http/guards.js';
import type { AppDeps, AppEnv } from '../../http/types.js';

export function doorRoutes({ site, auth }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireAdmin(auth));

  /** Whether a grant would open the door now, and each channel's state; configured false with no door attached. */
  app.get('/', (c) => {
    const status = site.actuation.status();
    return c.json({ configured: status !== null, blocked: site.actuation.blocked(), status });
  });

  /** Pulses the relay and sends a signed test event on every configured channel; reports each. */
  app.post('/test', async (c) => {
    const report = await site.actuation.test('test');
    if (!report) return c.json({ error: { code: 'not_configured', message: 'no door channel is configured: set settings.door (webhook, mqtt or relay) first' } }, 409);
    return c.json(report);
  });

  return app;
}
