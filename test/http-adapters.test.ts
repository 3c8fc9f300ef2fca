// The HTTP layer's shape, checked so that it stays that way: every admin route of the composed
// app (pages and API) is behind its guard, found by walking Hono's route table rather than by a
// list kept by hand, so a new route that forgets its guard fails here; and the two adapters,
// src/server (API) and src/web (pages), import neither each other nor the composition.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import { initBackend } from '../src/engine/backend.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { FaceService } from '../src/service/index.js';
import { createApp, type AppEnv, type CreatedApp } from '../src/http/index.js';
import { PASSWORD } from './fixtures/web/harness.js';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/**
 * Routes anyone may reach without an admin session, each for a reason. Recognition, metrics and
 * the kiosk follow the access setting (config.access), not the admin guard; login and logout
 * must work without a session. Anything not listed here must refuse a visitor without a session.
 */
const OPEN = new Set([
  'GET /api/health', // status for monitors; details only to this machine or an admin
  'GET /api/session',
  'POST /api/login',
  'POST /api/logout',
  'POST /api/verify', // access.recognition
  'POST /api/identify', // access.recognition
  'GET /metrics', // access.metrics
  'GET /', // the kiosk screen
  'POST /kiosk/frame', // access.recognition, and a CSRF token
  'GET /kiosk/events', // access.recognition
  'GET /login',
  'POST /login',
  'POST /logout',
  'GET /static/htmx.min.js',
  'GET /static/:dir/:file',
]);

/** A valid-looking value for each path parameter: the guard, not the parameter check, must answer. */
const PARAMS: Record<string, string> = {
  id: 'i_0123456789abcdefghjk',
  file: 't_0123456789abcdefghjk.jpg',
  dir: 'js',
};

const fill = (p: string) => p.replace(/:([A-Za-z_]+)/g, (_, name: string) => PARAMS[name] ?? 'x');

let tmp: string;
let service: FaceService;
let created: CreatedApp;
let app: Hono<AppEnv>;

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-http-'));
  // No model: the guards answer before any route would need one. kiosk.test: the name anonymous() uses.
  const config = loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'no-model'), galleryDir: path.join(tmp, 'gallery'), allowedHosts: ['kiosk.test'] } });
  service = await FaceService.open(config, { quiet: true });
  created = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'http-test-secret-'.repeat(3) } });
  app = created.app;
});

after(async () => {
  await created?.close();
  await service?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The handlers of the composed app, one per method and path (middleware is registered as ALL). */
function handlerRoutes(): { method: string; path: string }[] {
  const seen = new Map<string, { method: string; path: string }>();
  for (const r of app.routes) if (r.method !== 'ALL') seen.set(`${r.method} ${r.path}`, { method: r.method, path: r.path });
  return [...seen.values()];
}

/** A request as a browser on this origin would send it, without any session. */
function anonymous(method: string, p: string): Promise<Response> {
  const url = `http://kiosk.test${fill(p)}`;
  const headers = { origin: 'http://kiosk.test', 'sec-fetch-site': 'same-origin' };
  return Promise.resolve(app.request(url, { method, headers }));
}

test('every admin route, page or API, refuses a visitor without a session', async () => {
  const routes = handlerRoutes();
  const guarded = routes.filter((r) => !OPEN.has(`${r.method} ${r.path}`));
  for (const open of OPEN) assert.ok(routes.some((r) => `${r.method} ${r.path}` === open), `${open} is listed as open but is no route: update OPEN`);
  const pages = guarded.filter((r) => r.path === '/admin' || r.path.startsWith('/admin/'));
  const api = guarded.filter((r) => r.path.startsWith('/api/'));
  // Nothing else exists: a route elsewhere must be reviewed (and listed in OPEN or guarded under /admin or /api).
  assert.deepEqual(guarded.filter((r) => !pages.includes(r) && !api.includes(r)), [], 'routes outside /admin and /api that are not listed as open');
  // Not a vacuous walk: the pages and the API's admin groups are all there.
  assert.ok(pages.length >= 20, `${pages.length} admin page routes`);
  assert.ok(api.length >= 12, `${api.length} admin API routes`);
  for (const must of ['GET /admin', 'POST /admin/enroll', 'POST /admin/gallery/:id/delete', 'GET /admin/faces/:id/:file', 'DELETE /api/identities/:id', 'PUT /api/settings', 'POST /api/finetune', 'PUT /api/admin/password']) {
    assert.ok(guarded.some((r) => `${r.method} ${r.path}` === must), `${must} is walked`);
  }

  for (const r of pages) {
    const res = await anonymous(r.method, r.path);
    const what = `${r.method} ${fill(r.path)}`;
    assert.equal(res.status, 303, `${what}: ${res.status}`);
    assert.match(res.headers.get('location') ?? '', /^\/login\?next=/, what);
  }
  for (const r of api) {
    const res = await anonymous(r.method, r.path);
    const what = `${r.method} ${fill(r.path)}`;
    const text = await res.text();
    assert.ok([401, 403].includes(res.status), `${what}: ${res.status} ${text}`);
    const { error } = JSON.parse(text) as { error: { code: string } };
    assert.ok(['unauthorized', 'forbidden', 'admin_not_configured'].includes(error.code), `${what}: ${error.code}`);
  }
});

test('an admin session passes the same guards (GET routes: nothing changes)', async () => {
  const login = await app.request('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
  assert.equal(login.status, 200);
  const { token } = (await login.json()) as { token: string };
  const gets = handlerRoutes().filter((r) => r.method === 'GET' && !OPEN.has(`GET ${r.path}`));
  assert.ok(gets.length >= 15);
  for (const r of gets) {
    const res = await app.request(fill(r.path), { headers: { authorization: `Bearer ${token}` } });
    const what = `GET ${fill(r.path)}`;
    assert.ok(![401, 403].includes(res.status), `${what}: ${res.status}`);
    assert.doesNotMatch(res.headers.get('location') ?? '', /^\/login/, what);
    await res.body?.cancel();
  }
});

/** The relative imports of a TypeScript file (static, dynamic and re-exports), resolved to paths under src/. */
async function importsOf(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.filter((s) => s.startsWith('.')).map((s) => path.relative(SRC, path.resolve(path.dirname(file), s)));
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.ts')) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}

test('src/server (API) and src/web (pages) import neither each other nor the composition; the shared src/http imports neither', async () => {
  const within = (rel: string, folder: string) => rel === folder || rel.startsWith(`${folder}/`);
  // The composition (app.ts, start.ts, and index.ts that re-exports them) is the one place both meet.
  const composition = new Set(['http/app.js', 'http/start.js', 'http/index.js']);
  const rules: [string, (rel: string) => boolean][] = [
    ['server', (rel) => within(rel, 'web') || composition.has(rel)],
    ['web', (rel) => within(rel, 'server') || composition.has(rel)],
    ['http', (rel) => within(rel, 'server') || within(rel, 'web')],
  ];
  const bad: string[] = [];
  let scanned = 0;
  for (const [folder, forbidden] of rules) {
    for (const file of await filesUnder(path.join(SRC, folder))) {
      const self = path.relative(SRC, file);
      if (folder === 'http' && composition.has(self.replace(/\.ts$/, '.js'))) continue;
      scanned++;
      for (const rel of await importsOf(file)) if (forbidden(rel)) bad.push(`${self} imports ${rel}`);
    }
  }
  assert.ok(scanned >= 20, `${scanned} files scanned`);
  assert.deepEqual(bad, []);
});
