// Model and training page, and the active model's training curves as images.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Hono, type Context } from 'hono';
import type { AppDeps } from '../../server/types.js';
import { modelPage } from '../../../views/model.js';
import { findCurves, listModelVersions, readMeta } from '../model-info.js';
import { requireAdminPage } from '../page-auth.js';
import { modelIdOf } from '../../service/embedder.js';
import { csrfOf } from '../csrf.js';
import type { WebEnv } from '../types.js';

export function modelRoutes(deps: AppDeps): Hono<WebEnv> {
  const { service, config, auth } = deps;
  const app = new Hono<WebEnv>();
  const admin = requireAdminPage(auth);

  const activeMeta = async () => service.embedder?.meta ?? (await readMeta(config.modelDir));

  app.get('/admin/model', admin, async (c) => {
    const h = service.health();
    const meta = await activeMeta();
    const activeDir = path.resolve(h.model.dir);
    const versions = (await listModelVersions(config.modelDir)).map((v) => {
      let id: string | null = null;
      try {
        id = v.meta ? modelIdOf(v.meta) : null;
      } catch {
        id = null;
      }
      return {
        folder: v.folder,
        id,
        created: typeof v.meta?.created === 'string' ? v.meta.created : null,
        params: typeof v.meta?.parameters === 'number' ? v.meta.parameters : null,
        variant: typeof v.meta?.config?.variant === 'string' ? v.meta.config.variant : null,
        active: h.model.loaded && path.resolve(v.dir) === activeDir,
        error: v.error,
      };
    });
    const curves = await findCurves(h.model.dir, meta);
    return c.html(
      modelPage({
        csrf: csrfOf(c),
        active: { id: h.model.id, dir: h.model.dir, loaded: h.model.loaded, error: h.model.error, variant: h.model.variant, backend: h.backend },
        meta,
        versions,
        curves: { svg: Boolean(curves['curves.svg']), png: Boolean(curves['curves.png']) },
      }),
    );
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
