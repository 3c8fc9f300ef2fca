// CSRF protection for the pages, two independent checks on every state-changing request:
// hono/csrf (the Origin / Sec-Fetch-Site must be this site) and a token. The token is an HMAC of
// a random per-browser cookie (HttpOnly, SameSite=Strict) under the server's secret: forms carry
// it in a hidden field, htmx and the page scripts in the X-CSRF-Token header.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { csrf as originCheck } from 'hono/csrf';
import { limitBody } from '../http/validation.js';
import type { WebEnv } from './types.js';

export const CSRF_COOKIE = 'facegate_csrf';
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

const COOKIE_VALUE = /^[A-Za-z0-9_-]{32,64}$/;

function sign(secret: string, value: string): string {
  return createHmac('sha256', secret).update(`csrf:${value}`).digest('base64url');
}

// Per request, keyed by its context (the env's Variables stay the API's; c.req.raw is no key:
// bodyLimit replaces it).
const tokens = new WeakMap<Context, string>();

/** This request's CSRF token, for the forms and meta tag of the page it renders. */
export function csrfOf(c: Context): string {
  const t = tokens.get(c);
  if (!t) throw new Error('csrfToken middleware did not run for this route');
  return t;
}

/** Remembers the request's token (csrfOf), creating the browser's CSRF cookie on its first page. */
export function csrfToken(secret: () => string, secure: boolean): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    let value = getCookie(c, CSRF_COOKIE);
    if (!value || !COOKIE_VALUE.test(value)) {
      value = randomBytes(32).toString('base64url');
      setCookie(c, CSRF_COOKIE, value, { httpOnly: true, sameSite: 'Strict', secure, path: '/' });
    }
    tokens.set(c, sign(secret(), value));
    await next();
  };
}

/** A form body that does not parse: no token can be found in it. */
const UNREADABLE = Symbol('unreadable form body');

async function sentToken(c: Context<WebEnv>): Promise<string | typeof UNREADABLE | undefined> {
  const header = c.req.header(CSRF_HEADER);
  if (header) return header;
  const type = c.req.header('content-type') ?? '';
  if (/^(multipart\/form-data|application\/x-www-form-urlencoded)/i.test(type)) {
    // parseBody caches: the handler reads the same parsed form. One that does not parse (not
    // multipart after all, no boundary) is the client's mistake: a 400, not a logged 500.
    const body = await c.req.parseBody({ all: true }).catch((): typeof UNREADABLE => UNREADABLE);
    if (body === UNREADABLE) return UNREADABLE;
    const v = body[CSRF_FIELD];
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

/** A 403 (token or cookie missing or wrong), or a 400 for a body that cannot be read. */
function refuse(c: Context<WebEnv>, why: string, status: 400 | 403 = 403): Response {
  const htmx = c.req.header('hx-request') === 'true';
  // Script posts (camera frames) get JSON; forms and htmx get a message to show.
  const form = /^(multipart\/form-data|application\/x-www-form-urlencoded)/i.test(c.req.header('content-type') ?? '');
  const wantsJson = !htmx && (!form || (c.req.header('accept') ?? '').includes('application/json'));
  // invalid_input: the API's code for a body it cannot parse.
  if (wantsJson) return c.json({ error: { code: status === 400 ? 'invalid_input' : 'csrf', message: why } }, status);
  return c.html(`<p class="error" role="alert">Refused: ${why}. Reload the page and try again.</p>`, status);
}

/**
 * Refuses a POST without a valid token (403), or whose form body does not parse (400), after the
 * Origin check. The body limit comes before the token check because a form's token is in its body:
 * without it, anyone could make the server buffer an unbounded upload just by sending a made-up
 * CSRF cookie. `bodyLimit` is a byte count (hono/body-limit) or a limit middleware of the route's
 * own (the enrollment forms: limitMultipart).
 */
export function requireCsrf(
  secret: () => string,
  bodyLimit: number | MiddlewareHandler<WebEnv>,
): readonly [MiddlewareHandler<WebEnv>, MiddlewareHandler<WebEnv>, MiddlewareHandler<WebEnv>] {
  const token: MiddlewareHandler<WebEnv> = async (c, next) => {
    const cookie = getCookie(c, CSRF_COOKIE);
    if (!cookie || !COOKIE_VALUE.test(cookie)) return refuse(c, 'no CSRF cookie (cookies must be enabled)');
    const sent = await sentToken(c);
    if (sent === UNREADABLE) return refuse(c, 'the form body could not be read (not valid multipart/form-data or urlencoded data)', 400);
    const want = Buffer.from(sign(secret(), cookie));
    const got = Buffer.from(sent ?? '');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return refuse(c, 'missing or wrong CSRF token');
    await next();
  };
  return [originCheck(), typeof bodyLimit === 'number' ? limitBody(bodyLimit) : bodyLimit, token] as const;
}
