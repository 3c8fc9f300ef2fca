// Health, admin login/logout and Prometheus metrics.
import { Hono } from 'hono';
import { z } from 'zod';
import { errorJson } from '../../http/errors.js';
import { isLoopback, remoteAddress } from '../../http/auth.js';
import { requireAccess } from '../../http/guards.js';
import { acceptContent, limitBody, validate } from '../../http/validation.js';
import type { AppDeps, AppEnv } from '../../http/types.js';

// Both validators run; the one not matching the Content-Type sees an empty object.
const Login = z.object({ password: z.string().max(1024).optional() });

export function systemRoutes({ service, config, auth, metrics }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // Monitors elsewhere get the status; folders and settings only go to this machine or an admin.
  app.get('/api/health', async (c) => {
    const h = service.health();
    if (isLoopback(remoteAddress(c)) || (await auth.session(c))) return c.json(h);
    return c.json({ status: h.status, model: { loaded: h.model.loaded, id: h.model.id }, uptimeSeconds: h.uptimeSeconds });
  });

  // JSON for API clients, urlencoded for a plain HTML form.
  const loginBody = [acceptContent(['application/json', 'application/x-www-form-urlencoded']), limitBody(config.limits.maxJsonBytes)] as const;
  app.post('/api/login', ...loginBody, validate('json', Login), validate('form', Login), async (c) => {
    const password = c.req.valid('json').password ?? c.req.valid('form').password;
    if (!password) return errorJson(c, 400, 'invalid_input', 'password is required');
    if (!auth.configured) {
      return errorJson(c, 401, 'admin_not_configured', 'no admin password is set: run `facegate admin password` on the kiosk (it works while the server runs)');
    }
    const client = remoteAddress(c) ?? 'unknown';
    const r = await auth.login(password, client);
    if (!r.ok && r.lockedMs > 0) {
      // A wait, not a lock-out: the right password gets in once it is over (src/http/auth.ts, Backoff).
      const seconds = Math.ceil(r.lockedMs / 1000);
      const res = errorJson(c, 429, 'too_many_attempts', `too many failed logins from this address: the next attempt is looked at in ${seconds} s`, { retryAfterSeconds: seconds });
      res.headers.set('Retry-After', String(seconds));
      return res;
    }
    if (!r.ok) return errorJson(c, 401, 'unauthorized', 'wrong password');
    await auth.setCookie(c, r.token);
    return c.json({ token: r.token, expiresAt: r.expiresAt });
  });

  // Cross-origin logouts with a cookie never get here (sameOriginWrites, src/server/index.ts).
  app.post('/api/logout', async (c) => {
    const s = await auth.session(c);
    if (s) auth.logout(s.token);
    auth.clearCookie(c);
    return c.json({ loggedOut: s !== null });
  });

  app.get('/api/session', async (c) => c.json({ admin: (await auth.session(c)) !== null, adminConfigured: auth.configured }));

  app.get('/metrics', requireAccess(config.access.metrics, auth), (c) => {
    return c.body(metrics.render(), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });

  return app;
}
