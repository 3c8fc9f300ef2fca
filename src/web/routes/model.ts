// Model and training page: the active model, the versions under models/ (use one, roll back),
// fine-tuning (start, progress polled by htmx, the before/after report), and the active model's
// training curves as images.
import { readFile } from 'node:fs/promises';
import { Hono, type Context } from 'hono';
import type { AppDeps } from '../../server/types.js';
import { finetunePanel, modelPage } from '../../../views/model.js';
import { html, notice, type Html } from '../../../views/html.js';
import { findCurves, readMeta } from '../model-info.js';
import { requireAdminPage } from '../page-auth.js';
import { csrfOf, requireCsrf } from '../csrf.js';
import { isServiceError } from '../../service/errors.js';
import { isHtmx, readForm } from '../form.js';
import { STATUS } from '../../server/errors.js';
import type { ModelSwitchOutcome } from '../../service/types.js';
import type { WebEnv } from '../types.js';

type Status = 200 | 400 | 404 | 409 | 500 | 503;

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
  const admin = requireAdminPage(auth);
  const csrf = requireCsrf(() => auth.opts.secret, config.limits.maxJsonBytes);

  const activeMeta = async () => service.embedder?.meta ?? (await readMeta(config.modelDir));

  const render = async (c: Context<WebEnv>, message?: Html, status: Status = 200) => {
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
    const status = STATUS[err.code] as Status;
    return render(c, notice('error', `${what}: ${err.message}`), [400, 404, 409, 503].includes(status) ? status : 500);
  };

  app.get('/admin/model', admin, (c) => render(c));

  app.post('/admin/model/use', admin, ...csrf, async (c) => {
    const folder = (await readForm(c)).str('folder') ?? '';
    try {
      return await render(c, switched(await models.use(folder)));
    } catch (err) {
      return refused(c, `Not switched to ${folder.slice(0, 128)}`, err);
    }
  });

  app.post('/admin/model/rollback', admin, ...csrf, async (c) => {
    try {
      return await render(c, switched(await models.rollback()));
    } catch (err) {
      return refused(c, 'Not rolled back', err);
    }
  });

  // The finetune panel alone: what htmx polls every 2 s while a run is going. Once it has ended the
  // whole page reloads (HX-Refresh): a promotion changed the active model and the versions above.
  app.get('/admin/model/finetune', admin, async (c) => {
    const view = await models.finetuneStatus();
    if (isHtmx(c) && !view.running) c.header('HX-Refresh', 'true');
    return c.html(finetunePanel(view, csrfOf(c), models.following));
  });

  app.post('/admin/model/finetune', admin, ...csrf, async (c) => {
    let message: Html | undefined;
    let status: Status = 200;
    try {
      await models.startFinetune();
    } catch (err) {
      if (!isServiceError(err)) throw err;
      message = notice('error', `Not started: ${err.message}`);
      status = err.code === 'conflict' ? 409 : 500;
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
  app.get('/admin/model/curves.svg', admin, curves('svg'));
  app.get('/admin/model/curves.png', admin, curves('png'));

  return app;
}
