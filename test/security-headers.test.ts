// Security headers on every page and API answer, found by walking the route table (a new page
// gets checked without being listed): each HTML page carries the CSP (scripts from our own files
// only, no framing) and has no inline script or inline event handler; every answer says nosniff
// and refuses framing; errors carry no stack trace. An admin session with one enrolled person, so
// the pages render in full.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Hono } from 'hono';
import { initBackend } from '../src/engine/backend.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { FaceService } from '../src/service/index.js';
import { createApp, type AppEnv, type CreatedApp } from '../src/http/index.js';
import { CONTENT_SECURITY_POLICY } from '../src/web/index.js';
import { BBT, PASSWORD, PageClient, randomModel } from './fixtures/web/harness.js';

let tmp: string;
let service: FaceService;
let created: CreatedApp;
let app: Hono<AppEnv>;
let person: string;
let crop: string;

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-headers-'));
  const modelDir = await randomModel(path.join(tmp, 'model'));
  const config = loadConfig({ env: {}, overrides: { modelDir, galleryDir: path.join(tmp, 'gallery') } });
  service = await FaceService.open(config, { quiet: true });
  created = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'headers-test-secret-'.repeat(3) } });
  app = created.app;
  const images = await Promise.all([2, 3, 4].map(async (n) => ({ bytes: await readFile(path.join(BBT, 'amy', `amy${n}.png`)), file: `amy${n}.png` })));
  const out = await service.enroll({ name: 'Amy', images });
  person = out.identity.id;
  crop = service.templates().find((t) => t.crop !== null)!.crop!;
});

after(async () => {
  await created?.close();
  await service?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Every GET route of the composed app, with its parameters filled from the gallery. */
function getRoutes(): string[] {
  const values: Record<string, string> = { id: person, file: crop, dir: 'js' };
  const paths = new Set<string>();
  for (const r of app.routes) if (r.method === 'GET') paths.add(r.path.replace(/:([A-Za-z_]+)/g, (_, k: string) => values[k] ?? 'x'));
  return [...paths];
}

function framingRefused(res: Response, what: string): void {
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
  assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN', `${what}: X-Frame-Options`);
}

test('every HTML page has the CSP (no inline script, no framing) and no inline script or handler', async () => {
  assert.match(CONTENT_SECURITY_POLICY, /(^|; )script-src 'self'(;|$)/);
  assert.match(CONTENT_SECURITY_POLICY, /(^|; )frame-ancestors 'none'(;|$)/);
  assert.match(CONTENT_SECURITY_POLICY, /(^|; )object-src 'none'(;|$)/);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|\*/);
  const c = new PageClient(app);
  assert.equal((await c.login()).status, 303);
  let pages = 0;
  for (const url of getRoutes()) {
    if (url.startsWith('/api/') || url === '/metrics' || url === '/kiosk/events') continue;
    const r = await c.get(url);
    framingRefused(r.res, url);
    if (!/text\/html/.test(r.res.headers.get('content-type') ?? '')) continue;
    pages++;
    assert.equal(r.res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY, `${url}: CSP`);
    for (const [tag] of r.text.matchAll(/<script\b[^>]*>/g)) assert.match(tag, /\ssrc="\/static\//, `${url}: a script that is not a file: ${tag}`);
    assert.doesNotMatch(r.text, /<[^>]+\son[a-z]+\s*=/i, `${url}: an inline event handler`);
    assert.doesNotMatch(r.text, /javascript:/i, `${url}: a javascript: URL`);
  }
  assert.ok(pages >= 8, `${pages} HTML pages walked`);
});

test('API answers refuse framing and sniffing, and an error carries no stack trace', async () => {
  const c = new PageClient(app);
  await c.login();
  for (const url of getRoutes().filter((u) => u.startsWith('/api/'))) {
    const r = await c.get(url);
    framingRefused(r.res, url);
    assert.doesNotMatch(r.text, /\bat [^\s]+ \(|node:internal|\/work\/|\.ts:\d+/, `${url}: ${r.text.slice(0, 200)}`);
  }
  // A request that fails deep inside: a malformed JSON body, and an unknown route.
  for (const [url, init] of [
    ['/api/settings', { method: 'PUT', body: '{"metric": ', headers: { 'content-type': 'application/json' } }],
    ['/api/nothing-here', { method: 'GET' }],
  ] as const) {
    const r = await c.req(url, init);
    assert.ok(r.status >= 400 && r.status < 500, `${url}: ${r.status}`);
    assert.doesNotMatch(r.text, /\bat [^\s]+ \(|node:internal|\/work\/|\.ts:\d+|SyntaxError/, `${url}: ${r.text}`);
    framingRefused(r.res, url);
  }
});
