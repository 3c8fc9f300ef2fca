// Admin sessions and login throttling, shared by the API and the pages (the guards that use
// them are guards.ts). Logging in with the admin password yields a random
// session token, sent back both as a signed HttpOnly SameSite=Strict cookie (the browser pages)
// and in the JSON body (API clients send it as `Authorization: Bearer <token>`). Sessions live in
// memory: a restart logs everyone out, which suits a kiosk.
// A running server also accepts its local admin token (src/owner: random per start, kept in the
// gallery's 0600 lock file) as a bearer token, from loopback peers only: that is how the CLI on
// this machine sends its gallery writes to the server instead of writing the files behind its back.
// Wrong passwords slow their client down (exponential backoff with a cap) instead of locking it
// out: on a kiosk the operator and whoever stands at its browser are the same client (127.0.0.1).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import { verifyPassword } from '../config/password.js';
import type { AppEnv } from './types.js';

export const SESSION_COOKIE = 'facegate_session';

/**
 * Login throttling per client. The first freeFailures - 1 wrong passwords in a row cost nothing;
 * from the freeFailures-th on, each one makes the client wait baseMs, 2 x baseMs, 4 x baseMs, ...
 * up to capMs before its next attempt is even looked at. Attempts during the wait are answered
 * 429 without being checked or counted, so a flood never pushes the wait past the cap: the right
 * password gets in once the (at most capMs) wait is over. Defaults: 3 attempts at once, then
 * waits of 1, 2, 4, 8, 16, 30, 30... s (a guesser gets about 2 tries a minute). A client's
 * failures are forgotten after forgetMs without one.
 */
export interface Backoff {
  freeFailures: number;
  baseMs: number;
  capMs: number;
  forgetMs: number;
  /** Clients whose failures are remembered at once (the least recently failing are dropped past it). */
  maxClients: number;
}

export const DEFAULT_BACKOFF: Backoff = { freeFailures: 3, baseMs: 1000, capMs: 30_000, forgetMs: 15 * 60 * 1000, maxClients: 10_000 };

/** lockedMs: how long the client must wait before its next attempt is looked at (0: it was looked at, and wrong). */
export type LoginResult = { ok: true; token: string; expiresAt: string } | { ok: false; lockedMs: number };

export interface AuthOptions {
  /** null: no admin password set, admin routes are locked. */
  passwordHash: string | null;
  /** Signs the session cookie. */
  secret: string;
  ttlMs: number;
  secureCookie?: boolean;
  /** Login throttling (DEFAULT_BACKOFF); tests shorten it. */
  backoff?: Partial<Backoff>;
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
  /** Per client: consecutive failures, when the last was counted, and when the next attempt may be looked at. Least recently failing first. */
  readonly #failures = new Map<string, { count: number; last: number; notBefore: number }>();
  readonly #backoff: Backoff;
  /** SHA-256 of the local admin token, once set: compared in constant time, never kept in clear. */
  #localToken: Buffer | null = null;

  constructor(readonly opts: AuthOptions) {
    this.#backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
  }

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

  /** Clients whose failures are remembered now (bounded by backoff.maxClients). */
  get trackedClients(): number {
    return this.#failures.size;
  }

  /** The wait after `count` consecutive failures. */
  #delayAfter(count: number): number {
    const b = this.#backoff;
    if (count < b.freeFailures) return 0;
    return Math.min(b.capMs, b.baseMs * 2 ** Math.min(count - b.freeFailures, 30));
  }

  /** Milliseconds this client must wait before its next attempt is looked at (0 = now). */
  #waitFor(client: string, now: number): number {
    const f = this.#failures.get(client);
    if (!f) return 0;
    if (now - f.last >= this.#backoff.forgetMs) {
      this.#failures.delete(client);
      return 0;
    }
    return Math.max(0, f.notBefore - now);
  }

  /**
   * Checks the admin password for a client. The attempt is counted as a failure (and the client's
   * wait set) before the slow, async hash check, and forgiven only on success: guesses sent in
   * parallel find the wait already set and are refused unchecked.
   */
  async check(password: string, client: string): Promise<{ ok: boolean; lockedMs: number }> {
    const now = Date.now();
    const lockedMs = this.#waitFor(client, now);
    if (lockedMs > 0) return { ok: false, lockedMs };
    this.#countFailure(client, now);
    const ok = this.opts.passwordHash !== null && (await verifyPassword(password, this.opts.passwordHash));
    if (ok) this.#failures.delete(client);
    return { ok, lockedMs: 0 };
  }

  /** A new session for the right password; otherwise why not (lockedMs > 0: not looked at, wait that long; else wrong). */
  async login(password: string, client: string): Promise<LoginResult> {
    const r = await this.check(password, client);
    if (!r.ok) return { ok: false, lockedMs: r.lockedMs };
    this.#prune();
    const token = randomBytes(32).toString('base64url');
    const expires = Date.now() + this.opts.ttlMs;
    this.#sessions.set(token, expires);
    return { ok: true, token, expiresAt: new Date(expires).toISOString() };
  }

  #countFailure(client: string, now: number): void {
    const f = this.#failures.get(client);
    const count = f && now - f.last < this.#backoff.forgetMs ? f.count + 1 : 1;
    // Re-inserted, so the map stays ordered from the least to the most recently failing client.
    this.#failures.delete(client);
    if (this.#failures.size >= this.#backoff.maxClients) {
      // Bounded against guessers rotating addresses: forgotten entries go first, then the least recent.
      for (const [k, v] of this.#failures) if (now - v.last >= this.#backoff.forgetMs) this.#failures.delete(k);
      while (this.#failures.size >= this.#backoff.maxClients) this.#failures.delete(this.#failures.keys().next().value!);
    }
    this.#failures.set(client, { count, last: now, notBefore: now + this.#delayAfter(count) });
  }

  /**
   * New credentials while running (`facegate admin password` through this server): the new hash,
   * a new cookie-signing secret (old cookies stop verifying), every session ended, failures forgotten.
   */
  replaceCredentials(passwordHash: string | null, secret: string): void {
    this.opts.passwordHash = passwordHash;
    this.opts.secret = secret;
    this.revokeAll();
    this.#failures.clear();
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
