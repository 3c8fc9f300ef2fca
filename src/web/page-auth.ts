// Admin pages use the API's sessions (src/http/auth.ts): the same signed HttpOnly cookie. A
// page without a session goes to the login page and comes back afterwards. One guard at the edge
// of all of /admin (src/web/index.ts).
import type { MiddlewareHandler } from 'hono';
import type { AdminAuth } from '../http/auth.js';
import type { WebEnv } from './types.js';

/** Only same-site paths may be a `next` target (no open redirect). */
export function safeNext(next: string | undefined): string {
  return next && /^\/(?!\/)[A-Za-z0-9/_.?=&%-]*$/.test(next) && !next.startsWith('/login') ? next : '/admin';
}

export function requireAdminPage(auth: AdminAuth): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const s = await auth.session(c);
    if (!s) {
      const back = c.req.method === 'GET' ? c.req.path + (new URL(c.req.url).search || '') : '/admin';
      const to = `/login?next=${encodeURIComponent(safeNext(back))}`;
      // htmx follows HX-Redirect with a full page load instead of swapping the login page in.
      if (c.req.header('hx-request') === 'true') return c.body(null, 200, { 'HX-Redirect': to });
      return c.redirect(to, 303);
    }
    c.set('admin', true);
    await next();
  };
}
