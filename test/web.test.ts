// The pages through Hono's app.request(): auth redirects, CSRF refusals, the kiosk's k-of-n rule
// on real photos, enrollment, gallery admin, settings with the ROC preview, activity and its CSV,
// the model page, password change. A random-weight model stands in (identical frames give
// identical embeddings, which is all the k-of-n checks need); recognition quality is the browser
// test's and service-recognition's business.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Hono } from 'hono';
import { initBackend } from '../src/engine/backend.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { rocCurve } from '../src/eval/metrics.js';
import { FaceService } from '../src/service/index.js';
import { createApp, type AppEnv } from '../src/http/index.js';
import { CONTENT_SECURITY_POLICY } from '../src/web/index.js';
import { KofNJudge } from '../src/door/index.js';
import { csvCell, toCsv } from '../src/web/csv.js';
import { operatingPoint, rocOf } from '../src/web/roc.js';
import sharp from 'sharp';
import { BBT, DATA, PASSWORD, PageClient, VIDEOS, randomModel } from './fixtures/web/harness.js';

const photo = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));
/** A real frame with nobody in it: the left third of a talking-head still (wall and shelf). */
async function emptyFrame(): Promise<Uint8Array> {
  const src = path.join(VIDEOS, 'd12.jpg');
  const { width, height } = await sharp(src).metadata();
  return new Uint8Array(await sharp(src).extract({ left: 0, top: 0, width: Math.round(width! * 0.3), height: height! }).jpeg().toBuffer());
}

// Dev-pair scores of a made-up model: the preview must read FAR/TAR off its ROC exactly.
const GENUINE = [0.9, 0.8, 0.7, 0.3];
const IMPOSTOR = [0.5, 0.2, 0.1, 0.0];

let tmp: string;
let service: FaceService;
let app: Hono<AppEnv>;
let modelDir: string;

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-web-'));
  const roc = rocCurve([...GENUINE, ...IMPOSTOR], [...GENUINE.map(() => true), ...IMPOSTOR.map(() => false)]);
  modelDir = await randomModel(path.join(tmp, 'models', 'test-random'), 'test-random', { metrics: { verifAcc: 0.875, roc } });
  await writeFile(path.join(modelDir, 'curves.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
  const config = loadConfig({ env: {}, overrides: { modelDir, galleryDir: path.join(tmp, 'gallery'), limits: { maxEnrollImages: 6 } } });
  service = await FaceService.open(config, { quiet: true });
  ({ app } = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'web-test-secret-'.repeat(3) }, web: { judge: { cooldownMs: 60_000 } } }));
});

after(async () => {
  await service?.close();
  await rm(tmp, { recursive: true, force: true });
});

test('the kiosk page is open, with a CSP that allows no inline script, and htmx served from node_modules', async () => {
  const c = new PageClient(app);
  const r = await c.get('/');
  assert.equal(r.status, 200);
  assert.equal(r.res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
  // Every script is a file; no inline handlers either.
  const scripts = [...r.text.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
  assert.ok(scripts.length >= 2);
  for (const s of scripts) assert.match(s, /src="\/static\//);
  assert.doesNotMatch(r.text, /\son[a-z]+="/i);
  assert.match(r.text, /Look at the camera/);
  assert.match(r.text, /data-camera="browser"/);
  assert.ok(c.jar.has('facegate_csrf') && c.jar.has('facegate_kiosk'));
  const htmx = await c.get('/static/htmx.min.js');
  assert.equal(htmx.status, 200);
  assert.match(htmx.res.headers.get('content-type')!, /javascript/);
  assert.equal(htmx.text, await readFile(new URL('../node_modules/htmx.org/dist/htmx.min.js', import.meta.url), 'utf8'));
  assert.equal((await c.get('/static/js/kiosk.js')).status, 200);
  assert.equal((await c.get('/static/css/facegate.css')).status, 200);
  for (const bad of ['/static/js/..%2F..%2Fpackage.json', '/static/js/missing.js', '/static/../package.json', '/static/js/kiosk.ts']) {
    assert.equal((await c.get(bad)).status, 404, bad);
  }
});

test('admin pages send a visitor without a session to the login page and back', async () => {
  const c = new PageClient(app);
  for (const p of ['/admin', '/admin/enroll', '/admin/gallery', '/admin/settings', '/admin/activity', '/admin/model', '/admin/activity.csv', '/admin/settings/preview?metric=cosine&threshold=0.5']) {
    const r = await c.get(p);
    assert.equal(r.status, 303, p);
    assert.equal(r.res.headers.get('location'), `/login?next=${encodeURIComponent(p)}`, p);
  }
  // htmx requests get a full-page redirect instead of a login form swapped into a fragment.
  const hx = await c.get('/admin/gallery', { headers: { 'hx-request': 'true' } });
  assert.equal(hx.res.headers.get('hx-redirect'), '/login?next=%2Fadmin%2Fgallery');
  // POSTs without a session do nothing.
  const login = await c.get('/login');
  assert.equal(login.status, 200);
  const del = await c.post('/admin/settings', { metric: 'euclidean', threshold: '1', k: '1', n: '1', cameraSource: 'auto' });
  assert.equal(del.status, 303);
  assert.equal(service.getSettings().metric, 'cosine');
  // An open redirect through ?next= is refused.
  assert.match((await c.get('/login?next=//evil.example/')).text, /name="next" value="\/admin"/);
});

test('login: CSRF token and Origin are both required; a wrong password is a 401 page; the session cookie opens the pages', async () => {
  const c = new PageClient(app);
  await c.get('/login');
  const noToken = await c.post('/login', { password: PASSWORD }, { token: null });
  assert.equal(noToken.status, 403);
  assert.match(noToken.text, /CSRF/);
  const wrongToken = await c.post('/login', { password: PASSWORD }, { token: 'x'.repeat(43) });
  assert.equal(wrongToken.status, 403);
  const noOrigin = await c.post('/login', { password: PASSWORD }, { noOrigin: true });
  assert.equal(noOrigin.status, 403, 'hono/csrf: a form post must come from this origin');
  const crossSite = await c.post('/login', { password: PASSWORD }, { headers: { origin: 'https://evil.example' } });
  assert.equal(crossSite.status, 403);
  assert.ok(!c.jar.has('facegate_session'));
  const wrong = await c.post('/login', { password: 'not the password' });
  assert.equal(wrong.status, 401);
  assert.match(wrong.text, /Wrong password/);
  const ok = await c.post('/login', { password: PASSWORD, next: '/admin/settings' });
  assert.equal(ok.status, 303);
  assert.equal(ok.res.headers.get('location'), '/admin/settings');
  assert.ok(c.jar.has('facegate_session'));
  const pages: [string, RegExp][] = [
    ['/admin/enroll', /<h1>Enroll a person<\/h1>/],
    ['/admin/gallery', /<h1>Gallery<\/h1>/],
    ['/admin/settings', /<h1>Settings<\/h1>/],
    ['/admin/activity', /<h1>Activity<\/h1>/],
    ['/admin/model', /<h1>Model and training<\/h1>/],
  ];
  for (const [p, h1] of pages) {
    const r = await c.get(p);
    assert.equal(r.status, 200, p);
    assert.match(r.text, h1);
    assert.equal(r.res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    // Every form that changes something carries the token.
    for (const form of r.text.matchAll(/<form\b[^>]*method="post"[^>]*>([\s\S]*?)<\/form>/g)) assert.match(form[1]!, /name="_csrf" value="[A-Za-z0-9_-]{40,}"/, p);
  }
  // The API takes the cookie only from this origin: another port or a sibling subdomain shares the
  // site (SameSite lets the cookie through) but not the origin.
  for (const headers of [{ origin: 'http://localhost:9999' }, { origin: 'http://localhost:9999', 'sec-fetch-site': 'same-site' }] as Record<string, string>[]) {
    const r = await c.req('/api/gallery/reembed', { method: 'POST', headers });
    assert.equal(r.status, 403, JSON.stringify(headers));
    assert.match(r.text, /cross-origin/);
  }
  assert.equal((await c.req('/api/gallery/reembed', { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } })).status, 200);
  // The body limit comes before the CSRF token is looked for in it.
  assert.equal((await c.post('/logout', { junk: 'x'.repeat(1 << 20) })).status, 413);
  // Logout needs the token too.
  assert.equal((await c.post('/logout', {}, { token: null })).status, 403);
  assert.equal((await c.post('/logout', {})).status, 303);
  assert.equal((await c.get('/admin/gallery')).status, 303);
});

test('k-of-n: one matching frame lets no one in, k of the last n do; a decision holds for the cooldown', () => {
  const j = new KofNJudge({ cooldownMs: 3000, windowMs: 5000 });
  const rule = { k: 2, n: 3 };
  const amy = { kind: 'match', identityId: 'i_amy', name: 'Amy', score: 0.8 } as const;
  const raj = { kind: 'match', identityId: 'i_raj', name: 'Raj', score: 0.7 } as const;
  assert.deepEqual(j.observe(amy, 0, rule), { kind: 'pending', have: 1, need: 2 });
  // Two different people one frame each: still nobody.
  assert.equal(j.observe(raj, 100, rule).kind, 'pending');
  // A poor frame neither counts nor clears.
  assert.equal(j.observe({ kind: 'unusable' }, 150, rule).kind, 'pending');
  const v = j.observe(amy, 200, rule);
  assert.equal(v.kind, 'granted');
  assert.equal(v.kind === 'granted' && v.name, 'Amy');
  // Cooldown: the decision stays whatever the camera sees.
  assert.equal(j.observe({ kind: 'unknown', score: 0.1 }, 1000, rule).kind, 'granted');
  assert.equal(j.cooling(3199)?.kind, 'granted');
  assert.equal(j.cooling(3201), undefined);
  // After it, votes start from zero: the first unknown frame is not yet a refusal.
  assert.equal(j.observe({ kind: 'unknown', score: 0.1 }, 3300, rule).kind, 'pending');
  assert.equal(j.observe({ kind: 'unknown', score: 0.2 }, 3400, rule).kind, 'denied');
  // Nobody in view clears the window; old votes expire.
  const k = new KofNJudge({ cooldownMs: 0, windowMs: 1000 });
  k.observe(amy, 0, rule);
  k.observe({ kind: 'no_face' }, 10, rule);
  assert.equal(k.observe(amy, 20, rule).kind, 'pending');
  assert.equal(k.observe(amy, 5000, rule).kind, 'pending', 'a vote 5 s old no longer counts');
  // k = n = 3 needs three.
  const strict = new KofNJudge({ cooldownMs: 0, windowMs: 10_000 });
  assert.equal(strict.observe(amy, 0, { k: 3, n: 3 }).kind, 'pending');
  assert.equal(strict.observe(amy, 1, { k: 3, n: 3 }).kind, 'pending');
  assert.equal(strict.observe(amy, 2, { k: 3, n: 3 }).kind, 'granted');
});

test('enrollment from the page: uploads and camera captures, CSRF, refusals with reasons, duplicates warned', async () => {
  const c = new PageClient(app);
  await c.login();
  await c.get('/admin/enroll');
  const form = async (name: string, who: string, ns: number[], field = 'images') => {
    const fd = new FormData();
    fd.set('name', name);
    for (const n of ns) fd.append(field, new File([(await photo(who, n)) as Uint8Array<ArrayBuffer>], `${who}${n}.png`, { type: 'image/png' }));
    return fd;
  };
  const noToken = await c.postMultipart('/admin/enroll', await form('Amy', 'amy', [2, 3, 4]), { token: null });
  assert.equal(noToken.status, 403);
  assert.equal(service.listIdentities().length, 0);
  const none = await c.postMultipart('/admin/enroll', await form('Amy', 'amy', []));
  assert.equal(none.status, 400);
  assert.match(none.text, /Capture samples with the camera or choose photos/);
  // No face in two of three images: refused with the reason per image.
  const fd = await form('Amy', 'amy', [1]);
  const noFace = await readFile(path.join(DATA, 'small/examples/misc/32bit.png'));
  fd.append('images', new File([noFace as Uint8Array<ArrayBuffer>], 'no-face.png'));
  const refused = await c.postMultipart('/admin/enroll', fd, { headers: { 'hx-request': 'true' } });
  assert.equal(refused.status, 422);
  assert.match(refused.text, /enrollment needs at least 3/);
  assert.match(refused.text, /no-face\.png/);
  assert.doesNotMatch(refused.text, /<html/, 'htmx gets a fragment');
  // Camera captures arrive in the "camera" field and are stored as camera samples.
  const ok = await c.postMultipart('/admin/enroll', await form('Amy Farrah Fowler', 'amy', [2, 3, 4], 'camera'), { headers: { 'hx-request': 'true' } });
  assert.equal(ok.status, 201, ok.text);
  assert.match(ok.text, /Enrolled <strong id="enrolled-name">Amy Farrah Fowler<\/strong>/);
  const thumbs = [...ok.text.matchAll(/<img src="(\/admin\/faces\/i_[a-z0-9]+\/t_[a-z0-9]+\.jpg)"/g)].map((m) => m[1]!);
  assert.ok(thumbs.length >= 1 && thumbs.length <= 3, `thumbnails: ${thumbs.length}`);
  const amy = service.listIdentities()[0]!;
  assert.ok(service.templates().every((t) => t.source === 'camera'));
  const img = await c.get(thumbs[0]!);
  assert.equal(img.status, 200);
  assert.equal(img.res.headers.get('content-type'), 'image/jpeg');
  assert.equal((await new PageClient(app).get(thumbs[0]!)).status, 303, 'crops are admin-only');
  // The same face again: a warning, nothing enrolled, unless confirmed.
  const dup = await c.postMultipart('/admin/enroll', await form('Amy again', 'amy', [2, 3, 4]), { headers: { 'hx-request': 'true' } });
  assert.equal(dup.status, 409);
  assert.match(dup.text, /Possible duplicate/);
  assert.match(dup.text, new RegExp(`href="/admin/gallery#${amy.id}">Amy Farrah Fowler</a>`));
  assert.equal(service.listIdentities().length, 1);
  // Adding samples to the existing person.
  await c.get(`/admin/enroll?identity=${amy.id}`);
  const more = await c.postMultipart(`/admin/gallery/${amy.id}/samples`, await form('', 'amy', [1, 5]), { headers: { 'hx-request': 'true' } });
  assert.equal(more.status, 201, more.text);
  assert.match(more.text, /Added <strong id="enrolled-name">Amy Farrah Fowler<\/strong>/);
  assert.ok(service.listIdentities()[0]!.templateCount > 3);
});

test('kiosk frames: the server keeps k-of-n per kiosk session, answers what to show, and logs the decision once', async () => {
  const amy = service.listIdentities().find((i) => i.name === 'Amy Farrah Fowler');
  assert.ok(amy, 'enrolled by the previous test');
  const kiosk = new PageClient(app);
  await kiosk.get('/');
  const frame = async (bytes: Uint8Array, opts: { token?: string; local?: boolean } = {}) => {
    const r = await kiosk.req('/kiosk/frame', {
      method: 'POST',
      body: bytes as Uint8Array<ArrayBuffer>,
      headers: { 'content-type': 'image/png', 'x-csrf-token': opts.token ?? kiosk.csrf },
      local: opts.local,
    });
    return { status: r.status, body: JSON.parse(r.text) };
  };
  const enrolledPhoto = await photo('amy', 2);
  const before = service.activity({ filter: { decision: 'match' } }).length;
  assert.equal((await frame(enrolledPhoto, { token: 'wrong' })).status, 403);
  assert.equal((await frame(enrolledPhoto, { local: false })).status, 401, 'recognition is open to this machine only by default');
  const noFace = await frame(await emptyFrame());
  assert.equal(noFace.status, 200);
  assert.equal(noFace.body.state, 'look');
  assert.equal(noFace.body.message, 'Look at the camera');
  assert.equal(noFace.body.box, null);
  // A face turned away: found, boxed, and the advice is what to do.
  const turned = await frame(new Uint8Array(await readFile(path.join(DATA, 'small/examples/misc/32bit.png'))));
  assert.equal(turned.body.state, 'adjust');
  assert.equal(turned.body.message, 'Look at the camera');
  assert.ok(turned.body.box);
  const first = await frame(enrolledPhoto);
  assert.equal(first.body.state, 'checking', 'one matching frame lets no one in');
  assert.deepEqual(first.body.progress, { have: 1, need: 2 });
  assert.ok(first.body.box.width > 50);
  const second = await frame(enrolledPhoto);
  assert.equal(second.body.state, 'granted');
  assert.equal(second.body.message, 'Welcome, Amy Farrah Fowler');
  // During the cooldown the decision stays, whatever the frame.
  assert.equal((await frame(await emptyFrame())).body.state, 'granted');
  // Another kiosk session has its own window.
  const other = new PageClient(app);
  await other.get('/');
  const o = await other.req('/kiosk/frame', { method: 'POST', body: enrolledPhoto as Uint8Array<ArrayBuffer>, headers: { 'content-type': 'image/png', 'x-csrf-token': other.csrf } });
  assert.equal(JSON.parse(o.text).state, 'checking');
  // Two faces: one person at a time.
  const two = await frame(new Uint8Array(await readFile(path.join(DATA, 'small/examples/misc/two_people.jpg'))));
  assert.equal(two.body.state, 'granted', 'still cooling down');
  await new Promise((r) => setTimeout(r, 50));
  const logged = service.activity({ filter: { decision: 'match' } });
  assert.equal(logged.length, before + 1, 'one log entry per decision, not per frame');
  assert.equal(logged[0]!.identityId, amy.id);
  assert.match(logged[0]!.detail!, /2 of the last 3 frames/);
});

test('settings: the threshold preview reads FAR and TAR off the model ROC; saving validates; CSRF refuses a post without token', async () => {
  const c = new PageClient(app);
  await c.login();
  const page = await c.get('/admin/settings');
  assert.match(page.text, /id="threshold-preview"/);
  const at = async (metric: string, t: number) => (await c.get(`/admin/settings/preview?metric=${metric}&threshold=${t}`, { headers: { 'hx-request': 'true' } })).text;
  const p06 = await at('cosine', 0.6);
  assert.match(p06, /id="preview-far">0%</);
  assert.match(p06, /id="preview-tar">75\.0%</);
  const p045 = await at('cosine', 0.45);
  assert.match(p045, /id="preview-far">25\.0%</);
  assert.match(p045, /id="preview-tar">75\.0%</);
  assert.match(await at('cosine', 0.25), /id="preview-tar">100\.0%</);
  // Distance 0.9 on unit vectors is cosine 0.595: the same operating point as 0.6.
  const e = await at('euclidean', 0.9);
  assert.match(e, /distance ≤ <strong>0\.900/);
  assert.match(e, /id="preview-far">0%</);
  assert.equal((await c.get('/admin/settings/preview?metric=manhattan&threshold=1')).status, 400);
  // Switching metric brings that metric's own threshold along (out of band).
  const sw = await c.get('/admin/settings/preview?metric=euclidean&switch=1');
  assert.match(sw.text, /id="threshold"[^>]*value="1\.1"[^>]*hx-swap-oob="true"/);

  const good = { metric: 'cosine', threshold: '0.45', k: '3', n: '5', cameraSource: 'auto', keepCrops: 'true' };
  const noToken = await c.post('/admin/settings', good, { token: null });
  assert.equal(noToken.status, 403);
  assert.equal(service.getSettings().kOfN.k, 2, 'unchanged');
  const bad = await c.post('/admin/settings', { ...good, k: '4', n: '3' });
  assert.equal(bad.status, 400);
  assert.match(bad.text, /k must not exceed n/);
  const badCam = await c.post('/admin/settings', { ...good, cameraSource: 'device:/etc/passwd' });
  assert.equal(badCam.status, 400);
  assert.match(badCam.text, /not a V4L2 device path/);
  const saved = await c.post('/admin/settings', good);
  assert.equal(saved.status, 303);
  const s = service.getSettings();
  assert.deepEqual([s.metric, s.thresholds.cosine, s.kOfN.k, s.kOfN.n, s.camera.source, s.keepCrops, s.keepSnapshots], ['cosine', 0.45, 3, 5, 'auto', true, false]);
  assert.match((await c.get('/admin/settings?saved=1')).text, /Settings saved/);
  // Back to the defaults for the tests after this one.
  await service.updateSettings({ kOfN: { k: 2, n: 3 }, thresholds: { cosine: 0.4 } });
  // The pure pieces agree with the page.
  const roc = rocOf(service.embedder!.meta)!;
  assert.deepEqual(operatingPoint(roc, 'cosine', 0.6), { far: 0, tar: 0.75, cosine: 0.6 });
});

test('gallery: rename (htmx row), delete only after a confirmation page, with CSRF', async () => {
  const c = new PageClient(app);
  await c.login();
  const g = await c.get('/admin/gallery');
  const amy = service.listIdentities()[0]!;
  assert.match(g.text, new RegExp(`<tr id="${amy.id}">`));
  assert.match(g.text, /<img class="thumb" src="\/admin\/faces\//);
  assert.match(g.text, /test-random@1/);
  const renamed = await c.post(`/admin/gallery/${amy.id}/rename`, { name: '=Amy F.' }, { headers: { 'hx-request': 'true' } });
  assert.equal(renamed.status, 200);
  assert.match(renamed.text, /^<tr id="i_/);
  assert.match(renamed.text, /value="=Amy F\."/);
  assert.equal(service.findIdentity(amy.id)!.name, '=Amy F.');
  const empty = await c.post(`/admin/gallery/${amy.id}/rename`, { name: '   ' }, { headers: { 'hx-request': 'true' } });
  assert.equal(empty.status, 400);
  const confirm = await c.get(`/admin/gallery/${amy.id}/delete`);
  assert.equal(confirm.status, 200);
  assert.match(confirm.text, /Delete =Amy F\.\?/);
  assert.match(confirm.text, /cannot be undone/);
  assert.equal(service.listIdentities().length, 1, 'showing the confirmation deletes nothing');
  assert.equal((await c.post(`/admin/gallery/${amy.id}/delete`, {}, { token: null })).status, 403);
  assert.equal(service.listIdentities().length, 1);
  assert.equal((await c.get('/admin/gallery/i_00000000000000000000/delete')).status, 404);
});

test('activity: filters and a CSV export of the same rows, formula-safe', async () => {
  const c = new PageClient(app);
  await c.login();
  const amy = service.listIdentities()[0]!;
  const page = await c.get(`/admin/activity?decision=match&identity=${amy.id}`);
  assert.equal(page.status, 200);
  assert.match(page.text, /Granted/);
  assert.match(page.text, /=Amy F\./);
  assert.match(page.text, new RegExp(`href="/admin/activity.csv\\?decision=match&amp;identity=${amy.id}"`));
  assert.equal((await c.get('/admin/activity?since=yesterday')).status, 400);
  const csv = await c.get(`/admin/activity.csv?decision=match&identity=${amy.id}`);
  assert.equal(csv.status, 200);
  assert.match(csv.res.headers.get('content-type')!, /^text\/csv/);
  assert.match(csv.res.headers.get('content-disposition')!, /attachment; filename="facegate-activity-\d{4}-\d{2}-\d{2}\.csv"/);
  const lines = csv.text.trimEnd().split('\r\n'); // text() drops the byte-order mark (test/audit-trail.test.ts checks it)
  assert.equal(lines[0], 'time,decision,decision_label,door,identity_id,name,score,threshold,metric,model_id,liveness,liveness_method,liveness_score,snapshot,redacted,redacted_at,detail,id');
  assert.equal(lines.length, 2, 'one kiosk decision for Amy');
  const cells = lines[1]!.split(',');
  assert.equal(cells[1], 'match');
  assert.equal(cells[3], 'kiosk (browser)');
  assert.equal(cells[4], amy.id);
  assert.equal(cells[5], "'=Amy F.", 'a name starting with = is not a formula in a spreadsheet');
  assert.equal(cells[8], 'cosine');
  assert.equal(cells[9], 'test-random@1');
  // Everything: the enrollment and the kiosk decision, newest first.
  const all = (await c.get('/admin/activity.csv')).text.trimEnd().split('\r\n');
  assert.deepEqual(all.slice(1).map((l) => l.split(',')[1]), ['match', 'enroll']);
  assert.equal(csvCell('a,"b"\nc'), '"a,""b""\nc"');
  assert.equal(toCsv(['x'], [[null], [1.5]]), 'x\r\n\r\n1.5\r\n');
});

test('model page: active model, versions, dev metrics and the training curves image', async () => {
  const c = new PageClient(app);
  await c.login();
  const r = await c.get('/admin/model');
  assert.match(r.text, /id="active-model-id">test-random@1</);
  assert.match(r.text, /<td>test-random<\/td><td>test-random@1<\/td>/);
  assert.match(r.text, /<th scope="row">Verification accuracy \(held-out identities\)<\/th><td>87\.5%<\/td>/);
  assert.doesNotMatch(r.text, /verifAcc/, 'a label, not the meta.json key');
  assert.match(r.text, /<img class="curves" src="\/admin\/model\/curves\.svg"/);
  assert.match(r.text, /id="finetune"/);
  const svg = await c.get('/admin/model/curves.svg');
  assert.equal(svg.status, 200);
  assert.equal(svg.res.headers.get('content-type'), 'image/svg+xml');
  assert.match(svg.res.headers.get('content-security-policy')!, /default-src 'none'/);
  assert.equal((await c.get('/admin/model/curves.png')).status, 404);
});

test('re-embedding from the gallery page, and deleting a person after the confirmation erases them and their activity', async () => {
  const c = new PageClient(app);
  await c.login();
  await c.get('/admin/gallery');
  const amy = service.listIdentities()[0]!;
  assert.equal((await c.post('/admin/gallery/reembed', {}, { token: null })).status, 403);
  const re = await c.post('/admin/gallery/reembed', {});
  assert.equal(re.status, 200);
  assert.match(re.text, /Re-embedded 0 templates with test-random@1 \(\d+ already there\)/);
  await c.get(`/admin/gallery/${amy.id}/delete`);
  const del = await c.post(`/admin/gallery/${amy.id}/delete`, {});
  assert.equal(del.status, 303);
  assert.equal(del.res.headers.get('location'), '/admin/gallery?deleted=1', 'the erased name is not put in a URL');
  assert.equal(service.listIdentities().length, 0);
  assert.equal(service.activity({ filter: { identityId: amy.id } }).length, 0, 'erasure covers the activity log');
  const after = await c.get(del.res.headers.get('location')!);
  assert.match(after.text, /Deleted the person and everything stored about them/);
  assert.doesNotMatch(after.text, /Amy F\./);
  assert.match(after.text, /Nobody is enrolled yet/);
});

test('password change: checks the current one, then old cookie sessions end and the new password works', async () => {
  const a = new PageClient(app);
  const b = new PageClient(app);
  await a.login();
  await b.login();
  await a.get('/admin/settings');
  // The session token is also a bearer token: the cookie only signs it.
  const bCookie = decodeURIComponent(b.jar.get('facegate_session')!);
  const bearer = { headers: { authorization: `Bearer ${bCookie.slice(0, bCookie.lastIndexOf('.'))}` } };
  assert.equal((await app.request('/api/identities', bearer)).status, 200);
  const wrong = await a.post('/admin/settings/password', { current: 'nope nope', password: 'new password 1', repeat: 'new password 1' });
  assert.equal(wrong.status, 401);
  const differ = await a.post('/admin/settings/password', { current: PASSWORD, password: 'new password 1', repeat: 'new password 2' });
  assert.equal(differ.status, 400);
  assert.match(differ.text, /differ/);
  const short = await a.post('/admin/settings/password', { current: PASSWORD, password: 'short', repeat: 'short' });
  assert.equal(short.status, 400);
  const ok = await a.post('/admin/settings/password', { current: PASSWORD, password: 'new password 1', repeat: 'new password 1' });
  assert.equal(ok.status, 303);
  assert.equal((await a.get('/admin/settings?password=changed')).status, 200, 'this browser stays logged in');
  assert.equal((await b.get('/admin/settings')).status, 303, 'the other browser is logged out');
  assert.equal((await app.request('/api/identities', bearer)).status, 401, 'and its token is dead as a bearer token too');
  assert.equal((await new PageClient(app).login(PASSWORD)).status, 401);
  assert.equal((await new PageClient(app).login('new password 1')).status, 303);
  const stored = JSON.parse(await readFile(path.join(tmp, 'gallery', 'admin.json'), 'utf8'));
  assert.match(stored.passwordHash, /^scrypt\$/);
  assert.doesNotMatch(JSON.stringify(stored), /new password 1/);
});

test('without a model the kiosk still finds faces and says it is not in service; enrollment explains why it cannot', async () => {
  const config = loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'no-model'), galleryDir: path.join(tmp, 'gallery-nomodel') } });
  const s = await FaceService.open(config, { quiet: true });
  try {
    const { app: bare } = createApp({ service: s, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'web-test-secret-'.repeat(3) } });
    const c = new PageClient(bare);
    const page = await c.get('/');
    assert.match(page.text, /Not in service/);
    assert.match(page.text, /state-offline/);
    const r = await c.req('/kiosk/frame', { method: 'POST', body: (await photo('raj', 1)) as Uint8Array<ArrayBuffer>, headers: { 'content-type': 'image/png', 'x-csrf-token': c.csrf } });
    const v = JSON.parse(r.text);
    assert.equal(r.status, 200);
    assert.ok(v.box && v.box.width > 50, 'the face is found without a model');
    assert.ok(['offline', 'adjust'].includes(v.state), v.state);
    assert.match(v.detail, /No face model/);
    const empty = JSON.parse((await c.req('/kiosk/frame', { method: 'POST', body: (await emptyFrame()) as Uint8Array<ArrayBuffer>, headers: { 'content-type': 'image/jpeg', 'x-csrf-token': c.csrf } })).text);
    assert.deepEqual([empty.state, empty.message, empty.box], ['look', 'Look at the camera', null]);
    await c.login();
    assert.match((await c.get('/admin/enroll')).text, /No face model is loaded/);
    const check = await c.req('/admin/enroll/check', { method: 'POST', body: (await photo('raj', 1)) as Uint8Array<ArrayBuffer>, headers: { 'content-type': 'image/png', 'x-csrf-token': c.csrf } });
    const g = JSON.parse(check.text);
    assert.equal(check.status, 200);
    assert.deepEqual(g.checks.map((x: { name: string }) => x.name), ['distance', 'pose', 'light', 'sharpness']);
    assert.ok(g.box);
    const fd = new FormData();
    fd.set('name', 'Raj');
    for (const n of [1, 2, 3]) fd.append('images', new File([(await photo('raj', n)) as Uint8Array<ArrayBuffer>], `raj${n}.png`));
    const e = await c.postMultipart('/admin/enroll', fd, { headers: { 'hx-request': 'true' } });
    assert.equal(e.status, 503);
    assert.match(e.text, /no face model/i);
  } finally {
    await s.close();
  }
});
