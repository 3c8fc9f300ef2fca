// The HTTP API through Hono's app.request(): every route, its validation and its error statuses,
// on real photos, the real pipeline and real gallery files in a temp dir. Recognition quality
// is not asserted here (see service-recognition.test.ts), so a random model stands in for the
// shipped one while that does not exist.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import type { Hono } from 'hono';
import { initBackend } from '../src/engine/backend.js';
import { FaceNet } from '../src/model/facenet.js';
import { defaultMeta, saveModel } from '../src/model/io.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { FaceService } from '../src/service/index.js';
import { createApp, type AppEnv } from '../src/http/index.js';

const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const BBT = path.join(DATA, 'small/bbt');
const TWO_PEOPLE = path.join(DATA, 'small/examples/misc/two_people.jpg');
const BIG_PNG = path.join(DATA, 'small/examples/misc/32bit.png'); // 887 KB: over this test's 600 KB image limit
const SHIPPED = fileURLToPath(new URL('../models/facegate-default/', import.meta.url));
const PASSWORD = 'kiosk admin 2024';

const photo = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));
/** node-server bindings as a loopback peer would have them; omitted = a remote client. */
const LOCAL = { incoming: { socket: { remoteAddress: '127.0.0.1' } } } as unknown as AppEnv['Bindings'];

let tmp: string;
let galleryDir: string;
let service: FaceService;
let app: Hono<AppEnv>;
let token: string;
let tensorsAtStart: number;

async function call(url: string, init: RequestInit & { auth?: boolean; local?: boolean } = {}): Promise<{ status: number; body: any; res: Response }> {
  const { auth, local, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (auth) headers.set('authorization', `Bearer ${token}`);
  const res = await app.request(url, { ...rest, headers }, local ? LOCAL : undefined);
  const text = await res.text();
  let body: any = text;
  if ((res.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
  return { status: res.status, body, res };
}

const json = (method: string, body: unknown, auth = true) => ({ method, auth, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

function form(fields: Record<string, string>, files: [string, Uint8Array, string][] = []): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  for (const [field, bytes, name] of files) fd.append(field, new File([bytes as Uint8Array<ArrayBuffer>], name));
  return fd;
}

async function enrolForm(name: string, who: string, ns: number[], extra: Record<string, string> = {}): Promise<FormData> {
  return form({ name, ...extra }, await Promise.all(ns.map(async (n) => ['images', await photo(who, n), `${who}${n}.png`] as [string, Uint8Array, string])));
}

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-server-'));
  galleryDir = path.join(tmp, 'gallery');
  let modelDir = SHIPPED;
  if (!existsSync(path.join(SHIPPED, 'model.json'))) {
    modelDir = path.join(tmp, 'model');
    const net = FaceNet.create({ width: 0.25 });
    await saveModel(modelDir, net, defaultMeta(net, 'test-random', '1'));
    net.dispose();
  }
  const config = loadConfig({
    env: {},
    overrides: { modelDir, galleryDir, limits: { maxImageBytes: 600 * 1024, maxEnrollImages: 4, maxJsonBytes: 4096 } },
  });
  service = await FaceService.open(config, { quiet: true });
  ({ app } = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'test-secret-'.repeat(4) } }));
  await service.verify(await photo('amy', 5)); // warm-up before counting tensors
  tensorsAtStart = tf.memory().numTensors;
});

after(async () => {
  await service?.close();
  await rm(tmp, { recursive: true, force: true });
});

test('GET /api/health is open and reports model, backend, gallery size and uptime, with security headers', async () => {
  const { status, body, res } = await call('/api/health', { local: true });
  assert.equal(status, 200);
  assert.equal(body.status, 'ok');
  assert.equal(body.model.id, service.modelId);
  assert.match(body.backend, /^backend (wasm|cpu|node|gpu)/);
  assert.equal(body.gallery.identities, 0);
  assert.equal(typeof body.uptimeSeconds, 'number');
  assert.deepEqual(body.inference, { describe: 'in-process', workers: 0, live: 0, restarts: 0, lone: null });
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
  // Remote monitors see the status but not the kiosk's folders.
  const remote = await call('/api/health');
  assert.equal(remote.status, 200);
  assert.deepEqual(Object.keys(remote.body).sort(), ['model', 'status', 'uptimeSeconds']);
  assert.equal(remote.body.model.id, service.modelId);
});

test('login: validation, wrong password, session cookie and bearer token', async () => {
  assert.equal((await call('/api/login', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: PASSWORD })).status, 415);
  assert.equal((await call('/api/login', json('POST', {}, false))).status, 400);
  assert.equal((await call('/api/login', json('POST', { password: 'wrong password' }, false))).status, 401);
  const ok = await call('/api/login', json('POST', { password: PASSWORD }, false));
  assert.equal(ok.status, 200);
  token = ok.body.token;
  assert.match(token, /^[A-Za-z0-9_-]{40,}$/);
  const cookie = ok.res.headers.get('set-cookie')!;
  assert.match(cookie, /^facegate_session=[^;]+\./, 'signed value');
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  // The cookie alone authenticates; a tampered cookie does not.
  const pair = cookie.split(';')[0]!;
  assert.equal((await call('/api/identities', { headers: { cookie: pair } })).status, 200);
  assert.equal((await call('/api/identities', { headers: { cookie: pair.replace(/.\./, (m) => (m[0] === 'a' ? 'b' : 'a') + '.') } })).status, 401);
  assert.equal((await call('/api/identities', { auth: true })).status, 200);
  assert.deepEqual((await call('/api/session', { auth: true })).body, { admin: true, adminConfigured: true });
  // A urlencoded form works too (plain HTML login page).
  const viaForm = await call('/api/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ password: PASSWORD }).toString() });
  assert.equal(viaForm.status, 200);
  // Logging out ends that session only.
  assert.equal((await call('/api/logout', { method: 'POST', headers: { authorization: `Bearer ${viaForm.body.token}` } })).body.loggedOut, true);
  assert.equal((await call('/api/identities', { headers: { authorization: `Bearer ${viaForm.body.token}` } })).status, 401);
  assert.equal((await call('/api/identities', { auth: true })).status, 200);
});

test('admin routes refuse requests without a session (401)', async () => {
  const id = 'i_00000000000000000000';
  const routes: [string, string][] = [
    ['POST', '/api/enroll'],
    ['GET', '/api/identities'],
    ['GET', `/api/identities/${id}`],
    ['PATCH', `/api/identities/${id}`],
    ['DELETE', `/api/identities/${id}`],
    ['POST', '/api/gallery/reembed'],
    ['GET', '/api/settings'],
    ['PUT', '/api/settings'],
  ];
  for (const [method, url] of routes) {
    const r = await call(url, { method, local: true, headers: { authorization: 'Bearer not-a-real-session-token-000000' } });
    assert.equal(r.status, 401, `${method} ${url}`);
    assert.equal(r.body.error.code, 'unauthorized');
  }
});

test('POST /api/enroll: 415, 400, 413, 422 with reasons, 201, 409 duplicate unless confirmed', async () => {
  assert.equal((await call('/api/enroll', json('POST', { name: 'Amy' }))).status, 415);
  const noName = await call('/api/enroll', { method: 'POST', auth: true, body: form({}, [['images', await photo('amy', 2), 'a.png']]) });
  assert.equal(noName.status, 400);
  assert.match(noName.body.error.message, /name/);
  assert.equal((await call('/api/enroll', { method: 'POST', auth: true, body: form({ name: 'Amy' }) })).status, 400);
  const badName = await call('/api/enroll', { method: 'POST', auth: true, body: await enrolForm('Amy\u202Eevil', 'amy', [2, 3, 4]) });
  assert.equal(badName.status, 400);
  const tooMany = await call('/api/enroll', { method: 'POST', auth: true, body: await enrolForm('Amy', 'amy', [1, 2, 3, 4, 5]) });
  assert.equal(tooMany.status, 400);
  assert.match(tooMany.body.error.message, /at most 4/);
  const bigFile = await call('/api/enroll', { method: 'POST', auth: true, body: form({ name: 'Amy' }, [['images', await readFile(BIG_PNG), '32bit.png']]) });
  assert.equal(bigFile.status, 413);
  assert.equal(bigFile.body.error.code, 'image_too_large');

  const poor = await call('/api/enroll', { method: 'POST', auth: true, body: await enrolForm('Amy', 'amy', [1, 2]) });
  assert.equal(poor.status, 422);
  assert.equal(poor.body.error.code, 'insufficient_samples');
  assert.ok(poor.body.error.samples[0].reasons.some((r: { code: string }) => r.code === 'pose'));

  const ok = await call('/api/enroll', { method: 'POST', auth: true, body: await enrolForm('Amy', 'amy', [2, 3, 4], { badge: 'A-7' }) });
  assert.equal(ok.status, 201);
  assert.equal(ok.body.identity.name, 'Amy');
  assert.equal(ok.body.templates, 3);

  const dup = await call('/api/enroll', { method: 'POST', auth: true, body: await enrolForm('Amy Again', 'amy', [2, 3, 4]) });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.error.code, 'duplicate');
  assert.equal(dup.body.error.matches[0].id, ok.body.identity.id);
  const forced = await call('/api/enroll', { method: 'POST', auth: true, body: await enrolForm('Raj', 'raj', [1, 2, 3], { confirmDuplicate: 'true', source: 'camera' }) });
  assert.equal(forced.status, 201, JSON.stringify(forced.body));
});

test('POST /api/verify: localhost only, multipart or raw image, and every refusal as a status', async () => {
  const amy = service.listIdentities().find((i) => i.name === 'Amy')!;
  const img = await photo('amy', 5);
  assert.equal((await call('/api/verify', { method: 'POST', body: form({}, [['image', img, 'f.png']]) })).status, 401, 'remote without session');
  const local = await call('/api/verify', { method: 'POST', local: true, body: form({ claim: amy.id }, [['image', img, 'f.png']]) });
  assert.equal(local.status, 200);
  assert.ok(['granted', 'denied'].includes(local.body.decision));
  assert.equal(local.body.claim.id, amy.id);
  assert.equal(local.body.face.landmarks.length, 5);
  assert.equal(typeof local.body.timings.embed, 'number');
  const remoteAdmin = await call('/api/verify?claim=A-7', { method: 'POST', auth: true, headers: { 'content-type': 'image/png' }, body: img });
  assert.equal(remoteAdmin.status, 200, 'raw body, claim by badge in the query, remote admin');
  assert.equal(remoteAdmin.body.claim.name, 'Amy');

  const two = await call('/api/verify', { method: 'POST', local: true, headers: { 'content-type': 'image/jpeg' }, body: await readFile(TWO_PEOPLE) });
  assert.equal(two.body.decision, 'multiple_faces');

  const jpeg = await readFile(TWO_PEOPLE);
  const cases: [string, RequestInit, number, string][] = [
    ['text body', { headers: { 'content-type': 'text/plain' }, body: 'hello' }, 415, 'unsupported_media'],
    ['no content type', { body: img }, 415, 'unsupported_media'],
    ['multipart without image', { body: form({ claim: amy.id }) }, 400, 'invalid_input'],
    ['corrupt JPEG', { body: form({}, [['image', jpeg.subarray(0, jpeg.length >> 1), 'cut.jpg']]) }, 422, 'corrupt_image'],
    ['PDF named .jpg', { body: form({}, [['image', Buffer.from('%PDF-1.7\n...'), 'x.jpg']]) }, 415, 'unsupported_media'],
    ['body over the limit', { headers: { 'content-type': 'image/png' }, body: await readFile(BIG_PNG) }, 413, 'payload_too_large'],
    ['empty raw body', { headers: { 'content-type': 'image/png' }, body: new Uint8Array(0) }, 400, 'empty_image'],
    ['unknown claim', { body: form({ claim: 'i_00000000000000000000' }, [['image', img, 'f.png']]) }, 404, 'not_found'],
    ['malformed claim', { body: form({ claim: '../../x' }, [['image', img, 'f.png']]) }, 400, 'invalid_input'],
  ];
  for (const [what, init, status, code] of cases) {
    const r = await call('/api/verify', { method: 'POST', local: true, ...init });
    assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, code, what);
    assert.ok(r.body.error.message.length > 0);
  }
});

test('POST /api/identify returns k candidates; k is validated', async () => {
  const r = await call('/api/identify?k=2', { method: 'POST', local: true, headers: { 'content-type': 'image/png' }, body: await photo('raj', 4) });
  assert.equal(r.status, 200);
  assert.equal(r.body.candidates.length, 2);
  assert.ok(r.body.candidates.every((c: { name: string }) => ['Amy', 'Raj'].includes(c.name)));
  const bad = await call('/api/identify?k=0', { method: 'POST', local: true, headers: { 'content-type': 'image/png' }, body: await photo('raj', 4) });
  assert.equal(bad.status, 400);
  assert.equal((await call('/api/identify', { method: 'POST', headers: { 'content-type': 'image/png' }, body: await photo('raj', 4) })).status, 401);
});

test('POST /api/identify on an open kiosk: strangers get the match at most, never the ranked names (k > 1 is 403)', async () => {
  const config = { ...service.config, access: { ...service.config.access, recognition: 'any' as const } };
  const open = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'test-secret-'.repeat(4) } }).app;
  const post = async (app2: Hono<AppEnv>, q: string, env?: AppEnv['Bindings']) => {
    const res = await app2.request(`/api/identify${q}`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: await photo('penny', 1) }, env);
    return { status: res.status, body: (await res.json()) as { candidates: { name: string; passes: boolean }[]; identity: unknown } };
  };
  // Penny is not enrolled: the appliance itself sees who she is closest to, a remote stranger does not.
  const operator = await post(open, '?k=2', LOCAL);
  assert.equal(operator.status, 200);
  assert.equal(operator.body.candidates.length, 2);
  assert.equal((await post(open, '?k=2')).status, 403);
  const stranger = await post(open, '');
  assert.equal(stranger.status, 200);
  // Only a passing match is named (recognition quality itself is service-recognition.test.ts's).
  assert.ok(stranger.body.candidates.every((c) => c.passes));
  assert.equal(stranger.body.candidates.length, stranger.body.identity ? 1 : 0);
});

test('identities: list, read, patch and erase, with 400/404/409/415 paths', async () => {
  const list = await call('/api/identities', { auth: true });
  assert.equal(list.body.identities.length, 2);
  const raj = list.body.identities.find((i: { name: string }) => i.name === 'Raj');
  const one = await call(`/api/identities/${raj.id}`, { auth: true });
  assert.equal(one.status, 200);
  assert.equal(one.body.templates.length, 3);
  assert.equal((await call('/api/identities/..%2F..%2Fetc', { auth: true })).status, 400);
  assert.equal((await call('/api/identities/i_00000000000000000000', { auth: true })).status, 404);

  const renamed = await call(`/api/identities/${raj.id}`, json('PATCH', { name: 'Rajesh Koothrappali', notes: 'astrophysicist' }));
  assert.equal(renamed.status, 200);
  assert.equal(renamed.body.name, 'Rajesh Koothrappali');
  assert.equal((await call(`/api/identities/${raj.id}`, json('PATCH', { nmae: 'typo' }))).status, 400);
  assert.equal((await call(`/api/identities/${raj.id}`, json('PATCH', { badge: 'a-7' }))).status, 409, 'badge taken by Amy');
  assert.equal((await call(`/api/identities/${raj.id}`, { method: 'PATCH', auth: true, headers: { 'content-type': 'text/plain' }, body: 'name=x' })).status, 415);
  assert.equal((await call(`/api/identities/${raj.id}`, { method: 'PATCH', auth: true, headers: { 'content-type': 'application/json' }, body: '{"name":' })).status, 400);

  const faces = path.join(galleryDir, 'faces', raj.id);
  assert.ok(existsSync(faces));
  const del = await call(`/api/identities/${raj.id}`, { method: 'DELETE', auth: true });
  assert.equal(del.status, 200);
  assert.equal(del.body.erased.templates, 3);
  assert.equal(existsSync(faces), false, 'crops erased');
  assert.equal((await readFile(path.join(galleryDir, 'gallery.json'), 'utf8')).includes(raj.id), false);
  assert.equal((await call(`/api/identities/${raj.id}`, { method: 'DELETE', auth: true })).status, 404);
});

test('settings: read, partial update, validation; reembed', async () => {
  const s = await call('/api/settings', { auth: true });
  assert.equal(s.status, 200);
  assert.equal(s.body.metric, 'cosine');
  const put = await call('/api/settings', json('PUT', { thresholds: { cosine: 0.55 }, topK: 3 }));
  assert.equal(put.status, 200);
  assert.equal(put.body.thresholds.cosine, 0.55);
  assert.equal(put.body.thresholds.euclidean, s.body.thresholds.euclidean, 'untouched keys keep their values');
  assert.equal(put.body.topK, 3);
  assert.equal((await call('/api/settings', json('PUT', { metric: 'hamming' }))).status, 400);
  assert.equal((await call('/api/settings', json('PUT', { thresholds: { cosine: 3 } }))).status, 400);
  assert.equal((await call('/api/settings', json('PUT', { activeModelId: 'other@1' }))).status, 400);
  assert.equal((await call('/api/settings', json('PUT', { kOfN: { k: 5, n: 3 } }))).status, 400, 'checked after merging');
  const big = await call('/api/settings', json('PUT', { camera: { source: 'x'.repeat(5000) } }));
  assert.equal(big.status, 413);
  const v = await call('/api/verify', { method: 'POST', local: true, headers: { 'content-type': 'image/png' }, body: await photo('amy', 5) });
  assert.equal(v.body.threshold, 0.55, 'the new threshold is applied');

  const r = await call('/api/gallery/reembed', { method: 'POST', auth: true });
  assert.equal(r.status, 200);
  assert.equal(r.body.modelId, service.modelId);
  assert.equal(r.body.reembedded, 0, 'nothing from another model');
  assert.equal(r.body.kept, 3);
});

test('GET /metrics: Prometheus text with requests by route pattern, stage latencies and decisions', async () => {
  assert.equal((await call('/metrics')).status, 401, 'remote');
  const { status, body, res } = await call('/metrics', { local: true });
  assert.equal(status, 200);
  assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  assert.match(body, /^# TYPE facegate_http_requests_total counter$/m);
  assert.match(body, /facegate_http_requests_total\{method="DELETE",route="\/api\/identities\/:id",status="200"\} 1/);
  assert.doesNotMatch(body, /route="\/api\/identities\/i_/, 'ids never become labels');
  assert.match(body, /facegate_stage_duration_seconds_count\{endpoint="verify",stage="embed"\} \d+/);
  assert.match(body, /facegate_stage_duration_seconds_bucket\{endpoint="verify",stage="detect",le="\+Inf"\} \d+/);
  assert.match(body, /facegate_decisions_total\{endpoint="verify",decision="multiple_faces"\} 1/);
  assert.match(body, /facegate_model_loaded\{model="[^"]+"\} 1/);
  assert.match(body, /facegate_gallery_identities 1/);
});

test('unknown routes are JSON 404s', async () => {
  const r = await call('/api/nothing-here');
  assert.equal(r.status, 404);
  assert.equal(r.body.error.code, 'not_found');
});

test('no tensors left behind by any request of this suite', () => {
  assert.equal(tf.memory().numTensors, tensorsAtStart);
});

test('without a model: health says so, recognition and enrollment answer 503; without a password admin routes stay locked', async () => {
  const config = loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'no-model'), galleryDir: path.join(tmp, 'g2'), access: { recognition: 'any' } } });
  const s = await FaceService.open(config, { quiet: true });
  try {
    const bare = createApp({ service: s, config, admin: { passwordHash: null, sessionSecret: 'another-secret-'.repeat(3) } }).app;
    const h = await bare.request('/api/health', {}, { incoming: { socket: { remoteAddress: '::1' } } } as unknown as AppEnv['Bindings']);
    assert.equal(h.status, 200);
    const hb = (await h.json()) as { status: string; model: { error: string } };
    assert.equal(hb.status, 'no_model');
    assert.match(hb.model.error, /model\.json not found/);
    const v = await bare.request('/api/verify', { method: 'POST', headers: { 'content-type': 'image/png' }, body: await photo('amy', 5) });
    assert.equal(v.status, 503, 'recognition open to any client here, but no model');
    assert.equal(((await v.json()) as { error: { code: string } }).error.code, 'no_model');
    const login = await bare.request('/api/login', json('POST', { password: PASSWORD }, false));
    assert.equal(login.status, 401);
    const e = await bare.request('/api/enroll', { method: 'POST', body: await enrolForm('Amy', 'amy', [2, 3, 4]) });
    assert.equal(e.status, 401);
    assert.equal(((await e.json()) as { error: { code: string } }).error.code, 'admin_not_configured');
  } finally {
    await s.close();
  }
});
