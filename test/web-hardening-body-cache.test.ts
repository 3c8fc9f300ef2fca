// Two page defects, through the real app with app.request():
// - a form body that does not parse (multipart with a body that is not multipart, or with no
//   boundary) is the client's mistake: the CSRF check, which reads the body for its _csrf field,
//   answers 400 with its refusal message, never the 500 'internal' with an "unhandled error" logged;
// - a person's face crops and decision snapshots are biometric data: sent with
//   `Cache-Control: no-store`, so no browser keeps a copy past the person's erasure. Static
//   assets keep their own caching.
// The gallery is written directly (Enrolled, a crop per template, a snapshot per decision): no model.
import { test, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import { initBackend } from '../src/engine/backend.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { Enrolled } from '../src/enrolled/index.js';
import { FaceService } from '../src/service/index.js';
import { createApp, type AppEnv, type CreatedApp } from '../src/http/index.js';
import { PASSWORD, PageClient } from './fixtures/web/harness.js';

const jpeg = await readFile(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'gallery', 'face.jpg'));
const MODEL = 'test-random@1';

let tmp: string;
let service: FaceService;
let created: CreatedApp;
let app: Hono<AppEnv>;
let amyId: string;

function unit(dim: number, seed: number): Float32Array {
  const v = Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * 13.7 + i * 0.37));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-web-body-cache-'));
  const config = loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'no-model'), galleryDir: path.join(tmp, 'gallery') } });
  const enrolled = await Enrolled.open(config.galleryDir);
  await enrolled.settings.update({ keepSnapshots: true });
  const amy = await enrolled.gallery.addIdentity({ name: 'Amy Pond' }, [{ embedding: unit(128, 1), modelId: MODEL, quality: 0.9, source: 'upload', cropJpeg: jpeg }]);
  amyId = amy.id;
  await enrolled.activity.record({ decision: 'match', door: 'api', identityId: amy.id, score: 0.8, threshold: 0.4, metric: 'cosine', modelId: MODEL, snapshotJpeg: jpeg });
  await enrolled.close();
  service = await FaceService.open(config, { quiet: true });
  created = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'web-body-cache-secret-'.repeat(3) } });
  app = created.app;
});

after(async () => {
  await created?.close();
  await service?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** Runs `fn` with console.error recorded (and silenced): what the app logged while it ran. */
async function logged<T>(fn: () => Promise<T>): Promise<{ value: T; errors: string[] }> {
  const spy = mock.method(console, 'error', () => {});
  try {
    const value = await fn();
    return { value, errors: spy.mock.calls.map((call) => call.arguments.map(String).join(' ')) };
  } finally {
    spy.mock.restore();
  }
}

const NOT_MULTIPART = { type: 'multipart/form-data; boundary=xyz', body: 'this is not multipart' };
const NO_BOUNDARY = { type: 'multipart/form-data', body: '--xyz\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\nx\r\n--xyz--\r\n' };

/** A malformed form post from a browser that holds the CSRF cookie (and, when logged in, the session). */
function postMalformed(c: PageClient, url: string, form: { type: string; body: string }, headers: Record<string, string> = {}) {
  return logged(() => c.req(url, { method: 'POST', headers: { 'content-type': form.type, ...headers }, body: form.body }));
}

function assertUnreadable(a: { status: number; text: string }, errors: string[], what: string): void {
  assert.equal(a.status, 400, `${what}: ${a.text}`);
  assert.doesNotMatch(a.text, /internal/i, `${what}: not the 500's "internal error"`);
  assert.match(a.text, /form body could not be read/, `${what}: says why`);
  assert.deepEqual(errors.filter((e) => /unhandled/i.test(e)), [], `${what}: nothing logged as an unhandled error`);
}

test('malformed multipart bodies on the login, logout, kiosk and gallery forms: 400 with the refusal message, no unhandled error logged', async () => {
  const c = new PageClient(app);
  await c.get('/login');
  assert.ok(c.jar.has('facegate_csrf'), 'the login page hands out the CSRF cookie');

  for (const [name, form] of [['not multipart', NOT_MULTIPART], ['no boundary', NO_BOUNDARY]] as const) {
    const { value: login, errors } = await postMalformed(c, '/login', form);
    assertUnreadable(login, errors, `POST /login (${name})`);
    assert.match(login.text, /<p class="error" role="alert">Refused: /, 'a form post gets a message to show, not the API\'s JSON');
    assert.ok(!c.jar.has('facegate_session'), 'and no session');
  }

  // The kiosk's frames: JSON when the script asks for it, with the API's code for a bad body.
  const { value: frame, errors: frameErrors } = await postMalformed(c, '/kiosk/frame', NOT_MULTIPART, { accept: 'application/json' });
  assertUnreadable(frame, frameErrors, 'POST /kiosk/frame');
  assert.equal(frame.res.headers.get('content-type')?.split(';')[0], 'application/json');
  assert.equal((JSON.parse(frame.text) as { error: { code: string } }).error.code, 'invalid_input');

  // An admin page's form, logged in.
  assert.equal((await c.login()).status, 303);
  const { value: rename, errors: renameErrors } = await postMalformed(c, `/admin/gallery/${amyId}/rename`, NO_BOUNDARY);
  assertUnreadable(rename, renameErrors, 'POST /admin/gallery/:id/rename');
  assert.equal(service.findIdentity(amyId)?.name, 'Amy Pond', 'not renamed');

  const { value: logout, errors: logoutErrors } = await postMalformed(c, '/logout', NOT_MULTIPART);
  assertUnreadable(logout, logoutErrors, 'POST /logout');
  assert.equal((await c.get('/admin/gallery')).status, 200, 'still logged in: the refused logout did nothing');

  // The refusal is for that body only: a well-formed form from the same browser still works.
  const ok = await c.post('/logout', {});
  assert.equal(ok.status, 303, ok.text);
});

test('face crops and decision snapshots are sent with Cache-Control: no-store; static files keep theirs', async () => {
  const c = new PageClient(app);
  assert.equal((await c.login()).status, 303);

  // The URLs the pages themselves render: the gallery's thumbnail and the activity page's snapshot.
  const gallery = await c.get('/admin/gallery');
  const face = gallery.text.match(/src="(\/admin\/faces\/[^"]+\.jpg)"/)?.[1];
  assert.ok(face, 'the gallery shows the person\'s face crop');
  const activity = await c.get('/admin/activity');
  const snapshot = activity.text.match(/src="(\/admin\/snapshots\/[^"]+\.jpg)"/)?.[1];
  assert.ok(snapshot, 'the activity page shows the decision\'s snapshot');

  for (const url of [face, snapshot]) {
    const r = await c.get(url);
    assert.equal(r.status, 200, url);
    assert.equal(r.res.headers.get('content-type'), 'image/jpeg', url);
    assert.equal(r.res.headers.get('cache-control'), 'no-store', `${url}: no browser copy may outlive an erasure`);
  }

  // Static assets are no biometric data: their caching is unchanged.
  const css = await c.get('/static/css/facegate.css');
  assert.equal(css.status, 200);
  assert.equal(css.res.headers.get('cache-control'), 'no-cache');
});
