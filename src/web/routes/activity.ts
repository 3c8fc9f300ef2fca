// Activity: recent decisions with filters, and the same view as CSV. The filters are a GET form,
// validated with zod like the posted forms: a filter that is no date is refused with a message.
import { zValidator } from '@hono/zod-validator';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { isId } from '../../gallery/ids.js';
import type { AppDeps } from '../../http/types.js';
import { activityPage, DECISION_LABELS, type ActivityFilter, type ActivityRow } from '../../../views/activity.js';
import { toCsv } from '../csv.js';
import { thumbnails } from '../thumbs.js';
import { csrfOf } from '../csrf.js';
import { refuse } from '../form.js';
import type { WebEnv } from '../types.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

const Day = (what: string) =>
  z
    .string({ error: `${what} must be a date (YYYY-MM-DD)` })
    .optional()
    .refine((v) => !v || (DATE.test(v) && !Number.isNaN(Date.parse(v))), `${what} must be a date (YYYY-MM-DD)`)
    .transform((v) => v ?? '');

// Any other odd value means "any" (or the default limit), as a link with a stale id should.
const Decision = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/).catch('');
const Identity = z
  .string()
  .refine((v) => isId('identity', v))
  .catch('');
const Limit = z.coerce
  .number()
  .int()
  .min(1)
  .transform((n) => Math.min(n, 5000))
  .catch(200);

const FilterQuery = z.object({ decision: Decision, identity: Identity, since: Day('From'), until: Day('To'), limit: Limit });
/** The same filters without the refused dates: what the page still shows beside the message. */
const FilterFallback = FilterQuery.extend({ since: Day('From').catch(''), until: Day('To').catch('') });

export function activityRoutes(deps: AppDeps): Hono<WebEnv> {
  const { service } = deps;
  const app = new Hono<WebEnv>();

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

  const page = (c: Context<WebEnv>, filter: ActivityFilter, error?: string) => {
    const people = service
      .listIdentities()
      .map((i) => ({ id: i.id, name: i.name }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return c.html(activityPage({ csrf: csrfOf(c), rows: rows(filter), filter, people, query: queryOf(filter), error }), error ? 400 : 200);
  };

  // A date that is not one: the page with the message and the other filters still applied.
  const badPage = refuse<WebEnv>((c, message, posted) => page(c, FilterFallback.parse(posted), message));
  app.get('/activity', zValidator('query', FilterQuery, badPage), (c) => page(c, c.req.valid('query')));

  app.get('/activity.csv', zValidator('query', FilterQuery, refuse<WebEnv>((c, message) => c.text(message, 400))), (c) => {
    const filter = c.req.valid('query');
    const csv = toCsv(
      ['time', 'decision', 'decision_label', 'identity_id', 'name', 'score', 'metric', 'model_id', 'detail'],
      rows(filter).map((r) => [r.time, r.decision, DECISION_LABELS[r.decision] ?? r.decision, r.identityId, r.name, r.score, r.metric, r.modelId, r.detail]),
    );
    const stamp = new Date().toISOString().slice(0, 10);
    return c.body(csv, 200, { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="facegate-activity-${stamp}.csv"` });
  });

  return app;
}
