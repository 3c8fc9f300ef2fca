// Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", the scheme Stripe and GitHub made
// familiar. Signing the timestamp with the body lets a receiver refuse a captured request replayed
// later (the timestamp is too old) and one whose timestamp was changed (the signature breaks).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'X-FaceGate-Timestamp';
export const SIGNATURE_HEADER = 'X-FaceGate-Signature';
export const EVENT_ID_HEADER = 'X-FaceGate-Event-Id';

/** Unix seconds. */
export function signatureOf(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The headers that sign one delivery of body at time now (ms since epoch). */
export function signWebhook(secret: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return { [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: signatureOf(secret, timestamp, body) };
}

export type VerifyResult = { ok: true; timestamp: number } | { ok: false; reason: 'missing headers' | 'bad timestamp' | 'stale timestamp' | 'bad signature' };

type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  // node:http lower-cases names; a plain object from elsewhere may not.
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  const v = key === undefined ? undefined : headers[key];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * For a receiver: whether body (the raw request text, exactly as received) was signed with secret
 * at a time within toleranceSec of now. A replay within the tolerance still passes: a receiver
 * that must refuse those too remembers the event ids (X-FaceGate-Event-Id, also in the body) it
 * has seen for toleranceSec.
 */
export function verifyWebhookSignature(
  secret: string,
  headers: HeaderBag,
  body: string,
  opts: { toleranceSec?: number; now?: number } = {},
): VerifyResult {
  const { toleranceSec = 30, now = Date.now() } = opts;
  const ts = header(headers, TIMESTAMP_HEADER);
  const sig = header(headers, SIGNATURE_HEADER);
  if (ts === undefined || sig === undefined) return { ok: false, reason: 'missing headers' };
  if (!/^\d{1,12}$/.test(ts)) return { ok: false, reason: 'bad timestamp' };
  const timestamp = Number(ts);
  // Checked before the HMAC, but a stale request with a forged signature learns nothing from it.
  if (Math.abs(now / 1000 - timestamp) > toleranceSec) return { ok: false, reason: 'stale timestamp' };
  const want = Buffer.from(signatureOf(secret, timestamp, body));
  const got = Buffer.from(sig);
  // Constant time, so the signature cannot be found byte by byte from response times.
  if (got.length !== want.length || !timingSafeEqual(got, want)) return { ok: false, reason: 'bad signature' };
  return { ok: true, timestamp };
}
