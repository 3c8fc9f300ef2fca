// Activity: recent decisions with filters, and the same view as CSV.
import { Hono, type Context } from 'hono';
import { isId } from '../../gallery/ids.js';
import type { AppDeps } from '../../server/types.js';
import { activityPage, DECISION_LABELS, type ActivityFilter, type ActivityRow } from '../../../views/activity.js';
import { toCsv } from '../csv.js';
import { requireAdminPage } from '../page-auth.js';
import { thumbnails } from '../thumbs.js';
import { csrfOf } from '../csrf.js';
import type { WebEnv } from '../types.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function filterOf(c: Context<WebEnv>): { filter: ActivityFilter; error: string | null } {
  const q = c.req.query();
  const errors: string[] = [];
  const decision = q.decision && /^[a-z][a-z0-9-]{0,31}$/.test(q.decision) ? q.decision : '';
  const identity = q.identity && isId('identity', q.identity) ? q.identity : '';
  const date = (v: string | undefined, what: string) => {
    if (!v) return '';
    if (DATE.test(v) && !Number.isNaN(Date.parse(v))) return v;
    errors.push(`${what} must be a date (YYYY-MM-DD)`);
    return '';
  };
  const since = date(q.since, 'From');
  const until = date(q.until, 'To');
  const n = Number(q.limit ?? 200);
  const limit = Number.isInteger(n) && n >= 1 ? Math.min(n, 5000) : 200;
  return { filter: { decision, identity, since, until, limit }, error: errors.length ? errors.join('; ') : null };
}

export function activityRoutes(deps: AppDeps): Hono<WebEnv> {
  const { service, auth } = deps;
  const app = new Hono<WebEnv>();
  const admin = requireAdminPage(auth);

  const rows = (f: ActivityFilter): ActivityRow[] => {
    const names = new Map(service.listIdentities().map((i) => [i.id, i.name]));
    const thumbs = thumbnails(service);
    const entries = service.activity({
      limit: f.limit,
      filter: {
        decision: f.decision || undefined,
        identityId: f.identity || undefined,
        since: f.since ? `${f.since}T00:00:00.000Z` : undefined,
        // The whole "to" day.
        until: f.until ? `${f.until}T23:59:59.999Z` : undefined,
      },
    });
    return entries.map((e) => ({
      ...e,
      name: e.identityId ? (names.get(e.identityId) ?? null) : null,
      thumb: e.snapshot ? `/admin/snapshots/${e.snapshot}` : e.identityId ? (thumbs.get(e.identityId) ?? null) : null,
    }));
  };

  const queryOf = (f: ActivityFilter) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v !== '' && !(k === 'limit' && v === 200)) p.set(k, String(v));
    const s = p.toString();
    return s ? `?${s}` : '';
  };

  app.get('/admin/activity', admin, (c) => {
    const { filter, error } = filterOf(c);
    const people = service
      .listIdentities()
      .map((i) => ({ id: i.id, name: i.name }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return c.html(activityPage({ csrf: csrfOf(c), rows: rows(filter), filter, people, query: queryOf(filter), error: error ?? undefined }), error ? 400 : 200);
  });

  app.get('/admin/activity.csv', admin, (c) => {
    const { filter, error } = filterOf(c);
    if (error) return c.text(error, 400);
    const csv = toCsv(
      ['time', 'decision', 'decision_label', 'identity_id', 'name', 'score', 'metric', 'model_id', 'detail'],
      rows(filter).map((r) => [r.time, r.decision, DECISION_LABELS[r.decision] ?? r.decision, r.identityId, r.name, r.score, r.metric, r.modelId, r.detail]),
    );
    const stamp = new Date().toISOString().slice(0, 10);
    return c.body(csv, 200, { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="facegate-activity-${stamp}.csv"` });
  });

  return app;
}
