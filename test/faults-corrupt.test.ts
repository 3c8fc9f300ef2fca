// A corrupt gallery file at start, rotating backups, restore, and erasure from the backups.
//   - The server (startServer) and the CLI refuse to start on a corrupt gallery.json,
//     settings.json or activity.json: the message names the file and what is wrong, and says
//     which backup to restore and how (or how to start without the file); nothing in the folder
//     changes, byte for byte. Doing what the message says makes the folder start again.
//     (activity.json is the activity log's single file of older versions, read on open to be
//     migrated: a corrupt one is refused the same way.)
//   - gallery.json and settings.json keep their previous versions as <file>.bak.1 (newest) ..
//     .bak.3, rotated on every write; the activity log (written per decision) keeps none.
//   - An erasure rewrites the backups (and a copy `facegate restore` kept) without the person.
// The folders are made through the real service (enrollments of real photos, a settings change).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, cp, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/engine/backend.js';
import { loadConfig } from '../src/config/index.js';
import { Enrolled } from '../src/enrolled/index.js';
import { restoreBackup } from '../src/enrolled/enrolled.js';
import { Gallery } from '../src/gallery/gallery.js';
import { startServer } from '../src/http/start.js';
import { FaceService } from '../src/service/index.js';
import { BBT, randomModel } from './fixtures/web/harness.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let tmp: string;
let model: string;
/** A folder with two people enrolled and a settings change: gallery.json and settings.json have backups. */
let populated: string;
let amyId: string;

const configFor = (galleryDir: string) =>
  loadConfig({ env: {}, overrides: { modelDir: model, galleryDir, port: 0, host: '127.0.0.1', enroll: { minSamples: 2, maxTemplates: 2 } } });

const photos = (who: string) => Promise.all([2, 3, 4].map(async (n) => ({ bytes: await readFile(path.join(BBT, who, `${who}${n}.png`)), file: `${who}${n}.png` })));

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-faults-corrupt-'));
  model = await randomModel(path.join(tmp, 'model'), 'corrupt-test');
  populated = path.join(tmp, 'populated');
  const s = await FaceService.open(configFor(populated), { quiet: true });
  try {
    amyId = (await s.enroll({ name: 'Amy Farrah Fowler', badge: 'AFF-1', images: await photos('amy'), confirmDuplicate: true })).identity.id;
    await s.enroll({ name: 'Raj Koothrappali', badge: 'RK-2', images: await photos('raj'), confirmDuplicate: true });
    await s.updateIdentity(amyId, { notes: 'neurobiologist' });
    await s.updateSettings({ metric: 'euclidean' });
  } finally {
    await s.close();
  }
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/**
 * Every file in the folder with a hash of its content, but the server's own admin.json (its
 * session secret, made on a first start before the gallery is opened) and owner lock.
 */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || (e.parentPath === dir && ['admin.json', 'owner.lock'].includes(e.name))) continue;
    const p = path.join(e.parentPath, e.name);
    out[path.relative(dir, p)] = createHash('sha256').update(await readFile(p)).digest('hex');
  }
  return out;
}

/** `facegate <args>` as an operator runs it. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
  });
}

/** startServer's refusal (it must not start). */
async function refusedStart(dir: string): Promise<string> {
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    server = await startServer(configFor(dir), { quiet: true });
  } catch (err) {
    return (err as Error).message;
  }
  await server.close();
  assert.fail(`the server started on ${dir}`);
}

async function startsAgain(dir: string): Promise<void> {
  const server = await startServer(configFor(dir), { quiet: true });
  try {
    const h = (await (await fetch(`${server.localUrl}/api/health`)).json()) as { status: string; gallery: { identities: number } };
    assert.equal(h.status, 'ok');
    assert.equal(h.gallery.identities, 2);
  } finally {
    await server.close();
  }
}

const corruptions = [
  {
    file: 'gallery.json',
    // A torn write: the first half of the file.
    damage: async (f: string) => writeFile(f, (await readFile(f)).subarray(0, Math.floor((await stat(f)).size / 2))),
    says: /gallery\.json is not valid JSON/,
  },
  {
    file: 'settings.json',
    // Valid JSON that does not validate: a hand edit gone wrong.
    damage: async (f: string) => writeFile(f, (await readFile(f, 'utf8')).replace('"euclidean"', '"manhattan"')),
    says: /settings\.json does not validate: invalid settings: settings\.metric/,
  },
  {
    file: 'activity.json',
    // What a power cut after a non-syncing write leaves.
    damage: async (f: string) => writeFile(f, ''),
    says: /activity\.json is empty \(0 bytes\)/,
  },
];

test('the server refuses to start on a corrupt gallery.json, settings.json or activity.json: names the file and the problem, changes nothing', { timeout: 120_000 }, async () => {
  for (const c of corruptions) {
    const dir = path.join(tmp, `start-${c.file}`);
    await cp(populated, dir, { recursive: true });
    const file = path.join(dir, c.file);
    await c.damage(file);
    const bad = await readFile(file);
    const before = await snapshot(dir);
    const message = await refusedStart(dir);
    assert.ok(message.includes(file), `${c.file}: names ${file}: ${message}`);
    assert.match(message, c.says);
    assert.match(message, new RegExp(`did not open .* and left ${c.file.replace('.', '\\.')} as it is`));
    assert.deepEqual(await snapshot(dir), before, `${c.file}: nothing in the folder changed, backups included`);
    assert.deepEqual(await readFile(file), bad, `${c.file}: kept byte for byte`);
    // The refusal released the gallery: a second start is refused for the same reason, not as "already served".
    assert.equal(await refusedStart(dir), message);

    // Do what the message says.
    if (c.file === 'activity.json') {
      assert.match(message, /No backups are kept of activity\.json: move it aside \(mv (\S+) (\S+)\)/);
      const [, from, to] = /\(mv (\S+) (\S+)\)/.exec(message)!;
      assert.equal(from, file);
      await rename(from!, to!);
      await startsAgain(dir);
      assert.deepEqual(await readFile(to!), bad, 'the bad log is still there, moved aside');
      continue;
    }
    const named = /Newest good backup: (\S+) \(saved [^)]+\)\. Restore it with `facegate restore (\S+) --gallery (\S+)`.*or by hand: cp (\S+) (\S+)$/.exec(message);
    assert.ok(named, `${c.file}: the message says which backup to restore and how: ${message}`);
    const [, backup, arg, galleryArg, cpFrom, cpTo] = named;
    assert.equal(backup, path.join(dir, `${c.file}.bak.1`));
    assert.deepEqual([arg, galleryArg, cpFrom, cpTo], [`${c.file}.bak.1`, dir, backup, file]);
    if (c.file === 'settings.json') {
      await copyFile(cpFrom!, cpTo!);
    } else {
      const r = await cli(['restore', arg!, '--gallery', galleryArg!]);
      assert.equal(r.code, 0, `facegate restore: ${r.stderr}`);
      assert.match(r.stdout, /restored .*gallery\.json from gallery\.json\.bak\.1/);
      const kept = /kept as (\S+):/.exec(r.stdout)![1]!;
      assert.deepEqual(await readFile(kept), bad, 'restore keeps the bad file beside the restored one');
    }
    assert.deepEqual(await readFile(file), await readFile(backup!), 'the backup is in place');
    await startsAgain(dir);
  }
});

test('a gallery.json gone missing beside its backups is not a fresh start: refused, nothing written, restorable', async () => {
  const dir = path.join(tmp, 'missing');
  await cp(populated, dir, { recursive: true });
  const file = path.join(dir, 'gallery.json');
  await rm(file);
  const before = await snapshot(dir);
  const message = await refusedStart(dir);
  assert.ok(message.startsWith(`${file} does not exist, but a backup of it does`), message);
  assert.match(message, /Newest good backup: \S+gallery\.json\.bak\.1 .*facegate restore gallery\.json\.bak\.1/);
  assert.deepEqual(await snapshot(dir), before, 'no empty gallery.json was created, no backup rotated');
  await restoreBackup(dir, 'gallery.json.bak.1');
  await startsAgain(dir);
});

test('the CLI refuses a corrupt file too: the same message, exit code 3, the file unchanged', { timeout: 120_000 }, async () => {
  const dir = path.join(tmp, 'cli');
  await cp(populated, dir, { recursive: true });
  const file = path.join(dir, 'gallery.json');
  await writeFile(file, ''); // a zero-length gallery.json
  const before = await snapshot(dir);
  for (const args of [['gallery', 'list'], ['serve', '--port', '0']]) {
    const r = await cli([...args, '--gallery', dir, '--model', model]);
    assert.notEqual(r.code, 0, `${args[0]}: refused`);
    if (args[0] === 'gallery') assert.equal(r.code, 3);
    assert.ok(r.stderr.includes(`${file} is empty (0 bytes)`), `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /Newest good backup: .*gallery\.json\.bak\.1/);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    assert.deepEqual(await snapshot(dir), before, `${args[0]}: nothing changed`);
  }
});

test('gallery.json and settings.json keep their last three versions as rotating backups; the activity log keeps none', async () => {
  const dir = path.join(tmp, 'rotation');
  const e = await Enrolled.open(dir);
  const versions: Buffer[] = [await readFile(e.gallery.file)];
  for (const name of ['Howard', 'Leonard', 'Penny', 'Sheldon', 'Stuart']) {
    await e.gallery.addIdentity({ name });
    versions.push(await readFile(e.gallery.file));
  }
  const settings: Buffer[] = [await readFile(e.settings.file)];
  for (const k of [3, 4]) {
    await e.settings.update({ topK: k });
    settings.push(await readFile(e.settings.file));
  }
  await e.activity.record({ decision: 'unknown' });
  await e.close();
  // Backup n is the version n writes ago, and there are three.
  for (const n of [1, 2, 3]) assert.deepEqual(await readFile(path.join(dir, `gallery.json.bak.${n}`)), versions.at(-1 - n), `gallery.json.bak.${n}`);
  for (const n of [1, 2]) assert.deepEqual(await readFile(path.join(dir, `settings.json.bak.${n}`)), settings.at(-1 - n), `settings.json.bak.${n}`);
  const backups = (await readdir(dir, { recursive: true })).filter((f) => /\.bak\.\d+$/.test(f)).sort();
  assert.deepEqual(backups, ['gallery.json.bak.1', 'gallery.json.bak.2', 'gallery.json.bak.3', 'settings.json.bak.1', 'settings.json.bak.2'], 'three of gallery.json, none of the activity log');
  // `facegate restore` with no argument lists them, each checked.
  await writeFile(path.join(dir, 'gallery.json.bak.3'), '{"format": "facegate-gallery"');
  const list = await cli(['restore', '--gallery', dir, '--json']);
  assert.equal(list.code, 0, list.stderr);
  const listed = (JSON.parse(list.stdout) as { backups: { file: string; problem: string | null }[] }).backups.map((b) => [path.basename(b.file), b.problem === null]);
  assert.deepEqual(listed, [['gallery.json.bak.1', true], ['gallery.json.bak.2', true], ['gallery.json.bak.3', false], ['settings.json.bak.1', true], ['settings.json.bak.2', true]]);
  // A bad backup is refused, and nothing changes.
  const before = await snapshot(dir);
  const refused = await cli(['restore', 'gallery.json.bak.3', '--gallery', dir]);
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /gallery\.json\.bak\.3 is not valid JSON/);
  assert.deepEqual(await snapshot(dir), before);
});

test('erasure: a deleted person is gone from every backup and from the copy a restore kept', { timeout: 60_000 }, async () => {
  const dir = path.join(tmp, 'erasure');
  await cp(populated, dir, { recursive: true });
  // A restore's kept copy, a damaged backup and a moved-aside bad file all mention Amy.
  await restoreBackup(dir, 'gallery.json.bak.1');
  const kept = (await readdir(dir)).find((f) => f.startsWith('gallery.json.replaced-'));
  assert.ok(kept);
  // (bak.2: the erasure's own write rotates it to bak.3, where it is still there to be scrubbed.)
  await writeFile(path.join(dir, 'gallery.json.bak.2'), (await readFile(path.join(dir, 'gallery.json.bak.2'), 'utf8')).slice(0, 400));
  // And a bad gallery.json once moved aside as a corrupt-file message says (mv gallery.json gallery.json.bad).
  await writeFile(path.join(dir, 'gallery.json.bad'), (await readFile(path.join(dir, 'gallery.json'), 'utf8')).slice(0, 500));
  const mentionsAmy = async () => {
    const out: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
      const p = path.join(e.parentPath, e.name);
      const text = e.isFile() ? await readFile(p, 'latin1') : '';
      if (p.includes(amyId) || text.includes(amyId) || /Amy Farrah|AFF-1|neurobiologist/.test(text)) out.push(path.relative(dir, p));
    }
    return out.sort();
  };
  assert.deepEqual(
    (await mentionsAmy()).filter((f) => f.startsWith('gallery')),
    ['gallery.json', 'gallery.json.bad', 'gallery.json.bak.1', 'gallery.json.bak.2', kept].sort(),
    'before: Amy is in the gallery, its backups and the copies kept',
  );
  assert.ok((await mentionsAmy()).some((f) => f.startsWith('faces')), 'and her face crops');
  const s = await FaceService.open(configFor(dir), { quiet: true });
  try {
    await s.deleteIdentity(amyId);
  } finally {
    await s.close();
  }
  assert.deepEqual(await mentionsAmy(), [], 'no file or folder mentions Amy any more (backups, kept copies, crops, the activity log)');
  // The backups are still good, and still hold Raj: restoring one gives a gallery without Amy.
  const backups = await Gallery.listBackups(dir);
  assert.equal(backups.length, 2, 'the damaged backup could not be rewritten: removed');
  for (const b of backups) assert.equal(b.problem, null, `${b.file}: ${b.problem}`);
  await restoreBackup(dir, 'gallery.json.bak.2');
  const e = await Enrolled.open(dir);
  assert.deepEqual(e.gallery.listIdentities().map((i) => i.name), ['Raj Koothrappali']);
  await e.close();
});
