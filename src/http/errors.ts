// Every error leaves the API as JSON: { error: { code, message, ...details } } with a status
// that says what the client has to change (statusOf).
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ServiceError, translate } from '../service/errors.js';
import { statusOf } from './status.js';

export function errorJson(c: Context, status: ContentfulStatusCode, code: string, message: string, details?: Record<string, unknown>): Response {
  return c.json({ error: { code, message, ...details } }, status);
}

/** app.onError: service errors by code, Hono's HTTPExceptions by status, anything else a logged 500. */
export function onError(err: Error, c: Context): Response {
  const e = translate(err);
  if (e instanceof ServiceError) {
    const res = errorJson(c, statusOf(e), e.code, e.message, e.details);
    if (e.code === 'busy') res.headers.set('Retry-After', '1');
    return res;
  }
  if (e instanceof HTTPException) {
    const status = e.status as ContentfulStatusCode;
    const code = status === 413 ? 'payload_too_large' : status === 400 ? 'invalid_input' : status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : 'http_error';
    return errorJson(c, status, code, e.message || (status === 413 ? 'request body too large' : 'request refused'));
  }
  console.error('[facegate] unhandled error:', err);
  return errorJson(c, 500, 'internal', 'internal error; see the server log');
}

export function notFound(c: Context): Response {
  return errorJson(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`);
}
