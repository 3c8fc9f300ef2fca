// Login and logout for the admin pages, on the API's sessions: the same AdminAuth (deps.auth), so
// the same cookie and the same per-client backoff as POST /api/login. Wrong passwords from the page
// and from the API add up; during a wait the page answers 429 with the wait in words and a
// Retry-After header, and the right password gets in once the wait is over (no lock-out).
import { Hono } from 'hono';
import { remoteAddress } from '../../server/auth.js';
import type { AppDeps } from '../../server/types.js';
import { loginPage } from '../../../views/login.js';
import { csrfOf, requireCsrf } from '../csrf.js';
import { readForm } from '../form.js';
import { requireAdminPage, safeNext } from '../page-auth.js';
import { formatWait, waitSeconds } from '../wait.js';
import type { WebEnv } from '../types.js';

export function loginRoutes({ auth, config }: AppDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const csrf = requireCsrf(() => auth.opts.secret, config.limits.maxJsonBytes);

  app.get('/login', async (c) => {
    const next = safeNext(c.req.query('next'));
    if (await auth.session(c)) return c.redirect(next, 303);
    return c.html(loginPage({ csrf: csrfOf(c), next, configured: auth.configured }));
  });

  app.post('/login', ...csrf, async (c) => {
    const form = await readForm(c);
    const next = safeNext(form.str('next'));
    const page = (status: 401 | 429 | 400, error: string) => c.html(loginPage({ csrf: csrfOf(c), next, configured: auth.configured, error }), status);
    if (!auth.configured) return page(401, 'No admin password is set.');
    const password = form.str('password') ?? '';
    if (!password) return page(400, 'Enter the password.');
    const client = remoteAddress(c) ?? 'unknown';
    const r = await auth.login(password, client);
    if (!r.ok && r.lockedMs > 0) {
      // Not checked: the password is looked at once the wait is over.
      const res = await page(429, `Too many failed logins from this address: try again in ${formatWait(r.lockedMs)}.`);
      res.headers.set('Retry-After', String(waitSeconds(r.lockedMs)));
      return res;
    }
    if (!r.ok) return page(401, 'Wrong password.');
    await auth.setCookie(c, r.token);
    return c.redirect(next, 303);
  });

  app.post('/logout', ...csrf, async (c) => {
    const s = await auth.session(c);
    if (s) auth.logout(s.token);
    auth.clearCookie(c);
    return c.redirect('/login', 303);
  });

  app.get('/admin', requireAdminPage(auth), (c) => c.redirect('/admin/gallery', 303));
  return app;
}
