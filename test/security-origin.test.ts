// Cross-origin writes with a cookie session: every state-changing API call (POST, PUT, PATCH,
// DELETE) that the session cookie authenticates must come from this server's own origin, whatever
// its content type; bearer tokens (scripts, the CLI) keep working from anywhere. Through
// app.request() on the real app, a real gallery in a temp dir, no model needed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Hono } from 'hono';
import { initBackend } from '../src/engine/backend.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { Enrolled } from '../src/enrolled/index.js';
import { LOCAL } from './fixtures/web/harness.js';
import { FaceService } from '../src/service/index.js';
import { createApp, type AppEnv } from '../src/http/index.js';

const PASSWORD = 'origin test password';
/** app.request() URLs are http://localhost/...: this server's own origin. */
const OWN = 'http://localhost';

let tmp: string;
let service: FaceService;
let app: Hono<AppEnv>;

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-origin-'));
  const config = loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'no-model'), galleryDir: path.join(tmp, 'gallery') } });
  // People to rename and erase: without a model they cannot be enrolled through the service.
  const enrolled = await Enrolled.open(config.galleryDir);
  for (const name of ['Amy', 'Raj', 'Zack']) await enrolled.gallery.addIdentity({ name });
  await enrolled.close();
  service = await FaceService.open(config, { quiet: true });
  ({ app } = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'origin-secret-'.repeat(4) }, web: false }));
});

after(async () => {
  await service?.close();
  await rm(tmp, { recursive: true, force: true });
});

const person = (name: string) => service.listIdentities().find((i) => i.name === name)!;

/** A fresh admin login: its session cookie (name=value) and its token. */
async function login(): Promise<{ cookie: string; token: string }> {
  const res = await app.request('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
  assert.equal(res.status, 200);
  const { token } = (await res.json()) as { token: string };
  return { cookie: res.headers.get('set-cookie')!.split(';')[0]!, token };
}

const FOREIGN: [string, Record<string, string>][] = [
  ['another site', { origin: 'http://evil.example' }],
  ['another site, as a browser says it', { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' }],
  ['another port on this host', { origin: 'http://localhost:4000' }],
  ['another port, same site', { origin: 'http://localhost:4000', 'sec-fetch-site': 'same-site' }],
  ['Origin: null', { origin: 'null' }],
  ['https instead of http', { origin: 'https://localhost' }],
  ['no Origin and no Sec-Fetch-Site', {}],
];

test('a cookie session cannot rename a person with a JSON PATCH from another origin', async () => {
  const amy = person('Amy');
  const { cookie } = await login();
  for (const [what, headers] of FOREIGN) {
    const res = await app.request(`/api/identities/${amy.id}`, {
      method: 'PATCH',
      headers: { cookie, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ name: 'Mallory' }),
    });
    assert.equal(res.status, 403, what);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'forbidden', what);
    assert.match(body.error.message, /cross-origin/, what);
    assert.equal(service.findIdentity(amy.id)!.name, 'Amy', `${what}: not renamed`);
  }
  // From this server's own pages it works: Origin or Sec-Fetch-Site says so.
  for (const headers of [{ origin: OWN }, { 'sec-fetch-site': 'same-origin' }] as Record<string, string>[]) {
    const res = await app.request(`/api/identities/${amy.id}`, {
      method: 'PATCH',
      headers: { cookie, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ name: 'Amy Farrah' }),
    });
    assert.equal(res.status, 200, JSON.stringify(headers));
  }
  assert.equal(service.findIdentity(amy.id)!.name, 'Amy Farrah');
});

test('a cookie session cannot change the settings with a JSON PUT from another origin', async () => {
  const { cookie } = await login();
  const before = service.getSettings().thresholds.cosine;
  for (const [what, headers] of FOREIGN) {
    const res = await app.request('/api/settings', {
      method: 'PUT',
      headers: { cookie, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ thresholds: { cosine: 0.01 } }),
    });
    assert.equal(res.status, 403, what);
  }
  assert.equal(service.getSettings().thresholds.cosine, before, 'unchanged');
  const own = await app.request('/api/settings', {
    method: 'PUT',
    headers: { cookie, 'content-type': 'application/json', origin: OWN },
    body: JSON.stringify({ thresholds: { cosine: 0.42 } }),
  });
  assert.equal(own.status, 200);
  assert.equal(service.getSettings().thresholds.cosine, 0.42);
  // Reading stays open to the cookie: a page elsewhere cannot read the answer without CORS.
  assert.equal((await app.request('/api/settings', { headers: { cookie, origin: 'http://evil.example' } })).status, 200);
});

test('a cookie session cannot be logged out from another origin', async () => {
  const { cookie, token } = await login();
  for (const [what, headers] of FOREIGN) {
    const res = await app.request('/api/logout', { method: 'POST', headers: { cookie, ...headers } });
    assert.equal(res.status, 403, what);
  }
  assert.equal((await app.request('/api/identities', { headers: { authorization: `Bearer ${token}` } })).status, 200, 'the session lives on');
  const own = await app.request('/api/logout', { method: 'POST', headers: { cookie, origin: OWN } });
  assert.equal(own.status, 200);
  assert.deepEqual(await own.json(), { loggedOut: true });
  assert.equal((await app.request('/api/identities', { headers: { authorization: `Bearer ${token}` } })).status, 401, 'now it ended');
});

test('every other state-changing API call with a cookie session refuses other origins, whatever the content type', async () => {
  const raj = person('Raj');
  const { cookie } = await login();
  const evil = { cookie, origin: 'http://evil.example' };
  const calls: [string, string, RequestInit][] = [
    ['DELETE', `/api/identities/${raj.id}`, { headers: evil }],
    ['POST', '/api/gallery/reembed', { headers: { ...evil, 'content-type': 'application/json' }, body: '{}' }],
    ['POST', '/api/models/rollback', { headers: { ...evil, 'content-type': 'application/json' }, body: '{}' }],
    ['POST', '/api/models/use', { headers: { ...evil, 'content-type': 'application/json' }, body: JSON.stringify({ folder: 'facegate-default' }) }],
    ['POST', '/api/finetune', { headers: { ...evil, 'content-type': 'application/octet-stream' }, body: 'x' }],
    ['POST', '/api/enroll', { headers: evil, body: new FormData() }],
    ['POST', '/api/verify', { headers: { ...evil, 'content-type': 'image/png' }, body: new Uint8Array(8) }],
    ['POST', '/api/identify', { headers: { ...evil, 'content-type': 'image/png' }, body: new Uint8Array(8) }],
  ];
  for (const [method, url, init] of calls) {
    const res = await app.request(url, { method, ...init });
    assert.equal(res.status, 403, `${method} ${url}`);
  }
  assert.ok(service.findIdentity(raj.id), 'not erased');
});

test('bearer tokens keep working from scripts (any Origin or none); a browser elsewhere cannot spend logins or post frames without a session', async () => {
  const zack = person('Zack');
  const { token } = await login();
  for (const headers of [{}, { origin: 'http://evil.example' }, { origin: 'null' }] as Record<string, string>[]) {
    const res = await app.request(`/api/identities/${zack.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ notes: `via bearer ${JSON.stringify(headers)}` }),
    });
    assert.equal(res.status, 200, JSON.stringify(headers));
  }
  // A login or a frame posted by a page of another origin is refused before it is looked at.
  const guess = await app.request('/api/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example' }, body: 'password=guess' }, LOCAL);
  assert.equal(guess.status, 403);
  const frame = await app.request('/api/verify', { method: 'POST', headers: { 'content-type': 'image/png', 'sec-fetch-site': 'cross-site' }, body: new Uint8Array(8) }, LOCAL);
  assert.equal(frame.status, 403);
  // Scripts (no Origin) and this server's pages log in as before.
  assert.equal((await app.request('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) }, LOCAL)).status, 200);
  assert.equal((await app.request('/api/login', { method: 'POST', headers: { 'content-type': 'application/json', origin: OWN }, body: JSON.stringify({ password: PASSWORD }) }, LOCAL)).status, 200);
});

test('a real server on 127.0.0.1: its own origin only, not another port or host name', async () => {
  const { startServer } = await import('../src/http/index.js');
  const { AdminStore, adminFilePath } = await import('../src/config/index.js');
  const config = loadConfig({ env: {}, overrides: { port: 0, host: '127.0.0.1', modelDir: path.join(tmp, 'no-model'), galleryDir: path.join(tmp, 'real') } });
  await (await AdminStore.open(adminFilePath(config))).setPassword(PASSWORD);
  const running = await startServer(config, { quiet: true });
  try {
    const res = await fetch(`${running.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
    const put = (origin: string, topK: number) =>
      fetch(`${running.url}/api/settings`, { method: 'PUT', headers: { cookie, origin, 'content-type': 'application/json' }, body: JSON.stringify({ topK }) });
    for (const origin of [`http://127.0.0.1:${running.port + 1}`, `http://localhost:${running.port}`, 'null', 'http://evil.example']) {
      assert.equal((await put(origin, 7)).status, 403, origin);
    }
    assert.equal((await put(`http://127.0.0.1:${running.port}`, 6)).status, 200);
    assert.equal(running.service.getSettings().topK, 6);
  } finally {
    await running.close();
  }
});
