// The pages follow the API's hardening (src/http/guards.ts, src/http/validation.ts):
// - login: the page shares the API's per-client backoff (one AdminAuth), says how long to wait in
//   seconds (minutes only from a minute on) with a Retry-After header, and a flood of wrong
//   passwords never locks the operator out: the right password gets in once the wait is over;
// - the login page without an admin password names `npx facegate admin password`;
// - the enrollment forms have the API's body limit (enrollBodyLimit) and refuse as early as the
//   API does (limitMultipart): a Content-Length over it before any byte of the body is read, a body
//   streaming past it, or one image over maxImageBytes as soon as it passes that size, with a 413
//   page message (the fragment for htmx, the whole page for a plain form post).
// Login through app.request() on the real app (real scrypt checks) with the backoff shortened
// where the test would otherwise wait; the body limits on a real server on 127.0.0.1 with raw
// HTTP from node:http, so the test controls what is sent and when (no model: a body that gets
// through reaches the handler, which answers 503).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { AdminStore, adminFilePath, hashPassword, loadConfig } from '../src/config/index.js';
import { FaceService } from '../src/service/index.js';
import { createApp, startServer, type Backoff, type RunningServer } from '../src/http/index.js';
import { PASSWORD, PageClient } from './fixtures/web/harness.js';
import { CLOSE, CRLF, field, fileHead, streamedPost, type StreamedAnswer } from './fixtures/streamed-post.js';

const sleep = (ms: number) => delay(ms);

let tmp: string;
let service: FaceService;

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-web-hardening-'));
  const config = loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'no-model'), galleryDir: path.join(tmp, 'gallery') } });
  service = await FaceService.open(config, { quiet: true });
});

after(async () => {
  await service?.close();
  await rm(tmp, { recursive: true, force: true });
});

async function pages(backoff?: Partial<Backoff>, passwordHash: string | null | undefined = undefined) {
  const hash = passwordHash === undefined ? await hashPassword(PASSWORD) : passwordHash;
  return createApp({ service, config: service.config, admin: { passwordHash: hash, sessionSecret: 'web-hardening-secret-'.repeat(3), backoff } }).app;
}

// ---------------------------------------------------------------------------------------------
// Login backoff

test('login page: with the default backoff, the 4th wrong password in a row waits about a second, and the page says so in seconds', async () => {
  const app = await pages();
  const c = new PageClient(app);
  await c.get('/login');
  for (let i = 0; i < 3; i++) {
    const wrong = await c.post('/login', { password: `wrong ${i}` });
    assert.equal(wrong.status, 401, `attempt ${i + 1} is checked`);
    assert.match(wrong.text, /Wrong password/);
  }
  const waiting = await c.post('/login', { password: 'wrong 3' });
  assert.equal(waiting.status, 429);
  assert.match(waiting.text, /Too many failed logins[^<]*try again in 1 second\./);
  const notice = waiting.text.match(/<div class="notice notice-error" role="alert">([^<]*)<\/div>/)?.[1] ?? '';
  assert.doesNotMatch(notice, /\bmin\b|minute/, 'a 1 s wait is not "1 min"');
  assert.equal(waiting.res.headers.get('retry-after'), '1');
  assert.match(waiting.text, /<form method="post" action="\/login"/, 'the form is still there');

  // The page and the API share one backoff: the API makes this client wait too.
  const api = await app.request('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) }, { incoming: { socket: { remoteAddress: '127.0.0.1' } } } as never);
  assert.equal(api.status, 429, 'wrong passwords on the page count for the API');

  // Once the wait (Retry-After) is over, the right password gets in.
  await sleep(Number(waiting.res.headers.get('retry-after')) * 1000 + 50);
  const ok = await c.post('/login', { password: PASSWORD, next: '/admin/settings' });
  assert.equal(ok.status, 303, ok.text);
  assert.equal(ok.res.headers.get('location'), '/admin/settings');
  assert.ok(c.jar.has('facegate_session'));
  assert.equal((await c.get('/admin/settings')).status, 200);
});

test('login page: wrong passwords sent to the API make the page wait as well', async () => {
  const app = await pages({ freeFailures: 2, baseMs: 700, capMs: 700 });
  const LOCAL = { incoming: { socket: { remoteAddress: '127.0.0.1' } } } as never;
  for (let i = 0; i < 2; i++) {
    const r = await app.request('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: `api guess ${i}` }) }, LOCAL);
    assert.equal(r.status, 401);
  }
  const c = new PageClient(app);
  await c.get('/login');
  const page = await c.post('/login', { password: PASSWORD });
  assert.equal(page.status, 429, 'the right password waits like any other during the wait');
  assert.match(page.text, /try again in 1 second\./);
  await sleep(750);
  assert.equal((await c.post('/login', { password: PASSWORD })).status, 303);
});

test('login page: a flood of wrong passwords does not lock the operator out; the right password gets in once the (capped) wait is over', async (t) => {
  const capMs = 300;
  const app = await pages({ freeFailures: 3, baseMs: 20, capMs });
  // Several browsers at the kiosk's address hammer the login page for 2 s.
  const statuses: number[] = [];
  const waits: string[] = [];
  const until = Date.now() + 2000;
  let n = 0;
  const hammer = async () => {
    const c = new PageClient(app);
    await c.get('/login');
    while (Date.now() < until) {
      const r = await c.post('/login', { password: `wrong guess ${n++}` });
      statuses.push(r.status);
      if (r.status === 429) {
        waits.push(r.text.match(/try again in ([^.<]+)\./)?.[1] ?? '(no wait shown)');
        assert.ok(Number(r.res.headers.get('retry-after')) >= 1);
      }
      await sleep(2);
    }
  };
  await Promise.all([hammer(), hammer(), hammer()]);
  const checked = statuses.filter((s) => s === 401).length;
  const refused = statuses.filter((s) => s === 429).length;
  assert.equal(checked + refused, statuses.length, 'only 401 and 429');
  assert.ok(checked >= 4 && checked <= 16, `${checked} guesses checked of ${statuses.length}`);
  assert.ok(refused > checked * 3, `${refused} refused unchecked`);
  // Waits under a second are shown as 1 second (rounded up), never in minutes.
  assert.deepEqual([...new Set(waits)], ['1 second']);

  // The operator, at the same address, on the page.
  const op = new PageClient(app);
  await op.get('/login');
  const t0 = Date.now();
  let res = await op.post('/login', { password: PASSWORD });
  while (res.status === 429 && Date.now() - t0 < capMs + 3000) {
    await sleep(25);
    res = await op.post('/login', { password: PASSWORD });
  }
  assert.equal(res.status, 303, 'the right password is accepted once the wait is over');
  const inAfter = Date.now() - t0;
  assert.ok(inAfter <= capMs + 1000, `in after ${inAfter} ms`);
  assert.ok(op.jar.has('facegate_session'));
  t.diagnostic(`flood on the page: ${statuses.length} attempts in 2 s, ${checked} checked, ${refused} refused unchecked; the operator was in after ${inAfter} ms`);
});

test('login page: a wait of a minute or more is shown in minutes (and seconds); the settings password form says the same wait', async () => {
  const app = await pages({ freeFailures: 1, baseMs: 90_000, capMs: 90_000 });
  const c = new PageClient(app);
  await c.get('/login');
  assert.equal((await c.post('/login', { password: 'wrong' })).status, 401);
  const r = await c.post('/login', { password: 'wrong again' });
  assert.equal(r.status, 429);
  assert.match(r.text, /try again in 1 minute 30 seconds\./);
  assert.equal(r.res.headers.get('retry-after'), '90');

  const two = await pages({ freeFailures: 1, baseMs: 120_000, capMs: 120_000 });
  const c2 = new PageClient(two);
  await c2.get('/login');
  assert.equal((await c2.post('/login', { password: 'wrong' })).status, 401);
  assert.match((await c2.post('/login', { password: PASSWORD })).text, /try again in 2 minutes\./);

  // The password change checks the current password against the same backoff.
  const three = await pages({ freeFailures: 1, baseMs: 45_000, capMs: 45_000 });
  const admin = new PageClient(three);
  assert.equal((await admin.login()).status, 303);
  await admin.get('/admin/settings');
  const change = (current: string) => admin.post('/admin/settings/password', { current, password: 'a new password 2025', repeat: 'a new password 2025' });
  assert.equal((await change('not it')).status, 401);
  const wait = await change(PASSWORD);
  assert.equal(wait.status, 429);
  assert.match(wait.text, /Too many wrong passwords: try again in 45 seconds\./);
  assert.equal(wait.res.headers.get('retry-after'), '45');
});

test('formatWait: seconds below a minute, minutes (and seconds) from a minute on, always rounded up', async () => {
  const { formatWait } = await import('../src/web/wait.js');
  assert.equal(formatWait(1), '1 second');
  assert.equal(formatWait(1000), '1 second');
  assert.equal(formatWait(1001), '2 seconds');
  assert.equal(formatWait(30_000), '30 seconds');
  assert.equal(formatWait(59_001), '1 minute');
  assert.equal(formatWait(60_000), '1 minute');
  assert.equal(formatWait(61_000), '1 minute 1 second');
  assert.equal(formatWait(15 * 60_000), '15 minutes');
});

// ---------------------------------------------------------------------------------------------
// First start: no admin password

test('login page without an admin password names `npx facegate admin password`', async () => {
  const app = await pages(undefined, null);
  const c = new PageClient(app);
  const r = await c.get('/login');
  assert.equal(r.status, 200);
  assert.match(r.text, /No admin password is set/);
  assert.match(r.text, /<code>npx facegate admin password<\/code>/);
  assert.doesNotMatch(r.text, /set-admin-password/);
  const post = await c.post('/login', { password: 'anything at all' });
  assert.equal(post.status, 401);
  assert.match(post.text, /<code>npx facegate admin password<\/code>/);
});

// ---------------------------------------------------------------------------------------------
// Enrollment body limits

const MB = 1024 * 1024;
const MAX_IMAGE = 1 * MB;
const MAX_IMAGES = 3;
/** The API's limit for 3 images of 1 MB: their bytes, 8 KB of framing each, 16 KB of fields. */
const LIMIT = MAX_IMAGES * (MAX_IMAGE + 8 * 1024) + 16 * 1024;

interface Session {
  origin: string;
  cookie: string;
  csrf: string;
}

let serverTmp: string;
let running: RunningServer | undefined;
let session: Session;

async function startPages(): Promise<Session> {
  if (running) return session;
  serverTmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-web-limits-'));
  const config = loadConfig({
    env: {},
    overrides: { port: 0, host: '127.0.0.1', modelDir: path.join(serverTmp, 'no-model'), galleryDir: path.join(serverTmp, 'gallery'), limits: { maxImageBytes: MAX_IMAGE, maxEnrollImages: MAX_IMAGES } },
  });
  await (await AdminStore.open(adminFilePath(config))).setPassword(PASSWORD);
  running = await startServer(config, { quiet: true });
  const origin = new URL(running.url).origin;
  const jar = new Map<string, string>();
  const keep = (res: Response) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const loginPage = await fetch(`${origin}/login`);
  keep(loginPage);
  const csrf = (await loginPage.text()).match(/<meta name="csrf-token" content="([^"]+)">/)![1]!;
  const login = await fetch(`${origin}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookie(), origin, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, password: PASSWORD, next: '/admin/enroll' }),
  });
  assert.equal(login.status, 303);
  keep(login);
  assert.ok(jar.has('facegate_session'));
  session = { origin, cookie: cookie(), csrf };
  return session;
}

after(async () => {
  await running?.close();
  if (serverTmp) await rm(serverTmp, { recursive: true, force: true });
});


/**
 * A form post like the enrollment page's (the CSRF token as its first field, or in the
 * X-CSRF-Token header for htmx), written part by part (see streamedPost).
 */
function postForm(
  s: Session,
  url: string,
  parts: Buffer[],
  opts: { htmx?: boolean; contentLength?: number; stopAfter?: number; waitMs?: number } = {},
): Promise<StreamedAnswer> {
  const headers: Record<string, string> = { cookie: s.cookie, origin: s.origin };
  if (opts.htmx) Object.assign(headers, { 'hx-request': 'true', 'x-csrf-token': s.csrf });
  return streamedPost(new URL(url, s.origin), headers, opts.htmx ? parts : [field('_csrf', s.csrf), ...parts], opts);
}

test('enroll page: a Content-Length over the API\'s limit is refused with a 413 page before any of the body is sent', async () => {
  const s = await startPages();
  // Over 3 x 1 MB plus framing (the API's limit), yet well under the page's old 2 x n x 1 MB + 256 KB.
  const declared = MAX_IMAGES * MAX_IMAGE + 128 * 1024;
  assert.ok(declared > LIMIT && declared < 2 * MAX_IMAGES * MAX_IMAGE);
  const plain = await postForm(s, '/admin/enroll', [], { contentLength: declared, stopAfter: 0 });
  assert.equal(plain.status, 413, plain.text);
  assert.equal(plain.sentBeforeAnswer, 0);
  assert.equal(plain.headers.connection, 'close');
  assert.match(plain.headers['content-type']!, /text\/html/);
  assert.match(plain.text, /<h1>Enroll a person<\/h1>/, 'a plain form post gets the whole page back');
  assert.match(plain.text, /the upload is larger than 3(\.\d)? MB\. Nothing was saved; send at most 3 photos at a time, each at most 1 MB\./);
  const hx = await postForm(s, '/admin/enroll', [], { htmx: true, contentLength: declared, stopAfter: 0 });
  assert.equal(hx.status, 413);
  assert.doesNotMatch(hx.text, /<html/, 'htmx gets a fragment');
  assert.match(hx.text, /role="alert"|class="notice/);
  assert.match(hx.text, /the upload is larger than 3(\.\d)? MB/);
  // Adding samples has the same limit.
  const samples = await postForm(s, '/admin/gallery/i_nobody00/samples', [], { htmx: true, contentLength: declared, stopAfter: 0 });
  assert.equal(samples.status, 413);
  assert.match(samples.text, /the upload is larger than/);
});

test('enroll page: one image over maxImageBytes is refused as soon as it passes that size, chunked or with a Content-Length', async (t) => {
  const s = await startPages();
  const big = Buffer.alloc(2 * MAX_IMAGE + 300 * 1024, 7);
  const parts = [field('name', 'Amy'), fileHead('huge.png'), big, CRLF, CLOSE];
  const total = parts.reduce((n, p) => n + p.length, 0) + field('_csrf', s.csrf).length;
  assert.ok(total < LIMIT, 'the whole body is within the total limit: only the image is too large');
  const chunked = await postForm(s, '/admin/enroll', parts, { stopAfter: 1.5 * MB });
  assert.equal(chunked.status, 413, chunked.text);
  assert.match(chunked.text, /<h1>Enroll a person<\/h1>/);
  assert.match(chunked.text, /huge\.png is over the 1 MB limit for one image\. Nothing was saved/);
  assert.ok(chunked.sentBeforeAnswer <= 1.5 * MB);
  const declared = await postForm(s, '/admin/enroll', parts, { htmx: true, contentLength: total - field('_csrf', s.csrf).length, stopAfter: 1.5 * MB });
  assert.equal(declared.status, 413);
  assert.match(declared.text, /huge\.png is over the 1 MB limit for one image/);
  // A camera capture too (the "camera" field), on the add-samples form.
  const camera = await postForm(s, '/admin/gallery/i_nobody00/samples', [fileHead('camera-1.jpg', 'camera'), big, CRLF, CLOSE], { htmx: true, stopAfter: 1.5 * MB });
  assert.equal(camera.status, 413);
  assert.match(camera.text, /camera-1\.jpg is over the 1 MB limit for one image/);
  t.diagnostic(`a ${total} byte form with one 2.3 MB image: 413 after ${chunked.sentBeforeAnswer} (chunked) and ${declared.sentBeforeAnswer} (Content-Length) bytes sent`);
});

test('enroll page: a chunked body over the limit is refused once it passes it, even when every image is within its own limit', async () => {
  const s = await startPages();
  const image = Buffer.alloc(Math.floor((MAX_IMAGES * MAX_IMAGE + 100 * 1024) / 4), 1);
  const parts = [field('name', 'Amy')];
  for (let i = 0; i < 4; i++) parts.push(fileHead(`p${i}.png`), image, CRLF);
  parts.push(CLOSE);
  const total = parts.reduce((n, p) => n + p.length, 0);
  assert.ok(total > LIMIT && total < 2 * MAX_IMAGES * MAX_IMAGE, 'over the API limit, under the page\'s old one');
  const r = await postForm(s, '/admin/enroll', parts, { stopAfter: LIMIT + 32 * 1024 });
  assert.equal(r.status, 413);
  assert.match(r.text, /the upload is larger than/);
});

test('enroll page: forms within the limits reach the route (the largest allowed, chunked and with a Content-Length)', async () => {
  const s = await startPages();
  const parts = [field('name', 'Amy'), field('badge', 'A-7'), field('confirmDuplicate', 'true')];
  for (let i = 0; i < MAX_IMAGES; i++) parts.push(fileHead(`${'long-file-name-'.repeat(10)}${i}.png`), Buffer.alloc(MAX_IMAGE, i + 1), CRLF);
  // The empty file input the form always sends.
  parts.push(fileHead('', 'camera'), CRLF, CLOSE);
  const total = parts.reduce((n, p) => n + p.length, 0) + field('_csrf', s.csrf).length;
  assert.ok(total <= LIMIT);
  for (const contentLength of [undefined, total]) {
    const r = await postForm(s, '/admin/enroll', parts, { contentLength });
    // Read, CSRF-checked, parsed, then refused for want of a model: the body came through whole.
    assert.equal(r.status, 503, r.text.slice(0, 500));
    assert.match(r.text, /no face model loaded/);
  }
  // Four small images fit in the bytes but not in the count: the page's own 400.
  const four = [field('name', 'Amy')];
  for (let i = 0; i < 4; i++) four.push(fileHead(`s${i}.png`), Buffer.alloc(1000, 1), CRLF);
  four.push(CLOSE);
  const r = await postForm(s, '/admin/enroll', four, { htmx: true });
  assert.equal(r.status, 400);
  assert.match(r.text, /4 images: at most 3 at a time/);
  // No CSRF token: the limit let it through, the token check refuses it.
  const noToken = await postForm({ ...s, csrf: 'x'.repeat(43) }, '/admin/enroll', [field('name', 'Amy'), CLOSE], { htmx: true });
  assert.equal(noToken.status, 403);
});
