// Enrollment pages: the form, live quality feedback on camera frames, enrolling a new person and
// adding samples to an existing one. Results come back as fragments for htmx, or as the whole
// page for a plain form post. Upload bodies are limited like POST /api/enroll (enrollBodyLimit,
// limitMultipart): a Content-Length over the limit, a body streaming past it, or one image passing
// maxImageBytes is refused at once with a 413 page message, without reading the rest.
import { zValidator } from '@hono/zod-validator';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import type { AppDeps } from '../../http/types.js';
import { statusOf } from '../../http/status.js';
import { acceptContent, enrollBodyLimit, formatBytes, limitMultipart } from '../../http/validation.js';
import type { SampleReport } from '../../door/index.js';
import type { DuplicateMatch } from '../../service/types.js';
import { duplicateWarning, enrollPage, enrollRefused, enrollSuccess } from '../../../views/enroll.js';
import type { Html } from '../../../views/html.js';
import type { CameraHub } from '../../door/index.js';
import { csrfOf, requireCsrf } from '../csrf.js';
import { isServiceError } from '../../service/errors.js';
import { guidance } from '../guidance.js';
import { Checkbox, Files, isHtmx, refuse } from '../form.js';
import { cropUrl } from '../thumbs.js';
import type { WebEnv } from '../types.js';

type Who = { id: string; name: string } | null;

const SAMPLE_FIELDS = { camera: Files, 'camera[]': Files, images: Files, 'images[]': Files };

/** Camera captures and uploads of a form, each under `name` or `name[]`. */
const samplesOf = (f: { camera: File[]; 'camera[]': File[]; images: File[]; 'images[]': File[] }) => ({ camera: [...f.camera, ...f['camera[]']], uploads: [...f.images, ...f['images[]']] });

/** At least one photo, at most `max` together: captures and uploads count alike. */
const photoCount = (max: number) => (v: { camera: File[]; uploads: File[] }, ctx: z.RefinementCtx) => {
  const n = v.camera.length + v.uploads.length;
  if (n === 0) ctx.addIssue({ code: 'custom', message: 'Capture samples with the camera or choose photos to upload.' });
  else if (n > max) ctx.addIssue({ code: 'custom', message: `${n} images: at most ${max} at a time.` });
};

export function enrollRoutes(deps: AppDeps, o: { hub: CameraHub }): Hono<WebEnv> {
  const { service, config, auth } = deps;
  const app = new Hono<WebEnv>();
  const maxImage = config.limits.maxImageBytes;
  const maxImages = config.limits.maxEnrollImages;
  const csrfImage = requireCsrf(() => auth.opts.secret, maxImage);

  const EnrollForm = z
    .object({
      name: z.string({ error: 'Enter a name.' }).trim().min(1, 'Enter a name.'),
      badge: z
        .string()
        .trim()
        .optional()
        .transform((v) => v || undefined),
      confirmDuplicate: Checkbox,
      ...SAMPLE_FIELDS,
    })
    .transform((f) => ({ name: f.name, badge: f.badge, confirmDuplicate: f.confirmDuplicate, ...samplesOf(f) }))
    .superRefine(photoCount(maxImages));
  const SamplesForm = z.object(SAMPLE_FIELDS).transform(samplesOf).superRefine(photoCount(maxImages));

  const page = (c: Context<WebEnv>, identity: Who, result?: Html, status: ContentfulStatusCode = 200) =>
    c.html(
      enrollPage({
        csrf: csrfOf(c),
        identity,
        camera: o.hub.current().loop ? 'server' : 'browser',
        minSamples: identity ? 1 : config.enroll.minSamples,
        maxImages: config.limits.maxEnrollImages,
        modelLoaded: service.embedder !== undefined,
        result,
      }),
      status,
    );

  /** The fragment for htmx, the whole page otherwise. */
  const answer = (c: Context<WebEnv>, identity: Who, body: Html, status: ContentfulStatusCode) =>
    isHtmx(c) ? c.html(body, status) : page(c, identity, body, status === 201 ? 200 : status);

  const refused = (c: Context<WebEnv>, identity: Who, err: unknown) => {
    if (!isServiceError(err)) throw err;
    const d = err.details as { samples?: SampleReport[]; matches?: DuplicateMatch[] } | undefined;
    const body = err.code === 'duplicate' && d?.matches ? duplicateWarning(d.matches, d.samples) : enrollRefused(err.message, d?.samples);
    return answer(c, identity, body, statusOf(err));
  };

  /** The identity a samples form is for (its :id), for the page a refusal renders. */
  const identityOf = (c: Context<WebEnv>): Who => {
    const id = c.req.param('id');
    const who = id !== undefined ? service.findIdentity(id) : undefined;
    return who ? { id: who.id, name: who.name } : null;
  };

  /** A refused form: its message where the form is, at 400. */
  const invalid = refuse<WebEnv>((c, message) => answer(c, identityOf(c), enrollRefused(message, undefined), 400));

  // Camera captures and uploads together are at most maxEnrollImages images (photoCount), so the
  // API's limit holds for the page's form too (its few text fields and CSRF token fit in its allowance).
  const maxBody = enrollBodyLimit(config.limits);
  const multipart = limitMultipart({ maxBytes: maxBody, maxFileBytes: maxImage });
  /** limitMultipart's early 413 (JSON, the API's) as this page's message: the fragment for htmx, the page otherwise. */
  const uploadLimit: MiddlewareHandler<WebEnv> = async (c, next) => {
    let passed = false;
    const res = await multipart(c, async () => {
      passed = true;
      await next();
    });
    if (passed || !(res instanceof Response)) return res;
    const { error } = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
    const limits = `at most ${maxImages} photo${maxImages === 1 ? '' : 's'} at a time, each at most ${formatBytes(maxImage)}`;
    const message =
      error?.code === 'image_too_large'
        ? `Refused: ${error.message ?? 'an image is too large'}. Nothing was saved; send ${limits}.`
        : error?.message?.startsWith('request body exceeds')
          ? `Refused: the upload is larger than ${formatBytes(maxBody)}. Nothing was saved; send ${limits}.`
          : `Refused: ${error?.message ?? 'the upload is too large'}. Nothing was saved.`;
    const answered = await answer(c, identityOf(c), enrollRefused(message, undefined), 413);
    // The rest of the body is not read: the browser must not reuse this connection.
    answered.headers.set('Connection', 'close');
    return answered;
  };
  const csrfUpload = requireCsrf(() => auth.opts.secret, uploadLimit);

  /** An image over maxImageBytes: uploadLimit refused it while it streamed in; checked again for a body that came another way. */
  const oversized = ({ camera, uploads }: { camera: File[]; uploads: File[] }) => {
    const big = [...camera, ...uploads].find((f) => f.size > maxImage);
    return big ? enrollRefused(`${big.name || 'an image'} is larger than ${formatBytes(maxImage)}.`, undefined) : null;
  };

  /** The photos' bytes, and where they came from. */
  const imagesOf = async ({ camera, uploads }: { camera: File[]; uploads: File[] }) => ({
    images: await Promise.all([...camera, ...uploads].map(async (f) => ({ bytes: new Uint8Array(await f.arrayBuffer()), file: f.name ? f.name.slice(0, 200) : undefined }))),
    source: camera.length > 0 ? ('camera' as const) : ('upload' as const),
  });

  const thumbsOf = (identityId: string) =>
    service
      .templates(service.modelId ?? undefined)
      .filter((t) => t.identityId === identityId && t.crop !== null)
      .map((t) => cropUrl(identityId, t.crop!));

  app.get('/enroll', (c) => {
    const id = c.req.query('identity');
    if (id !== undefined) {
      const who = service.findIdentity(id);
      if (!who) return page(c, null, enrollRefused(`No identity ${id}.`, undefined), 404);
      return page(c, { id: who.id, name: who.name });
    }
    return page(c, null);
  });

  // Live feedback while capturing: distance, pose, light, sharpness. Needs no model.
  app.post('/enroll/check', ...csrfImage, acceptContent(['image/*']), async (c) => {
    try {
      return c.json(guidance(await service.checkFace(new Uint8Array(await c.req.arrayBuffer()))));
    } catch (err) {
      if (isServiceError(err)) return c.json({ error: { code: err.code, message: err.message } }, statusOf(err));
      throw err;
    }
  });

  app.post('/enroll', ...csrfUpload, zValidator('form', EnrollForm, invalid), async (c) => {
    const form = c.req.valid('form');
    const tooLarge = oversized(form);
    if (tooLarge) return answer(c, null, tooLarge, 413);
    const input = await imagesOf(form);
    try {
      const out = await service.enroll({ name: form.name, badge: form.badge, images: input.images, confirmDuplicate: form.confirmDuplicate, source: input.source });
      const body = enrollSuccess({
        name: out.identity.name,
        identityId: out.identity.id,
        templates: out.templates,
        images: input.images.length,
        thumbs: thumbsOf(out.identity.id),
        samples: out.samples,
        duplicateOf: out.duplicateOf,
      });
      return answer(c, null, body, 201);
    } catch (err) {
      return refused(c, null, err);
    }
  });

  /** A samples form for nobody is a 404, before its photos are looked at. */
  const knownIdentity: MiddlewareHandler<WebEnv> = async (c, next) => {
    if (!identityOf(c)) return answer(c, null, enrollRefused(`No identity ${c.req.param('id')}.`, undefined), 404);
    await next();
  };

  app.post('/gallery/:id/samples', ...csrfUpload, knownIdentity, zValidator('form', SamplesForm, invalid), async (c) => {
    const identity = identityOf(c)!;
    const form = c.req.valid('form');
    const tooLarge = oversized(form);
    if (tooLarge) return answer(c, identity, tooLarge, 413);
    const input = await imagesOf(form);
    try {
      const out = await service.addSamples(identity.id, input.images, input.source);
      const body = enrollSuccess({ name: identity.name, identityId: identity.id, templates: out.templates, images: input.images.length, thumbs: thumbsOf(identity.id), samples: out.samples, duplicateOf: [], added: true });
      return answer(c, identity, body, 201);
    } catch (err) {
      return refused(c, identity, err);
    }
  });

  return app;
}
