// Content-Security-Policy of the pages: scripts only from our own files (no inline script, no
// eval: htmx runs with allowEval off), camera frames as blob:/data: images, no framing.
import type { MiddlewareHandler } from 'hono';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function contentSecurityPolicy(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    // A route may have set a stricter one (e.g. images served on their own).
    if (!c.res.headers.has('Content-Security-Policy')) c.res.headers.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    // Camera for the kiosk and enrollment pages on this origin only.
    c.res.headers.set('Permissions-Policy', 'camera=(self), microphone=(), geolocation=()');
    c.res.headers.set('Referrer-Policy', 'same-origin');
  };
}
