// The gallery's owner lock and the server's local admin token, in one process: taking, releasing
// and taking over a stale lock (dead pid, reused pid, earlier boot, garbage), racing for one; a
// server refusing a second server and waiting for a CLI command; the local token honoured from
// loopback peers only (also over a real socket from this machine's outside address, when it has
// one); no sweep of a gallery another live process owns; a CLI enrollment sent through the server
// is recorded as source `cli`. No model is loaded: nothing here needs one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { initBackend } from '../src/engine/backend.js';
import { Enrolled } from '../src/enrolled/index.js';
import { breakStale } from '../src/owner/lock.js';
import { OwnerError, OwnerLock, ServerClient, claimForServer, currentOwner, isAlive, lockPath, useGallery, type OwnerRecord } from '../src/owner/index.js';
import { createApp, startServer, type AppEnv } from '../src/http/index.js';
import { FaceService } from '../src/service/index.js';
import { ServiceError } from '../src/service/errors.js';

let tmp: string;
let n = 0;
const freshDir = async () => {
  const d = path.join(tmp, `g${n++}`);
  await mkdir(d, { recursive: true });
  return d;
};
const cli = { kind: 'cli', command: 'facegate test' } as const;
const readRecord = async (dir: string) => JSON.parse(await readFile(lockPath(dir), 'utf8')) as OwnerRecord;

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
}

async function plantLock(dir: string, patch: Partial<OwnerRecord>): Promise<void> {
  const base: OwnerRecord = { claim: `planted-${Math.random()}`, pid: process.pid, kind: 'server', command: 'facegate serve', since: new Date().toISOString(), boot: null, startTicks: null, url: 'http://127.0.0.1:9', token: 'x'.repeat(43) };
  await writeFile(lockPath(dir), JSON.stringify({ ...base, ...patch }), { mode: 0o600 });
}

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-owner-lock-'));
  await initBackend({ quiet: true });
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('one holder at a time: a second taker is told who holds it; release frees it', async () => {
  const dir = await freshDir();
  const a = await OwnerLock.tryTake(dir, cli);
  assert.ok('lock' in a);
  assert.equal((await stat(lockPath(dir))).mode & 0o777, 0o600);
  const b = await OwnerLock.tryTake(dir, { kind: 'server', command: 'facegate serve' });
  assert.ok('holder' in b);
  assert.deepEqual([b.holder.pid, b.holder.kind, b.holder.command], [process.pid, 'cli', 'facegate test']);
  assert.equal((await currentOwner(dir))?.kind, 'cli');
  await a.lock.release();
  assert.equal(existsSync(lockPath(dir)), false);
  assert.equal(await currentOwner(dir), null);
  const c = await OwnerLock.tryTake(dir, cli);
  assert.ok('lock' in c);
  await c.lock.release();
});

test('a stale lock is taken over: dead pid, pid reused by another process, earlier boot, garbage', async () => {
  const mine = await OwnerLock.tryTake(await freshDir(), cli);
  assert.ok('lock' in mine);
  const me = mine.lock.record;
  await mine.lock.release();
  assert.equal(isAlive(me), true);
  const stale: [string, Partial<OwnerRecord> | string][] = [
    ['dead pid', { pid: await deadPid() }],
    ['this pid, but another process start time (reused after a crash)', { pid: process.pid, startTicks: me.startTicks === null ? null : String(Number(me.startTicks) + 1), boot: me.boot }],
    ['this pid, but an earlier boot', { pid: process.pid, boot: 'another-boot-id', startTicks: me.startTicks }],
    ['garbage', '{"pid": '],
  ];
  for (const [what, rec] of stale) {
    if (what.includes('start time') && me.startTicks === null) continue; // no /proc here
    if (what.includes('boot') && me.boot === null) continue;
    const dir = await freshDir();
    if (typeof rec === 'string') await writeFile(lockPath(dir), rec);
    else await plantLock(dir, rec);
    assert.equal(await currentOwner(dir), null, what);
    const r = await OwnerLock.tryTake(dir, cli);
    assert.ok('lock' in r, what);
    assert.equal((await readRecord(dir)).claim, r.lock.record.claim, what);
    await r.lock.release();
  }
  // A live holder (this process, as recorded) is not stale.
  const dir = await freshDir();
  await plantLock(dir, { boot: me.boot, startTicks: me.startTicks });
  assert.ok('holder' in (await OwnerLock.tryTake(dir, cli)));
});

test('takers racing over one stale lock: exactly one wins', async () => {
  const dir = await freshDir();
  await plantLock(dir, { pid: await deadPid() });
  const all = await Promise.all(Array.from({ length: 12 }, () => OwnerLock.tryTake(dir, cli)));
  const won = all.filter((r) => 'lock' in r);
  assert.equal(won.length, 1);
  assert.ok(all.every((r) => 'lock' in r || r.holder.claim === (won[0] as { lock: OwnerLock }).lock.record.claim), 'the others see the winner');
  await (won[0] as { lock: OwnerLock }).lock.release();
  assert.equal(existsSync(`${lockPath(dir)}.break`), false);
});

test('a taker that judged a lock stale does not remove the one another taker has since created', async () => {
  const dir = await freshDir();
  await plantLock(dir, { pid: await deadPid() });
  const judged = await readRecord(dir);
  const fast = await OwnerLock.tryTake(dir, cli);
  assert.ok('lock' in fast);
  await breakStale(lockPath(dir), judged);
  assert.equal((await readRecord(dir)).claim, fast.lock.record.claim, 'the new holder keeps its lock');
  await fast.lock.release();
});

test('a server refuses a gallery another server holds, and waits for a CLI command to finish with it', async () => {
  const dir = await freshDir();
  await plantLock(dir, { pid: process.ppid, url: 'http://127.0.0.1:3999' });
  await assert.rejects(claimForServer(dir), (e: Error) => e instanceof OwnerError && e.message === `gallery ${dir} is already served by a facegate server (pid ${process.ppid}) at http://127.0.0.1:3999: stop that server first, or give this one another gallery (--gallery, FACEGATE_GALLERY_DIR)`);

  const dir2 = await freshDir();
  const held = await OwnerLock.tryTake(dir2, cli);
  assert.ok('lock' in held);
  const said: string[] = [];
  await assert.rejects(claimForServer(dir2, { waitMs: 300, say: (l) => said.push(l) }), (e: Error) => e instanceof OwnerError && /in use by `facegate test` \(pid \d+\), still, after/.test(e.message));
  assert.match(said.join('\n'), /in use by `facegate test`.*: waiting/);
  const claim = claimForServer(dir2, { waitMs: 30_000 });
  setTimeout(() => void held.lock.release(), 300);
  const owner = await claim;
  assert.equal((await readRecord(dir2)).kind, 'server');
  // A CLI command now finds the server (once it has published its address) and is sent there.
  const token = await owner.publish('http://127.0.0.1:3999');
  const seen = await useGallery(dir2, 'facegate test', { server: async (o) => o, local: async () => null });
  assert.deepEqual(seen, { pid: process.pid, url: 'http://127.0.0.1:3999', token });
  await owner.release();
  assert.equal(await useGallery(dir2, 'facegate test', { server: async () => 'server', local: async () => 'local' }), 'local');
});

test('the local admin token is an admin bearer token from loopback peers only', async () => {
  const galleryDir = await freshDir();
  const config = loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'none'), galleryDir } });
  const service = await FaceService.open(config, { quiet: true });
  try {
    // No admin password at all: the CLI on this machine must still be able to write through the server.
    const { app, deps } = createApp({ service, config, admin: { passwordHash: null, sessionSecret: 's'.repeat(40) }, web: false });
    const token = 'L'.repeat(43);
    deps.auth.acceptLocalToken(token);
    const peer = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } }) as unknown as AppEnv['Bindings'];
    const get = (bearer: string, env?: AppEnv['Bindings']) => app.request('/api/identities', { headers: { authorization: `Bearer ${bearer}` } }, env);
    assert.equal((await get(token, peer('127.0.0.1'))).status, 200);
    assert.equal((await get(token, peer('::1'))).status, 200);
    assert.equal((await get(token, peer('10.0.0.66'))).status, 401, 'never from another address');
    assert.equal((await get(token, peer('::ffff:192.168.1.2'))).status, 401);
    assert.equal((await get(token)).status, 401, 'nor without a known peer');
    assert.equal((await get('M'.repeat(43), peer('127.0.0.1'))).status, 401, 'only that token');
    assert.equal((await app.request('/api/identities', {}, peer('127.0.0.1'))).status, 401, 'loopback alone is not admin');
    assert.throws(() => deps.auth.acceptLocalToken('/tmp/gallery/owner.lock'), /random/, 'a path is not a token');
  } finally {
    await service.close();
  }
});

test('a real server: its published token works over loopback, not from its outside address; a second one in the same process is refused', async () => {
  const outside = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  const galleryDir = await freshDir();
  const config = loadConfig({ env: {}, overrides: { port: 0, host: outside ?? '127.0.0.1', modelDir: path.join(tmp, 'none'), galleryDir } });
  const running = await startServer(config, { quiet: true });
  try {
    const rec = await readRecord(galleryDir);
    assert.equal(rec.url, running.localUrl);
    assert.match(running.localUrl, /^http:\/\/127\.0\.0\.1:\d+$/, 'the CLI gets a loopback address even when the server listens on an outside one');
    const auth = { authorization: `Bearer ${rec.token}` };
    assert.equal((await fetch(`${running.localUrl}/api/identities`, { headers: auth })).status, 200);
    if (outside) {
      assert.notEqual(running.localUrl, running.url);
      assert.equal((await fetch(`${running.url}/api/identities`, { headers: auth })).status, 401, `from ${outside}, a non-loopback peer`);
    }
    await assert.rejects(startServer({ ...config, port: 0 }, { quiet: true }), (e: Error) => e instanceof OwnerError && e.message.includes(`already served by a facegate server (pid ${process.pid}) at ${running.localUrl}`));
  } finally {
    await running.close();
  }
  assert.equal(existsSync(lockPath(galleryDir)), false, 'released on close');
});

test('opening a gallery another live process owns does not sweep it (its write may be in progress)', async () => {
  const dir = await freshDir();
  await (await Enrolled.open(dir)).close();
  const orphan = path.join(dir, 'faces', 'i_0123456789abcdefghjk');
  await mkdir(orphan, { recursive: true });
  await writeFile(path.join(orphan, 't_0123456789abcdefghjk.jpg'), 'x');
  await plantLock(dir, { pid: process.ppid });
  await (await Enrolled.open(dir)).close();
  assert.ok(existsSync(orphan), 'left alone while its owner lives');
  await rm(lockPath(dir));
  await (await Enrolled.open(dir)).close();
  assert.equal(existsSync(orphan), false, 'swept once nobody else owns the gallery');
});

test('a settings patch that changes nothing writes nothing', async () => {
  const dir = await freshDir();
  const e = await Enrolled.open(dir);
  try {
    const s = await e.settings.update({ metric: 'cosine' });
    const rev = e.settings.revision;
    const before = await stat(e.settings.file);
    await e.settings.update({ metric: s.metric, thresholds: s.thresholds });
    assert.equal(e.settings.revision, rev);
    assert.equal((await stat(e.settings.file)).mtimeMs, before.mtimeMs);
    await e.settings.update({ topK: s.topK + 1 });
    assert.ok(e.settings.revision > rev);
  } finally {
    await e.close();
  }
});

test("an enrollment the CLI sends through the server reaches it as source 'cli'; the route accepts only known sources", async () => {
  const galleryDir = await freshDir();
  const config = loadConfig({ env: {}, overrides: { port: 0, host: '127.0.0.1', modelDir: path.join(tmp, 'none'), galleryDir } });
  const running = await startServer(config, { quiet: true });
  try {
    // No model here: the service refuses (no_model) after the route has validated the form; the
    // source it was asked to record is what counts.
    const seen: (string | undefined)[] = [];
    const enroll = running.service.enroll.bind(running.service);
    running.service.enroll = (req) => {
      seen.push(req.source);
      return enroll(req);
    };
    const rec = await readRecord(galleryDir);
    const form = () => {
      const f = new FormData();
      f.append('name', 'Ada');
      f.append('images', new Blob([new Uint8Array([1, 2, 3])]), 'ada1.jpg');
      return f;
    };
    const client = new ServerClient({ pid: rec.pid, url: rec.url!, token: rec.token! });
    const sent = form();
    await assert.rejects(client.call('POST', '/api/enroll', sent), (e: unknown) => e instanceof ServiceError && e.code === 'no_model');
    assert.deepEqual(seen, ['cli'], 'the CLI client marks its enrollments');
    assert.equal(sent.has('source'), false, "the caller's form is left as it was");

    const post = (f: FormData) => fetch(`${rec.url}/api/enroll`, { method: 'POST', headers: { authorization: `Bearer ${rec.token}` }, body: f });
    const withSource = (v: string) => {
      const f = form();
      f.append('source', v);
      return f;
    };
    assert.equal((await post(form())).status, 503, 'no source: the service is reached');
    assert.equal((await post(withSource('camera'))).status, 503);
    assert.equal((await post(withSource('cli'))).status, 503);
    assert.deepEqual(seen, ['cli', 'upload', 'camera', 'cli'], 'upload by default; camera and cli as sent');
    const bad = await post(withSource('scanner'));
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /source/);
    assert.equal(seen.length, 4, 'an unknown source never reaches the service');
  } finally {
    await running.close();
  }
});
