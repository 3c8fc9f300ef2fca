// Setting the admin password, as a new user meets it, with real `facegate` processes on 127.0.0.1
// (no model needed): every refusal is one plain line (no stack trace, no minified WASM source);
// `facegate admin password` sets it without starting a server, and while a server runs on the
// gallery that server takes it at once (old sessions end); `serve --set-admin-password` beside a
// running server hands the password to it instead of failing on the port; a FACEGATE_ADMIN_PASSWORD
// ignored because a password is already stored is said in the log; the route the CLI uses is the
// local token's only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AdminStore, PROJECT_ROOT, adminFilePath, hashPassword, loadConfig, verifyPassword } from '../src/config/index.js';
import { FaceService } from '../src/service/index.js';
import { createApp, type AppEnv } from '../src/http/index.js';
import { initBackend } from '../src/engine/backend.js';

const MAIN = path.join(PROJECT_ROOT, 'src', 'cli', 'main.ts');
const LOCAL = { incoming: { socket: { remoteAddress: '127.0.0.1' } } } as unknown as AppEnv['Bindings'];

let tmp: string;
let env: NodeJS.ProcessEnv;
let galleryDir: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-adminpw-'));
  galleryDir = path.join(tmp, 'gallery');
  env = { ...process.env, FACEGATE_GALLERY_DIR: galleryDir, FACEGATE_MODEL_DIR: path.join(tmp, 'no-model'), FACEGATE_HOST: '127.0.0.1', FACEGATE_PORT: '0' };
  for (const k of Object.keys(env)) if (k.startsWith('FACEGATE_') && !['FACEGATE_GALLERY_DIR', 'FACEGATE_MODEL_DIR', 'FACEGATE_HOST', 'FACEGATE_PORT'].includes(k)) delete env[k];
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A `facegate` command to its end, `stdin` piped in. */
function cli(args: string[], o: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: PROJECT_ROOT, env: { ...env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.stdin.end(o.stdin ?? '');
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** One plain line: no stack frames, no source excerpt, no minified code. */
function assertPlain(r: Run, want: RegExp, what: string): void {
  const out = r.stdout + r.stderr;
  assert.doesNotMatch(out, /^\s+at /m, `${what}: a stack trace\n${out.slice(0, 2000)}`);
  assert.doesNotMatch(out, /var Module|\^\n|Node\.js v\d/, `${what}: source excerpt\n${out.slice(0, 2000)}`);
  assert.ok(out.length < 2000, `${what}: ${out.length} characters of output`);
  assert.match(out, want, what);
}

const login = (url: string, password: string) =>
  fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });

let server: { proc: ChildProcess; url: string; port: number; stderr: () => string; exited: Promise<number | null> } | undefined;

after(async () => {
  if (server && server.proc.exitCode === null && server.proc.signalCode === null) {
    server.proc.kill('SIGTERM');
    await server.exited;
  }
  await rm(tmp, { recursive: true, force: true });
});

test('a password too short is one plain line, from `serve --set-admin-password`, FACEGATE_ADMIN_PASSWORD and `admin password`', async () => {
  const s = await cli(['serve', '--set-admin-password'], { stdin: 'short\n' });
  assertPlain(s, /^error: the admin password needs at least 8 characters; nothing changed\n$/, 'serve --set-admin-password');
  assert.equal(s.code, 2);
  const e = await cli(['serve'], { env: { FACEGATE_ADMIN_PASSWORD: 'short' } });
  assertPlain(e, /^error: FACEGATE_ADMIN_PASSWORD: the admin password needs at least 8 characters; nothing was stored\n$/, 'FACEGATE_ADMIN_PASSWORD');
  assert.equal(e.code, 3);
  const a = await cli(['admin', 'password'], { stdin: 'short\n' });
  assertPlain(a, /^error: the admin password needs at least 8 characters; nothing changed\n$/, 'admin password');
  assert.equal(a.code, 2);
  const none = await cli(['admin', 'password']);
  assertPlain(none, /^error: no password given \(stdin closed\)\n$/, 'empty stdin');
  assert.equal(none.code, 2);
  assert.equal((await AdminStore.open(path.join(galleryDir, 'admin.json'))).passwordHash, null, 'nothing stored');
});

test('`facegate admin password` with no server stores the password and starts nothing', async () => {
  const r = await cli(['admin', 'password'], { stdin: 'first admin password\n' });
  assert.equal(r.code, 0, r.stderr);
  assertPlain(r, /admin password stored \(scrypt hash\) in .*admin\.json; no server runs on this gallery/, 'stored');
  const stored = (await AdminStore.open(path.join(galleryDir, 'admin.json'))).passwordHash!;
  assert.equal(await verifyPassword('first admin password', stored), true);
});

test('a server started with a different FACEGATE_ADMIN_PASSWORD says it ignores it', async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve'], { cwd: PROJECT_ROOT, env: { ...env, FACEGATE_ADMIN_PASSWORD: 'another password entirely' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  proc.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start:\n${err}`)), 120_000);
    const look = () => {
      const m = err.match(/serving (http:\/\/\S+)/);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    };
    proc.stderr!.on('data', look);
    void exited.then(() => reject(new Error(`server exited:\n${err}`)));
  });
  server = { proc, url, port: Number(new URL(url).port), stderr: () => err, exited };
  // The start-up lines are written together; give the pipe a moment.
  await new Promise((r) => setTimeout(r, 500));
  assert.match(err, /\[facegate\] FACEGATE_ADMIN_PASSWORD is ignored: an admin password is already stored in .*admin\.json .*facegate admin password/);
  assert.equal((await login(url, 'first admin password')).status, 200);
  assert.equal((await login(url, 'another password entirely')).status, 401);
});

test('`facegate admin password` while the server runs: the server takes the new password at once and old sessions end', async () => {
  assert.ok(server, 'needs the server of the previous test');
  const old = ((await (await login(server.url, 'first admin password')).json()) as { token: string }).token;
  assert.equal((await fetch(`${server.url}/api/identities`, { headers: { authorization: `Bearer ${old}` } })).status, 200);
  const r = await cli(['admin', 'password'], { stdin: 'second admin password\n' });
  assert.equal(r.code, 0, r.stderr);
  assertPlain(r, new RegExp(`admin password changed on a facegate server \\(pid ${server.proc.pid}\\) at http://127\\.0\\.0\\.1:${server.port}: in force now; every admin session has ended`), 'through the server');
  assert.equal((await fetch(`${server.url}/api/identities`, { headers: { authorization: `Bearer ${old}` } })).status, 401, 'the old session ended');
  assert.equal((await login(server.url, 'first admin password')).status, 401);
  assert.equal((await login(server.url, 'second admin password')).status, 200);
  assert.equal(await verifyPassword('second admin password', (await AdminStore.open(path.join(galleryDir, 'admin.json'))).passwordHash!), true, 'and stored for the next start');
});

test('`serve --set-admin-password` beside the running server hands it the password and exits, instead of failing on the port', async () => {
  assert.ok(server, 'needs the server of the previous tests');
  const r = await cli(['serve', '--set-admin-password', '--port', String(server.port)], { stdin: 'third admin password\n' });
  assertPlain(r, /admin password changed on a facegate server .* in force now[\s\S]*not starting a second one/, 'serve --set-admin-password');
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await login(server.url, 'third admin password')).status, 200, 'the running server uses it');
  assert.equal(server.proc.exitCode, null, 'and keeps running');
});

test('a second server on the port of a running one (another gallery) is one line, not 30 KB of WASM source', async () => {
  assert.ok(server, 'needs the server of the previous tests');
  const other = await cli(['serve', '--port', String(server.port)], { env: { FACEGATE_GALLERY_DIR: path.join(tmp, 'other-gallery') } });
  assertPlain(other, new RegExp(`^error: cannot listen on 127\\.0\\.0\\.1:${server.port}: the port is in use .*--port or FACEGATE_PORT$`, 'm'), 'port in use');
  assert.equal(other.code, 3);
  assert.equal(server.proc.exitCode, null, 'the running server is untouched');
});

test('PUT /api/admin/password is for the local token only: admin sessions, cookies and bearer tokens are refused', async () => {
  await initBackend({ quiet: true });
  const config = loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'no-model'), galleryDir: path.join(tmp, 'g-route') } });
  const service = await FaceService.open(config, { quiet: true });
  try {
    const store = await AdminStore.open(adminFilePath(config));
    await store.setPassword('route admin password');
    const { app, deps } = createApp({ service, config, admin: { passwordHash: store.passwordHash, sessionSecret: store.sessionSecret }, web: false });
    const local = 'L'.repeat(43);
    deps.auth.acceptLocalToken(local);
    const put = (headers: Record<string, string>, password = 'new route password') =>
      app.request('/api/admin/password', { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ password }) }, LOCAL);
    const session = await app.request('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'route admin password' }) }, LOCAL);
    const { token } = (await session.json()) as { token: string };
    const cookie = session.headers.get('set-cookie')!.split(';')[0]!;
    assert.equal((await put({ authorization: `Bearer ${token}` })).status, 403, 'an admin bearer session');
    assert.equal((await put({ cookie, origin: 'http://localhost' })).status, 403, 'an admin cookie session');
    assert.equal((await put({})).status, 403, 'nobody');
    assert.equal((await put({ authorization: `Bearer ${local}` }, 'short')).status, 400);
    const ok = await put({ authorization: `Bearer ${local}` });
    assert.equal(ok.status, 200);
    assert.equal(await verifyPassword('new route password', (await AdminStore.open(adminFilePath(config))).passwordHash!), true);
    assert.equal((await app.request('/api/identities', { headers: { authorization: `Bearer ${token}` } }, LOCAL)).status, 401, 'sessions ended');
    // A password fixed in the configuration is not changed behind it.
    const fixedConfig = { ...config, adminPasswordHash: await hashPassword('fixed in config') };
    const fixed = createApp({ service, config: fixedConfig, admin: { passwordHash: fixedConfig.adminPasswordHash, sessionSecret: 'f'.repeat(40) }, web: false });
    fixed.deps.auth.acceptLocalToken(local);
    const refused = await fixed.app.request('/api/admin/password', { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${local}` }, body: JSON.stringify({ password: 'new route password' }) }, LOCAL);
    assert.equal(refused.status, 409);
  } finally {
    await service.close();
  }
});
