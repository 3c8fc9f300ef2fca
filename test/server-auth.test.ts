// Admin credentials, configuration and the access policy: scrypt hashes, the 0600 admin file,
// first-start bootstrap, config precedence (defaults < file < env < flags), login backoff,
// and a real TCP server whose loopback peer address opens recognition.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AdminStore,
  ConfigError,
  DEFAULT_MODEL_DIR,
  adminFilePath,
  hashPassword,
  loadConfig,
  resolveAdminCredentials,
  verifyPassword,
} from '../src/config/index.js';
import { AdminAuth, isLoopback, startServer } from '../src/http/index.js';
import { FaceService } from '../src/service/index.js';
import { createApp } from '../src/http/index.js';
import { initBackend } from '../src/engine/backend.js';

const AMY = fileURLToPath(new URL('../../shared/data/small/bbt/amy/amy5.png', import.meta.url));
let tmp: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-auth-'));
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('passwords are stored as salted scrypt hashes and compared exactly', async () => {
  const a = await hashPassword('correct horse battery');
  const b = await hashPassword('correct horse battery');
  assert.match(a, /^scrypt\$16384\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
  assert.notEqual(a, b, 'random salt');
  assert.equal(await verifyPassword('correct horse battery', a), true);
  assert.equal(await verifyPassword('correct horse batterY', a), false);
  assert.equal(await verifyPassword('', a), false);
  assert.equal(await verifyPassword('correct horse battery', a.slice(0, -2)), false, 'truncated hash');
  assert.equal(await verifyPassword('x', 'plain-text-password'), false, 'not a hash');
  assert.equal(await verifyPassword('x', 'scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5'), false, 'absurd cost refused');
  await assert.rejects(hashPassword('short'), /at least 8/);
});

test('the admin file is private, holds no plain password, and FACEGATE_ADMIN_PASSWORD only bootstraps the first start', async () => {
  const config = loadConfig({ env: {}, overrides: { galleryDir: path.join(tmp, 'g1') } });
  const file = adminFilePath(config);
  assert.equal(file, path.join(tmp, 'g1', 'admin.json'));

  const none = await resolveAdminCredentials(config, {});
  assert.equal(none.source, null);
  assert.equal(none.passwordHash, null);
  assert.equal((await stat(file)).mode & 0o777, 0o600);

  const first = await resolveAdminCredentials(config, { FACEGATE_ADMIN_PASSWORD: 'first start secret' });
  assert.equal(first.source, 'env');
  assert.equal(await verifyPassword('first start secret', first.passwordHash!), true);
  const text = await readFile(file, 'utf8');
  assert.equal(text.includes('first start secret'), false);
  assert.notEqual(first.sessionSecret, none.sessionSecret, 'a new password ends old sessions');

  // Later starts keep the stored hash even if the variable changes, and say so.
  const later = await resolveAdminCredentials(config, { FACEGATE_ADMIN_PASSWORD: 'something else entirely' });
  assert.equal(later.source, 'file');
  assert.equal(await verifyPassword('first start secret', later.passwordHash!), true);
  assert.match(later.envNote ?? '', /^FACEGATE_ADMIN_PASSWORD is ignored: an admin password is already stored in .*admin\.json.*facegate admin password/);
  assert.match((await resolveAdminCredentials(config, { FACEGATE_ADMIN_PASSWORD: 'first start secret' })).envNote ?? '', /is the admin password already stored .* you can unset it/);
  assert.equal((await resolveAdminCredentials(config, {})).envNote, null);
  // A first start with a variable too short to be a password: one line, nothing stored.
  const g5 = loadConfig({ env: {}, overrides: { galleryDir: path.join(tmp, 'g5') } });
  await assert.rejects(resolveAdminCredentials(g5, { FACEGATE_ADMIN_PASSWORD: 'short' }), (err: unknown) => err instanceof ConfigError && /^FACEGATE_ADMIN_PASSWORD: the admin password needs at least 8 characters; nothing was stored$/.test(err.message));
  assert.equal((await AdminStore.open(adminFilePath(g5))).passwordHash, null);

  // A hash in the config wins over the file.
  const fixed = await hashPassword('from the config file');
  const cfg2 = loadConfig({ env: { FACEGATE_ADMIN_PASSWORD_HASH: fixed }, overrides: { galleryDir: path.join(tmp, 'g1') } });
  const c = await resolveAdminCredentials(cfg2, {});
  assert.equal(c.source, 'config');
  assert.equal(c.passwordHash, fixed);
  assert.match((await resolveAdminCredentials(cfg2, { FACEGATE_ADMIN_PASSWORD: 'first start secret' })).envNote ?? '', /ignored: the admin password is fixed by adminPasswordHash/);

  // --set-admin-password path.
  const store = await AdminStore.open(file);
  await store.setPassword('rotated password');
  assert.equal(await verifyPassword('rotated password', (await AdminStore.open(file)).passwordHash!), true);

  await writeFile(path.join(tmp, 'broken.json'), '{"format":"something"}');
  await assert.rejects(AdminStore.open(path.join(tmp, 'broken.json')), /not a FaceGate admin file/);
});

test('config: defaults, then file, then FACEGATE_* env, then flags; bad values are named', async () => {
  const d = loadConfig({ env: {} });
  assert.equal(d.port, 3000);
  assert.equal(d.host, '127.0.0.1');
  assert.equal(d.modelDir, DEFAULT_MODEL_DIR);
  assert.equal(d.limits.maxImageBytes, 10 * 1024 * 1024);
  assert.equal(d.enroll.minSamples, 3);
  assert.equal(d.access.recognition, 'localhost');

  const dir = path.join(tmp, 'conf');
  const file = path.join(tmp, 'facegate.json');
  await writeFile(file, JSON.stringify({ port: 4000, modelDir: 'models/x', limits: { maxEnrollImages: 6 }, access: { metrics: 'any' } }));
  const f = loadConfig({ env: {}, file });
  assert.equal(f.port, 4000);
  assert.equal(f.modelDir, path.join(tmp, 'models/x'), 'relative to the config file');
  assert.equal(f.limits.maxEnrollImages, 6);
  assert.equal(f.limits.maxImageBytes, 10 * 1024 * 1024, 'siblings keep defaults');

  const e = loadConfig({ env: { FACEGATE_CONFIG: file, FACEGATE_PORT: '5000', FACEGATE_GALLERY_DIR: dir, FACEGATE_RECOGNITION_ACCESS: 'any', FACEGATE_LOG_DECISIONS: 'off' } });
  assert.equal(e.port, 5000);
  assert.equal(e.galleryDir, dir);
  assert.equal(e.access.recognition, 'any');
  assert.equal(e.access.metrics, 'any', 'from the file');
  assert.equal(e.logDecisions, false);

  const o = loadConfig({ env: { FACEGATE_PORT: '5000' }, overrides: { port: 6000, modelDir: undefined } });
  assert.equal(o.port, 6000);
  assert.equal(o.modelDir, DEFAULT_MODEL_DIR, 'undefined flags do not override');

  assert.throws(() => loadConfig({ env: { FACEGATE_PORT: 'eighty' } }), (err: unknown) => err instanceof ConfigError && /FACEGATE_PORT/.test(err.message));
  assert.throws(() => loadConfig({ env: { FACEGATE_PORT: '70000' } }), /port/);
  assert.throws(() => loadConfig({ env: { FACEGATE_RECOGNITION_ACCESS: 'everyone' } }), /access\.recognition/);
  await writeFile(file, JSON.stringify({ prot: 1 }));
  assert.throws(() => loadConfig({ env: {}, file }), /Unrecognized key/);
  assert.throws(() => loadConfig({ env: {}, overrides: { enroll: { minSamples: 6, maxTemplates: 5 } } }), /maxTemplates/);
});

test('loopback detection ignores anything but the TCP peer', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
  for (const a of ['10.0.0.1', '::ffff:192.168.1.2', '128.0.0.1', '', undefined]) assert.equal(isLoopback(a), false, String(a));
});

test('sessions expire, and repeated wrong passwords make the client wait (429 with Retry-After), never for long', async () => {
  const auth = new AdminAuth({ passwordHash: await hashPassword('right password'), secret: 's'.repeat(40), ttlMs: 50 });
  const s = await auth.login('right password', 'a');
  assert.ok(s.ok && auth.valid(s.token));
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(auth.valid(s.token), false, 'expired');

  const service = await (async () => {
    await initBackend({ quiet: true });
    const config = loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'none'), galleryDir: path.join(tmp, 'g3') } });
    return { config, svc: await FaceService.open(config, { quiet: true }) };
  })();
  try {
    const { app } = createApp({ service: service.svc, config: service.config, admin: { passwordHash: await hashPassword('right password'), sessionSecret: 'x'.repeat(40) } });
    const attacker = { incoming: { socket: { remoteAddress: '10.0.0.66' } } } as never;
    const login = (password: string, env?: never) =>
      app.request('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) }, env);
    for (let i = 0; i < 3; i++) assert.equal((await login(`guess ${i} wrong`, attacker)).status, 401);
    const waiting = await login('right password', attacker);
    assert.equal(waiting.status, 429, 'after three wrong ones, even the right password waits its turn');
    const wait = Number(waiting.headers.get('retry-after'));
    assert.ok(wait >= 1 && wait <= 30, `a short wait (${wait} s), not a 15 min lock-out`);
    assert.equal((await login('right password')).status, 200, 'other clients do not wait');
    // Guesses sent all at once are counted before they are checked: three get a verdict.
    const burst = { incoming: { socket: { remoteAddress: '10.0.0.67' } } } as never;
    const all = await Promise.all([...Array.from({ length: 19 }, (_, i) => login(`parallel guess ${i}`, burst)), login('right password', burst)]);
    assert.equal(all.filter((r) => r.status === 401).length, 3);
    assert.equal(all.at(-1)!.status, 429, 'the right password, sent fourth or later, waits');
    // Once the wait is over, the right password gets in.
    await new Promise((r) => setTimeout(r, Number(all.at(-1)!.headers.get('retry-after')) * 1000 + 50));
    assert.equal((await login('right password', burst)).status, 200);
  } finally {
    await service.svc.close();
  }
});

test('a real server: loopback clients may verify, metrics and admin routes follow the policy, 503 without a model', async () => {
  const config = loadConfig({ env: {}, overrides: { port: 0, host: '127.0.0.1', modelDir: path.join(tmp, 'none'), galleryDir: path.join(tmp, 'g4') } });
  const running = await startServer(config, { quiet: true });
  try {
    const health = await fetch(`${running.url}/api/health`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'no_model');
    const v = await fetch(`${running.url}/api/verify`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: await readFile(AMY) });
    assert.equal(v.status, 503, 'passes the localhost check over a real socket, then no model');
    assert.equal((await fetch(`${running.url}/metrics`)).status, 200);
    assert.equal((await fetch(`${running.url}/api/settings`)).status, 401);
  } finally {
    await running.close();
  }
  // The same server with recognition restricted to admins refuses even local callers.
  const strict = await startServer({ ...config, access: { recognition: 'admin', metrics: 'admin' } }, { quiet: true });
  try {
    const v = await fetch(`${strict.url}/api/verify`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: await readFile(AMY) });
    assert.equal(v.status, 401);
    assert.equal((await fetch(`${strict.url}/metrics`)).status, 401);
  } finally {
    await strict.close();
  }
});
