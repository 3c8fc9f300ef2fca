// Login throttling without a lock-out. On a kiosk the operator and whoever stands at the kiosk's
// browser share one client address (127.0.0.1): a flood of wrong passwords from there must slow
// the guesser down without locking the operator out. Each wrong password past the first few
// doubles the client's wait up to a cap; attempts during a wait are refused unchecked and do not
// extend it; the right password gets in once the wait is over. Through app.request() on the real
// app (the real scrypt check), with the backoff shortened so the test runs in seconds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { FaceService } from '../src/service/index.js';
import * as server from '../src/http/index.js';
import { AdminAuth, createApp, type AppEnv, type Backoff } from '../src/http/index.js';
import { LOCAL as KIOSK } from './fixtures/web/harness.js';

const DEFAULT_BACKOFF = (server as { DEFAULT_BACKOFF?: Backoff }).DEFAULT_BACKOFF!;

const PASSWORD = 'the operator password';
const sleep = (ms: number) => delay(ms);

let tmp: string;
let service: FaceService;

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-backoff-'));
  const config = loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'no-model'), galleryDir: path.join(tmp, 'gallery') } });
  service = await FaceService.open(config, { quiet: true });
});

after(async () => {
  await service?.close();
  await rm(tmp, { recursive: true, force: true });
});

test('the defaults: a short capped wait, not a 15-minute lock-out', () => {
  assert.ok(DEFAULT_BACKOFF.capMs <= 30_000, `cap ${DEFAULT_BACKOFF.capMs} ms`);
  assert.ok(DEFAULT_BACKOFF.freeFailures >= 2 && DEFAULT_BACKOFF.baseMs >= 500);
});

test('a flood of wrong passwords from the kiosk address does not lock the operator out: the right password gets in once the short wait is over', async (t) => {
  const capMs = 300;
  const { app } = createApp({
    service,
    config: service.config,
    admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'backoff-secret-'.repeat(3), backoff: { freeFailures: 3, baseMs: 20, capMs } },
    web: false,
  });
  const login = (password: string) => app.request('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) }, KIOSK);

  // Someone at the kiosk's browser hammers the login for 2 s, several attempts in flight at a time.
  const statuses: number[] = [];
  const until = Date.now() + 2000;
  let n = 0;
  const hammer = async () => {
    while (Date.now() < until) {
      const r = await login(`wrong guess ${n++}`);
      statuses.push(r.status);
      if (r.status === 429) {
        assert.ok(Number(r.headers.get('retry-after')) >= 1);
        assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'too_many_attempts');
      }
      await sleep(2);
    }
  };
  await Promise.all([hammer(), hammer(), hammer()]);
  const checked = statuses.filter((s) => s === 401).length;
  const refused = statuses.filter((s) => s === 429).length;
  assert.equal(checked + refused, statuses.length, 'only 401 and 429');
  // Kept slow: waits of 20, 40, 80, 160, then 300 ms (the cap) leave about 3 + 4 + 5 checks in 2 s.
  assert.ok(checked >= 4 && checked <= 16, `${checked} guesses checked of ${statuses.length}`);
  assert.ok(refused > checked * 5, `${refused} refused unchecked`);

  // The operator at the same address: at worst one capped wait, then in.
  const t0 = Date.now();
  let res = await login(PASSWORD);
  while (res.status === 429 && Date.now() - t0 < capMs + 3000) {
    await sleep(25);
    res = await login(PASSWORD);
  }
  assert.equal(res.status, 200, 'the right password is accepted once the wait is over');
  const inAfter = Date.now() - t0;
  // The cap, plus the scrypt check and the polling (generous: the machine may be busy).
  assert.ok(inAfter <= capMs + 1000, `in after ${inAfter} ms`);
  t.diagnostic(`flood: ${statuses.length} attempts in 2 s, ${checked} checked, ${refused} refused unchecked; the operator was in after ${inAfter} ms`);
  // Success forgives: the next wrong password is checked at once.
  assert.equal((await login('one more wrong one')).status, 401);
});

test('attempts during a wait are neither checked nor counted: parallel guesses cannot slip through, and a flood does not lengthen the wait', async () => {
  const auth = new AdminAuth({ passwordHash: await hashPassword(PASSWORD), secret: 's'.repeat(40), ttlMs: 60_000, backoff: { freeFailures: 2, baseMs: 400, capMs: 400 } });
  const all = await Promise.all([...Array.from({ length: 30 }, (_, i) => auth.login(`parallel guess ${i}`, 'kiosk')), auth.login(PASSWORD, 'kiosk')]);
  assert.equal(all.filter((r) => !r.ok && r.lockedMs === 0).length, 2, 'two checked (and wrong), the rest waited unchecked');
  assert.equal(all.at(-1)!.ok, false, 'the right password sent in the burst waits too');
  // Hammering during the wait does not push it further out.
  const started = Date.now();
  for (let i = 0; i < 200; i++) {
    const r = await auth.check(`during the wait ${i}`, 'kiosk');
    assert.equal(r.ok, false);
    assert.ok(r.lockedMs > 0 && r.lockedMs <= 400 - (Date.now() - started) + 5, `wait ${r.lockedMs} ms`);
  }
  await sleep(420 - (Date.now() - started));
  const ok = await auth.login(PASSWORD, 'kiosk');
  assert.equal(ok.ok, true);
  // Another client never waited.
  assert.equal((await auth.check(PASSWORD, 'operator laptop')).ok, true);
});

test('the failure table stays bounded against guessers rotating addresses, dropping the least recent first', async () => {
  const auth = new AdminAuth({ passwordHash: null, secret: 's'.repeat(40), ttlMs: 60_000, backoff: { maxClients: 50 } });
  for (let i = 0; i < 500; i++) await auth.check('x', `10.1.${i >> 8}.${i & 255}`);
  assert.equal(auth.trackedClients, 50);
  // The most recent clients are the ones still remembered.
  for (let i = 0; i < 3; i++) await auth.check('x', '10.9.9.9');
  assert.ok((await auth.check('x', '10.9.9.9')).lockedMs > 0, 'a client that keeps guessing keeps its wait');
  assert.equal(auth.trackedClients, 50);
  // The default bound.
  const big = new AdminAuth({ passwordHash: null, secret: 's'.repeat(40), ttlMs: 60_000 });
  for (let i = 0; i < DEFAULT_BACKOFF.maxClients + 2000; i++) await big.check('x', `c${i}`);
  assert.equal(big.trackedClients, DEFAULT_BACKOFF.maxClients);
});
