// The access policy, as middleware at the edge of the routes it covers: admin sessions (cookie,
// bearer or the local token of src/owner), the recognition/metrics access setting, and the
// same-origin rule for state-changing calls that a cookie authenticates. Refusals are JSON.
import type { Context, MiddlewareHandler } from 'hono';
import type { Access } from '../config/schema.js';
import { isLoopback, remoteAddress, type AdminAuth } from './auth.js';
import { errorJson } from './errors.js';
import type { AppEnv } from './types.js';

function unauthorized(c: Context, auth: AdminAuth, what: string): Response {
  if (!auth.configured) {
    return errorJson(c, 401, 'admin_not_configured', `${what} needs the admin, and no admin password is set: run \`facegate admin password\` on the kiosk (it works while the server runs)`);
  }
  const res = errorJson(c, 401, 'unauthorized', `${what} needs an admin session: POST /api/login`);
  res.headers.set('WWW-Authenticate', 'Bearer realm="facegate"');
  return res;
}

const SAFE_METHOD = /^(GET|HEAD|OPTIONS)$/;

/**
 * Does this request come from this server's own origin: Sec-Fetch-Site same-origin, or an Origin
 * equal to this server's (the defaults of hono/csrf)? Unlike hono/csrf, which looks only at
 * form-like bodies, this holds for every content type: JSON, none at all, anything. SameSite=Strict
 * alone is not enough: "site" ignores the port, so another service on the kiosk's host could send
 * the admin's cookie along. `Origin: null` (sandboxed frames, some redirects) is never ours.
 * The request's URL follows its Host header: allowedHostsOnly (host-check.ts) has refused any Host
 * that is not this server's at the edge, or a DNS-rebinding page would count as this origin.
 */
export function fromThisOrigin(c: Context): boolean {
  if (c.req.header('sec-fetch-site') === 'same-origin') return true;
  const origin = c.req.header('origin');
  return origin !== undefined && origin === new URL(c.req.url).origin;
}

/** A browser says it sent this request from a page of another origin (scripts send neither header). */
function fromAnotherOrigin(c: Context): boolean {
  if (fromThisOrigin(c)) return false;
  const site = c.req.header('sec-fetch-site');
  return site === 'cross-site' || site === 'same-site' || c.req.header('origin') !== undefined;
}

function crossOrigin(c: Context): Response {
  return errorJson(c, 403, 'forbidden', 'cross-origin request refused: use a bearer token, or the pages of this server');
}

/**
 * The API's state-changing calls (POST, PUT, PATCH, DELETE), at the edge, before any route reads
 * a body. A cookie session counts only from this server's own origin (fromThisOrigin), whatever
 * the content type; a bearer token or the local token is sent on purpose by a script, not by a
 * browser on its own, and keeps working. A call without a session that a browser sent from another
 * origin is refused too: a page elsewhere must not spend this machine's login attempts (everyone
 * at the kiosk shares its address) or post to the kiosk's recognition routes.
 */
export function sameOriginWrites(auth: AdminAuth): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (SAFE_METHOD.test(c.req.method)) return next();
    const s = await auth.session(c);
    if (s ? s.via === 'cookie' && !fromThisOrigin(c) : fromAnotherOrigin(c)) return crossOrigin(c);
    await next();
  };
}

/** Admin sessions only. A cookie session refuses state-changing requests from other origins (fromThisOrigin). */
export function requireAdmin(auth: AdminAuth): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const s = await auth.session(c);
    if (!s) return unauthorized(c, auth, `${c.req.method} ${c.req.path}`);
    if (s.via === 'cookie' && !SAFE_METHOD.test(c.req.method) && !fromThisOrigin(c)) return crossOrigin(c);
    c.set('admin', true);
    await next();
  };
}

/** The local admin token only: the CLI on this machine (src/owner), for what no remote admin may do. */
export function requireLocalToken(auth: AdminAuth): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const s = await auth.session(c);
    if (s?.via !== 'local') return errorJson(c, 403, 'forbidden', `${c.req.method} ${c.req.path} is for the facegate command on this machine only`);
    c.set('admin', true);
    await next();
  };
}

/** 'any': open; 'localhost': loopback peers or admins; 'admin': admins only. */
export function requireAccess(policy: Access, auth: AdminAuth): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (policy === 'any' || (policy === 'localhost' && isLoopback(remoteAddress(c)))) return next();
    const s = await auth.session(c);
    if (s) {
      if (s.via === 'cookie' && !SAFE_METHOD.test(c.req.method) && !fromThisOrigin(c)) return crossOrigin(c);
      c.set('admin', true);
      return next();
    }
    const what = `${c.req.method} ${c.req.path}`;
    if (policy === 'localhost') return errorJson(c, 401, 'unauthorized', `${what} is open to this machine only; log in as admin (POST /api/login) to use it remotely`);
    return unauthorized(c, auth, what);
  };
}
