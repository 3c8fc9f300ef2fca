// Login and logout for the admin pages, on the API's sessions: the same AdminAuth (deps.auth), so
// the same cookie and the same per-client backoff as POST /api/login. Wrong passwords from the page
// and from the API add up; during a wait the page answers 429 with the wait in words and a
// Retry-After header, and the right password gets in once the wait is over (no lock-out).
import { zValidator } from '@hono/zod-validator';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { remoteAddress } from '../../http/auth.js';
import type { AppDeps } from '../../http/types.js';
import { loginPage } from '../../../views/login.js';
import { csrfOf, requireCsrf } from '../csrf.js';
import { postedText, refuse } from '../form.js';
import { safeNext } from '../page-auth.js';
import { formatWait, waitSeconds } from '../wait.js';
import type { WebEnv } from '../types.js';

const LoginForm = z.object({
  // Any value: safeNext turns whatever is not a same-site path into /admin.
  next: z.string().optional(),
  password: z.string({ error: 'Enter the password.' }).min(1, 'Enter the password.'),
});

export function loginRoutes({ auth, config }: AppDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const csrf = requireCsrf(() => auth.opts.secret, config.limits.maxJsonBytes);

  const page = (c: Context<WebEnv>, next: string, status: 401 | 429 | 400, error: string) =>
    c.html(loginPage({ csrf: csrfOf(c), next, configured: auth.configured, error }), status);
  const notConfigured = (c: Context<WebEnv>, next: string) => page(c, next, 401, 'No admin password is set.');

  app.get('/login', async (c) => {
    const next = safeNext(c.req.query('next'));
    if (await auth.session(c)) return c.redirect(next, 303);
    return c.html(loginPage({ csrf: csrfOf(c), next, configured: auth.configured }));
  });

  const refused = refuse<WebEnv>((c, message, posted) => {
    const next = safeNext(postedText(posted, 'next'));
    // Without a password set, no form is right: say so first.
    return auth.configured ? page(c, next, 400, message) : notConfigured(c, next);
  });

  app.post('/login', ...csrf, zValidator('form', LoginForm, refused), async (c) => {
    const form = c.req.valid('form');
    const next = safeNext(form.next);
    if (!auth.configured) return notConfigured(c, next);
    const client = remoteAddress(c) ?? 'unknown';
    const r = await auth.login(form.password, client);
    if (!r.ok && r.lockedMs > 0) {
      // Not checked: the password is looked at once the wait is over.
      const res = await page(c, next, 429, `Too many failed logins from this address: try again in ${formatWait(r.lockedMs)}.`);
      res.headers.set('Retry-After', String(waitSeconds(r.lockedMs)));
      return res;
    }
    if (!r.ok) return page(c, next, 401, 'Wrong password.');
    await auth.setCookie(c, r.token);
    return c.redirect(next, 303);
  });

  app.post('/logout', ...csrf, async (c) => {
    const s = await auth.session(c);
    if (s) auth.logout(s.token);
    auth.clearCookie(c);
    return c.redirect('/login', 303);
  });

  return app;
}
