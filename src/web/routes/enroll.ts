// Enrollment pages: the form, live quality feedback on camera frames, enrolling a new person and
// adding samples to an existing one. Results come back as fragments for htmx, or as the whole
// page for a plain form post. Upload bodies are limited like POST /api/enroll (enrollBodyLimit,
// limitMultipart): a Content-Length over the limit, a body streaming past it, or one image passing
// maxImageBytes is refused at once with a 413 page message, without reading the rest.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { AppDeps } from '../../server/types.js';
import { acceptContent, enrollBodyLimit, formatBytes, limitMultipart } from '../../server/validation.js';
import type { SampleReport } from '../../door/index.js';
import type { DuplicateMatch } from '../../service/types.js';
import { duplicateWarning, enrollPage, enrollRefused, enrollSuccess } from '../../../views/enroll.js';
import type { Html } from '../../../views/html.js';
import type { CameraHub } from '../../door/index.js';
import { csrfOf, requireCsrf } from '../csrf.js';
import { isServiceError } from '../../service/errors.js';
import { guidance } from '../guidance.js';
import { isHtmx, readForm } from '../form.js';
import { requireAdminPage } from '../page-auth.js';
import { cropUrl } from '../thumbs.js';
import type { WebEnv } from '../types.js';

const STATUS = { invalid_input: 400, duplicate: 409, conflict: 409, insufficient_samples: 422, no_model: 503, not_found: 404, image_too_large: 413 } as const;

export function enrollRoutes(deps: AppDeps, o: { hub: CameraHub }): Hono<WebEnv> {
  const { service, config, auth } = deps;
  const app = new Hono<WebEnv>();
  const admin = requireAdminPage(auth);
  const maxImage = config.limits.maxImageBytes;
  const maxImages = config.limits.maxEnrollImages;
  const csrfImage = requireCsrf(() => auth.opts.secret, maxImage);

  const page = (c: Context<WebEnv>, identity: { id: string; name: string } | null, result?: Html, status: 200 | 400 | 404 | 409 | 413 | 422 | 503 = 200) =>
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
  const answer = (c: Context<WebEnv>, identity: { id: string; name: string } | null, body: Html, status: 200 | 201 | 400 | 404 | 409 | 413 | 422 | 503) =>
    isHtmx(c) ? c.html(body, status) : page(c, identity, body, status === 201 ? 200 : status);

  const refused = (c: Context<WebEnv>, identity: { id: string; name: string } | null, err: unknown) => {
    if (!isServiceError(err)) throw err;
    const d = err.details as { samples?: SampleReport[]; matches?: DuplicateMatch[] } | undefined;
    const body = err.code === 'duplicate' && d?.matches ? duplicateWarning(d.matches, d.samples) : enrollRefused(err.message, d?.samples);
    const status = (STATUS as Record<string, 400 | 404 | 409 | 413 | 422 | 503>)[err.code] ?? 400;
    return answer(c, identity, body, status);
  };

  /** The identity a samples form is for (its :id), for the page a refusal renders. */
  const identityOf = (c: Context<WebEnv>) => {
    const id = c.req.param('id');
    const who = id !== undefined ? service.findIdentity(id) : undefined;
    return who ? { id: who.id, name: who.name } : null;
  };

  // Camera captures and uploads together are at most maxEnrollImages images (imagesOf), so the
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

  /** Camera captures and uploaded photos of a form post, within the limits. */
  const imagesOf = async (c: Context<WebEnv>) => {
    const form = await readForm(c);
    const camera = form.files('camera');
    const uploads = form.files('images');
    const all = [...camera, ...uploads];
    if (all.length === 0) throw Object.assign(new Error('Capture samples with the camera or choose photos to upload.'), { status: 400 });
    if (all.length > maxImages) throw Object.assign(new Error(`${all.length} images: at most ${maxImages} at a time.`), { status: 400 });
    // uploadLimit refused any larger one while it streamed in; kept for a body that came another way.
    const big = all.find((f) => f.size > maxImage);
    if (big) throw Object.assign(new Error(`${big.name || 'an image'} is larger than ${formatBytes(maxImage)}.`), { status: 413 });
    const images = await Promise.all(all.map(async (f) => ({ bytes: new Uint8Array(await f.arrayBuffer()), file: f.name ? f.name.slice(0, 200) : undefined })));
    return { form, images, source: camera.length > 0 ? ('camera' as const) : ('upload' as const) };
  };

  const thumbsOf = (identityId: string) =>
    service
      .templates(service.modelId ?? undefined)
      .filter((t) => t.identityId === identityId && t.crop !== null)
      .map((t) => cropUrl(identityId, t.crop!));

  app.get('/admin/enroll', admin, (c) => {
    const id = c.req.query('identity');
    if (id !== undefined) {
      const who = service.findIdentity(id);
      if (!who) return page(c, null, enrollRefused(`No identity ${id}.`, undefined), 404);
      return page(c, { id: who.id, name: who.name });
    }
    return page(c, null);
  });

  // Live feedback while capturing: distance, pose, light, sharpness. Needs no model.
  app.post('/admin/enroll/check', admin, ...csrfImage, acceptContent(['image/*']), async (c) => {
    try {
      return c.json(guidance(await service.checkFace(new Uint8Array(await c.req.arrayBuffer()))));
    } catch (err) {
      if (isServiceError(err)) return c.json({ error: { code: err.code, message: err.message } }, err.code === 'busy' ? 503 : 400);
      throw err;
    }
  });

  app.post('/admin/enroll', admin, ...csrfUpload, async (c) => {
    let input;
    try {
      input = await imagesOf(c);
    } catch (err) {
      return answer(c, null, enrollRefused((err as Error).message, undefined), (err as { status?: 400 | 413 }).status ?? 400);
    }
    const name = input.form.str('name')?.trim() ?? '';
    if (!name) return answer(c, null, enrollRefused('Enter a name.', undefined), 400);
    try {
      const out = await service.enroll({
        name,
        badge: input.form.str('badge')?.trim() || undefined,
        images: input.images,
        confirmDuplicate: input.form.bool('confirmDuplicate'),
        source: input.source,
      });
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

  app.post('/admin/gallery/:id/samples', admin, ...csrfUpload, async (c) => {
    const id = c.req.param('id');
    const who = service.findIdentity(id);
    if (!who) return answer(c, null, enrollRefused(`No identity ${id}.`, undefined), 404);
    const identity = { id: who.id, name: who.name };
    let input;
    try {
      input = await imagesOf(c);
    } catch (err) {
      return answer(c, identity, enrollRefused((err as Error).message, undefined), (err as { status?: 400 | 413 }).status ?? 400);
    }
    try {
      const out = await service.addSamples(who.id, input.images, input.source);
      const body = enrollSuccess({ name: who.name, identityId: who.id, templates: out.templates, images: input.images.length, thumbs: thumbsOf(who.id), samples: out.samples, duplicateOf: [], added: true });
      return answer(c, identity, body, 201);
    } catch (err) {
      return refused(c, identity, err);
    }
  });

  return app;
}
