// Activity: the audit trail with filters (person, decision, door, date range), and the same view
// exported as CSV or JSON. The filters are a GET form, validated with zod like the posted forms:
// a filter that is no date is refused with a message. The rows are read from the trail's files
// (src/activity), newest first, so the page and its exports reach back over the whole retention.
import { zValidator } from '@hono/zod-validator';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { csvStream, jsonStream, withNames, type ActivityEntry, type ActivityQuery } from '../../activity/index.js';
import { isId } from '../../gallery/ids.js';
import type { AppDeps } from '../../http/types.js';
import { activityPage, type ActivityFilter, type ActivityRow } from '../../../views/activity.js';
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
/** A person's id, or "redacted": the records of people since erased. */
const Identity = z
  .string()
  .refine((v) => v === 'redacted' || isId('identity', v))
  .catch('');
const Door = z.string().trim().max(100).catch('');
const Limit = z.coerce
  .number()
  .int()
  .min(1)
  .transform((n) => Math.min(n, 5000))
  .catch(200);

const FilterQuery = z.object({ decision: Decision, identity: Identity, door: Door, since: Day('From'), until: Day('To'), limit: Limit });
/** The same filters without the refused dates: what the page still shows beside the message. */
const FilterFallback = FilterQuery.extend({ since: Day('From').catch(''), until: Day('To').catch('') });

/** The page's filter as a query of the trail. */
function trailQuery(f: ActivityFilter): ActivityQuery {
  return {
    limit: f.limit,
    filter: {
      decision: f.decision || undefined,
      identityId: f.identity && f.identity !== 'redacted' ? f.identity : undefined,
      redacted: f.identity === 'redacted' ? true : undefined,
      door: f.door || undefined,
      since: f.since ? `${f.since}T00:00:00.000Z` : undefined,
      // The whole "to" day.
      until: f.until ? `${f.until}T23:59:59.999Z` : undefined,
    },
  };
}

export function activityRoutes(deps: AppDeps): Hono<WebEnv> {
  const { service } = deps;
  const trail = service.decisions.trail;
  const app = new Hono<WebEnv>();

  const namesNow = () => new Map(service.listIdentities().map((i) => [i.id, i.name]));

  const rows = async (f: ActivityFilter): Promise<ActivityRow[]> => {
    const names = namesNow();
    const thumbs = thumbnails(service);
    const entries: ActivityEntry[] = await trail.list(trailQuery(f));
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

  const page = async (c: Context<WebEnv>, filter: ActivityFilter, error?: string) => {
    const people = service
      .listIdentities()
      .map((i) => ({ id: i.id, name: i.name }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const retentionDays = service.getSettings().audit.retentionDays;
    const shown = await rows(filter);
    return c.html(activityPage({ csrf: csrfOf(c), rows: shown, filter, people, doors: trail.doors(), retentionDays, query: queryOf(filter), error }), error ? 400 : 200);
  };

  // A date that is not one: the page with the message and the other filters still applied.
  const badPage = refuse<WebEnv>((c, message, posted) => page(c, FilterFallback.parse(posted), message));
  app.get('/activity', zValidator('query', FilterQuery, badPage), (c) => page(c, c.req.valid('query')));

  // The exports: what the page shows with the same filters (and the same number of rows), streamed.
  const refused = refuse<WebEnv>((c, message) => c.text(message, 400));
  const exported = (c: Context<WebEnv>, f: ActivityFilter, format: 'csv' | 'json') => {
    const names = namesNow();
    const rowsOut = withNames(trail.read(trailQuery(f)), (id) => names.get(id) ?? null);
    const stamp = new Date().toISOString().slice(0, 10);
    const body =
      format === 'csv'
        ? csvStream(rowsOut)
        : jsonStream(rowsOut, { exportedAt: new Date().toISOString(), filter: { ...f }, retentionDays: service.getSettings().audit.retentionDays });
    return c.body(body, 200, {
      'Content-Type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
      'Content-Disposition': `attachment; filename="facegate-activity-${stamp}.${format}"`,
      'Cache-Control': 'no-store',
    });
  };
  app.get('/activity.csv', zValidator('query', FilterQuery, refused), (c) => exported(c, c.req.valid('query'), 'csv'));
  app.get('/activity.json', zValidator('query', FilterQuery, refused), (c) => exported(c, c.req.valid('query'), 'json'));

  return app;
}
