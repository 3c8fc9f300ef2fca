// Admin sessions and the access policy. Logging in with the admin password yields a random
// session token, sent back both as a signed HttpOnly SameSite=Strict cookie (the browser pages)
// and in the JSON body (API clients send it as `Authorization: Bearer <token>`). Sessions live in
// memory: a restart logs everyone out, which suits a kiosk.
// A running server also accepts its local admin token (src/owner: random per start, kept in the
// gallery's 0600 lock file) as a bearer token, from loopback peers only: that is how the CLI on
// this machine sends its gallery writes to the server instead of writing the files behind its back.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import type { Access } from '../config/schema.js';
import { verifyPassword } from '../config/password.js';
import { errorJson } from './errors.js';
import type { AppEnv } from './types.js';

export const SESSION_COOKIE = 'facegate_session';
/** Failed logins allowed per client within the window before it has to wait. */
const MAX_FAILURES = 5;
const FAILURE_WINDOW_MS = 15 * 60 * 1000;
/** Clients whose failures are remembered at once. */
const MAX_TRACKED_CLIENTS = 10_000;

export type LoginResult = { ok: true; token: string; expiresAt: string } | { ok: false; lockedMs: number };

export interface AuthOptions {
  /** null: no admin password set, admin routes are locked. */
  passwordHash: string | null;
  /** Signs the session cookie. */
  secret: string;
  ttlMs: number;
  secureCookie?: boolean;
}

/** Remote address of the TCP peer; undefined under app.request() without bindings. */
export function remoteAddress(c: Context<AppEnv>): string | undefined {
  return c.env?.incoming?.socket?.remoteAddress ?? undefined;
}

/** Loopback peers only. X-Forwarded-For is deliberately ignored: any client can send it. */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

export class AdminAuth {
  readonly #sessions = new Map<string, number>();
  readonly #failures = new Map<string, { count: number; first: number }>();
  /** SHA-256 of the local admin token, once set: compared in constant time, never kept in clear. */
  #localToken: Buffer | null = null;

  constructor(readonly opts: AuthOptions) {}

  /** Accepts `token` as an admin bearer token from loopback peers (the CLI on this machine). */
  acceptLocalToken(token: string): void {
    if (!/^[A-Za-z0-9_-]{32,100}$/.test(token)) throw new Error('local admin token: 32+ url-safe random characters expected');
    this.#localToken = createHash('sha256').update(token).digest();
  }

  /** The local admin token, sent by a loopback peer? */
  #isLocalToken(token: string, c: Context): boolean {
    if (!this.#localToken || !isLoopback(remoteAddress(c as Context<AppEnv>))) return false;
    return timingSafeEqual(createHash('sha256').update(token).digest(), this.#localToken);
  }

  get configured(): boolean {
    return this.opts.passwordHash !== null;
  }

  /** Milliseconds this client must wait before trying again (0 = may try). */
  #lockedFor(client: string): number {
    const f = this.#failures.get(client);
    if (!f) return 0;
    const left = f.first + FAILURE_WINDOW_MS - Date.now();
    if (left <= 0) {
      this.#failures.delete(client);
      return 0;
    }
    return f.count >= MAX_FAILURES ? left : 0;
  }

  /**
   * Checks the admin password for a client. The attempt is counted before the (slow, async) hash
   * check and forgiven only on success, so guesses sent in parallel cannot all slip past the
   * lockout while the first ones are still being checked.
   */
  async check(password: string, client: string): Promise<{ ok: boolean; lockedMs: number }> {
    const lockedMs = this.#lockedFor(client);
    if (lockedMs > 0) return { ok: false, lockedMs };
    this.#countFailure(client);
    const ok = this.opts.passwordHash !== null && (await verifyPassword(password, this.opts.passwordHash));
    if (ok) this.#failures.delete(client);
    return { ok, lockedMs: 0 };
  }

  /** A new session for the right password; otherwise why not (lockedMs > 0: locked out, else wrong). */
  async login(password: string, client: string): Promise<LoginResult> {
    const r = await this.check(password, client);
    if (!r.ok) return { ok: false, lockedMs: r.lockedMs };
    this.#prune();
    const token = randomBytes(32).toString('base64url');
    const expires = Date.now() + this.opts.ttlMs;
    this.#sessions.set(token, expires);
    return { ok: true, token, expiresAt: new Date(expires).toISOString() };
  }

  #countFailure(client: string): void {
    const now = Date.now();
    const f = this.#failures.get(client);
    if (f && f.first + FAILURE_WINDOW_MS > now) f.count++;
    else {
      // Keep the table bounded against guessers rotating addresses: expired entries go, and past
      // the cap the oldest window (first in insertion order) is forgotten.
      this.#failures.delete(client);
      for (const [k, v] of this.#failures) if (v.first + FAILURE_WINDOW_MS <= now) this.#failures.delete(k);
      while (this.#failures.size >= MAX_TRACKED_CLIENTS) this.#failures.delete(this.#failures.keys().next().value!);
      this.#failures.set(client, { count: 1, first: now });
    }
  }

  /** Ends every session (a password change). */
  revokeAll(): void {
    this.#sessions.clear();
  }

  logout(token: string): void {
    this.#sessions.delete(token);
  }

  valid(token: string | undefined | false): token is string {
    if (!token) return false;
    const exp = this.#sessions.get(token);
    if (exp === undefined) return false;
    if (exp < Date.now()) {
      this.#sessions.delete(token);
      return false;
    }
    return true;
  }

  #prune(): void {
    const now = Date.now();
    for (const [t, exp] of this.#sessions) if (exp < now) this.#sessions.delete(t);
  }

  async setCookie(c: Context, token: string): Promise<void> {
    await setSignedCookie(c, SESSION_COOKIE, token, this.opts.secret, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: this.opts.secureCookie ?? false,
      path: '/',
      maxAge: Math.floor(this.opts.ttlMs / 1000),
    });
  }

  clearCookie(c: Context): void {
    deleteCookie(c, SESSION_COOKIE, { path: '/', secure: this.opts.secureCookie ?? false });
  }

  /** The session token of this request (bearer header first, then the signed cookie), if valid. */
  async session(c: Context): Promise<{ token: string; via: 'bearer' | 'cookie' | 'local' } | null> {
    const header = c.req.header('authorization');
    const m = header?.match(/^Bearer\s+([A-Za-z0-9_-]{20,100})\s*$/i);
    if (m && this.#isLocalToken(m[1]!, c)) return { token: m[1]!, via: 'local' };
    if (m && this.valid(m[1])) return { token: m[1]!, via: 'bearer' };
    const cookie = await getSignedCookie(c, this.opts.secret, SESSION_COOKIE);
    if (this.valid(cookie)) return { token: cookie, via: 'cookie' };
    return null;
  }
}

function unauthorized(c: Context, auth: AdminAuth, what: string): Response {
  if (!auth.configured) {
    return errorJson(c, 401, 'admin_not_configured', `${what} needs the admin, and no admin password is set: run \`facegate serve --set-admin-password\` or start once with FACEGATE_ADMIN_PASSWORD`);
  }
  const res = errorJson(c, 401, 'unauthorized', `${what} needs an admin session: POST /api/login`);
  res.headers.set('WWW-Authenticate', 'Bearer realm="facegate"');
  return res;
}

/**
 * hono/csrf as a predicate: does this request come from this server's own pages (Sec-Fetch-Site
 * same-origin, or an Origin equal to this server's)? SameSite=Strict alone is not enough: "site"
 * ignores the port and subdomain, so another service on the kiosk's host could post a form with the
 * admin's cookie. JSON bodies are not checked: a browser sends them cross-origin only after a CORS
 * preflight, which this server never grants.
 */
const originCheck = csrf();
async function fromThisOrigin(c: Context): Promise<boolean> {
  try {
    await originCheck(c, async () => {});
    return true;
  } catch {
    return false;
  }
}

/** Admin sessions only. A cookie session refuses requests from other origins (fromThisOrigin). */
export function requireAdmin(auth: AdminAuth): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const s = await auth.session(c);
    if (!s) return unauthorized(c, auth, `${c.req.method} ${c.req.path}`);
    if (s.via === 'cookie' && !(await fromThisOrigin(c))) {
      return errorJson(c, 403, 'forbidden', 'cross-origin request refused: use a bearer token, or the pages of this server');
    }
    c.set('admin', true);
    await next();
  };
}

/** 'any': open; 'localhost': loopback peers or admins; 'admin': admins only. */
export function requireAccess(policy: Access, auth: AdminAuth): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (policy === 'any' || (policy === 'localhost' && isLoopback(remoteAddress(c)))) return next();
    if (await auth.session(c)) {
      c.set('admin', true);
      return next();
    }
    const what = `${c.req.method} ${c.req.path}`;
    if (policy === 'localhost') return errorJson(c, 401, 'unauthorized', `${what} is open to this machine only; log in as admin (POST /api/login) to use it remotely`);
    return unauthorized(c, auth, what);
  };
}
