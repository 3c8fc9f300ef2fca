// /api/activity: the audit trail for other systems. Admin only (the guard at this sub-app's edge):
// the records name people and link to their photos.
//   GET /api/activity              newest first as JSON (default 100, at most 5,000 records)
//   GET /api/activity/export.csv   the whole filtered trail as CSV, streamed (formula-safe cells)
//   GET /api/activity/export.json  the same as one JSON document, streamed
// Filters (query): identity (an id, or "redacted"), decision (one, or several comma-separated),
// door, since / until (YYYY-MM-DD: whole UTC days, or an ISO time), limit.
import { Hono } from 'hono';
import { z } from 'zod';
import { csvStream, jsonStream, withNames, type ActivityQuery } from '../../activity/index.js';
import { isId } from '../../gallery/ids.js';
import { requireAdmin } from '../../http/guards.js';
import { validate } from '../../http/validation.js';
import type { AppDeps, AppEnv } from '../../http/types.js';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const When = (what: string) =>
  z
    .string()
    .refine((v) => (DAY.test(v) || z.iso.datetime({ offset: true }).safeParse(v).success) && !Number.isNaN(Date.parse(v)), `${what} must be a date (YYYY-MM-DD) or an ISO 8601 time`)
    .optional();

const Filter = z.strictObject({
  identity: z
    .string()
    .refine((v) => v === 'redacted' || isId('identity', v), 'identity must be an identity id or "redacted"')
    .optional(),
  decision: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}(,[a-z][a-z0-9-]{0,31})*$/, 'decision must be a decision word, or several separated by commas')
    .optional(),
  door: z.string().trim().min(1).max(100).optional(),
  since: When('since'),
  until: When('until'),
});
type Filter = z.output<typeof Filter>;

const ListQuery = Filter.extend({ limit: z.coerce.number().int().min(1).max(5000).default(100) });
const ExportQuery = Filter.extend({ limit: z.coerce.number().int().min(1).optional() });

function trailQuery(f: Filter, limit: number | undefined): ActivityQuery {
  return {
    limit,
    filter: {
      identityId: f.identity && f.identity !== 'redacted' ? f.identity : undefined,
      redacted: f.identity === 'redacted' ? true : undefined,
      decision: f.decision?.split(','),
      door: f.door,
      since: f.since && DAY.test(f.since) ? `${f.since}T00:00:00.000Z` : f.since,
      until: f.until && DAY.test(f.until) ? `${f.until}T23:59:59.999Z` : f.until,
    },
  };
}

export function activityRoutes({ service, auth }: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireAdmin(auth));
  const trail = service.decisions.trail;
  const namesNow = () => {
    const names = new Map(service.listIdentities().map((i) => [i.id, i.name]));
    return (id: string) => names.get(id) ?? null;
  };

  app.get('/', validate('query', ListQuery), async (c) => {
    const q = c.req.valid('query');
    const nameOf = namesNow();
    const entries = (await trail.list(trailQuery(q, q.limit))).map((e) => ({ ...e, name: e.identityId === null ? null : nameOf(e.identityId) }));
    return c.json({ entries, count: entries.length, limit: q.limit, retentionDays: service.getSettings().audit.retentionDays });
  });

  const exported = (format: 'csv' | 'json') =>
    app.get(`/export.${format}`, validate('query', ExportQuery), (c) => {
      const q = c.req.valid('query');
      const rows = withNames(trail.read(trailQuery(q, q.limit)), namesNow());
      const now = new Date().toISOString();
      const body = format === 'csv' ? csvStream(rows) : jsonStream(rows, { exportedAt: now, filter: { ...q }, retentionDays: service.getSettings().audit.retentionDays });
      return c.body(body, 200, {
        'Content-Type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
        'Content-Disposition': `attachment; filename="facegate-audit-${now.slice(0, 10)}.${format}"`,
        'Cache-Control': 'no-store',
      });
    });
  exported('csv');
  exported('json');

  return app;
}
