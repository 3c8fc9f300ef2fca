// One owner of the gallery, with real processes: `facegate serve` servers and `facegate` CLI
// commands as child processes on 127.0.0.1, a temp gallery, the shipped model and real photos.
// While a server runs, the CLI's writes go through it (so it knows of them at once and its own
// later writes keep them); a second server on the gallery refuses to start, and a server killed
// with -9 does not block the next; with no server, CLI writers take turns under the lock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../src/config/load.js';
import { isAlive, lockPath, type OwnerRecord } from '../src/owner/index.js';

const BBT = fileURLToPath(new URL('../../shared/data/small/bbt/', import.meta.url));
const SHIPPED = path.join(PROJECT_ROOT, 'models', 'facegate-default');
const MAIN = path.join(PROJECT_ROOT, 'src', 'cli', 'main.ts');
const PASSWORD = 'owner test admin password';
const skip = existsSync(path.join(SHIPPED, 'model.json')) && existsSync(BBT) ? false : 'needs models/facegate-default and ../shared/data/small/bbt';

const photo = (who: string, n: number) => path.join(BBT, who, `${who}${n}.png`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let tmp: string;
let galleryDir: string;
let env: NodeJS.ProcessEnv;
/** Everything every child process printed: the local token must appear in none of it. */
const printed: string[] = [];
const tokens = new Set<string>();
const ids: Record<string, string> = {};

interface ServerProc {
  proc: ChildProcess;
  pid: number;
  url: string;
  /** An admin bearer token from logging in with the password (the way a remote script would). */
  admin: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: PROJECT_ROOT, env }, (err, stdout, stderr) => {
      printed.push(stdout, stderr);
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function readLock(): Promise<OwnerRecord | null> {
  try {
    return JSON.parse(await readFile(lockPath(galleryDir), 'utf8')) as OwnerRecord;
  } catch {
    return null;
  }
}

/** Polls `check` until it returns a value; an attempt must start before the deadline. */
async function waitFor<T>(what: string, withinMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const started = Date.now();
    const v = await check();
    if (v !== undefined) return v;
    if (started > deadline) throw new Error(`${what}: not within ${withinMs} ms`);
    await sleep(50);
  }
}

function spawnServer(): { proc: ChildProcess; out: string[]; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve'], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  proc.stdout!.on('data', (d) => out.push(String(d)));
  proc.stderr!.on('data', (d) => out.push(String(d)));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  void exited.then(() => printed.push(out.join('')));
  return { proc, out, exited };
}

/** A `facegate serve` child, once it listens and has published its address in the lock. */
async function startServerProc(): Promise<ServerProc> {
  const { proc, out, exited } = spawnServer();
  let gone = false;
  void exited.then(() => (gone = true));
  const lock = await waitFor('server start', 120_000, async () => {
    if (gone) throw new Error(`the server exited: ${out.join('')}`);
    const r = await readLock();
    return r && r.pid === proc.pid && r.url ? r : undefined;
  });
  tokens.add(lock.token!);
  const login = await fetch(`${lock.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
  assert.equal(login.status, 200);
  const admin = ((await login.json()) as { token: string }).token;
  return { proc, pid: proc.pid!, url: lock.url!, admin, stderr: () => out.join(''), exited };
}

async function stopServer(s: ServerProc, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill(signal);
  await s.exited;
}

async function api(s: ServerProc, method: string, route: string, body?: FormData): Promise<{ status: number; json: any }> {
  const res = await fetch(`${s.url}${route}`, { method, headers: { authorization: `Bearer ${s.admin}` }, body });
  return { status: res.status, json: await res.json() };
}

async function verifyAt(s: ServerProc, file: string): Promise<{ decision: string; identity: { id: string } | null; score: number | null }> {
  const res = await fetch(`${s.url}/api/verify`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: await readFile(file) });
  assert.equal(res.status, 200);
  return (await res.json()) as { decision: string; identity: { id: string } | null; score: number | null };
}

async function enrolForm(name: string, who: string, ns: number[]): Promise<FormData> {
  const fd = new FormData();
  fd.append('name', name);
  fd.append('confirmDuplicate', 'true');
  for (const n of ns) fd.append('images', new File([await readFile(photo(who, n))], `${who}${n}.png`));
  return fd;
}

const galleryIds = async () => (JSON.parse(await readFile(path.join(galleryDir, 'gallery.json'), 'utf8')) as { identities: { id: string }[] }).identities.map((i) => i.id);

let server: ServerProc | undefined;

before(async () => {
  if (skip) return;
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-owner-'));
  galleryDir = path.join(tmp, 'gallery');
  env = { ...process.env, FACEGATE_GALLERY_DIR: galleryDir, FACEGATE_MODEL_DIR: SHIPPED, FACEGATE_HOST: '127.0.0.1', FACEGATE_PORT: '0', FACEGATE_ADMIN_PASSWORD: PASSWORD };
  for (const k of ['FACEGATE_CONFIG', 'FACEGATE_MODELS_DIR', 'FACEGATE_ADMIN_FILE', 'FACEGATE_ADMIN_PASSWORD_HASH']) delete env[k];
  server = await startServerProc();
});

after(async () => {
  if (server) await stopServer(server, 'SIGKILL');
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('with the server running, a CLI enrollment is listed and recognised by the server within a second, and survives its later writes', { skip }, async () => {
  const s = server!;
  const lock = (await readLock())!;
  assert.equal((await stat(lockPath(galleryDir))).mode & 0o777, 0o600, 'the lock carries the token: owner-only');
  assert.match(lock.token!, /^[A-Za-z0-9_-]{43}$/, 'the local token is random, not a path');

  const enrol = await cli('enroll', '--name', 'Amy', '--json', photo('amy', 2), photo('amy', 3), photo('amy', 4));
  assert.equal(enrol.code, 0, enrol.stderr);
  const doneAt = Date.now();
  ids.amy = (JSON.parse(enrol.stdout) as { identity: { id: string } }).identity.id;
  assert.match(enrol.stderr, new RegExp(`served by a facegate server \\(pid ${s.pid}\\) at ${s.url.replace(/[.]/g, '\\.')}: sent there`));

  const granted = await waitFor('the server lists and recognises the CLI enrollment', 1000, async () => {
    const listed = await api(s, 'GET', '/api/identities');
    if (!(listed.json.identities as { id: string }[]).some((i) => i.id === ids.amy)) return undefined;
    const v = await verifyAt(s, photo('amy', 5));
    return v.decision === 'granted' && v.identity?.id === ids.amy ? v : undefined;
  });
  console.log(`# amy5 granted by the server ${Date.now() - doneAt} ms after the CLI exited (score ${granted.score?.toFixed(3)})`);
  assert.ok(existsSync(path.join(galleryDir, 'faces', ids.amy!)), 'her crops are the gallery\'s, not orphans');

  // The server's own next write (an enrollment through the API) keeps her.
  const raj = await api(s, 'POST', '/api/enroll', await enrolForm('Raj', 'raj', [1, 2, 3]));
  assert.equal(raj.status, 201);
  ids.raj = raj.json.identity.id;
  assert.deepEqual((await galleryIds()).sort(), [ids.amy, ids.raj].sort());
  assert.ok(existsSync(path.join(galleryDir, 'faces', ids.amy!)));

  // Reading CLI commands see the server's current gallery, and write nothing.
  const before = await readFile(path.join(galleryDir, 'gallery.json'), 'utf8');
  const list = await cli('gallery', 'list', '--json');
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual((JSON.parse(list.stdout) as { identities: { id: string }[] }).identities.map((i) => i.id).sort(), [ids.amy, ids.raj].sort());
  const v = await cli('verify', photo('amy', 5), '--claim', ids.amy!, '--json');
  assert.equal(v.code, 0, v.stderr);
  assert.equal((JSON.parse(v.stdout) as { decision: string }).decision, 'granted');
  assert.equal(await readFile(path.join(galleryDir, 'gallery.json'), 'utf8'), before, 'readers left gallery.json as the server wrote it');
});

test('a CLI erasure is denied by the server at once and stays erased after its later writes', { skip }, async () => {
  const s = server!;
  const del = await cli('gallery', 'delete', ids.amy!);
  assert.equal(del.code, 0, del.stderr);
  assert.match(del.stdout, new RegExp(`erased Amy \\(${ids.amy}\\)`));

  const v = await verifyAt(s, photo('amy', 5));
  assert.notEqual(v.identity?.id, ids.amy, 'the server no longer grants her');
  const claim = await fetch(`${s.url}/api/verify?claim=${ids.amy}`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: await readFile(photo('amy', 5)) });
  assert.equal(claim.status, 404, 'her id is unknown to the server');
  assert.equal((await api(s, 'GET', `/api/identities/${ids.amy}`)).status, 404);

  // A later write by the server (another enrollment) does not bring her back.
  const penny = await api(s, 'POST', '/api/enroll', await enrolForm('Penny', 'penny', [1, 2, 4]));
  assert.equal(penny.status, 201);
  ids.penny = penny.json.identity.id;
  assert.deepEqual((await galleryIds()).sort(), [ids.raj, ids.penny].sort());
  assert.ok(!existsSync(path.join(galleryDir, 'faces', ids.amy!)), 'her crops are gone');
  for (const f of await readdir(path.join(galleryDir, 'audit'))) {
    assert.ok(!(await readFile(path.join(galleryDir, 'audit', f), 'utf8')).includes(ids.amy!), `and her log entries (audit/${f}: redacted)`);
  }
  assert.notEqual((await verifyAt(s, photo('amy', 5))).identity?.id, ids.amy);
});

test('destructive API calls still need authentication; the local token is not printed anywhere', { skip }, async () => {
  const s = server!;
  const anon = await fetch(`${s.url}/api/identities/${ids.raj}`, { method: 'DELETE' });
  assert.equal(anon.status, 401);
  const wrong = await fetch(`${s.url}/api/identities/${ids.raj}`, { method: 'DELETE', headers: { authorization: `Bearer ${'x'.repeat(43)}` } });
  assert.equal(wrong.status, 401);
  const page = await fetch(`${s.url}/admin/gallery`, { redirect: 'manual' });
  assert.equal(page.status, 303);
  assert.match(page.headers.get('location') ?? '', /^\/login/);
  assert.ok((await galleryIds()).includes(ids.raj!));
  for (const t of tokens) assert.ok(!printed.join('\n').includes(t) && !s.stderr().includes(t), 'no process printed the local token');
});

test('a second server on the gallery refuses to start with one clear line; after kill -9 of the first, a new one starts', { skip }, async () => {
  const first = server!;
  const second = spawnServer();
  const code = await second.exited;
  const text = second.out.join('');
  assert.equal(code, 3, text);
  const lines = text.trim().split('\n').filter((l) => !l.startsWith('[facegate] backend'));
  assert.equal(lines.length, 1, text);
  assert.equal(lines[0], `error: gallery ${galleryDir} is already served by a facegate server (pid ${first.pid}) at ${first.url}: stop that server first, or give this one another gallery (--gallery, FACEGATE_GALLERY_DIR)`);
  assert.equal((await verifyAt(first, photo('penny', 5))).identity?.id, ids.penny, 'the first server is untouched');

  await stopServer(first, 'SIGKILL');
  const stale = await readLock();
  assert.equal(stale?.pid, first.pid, 'kill -9 leaves the lock behind');
  assert.equal(isAlive(stale!), false);

  server = await startServerProc();
  assert.notEqual(server.pid, first.pid);
  assert.equal((await readLock())?.pid, server.pid);
  const v = await verifyAt(server, photo('penny', 5));
  assert.equal(v.identity?.id, ids.penny, 'the new server has the gallery');
  // And the CLI now talks to the new server.
  const list = await cli('gallery', 'list', '--json');
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual((JSON.parse(list.stdout) as { identities: { id: string }[] }).identities.map((i) => i.id).sort(), [ids.raj, ids.penny].sort());
});

test('with no server, two CLI enrollments run at the same time both land', { skip }, async () => {
  await stopServer(server!);
  server = undefined;
  assert.equal(await readLock(), null, 'a clean stop removes the lock (and the token in it)');

  const [sheldon, leonard] = await Promise.all([
    cli('enroll', '--name', 'Sheldon', '--confirm-duplicate', '--json', photo('sheldon', 1), photo('sheldon', 2), photo('sheldon', 5)),
    cli('enroll', '--name', 'Leonard', '--confirm-duplicate', '--json', photo('leonard', 1), photo('leonard', 2), photo('leonard', 4)),
  ]);
  assert.equal(sheldon.code, 0, sheldon.stderr);
  assert.equal(leonard.code, 0, leonard.stderr);
  const waited = [sheldon, leonard].filter((r) => /is in use by `facegate enroll` \(pid \d+\): waiting/.test(r.stderr)).length;
  console.log(`# ${waited} of the two enrollments waited for the other's lock`);
  ids.sheldon = (JSON.parse(sheldon.stdout) as { identity: { id: string } }).identity.id;
  ids.leonard = (JSON.parse(leonard.stdout) as { identity: { id: string } }).identity.id;
  assert.deepEqual((await galleryIds()).sort(), [ids.raj, ids.penny, ids.sheldon, ids.leonard].sort(), 'both landed, and the earlier ones stayed');
  for (const who of ['sheldon', 'leonard']) assert.ok(existsSync(path.join(galleryDir, 'faces', ids[who]!)));
  assert.equal(await readLock(), null, 'each released the lock');

  const v = await cli('verify', photo('leonard', 5), '--claim', ids.leonard!, '--json');
  assert.equal((JSON.parse(v.stdout) as { decision: string }).decision, 'granted', v.stderr);
});
