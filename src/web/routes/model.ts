// Model and training page: the active model, the versions under models/ (use one, roll back),
// fine-tuning (start, progress polled by htmx, the before/after report), and the active model's
// training curves as images.
import { readFile } from 'node:fs/promises';
import { zValidator } from '@hono/zod-validator';
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { statusOf } from '../../http/status.js';
import type { AppDeps } from '../../http/types.js';
import { isModelFolderName } from '../../model/registry.js';
import { findCurves, readMeta } from '../../model/versions.js';
import { finetunePanel, modelPage } from '../../../views/model.js';
import { html, notice, type Html } from '../../../views/html.js';
import { csrfOf, requireCsrf } from '../csrf.js';
import { isServiceError } from '../../service/errors.js';
import { isHtmx, postedText, refuse } from '../form.js';
import type { ModelSwitchOutcome } from '../../service/types.js';
import type { WebEnv } from '../types.js';

// The API's check (POST /api/models/use): a folder is only ever a name, never a path.
const UseForm = z.object({
  folder: z.string({ error: 'no folder given' }).max(128, 'not a model folder name (at most 128 characters)').refine(isModelFolderName, 'not a model folder name (letters, digits, . _ + -; no slashes)'),
});

function switched(out: ModelSwitchOutcome): Html {
  if (!out.switched) return notice('info', html`${out.modelId} is already the model in use.`);
  const r = out.reembed;
  const kind = r && (r.failed.length || r.needEnrollment.length) ? 'warn' : 'ok';
  return notice(
    kind,
    html`Now using <strong>${out.modelId}</strong> (was ${out.from ?? 'none'}).
${r ? html` ${r.reembedded} templates re-embedded, ${r.kept} already there.` : ''}
${r?.failed.length ? html` ${r.failed.length} crops failed.` : ''}
${r?.needEnrollment.length ? html` Must enroll again (no stored crop): ${r.needEnrollment.map((x) => x.name).join(', ')}.` : ''}`,
  );
}

export function modelRoutes(deps: AppDeps): Hono<WebEnv> {
  const { service, config, auth, models } = deps;
  const app = new Hono<WebEnv>();
  const csrf = requireCsrf(() => auth.opts.secret, config.limits.maxJsonBytes);

  const activeMeta = async () => service.embedder?.meta ?? (await readMeta(config.modelDir));

  const render = async (c: Context<WebEnv>, message?: Html, status: ContentfulStatusCode = 200) => {
    const h = service.health();
    const meta = await activeMeta();
    const curves = await findCurves(h.model.dir, meta);
    return c.html(
      modelPage({
        csrf: csrfOf(c),
        active: { id: h.model.id, dir: h.model.dir, loaded: h.model.loaded, error: h.model.error, variant: h.model.variant, backend: h.backend },
        meta,
        models: await models.view(),
        finetune: await models.finetuneStatus(),
        curves: { svg: Boolean(curves['curves.svg']), png: Boolean(curves['curves.png']) },
        message,
      }),
      status,
    );
  };

  /** A refused switch or start: the page again with the reason. */
  const refused = (c: Context<WebEnv>, what: string, err: unknown) => {
    if (!isServiceError(err)) throw err;
    return render(c, notice('error', `${what}: ${err.message}`), statusOf(err));
  };
  const notSwitched = (folder: string) => `Not switched to ${folder.slice(0, 128)}`;

  app.get('/model', (c) => render(c));

  const badFolder = refuse<WebEnv>((c, message, posted) => render(c, notice('error', `${notSwitched(postedText(posted, 'folder'))}: ${message}`), 400));

  app.post('/model/use', ...csrf, zValidator('form', UseForm, badFolder), async (c) => {
    const { folder } = c.req.valid('form');
    try {
      return await render(c, switched(await models.use(folder)));
    } catch (err) {
      return refused(c, notSwitched(folder), err);
    }
  });

  app.post('/model/rollback', ...csrf, async (c) => {
    try {
      return await render(c, switched(await models.rollback()));
    } catch (err) {
      return refused(c, 'Not rolled back', err);
    }
  });

  // The finetune panel alone: what htmx polls every 2 s while a run is going. Once it has ended the
  // whole page reloads (HX-Refresh): a promotion changed the active model and the versions above.
  app.get('/model/finetune', async (c) => {
    const view = await models.finetuneStatus();
    if (isHtmx(c) && !view.running) c.header('HX-Refresh', 'true');
    return c.html(finetunePanel(view, csrfOf(c), models.following));
  });

  app.post('/model/finetune', ...csrf, async (c) => {
    let message: Html | undefined;
    let status: ContentfulStatusCode = 200;
    try {
      await models.startFinetune();
    } catch (err) {
      if (!isServiceError(err)) throw err;
      message = notice('error', `Not started: ${err.message}`);
      status = statusOf(err);
    }
    if (isHtmx(c)) return c.html(finetunePanel(await models.finetuneStatus(), csrfOf(c), models.following, message), status);
    if (message) return render(c, message, status);
    return c.redirect('/admin/model#finetune', 303);
  });

  const curves = (ext: 'svg' | 'png') => async (c: Context<WebEnv>) => {
    const file = (await findCurves(service.health().model.dir, await activeMeta()))[`curves.${ext}`];
    if (!file) return c.notFound();
    const body = new Uint8Array(await readFile(file));
    // An SVG opened directly must not run anything.
    return c.body(body, 200, { 'Content-Type': ext === 'svg' ? 'image/svg+xml' : 'image/png', 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'", 'Cache-Control': 'no-cache' });
  };
  app.get('/model/curves.svg', curves('svg'));
  app.get('/model/curves.png', curves('png'));

  return app;
}
