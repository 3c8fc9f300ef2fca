// Gallery pages: the list, rename, delete with confirmation, re-embed, and the face crops and
// decision snapshots behind the thumbnails (admin only: they are biometric data).
import { readFile } from 'node:fs/promises';
import { zValidator } from '@hono/zod-validator';
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { statusOf } from '../../http/status.js';
import type { AppDeps } from '../../http/types.js';
import { deletePage, galleryPage, personRow, type GalleryPerson } from '../../../views/gallery.js';
import { html, notice, type Html } from '../../../views/html.js';
import { csrfOf, requireCsrf } from '../csrf.js';
import { isServiceError } from '../../service/errors.js';
import { isHtmx, refuse } from '../form.js';
import { thumbnails } from '../thumbs.js';
import type { WebEnv } from '../types.js';

// The gallery's schema checks the name itself (length, control characters); its message is shown.
const RenameForm = z.object({ name: z.string({ error: 'Enter a name.' }) });

export function galleryRoutes(deps: AppDeps): Hono<WebEnv> {
  const { service, auth, config } = deps;
  const app = new Hono<WebEnv>();
  const csrf = requireCsrf(() => auth.opts.secret, config.limits.maxJsonBytes);

  const people = (): GalleryPerson[] => {
    const thumbs = thumbnails(service);
    const models = new Map<string, Set<string>>();
    for (const t of service.templates()) {
      if (!models.has(t.identityId)) models.set(t.identityId, new Set());
      models.get(t.identityId)!.add(t.modelId);
    }
    return service
      .listIdentities()
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((i) => ({
        id: i.id,
        name: i.name,
        badge: i.badge,
        thumb: thumbs.get(i.id) ?? null,
        modelTemplates: i.modelTemplates,
        templateCount: i.templateCount,
        models: [...(models.get(i.id) ?? [])].sort(),
        lastSeen: i.lastSeen,
      }));
  };

  const render = (c: Context<WebEnv>, message?: Html, status: ContentfulStatusCode = 200) => {
    const h = service.health();
    return c.html(
      galleryPage({
        csrf: csrfOf(c),
        people: people(),
        modelId: h.model.id,
        reembedPending: h.gallery.reembedPending,
        otherModelTemplates: h.gallery.otherModelTemplates,
        needEnrollment: service.needEnrollment().map((i) => i.name),
        message,
      }),
      status,
    );
  };

  const identityOf = (c: Context<WebEnv>) => {
    const id = c.req.param('id') ?? '';
    return service.findIdentity(id);
  };

  app.get('/gallery', (c) => {
    const deleted = c.req.query('deleted');
    return render(c, deleted ? notice('ok', 'Deleted the person and everything stored about them.') : undefined);
  });

  /** Not renamed: the row's message for htmx, the page otherwise. */
  const notRenamed = (c: Context<WebEnv>, message: string, status: ContentfulStatusCode) => {
    const msg = notice('error', `Not renamed: ${message}`);
    return isHtmx(c) ? c.html(html`<tr><td colspan="6">${msg}</td></tr>`, status) : render(c, msg, status);
  };

  app.post('/gallery/:id/rename', ...csrf, zValidator('form', RenameForm, refuse<WebEnv>((c, message) => notRenamed(c, message, 400))), async (c) => {
    const who = identityOf(c);
    if (!who) return isHtmx(c) ? c.html(notice('error', 'No such person.'), 404) : render(c, notice('error', 'No such person.'), 404);
    try {
      await service.updateIdentity(who.id, { name: c.req.valid('form').name });
    } catch (err) {
      if (!isServiceError(err)) throw err;
      return notRenamed(c, err.message, statusOf(err));
    }
    if (isHtmx(c)) return c.html(personRow(people().find((p) => p.id === who.id)!, csrfOf(c)));
    return c.redirect('/admin/gallery', 303);
  });

  app.get('/gallery/:id/delete', (c) => {
    const who = identityOf(c);
    if (!who) return render(c, notice('error', 'No such person.'), 404);
    const p = people().find((x) => x.id === who.id)!;
    return c.html(deletePage({ csrf: csrfOf(c), id: who.id, name: who.name, templates: who.templateCount, thumb: p.thumb }));
  });

  app.post('/gallery/:id/delete', ...csrf, async (c) => {
    const who = identityOf(c);
    if (!who) return render(c, notice('error', 'No such person.'), 404);
    await service.deleteIdentity(who.id);
    // No name in the URL: it would outlive the person in browser history and proxy logs.
    return c.redirect('/admin/gallery?deleted=1', 303);
  });

  app.post('/gallery/reembed', ...csrf, async (c) => {
    try {
      const r = await service.reembed();
      const msg = notice(
        r.failed.length || r.needEnrollment.length ? 'warn' : 'ok',
        html`Re-embedded ${r.reembedded} templates with ${r.modelId} (${r.kept} already there).
${r.failed.length ? html` ${r.failed.length} crops failed.` : ''}
${r.needEnrollment.length ? html` Must enroll again (no stored crop): ${r.needEnrollment.map((x) => x.name).join(', ')}.` : ''}`,
      );
      return render(c, msg);
    } catch (err) {
      if (!isServiceError(err)) throw err;
      return render(c, notice('error', `Re-embedding failed: ${err.message}`), statusOf(err));
    }
  });

  const jpeg = async (c: Context<WebEnv>, file: string | null) => {
    if (!file) return c.notFound();
    try {
      const body = await readFile(file);
      // no-store: a browser's copy would outlive the person's erasure (the files go, the cache stays).
      return c.body(new Uint8Array(body), 200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'no-store' });
    } catch {
      return c.notFound();
    }
  };

  app.get('/faces/:id/:file', (c) => {
    const { id, file } = c.req.param();
    return jpeg(c, service.cropFile(id, file));
  });

  app.get('/snapshots/:file', (c) => {
    const file = c.req.param('file');
    return jpeg(c, service.snapshotFile(file));
  });

  return app;
}
