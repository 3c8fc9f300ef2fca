// A full disk, through the HTTP API on the real service and real gallery files: an enrollment or a
// settings change gets an error that says "disk full" (status 500, code storage), and the
// folder is exactly as before: gallery.json, settings.json and their backups byte for byte, no
// crop, no temp file. Once there is room again, the same requests go through.
//   - injected: ENOSPC from the file operations every store writes through (nodeIo), from the
//     first write, or after the first one (the disk fills up in the middle of an enrollment);
//   - for real: a 1 MB tmpfs filled up with a file (needs root to mount; skipped otherwise).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Hono } from 'hono';
import { initBackend } from '../src/engine/backend.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { Enrolled } from '../src/enrolled/index.js';
import { nodeIo } from '../src/util/atomic-write.js';
import { FaceService } from '../src/service/index.js';
import { createApp, type AppEnv } from '../src/http/index.js';
import { BBT, LOCAL, PASSWORD, randomModel } from './fixtures/web/harness.js';

let tmp: string;
let model: string;

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-faults-disk-'));
  model = await randomModel(path.join(tmp, 'model'), 'disk-full');
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The server's API on a gallery folder, logged in as the admin. */
async function api(galleryDir: string) {
  const config = loadConfig({ env: {}, overrides: { modelDir: model, galleryDir, enroll: { minSamples: 2, maxTemplates: 2 } } });
  const service = await FaceService.open(config, { quiet: true });
  const { app } = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'disk-full-secret-'.repeat(3) } }) as { app: Hono<AppEnv> };
  const call = async (url: string, init: RequestInit = {}, token?: string) => {
    const headers = new Headers(init.headers);
    if (token) headers.set('authorization', `Bearer ${token}`);
    const res = await app.request(url, { ...init, headers }, LOCAL);
    return { status: res.status, body: (await res.json()) as any };
  };
  const login = await call('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
  assert.equal(login.status, 200);
  const token = login.body.token as string;
  return {
    service,
    async enroll(name: string, who: string) {
      const fd = new FormData();
      fd.append('name', name);
      fd.append('confirmDuplicate', 'true');
      for (const n of [2, 3, 4]) fd.append('images', new File([await readFile(path.join(BBT, who, `${who}${n}.png`))], `${who}${n}.png`));
      return call('/api/enroll', { method: 'POST', body: fd }, token);
    },
    settings: (patch: unknown) => call('/api/settings', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) }, token),
    identities: async () => ((await call('/api/identities', {}, token)).body as { identities?: { name: string }[] } | { name: string }[]),
  };
}

/**
 * Every file under `dir` with a hash of its content, but the activity log (audit/, or an older
 * activity.json): the service logs decisions on its own queue, after answering (an enrollment's
 * "enroll" record), so a write of it may be in progress at any moment. Temp files are checked
 * once the service has closed.
 */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const rel = path.relative(dir, path.join(e.parentPath, e.name));
    if (!e.isFile() || rel.startsWith(`audit${path.sep}`) || /^\.?activity\.json/.test(rel)) continue;
    out[rel] = createHash('sha256').update(await readFile(path.join(dir, rel))).digest('hex');
  }
  return out;
}

/** After the service closed: no temp file of any write is left, and the folder opens with everyone. */
async function assertClean(dir: string, people: string[]): Promise<void> {
  const tmpFiles = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.tmp'));
  assert.deepEqual(tmpFiles, [], 'no temp file left');
  const e = await Enrolled.open(dir);
  assert.deepEqual(e.gallery.listIdentities().map((i) => [i.name, i.templateCount]), people.map((p) => [p, 2]));
  await e.close();
}

const names = (list: Awaited<ReturnType<Awaited<ReturnType<typeof api>>['identities']>>) =>
  (Array.isArray(list) ? list : (list.identities ?? [])).map((i) => i.name).sort();

/** The person is refused with a disk-full error and the folder is byte for byte as before. */
async function assertRefusedIntact(a: Awaited<ReturnType<typeof api>>, dir: string, what: string): Promise<void> {
  const before = await snapshot(dir);
  const people = names(await a.identities());
  const enroll = await a.enroll('Raj Koothrappali', 'raj');
  assert.equal(enroll.status, 500, `${what}: enroll status ${JSON.stringify(enroll.body)}`);
  assert.equal(enroll.body.error.code, 'storage');
  assert.match(enroll.body.error.message, /disk full/, `${what}: ${enroll.body.error.message}`);
  const settings = await a.settings({ metric: 'euclidean' });
  assert.equal(settings.status, 500, `${what}: settings status ${JSON.stringify(settings.body)}`);
  assert.match(settings.body.error.message, /disk full/);
  assert.deepEqual(await snapshot(dir), before, `${what}: the folder is unchanged (no crop, no temp file, no backup rotated)`);
  assert.deepEqual(names(await a.identities()), people, `${what}: the service still serves the previous gallery`);
  assert.equal(a.service.getSettings().metric, 'cosine');
}

/** ENOSPC from nodeIo.writeSynced for files under `dir`, after `allowed` more writes succeed. */
function diskFullAfter(dir: string, allowed: number): () => void {
  const orig = nodeIo.writeSynced;
  let left = allowed;
  nodeIo.writeSynced = async (file, data, mode) => {
    if (!file.startsWith(dir + path.sep) || left-- > 0) return orig(file, data, mode);
    // What a full disk does: part of the data lands, then the write fails.
    await writeFile(file, typeof data === 'string' ? data.slice(0, 16) : data.subarray(0, 16));
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  };
  return () => {
    nodeIo.writeSynced = orig;
  };
}

test('disk full (ENOSPC injected): enroll and settings answer 500 "disk full", the gallery is left byte for byte', async () => {
  const dir = path.join(tmp, 'injected');
  const a = await api(dir);
  try {
    assert.equal((await a.enroll('Amy Farrah Fowler', 'amy')).status, 201);
    // Full from the next write on, then full after one more write succeeds (an enrollment's first file fits, its next ones do not).
    for (const allowed of [0, 1, 2]) {
      const heal = diskFullAfter(dir, allowed);
      try {
        await assertRefusedIntact(a, dir, `full after ${allowed} writes`);
      } finally {
        heal();
      }
    }
    // Room again: the same requests go through.
    assert.equal((await a.enroll('Raj Koothrappali', 'raj')).status, 201);
    assert.equal((await a.settings({ metric: 'euclidean' })).status, 200);
  } finally {
    await a.service.close();
  }
  await assertClean(dir, ['Amy Farrah Fowler', 'Raj Koothrappali']);
});

test('disk full for real (a 1 MB tmpfs filled up): the same clear error, and the gallery intact', async (t) => {
  const mnt = path.join(tmp, 'tmpfs');
  await mkdir(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (err) {
    t.skip(`cannot mount a tmpfs here (needs root: mount -t tmpfs -o size=1m tmpfs DIR): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
    return;
  }
  try {
    const dir = path.join(mnt, 'enrolled');
    const a = await api(dir);
    try {
      assert.equal((await a.enroll('Amy Farrah Fowler', 'amy')).status, 201);
      // Fill what is left, down to the last byte that fits.
      const filler = path.join(mnt, 'filler');
      const fh = await open(filler, 'w');
      let full = 0;
      for (const size of [65536, 4096, 512, 64, 1]) {
        const chunk = Buffer.alloc(size, 0x55);
        for (;;) {
          try {
            await fh.write(chunk);
          } catch (err) {
            assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
            full++;
            break;
          }
        }
      }
      await fh.close();
      assert.equal(full, 5, 'the tmpfs is full');
      await assertRefusedIntact(a, dir, 'tmpfs full');
      await rm(filler);
      assert.equal((await a.enroll('Raj Koothrappali', 'raj')).status, 201, 'room again: the enrollment goes through');
    } finally {
      await a.service.close();
    }
    await assertClean(dir, ['Amy Farrah Fowler', 'Raj Koothrappali']);
  } finally {
    execFileSync('umount', [mnt]);
  }
});
