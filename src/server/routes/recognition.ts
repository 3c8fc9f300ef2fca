// POST /api/verify and POST /api/identify: one image, as a multipart field `image` (uploads,
// the pages) or as the raw body with an image/* Content-Type (a camera client posting frames).
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { ServiceError } from '../../service/errors.js';
import { isLoopback, remoteAddress } from '../../http/auth.js';
import { requireAccess } from '../../http/guards.js';
import { errorJson } from '../../http/errors.js';
import { acceptContent, formatBytes, isMediaType, limitBody, validate } from '../../http/validation.js';
import type { AppDeps, AppEnv } from '../../http/types.js';

/** Multipart framing and the small text fields beside the image. */
const FORM_OVERHEAD = 64 * 1024;

const Claim = z.string().trim().min(1).max(64);
const K = z.coerce.number().int().min(1).max(100);

const VerifyForm = z.object({ image: z.file().optional(), claim: Claim.optional() });
const VerifyQuery = z.object({ claim: Claim.optional() });
const IdentifyForm = z.object({ image: z.file().optional(), k: K.optional() });
const IdentifyQuery = z.object({ k: K.optional() });

/** The image bytes of the request: the multipart `image` field or the raw image body. */
export async function imageBytes(c: Context, file: File | undefined, maxBytes: number): Promise<Uint8Array> {
  let bytes: Uint8Array;
  if (isMediaType(c.req.header('content-type'), 'multipart/form-data')) {
    if (!file) throw new ServiceError('invalid_input', 'multipart body needs a file field "image"');
    if (file.size > maxBytes) throw new ServiceError('image_too_large', `image ${file.size} bytes exceeds the ${formatBytes(maxBytes)} limit`);
    bytes = new Uint8Array(await file.arrayBuffer());
  } else {
    bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.length > maxBytes) throw new ServiceError('image_too_large', `image ${bytes.length} bytes exceeds the ${formatBytes(maxBytes)} limit`);
  }
  if (bytes.length === 0) throw new ServiceError('empty_image', 'the image is empty');
  return bytes;
}

export function recognitionRoutes({ service, config, auth, metrics }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const max = config.limits.maxImageBytes;
  const guards = [
    requireAccess(config.access.recognition, auth),
    acceptContent(['multipart/form-data', 'image/*']),
    limitBody(max + FORM_OVERHEAD),
  ] as const;

  app.post('/verify', ...guards, validate('query', VerifyQuery), validate('form', VerifyForm), async (c) => {
    const form = c.req.valid('form');
    const claim = form.claim ?? c.req.valid('query').claim;
    // Resolve the claim before reading the image: an unknown badge is a 404 without inference.
    if (claim !== undefined) service.resolveClaim(claim);
    const out = await service.verify(await imageBytes(c, form.image, max), { claim });
    metrics.observeStages('verify', out.timings);
    metrics.decisions.inc({ endpoint: 'verify', decision: out.decision });
    return c.json(out);
  });

  app.post('/identify', ...guards, validate('query', IdentifyQuery), validate('form', IdentifyForm), async (c) => {
    const form = c.req.valid('form');
    const k = form.k ?? c.req.valid('query').k;
    // The ranked candidate list names enrolled people who did not match: operators only (an admin
    // session, or the appliance itself). Anyone else learns the match, if there is one, and no more.
    const operator = c.get('admin') === true || isLoopback(remoteAddress(c));
    if (!operator && k !== undefined && k > 1) return errorJson(c, 403, 'forbidden', 'k > 1 (the candidate list) needs an admin session');
    const out = await service.identify(await imageBytes(c, form.image, max), { k });
    if (!operator) out.candidates = out.candidates.filter((x) => x.passes).slice(0, 1);
    metrics.observeStages('identify', out.timings);
    metrics.decisions.inc({ endpoint: 'identify', decision: out.decision });
    return c.json(out);
  });

  return app;
}
