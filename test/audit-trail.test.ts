// The audit trail (issue 20, part 3) on real files in temp folders: append-only JSON Lines
// segments rotated by day and by size, retention in days (records and their snapshots purged, on
// open and on the timer), the count cap, erasure that leaves redacted lines and no trace of the
// person anywhere under enrolled/, migration of an older activity.json, and the exports (CSV and
// JSON, formula-safe) and filters of the Activity page and the admin API. The clock is injected
// where days matter; nothing waits on wall time.
import { after, before, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ActivityLog, RETENTION_EVERY_MS, segmentLines, type ActivityOptions } from '../src/activity/activity-log.js';
import type { ActivityEntry } from '../src/activity/schema.js';
import { csvCell } from '../src/activity/export.js';
import { DecisionLog } from '../src/door/decision-log.js';
import { Enrolled } from '../src/enrolled/index.js';
import { GalleryError } from '../src/gallery/errors.js';
import { nodeIo, type FileIo } from '../src/gallery/atomic-file.js';
import { newId } from '../src/gallery/ids.js';
import { initBackend } from '../src/engine/backend.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { FaceService } from '../src/service/index.js';
import { createApp, type CreatedApp } from '../src/http/index.js';
import { PageClient, PASSWORD } from './fixtures/web/harness.js';

const jpeg = await readFile(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'gallery', 'face.jpg'));
const MODEL = 'efr@1.0.0';

const made: string[] = [];

async function tmpDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'facegate-audit-'));
  made.push(d);
  return d;
}

/** A clock the test moves by hand. */
function clock(iso: string) {
  let t = Date.parse(iso);
  return {
    now: () => new Date(t),
    set: (s: string) => void (t = Date.parse(s)),
    addDays: (d: number) => void (t += d * 86_400_000),
  };
}

interface Fixture {
  dir: string;
  log: ActivityLog;
  people: Set<string>;
  settings: { activityCap: number; keepSnapshots: boolean; audit: { retentionDays: number } };
}

async function openLog(opts: Partial<ActivityOptions> & { dir?: string; cap?: number; retentionDays?: number; keepSnapshots?: boolean } = {}): Promise<Fixture> {
  const dir = opts.dir ?? (await tmpDir());
  const people = new Set<string>();
  const settings = { activityCap: opts.cap ?? 100_000, keepSnapshots: opts.keepSnapshots ?? false, audit: { retentionDays: opts.retentionDays ?? 90 } };
  const log = await ActivityLog.open(dir, { settings: () => settings, identityExists: (id) => people.has(id), onError: () => {}, ...opts });
  return { dir, log, people, settings };
}

const auditFiles = async (dir: string) => (await readdir(path.join(dir, 'audit'))).filter((f) => f.endsWith('.jsonl')).sort();
const linesOf = async (file: string) => (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as ActivityEntry);

/** Every file under dir (relative paths). */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  return out.sort();
}

async function rejects(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof GalleryError && e.code === code && (!re || re.test(e.message)));
}

test('every decision is a line with time, door, identity, score, threshold, model and liveness; appends never rewrite an earlier file', async () => {
  const c = clock('2025-03-10T08:00:00.000Z');
  const { dir, log, people } = await openLog({ now: c.now });
  const amy = newId('identity');
  people.add(amy);
  const first = await log.record({
    decision: 'match',
    door: 'kiosk (browser)',
    identityId: amy,
    score: 0.71,
    threshold: 0.4,
    metric: 'cosine',
    modelId: MODEL,
    liveness: { passed: true, method: 'blink', score: 0.93 },
    detail: '2 of the last 3 frames',
  });
  assert.deepEqual(await auditFiles(dir), ['audit-2025-03-10.jsonl']);
  const day1 = path.join(dir, 'audit', 'audit-2025-03-10.jsonl');
  const [line] = await linesOf(day1);
  assert.deepEqual(line, {
    id: first.id,
    time: '2025-03-10T08:00:00.000Z',
    decision: 'match',
    door: 'kiosk (browser)',
    identityId: amy,
    score: 0.71,
    threshold: 0.4,
    metric: 'cosine',
    modelId: MODEL,
    liveness: { passed: true, method: 'blink', score: 0.93 },
    snapshot: null,
    detail: '2 of the last 3 frames',
    redacted: false,
    redactedAt: null,
  });

  // The same day: appended, the bytes already there untouched.
  c.set('2025-03-10T17:30:00.000Z');
  const before1 = await readFile(day1);
  const inode = (await stat(day1)).ino;
  await log.recordMany([{ decision: 'unknown', door: 'api', score: 0.1, threshold: 0.4, metric: 'cosine', modelId: MODEL }, { decision: 'verify-reject', door: 'api', identityId: amy, score: 0.2 }]);
  const after1 = await readFile(day1);
  assert.ok(after1.length > before1.length && after1.subarray(0, before1.length).equals(before1), 'appended: the earlier bytes are a prefix');
  assert.equal((await stat(day1)).ino, inode, 'appended in place, not rewritten and renamed');
  assert.equal(after1.toString().split('\n').filter(Boolean).length, 3);

  // The next day: a file of its own; yesterday's is not touched again (bytes, inode, mtime).
  const was = await stat(day1);
  c.set('2025-03-11T00:00:00.000Z');
  await log.record({ decision: 'unknown', door: 'api' });
  assert.deepEqual(await auditFiles(dir), ['audit-2025-03-10.jsonl', 'audit-2025-03-11.jsonl']);
  const now1 = await stat(day1);
  assert.deepEqual(await readFile(day1), after1);
  assert.equal(now1.ino, was.ino);
  assert.equal(now1.mtimeMs, was.mtimeMs);
  assert.equal(now1.size, was.size);

  // Newest first across files, from the files and from memory alike.
  const all = await log.list();
  assert.deepEqual(all.map((e) => e.decision), ['unknown', 'verify-reject', 'unknown', 'match']);
  assert.deepEqual(log.query().map((e) => e.id), all.map((e) => e.id));
  assert.equal(log.lastSeen(amy), '2025-03-10T08:00:00.000Z', 'a reject is not a sighting');
  await log.close();

  // Reopened: the same records, the same last-seen time.
  const again = await ActivityLog.open(dir, { settings: () => ({ activityCap: 100_000, keepSnapshots: false }), identityExists: () => true });
  assert.deepEqual((await again.list()).map((e) => e.id), all.map((e) => e.id));
  assert.equal(again.lastSeen(amy), '2025-03-10T08:00:00.000Z');
  await again.close();
});

test('the door\'s decision log hands the trail each decision with its door, threshold and liveness', async () => {
  const { log, people, settings } = await openLog();
  const amy = newId('identity');
  people.add(amy);
  const decisions = new DecisionLog(log, () => settings, { enabled: true, onError: (m) => assert.fail(m) });
  assert.equal(decisions.trail, log);
  await Promise.all([
    decisions.record({ decision: 'match', door: 'kiosk (browser)', identityId: amy, score: 0.62, threshold: 0.4, metric: 'cosine', modelId: MODEL, liveness: { passed: true, method: 'blink', score: 0.88 }, detail: '2 of the last 3 frames' }),
    decisions.record({ decision: 'unknown', door: 'api', identityId: null, score: 0.11, threshold: 0.4, metric: 'cosine', modelId: MODEL, liveness: { passed: false, method: 'antispoof', score: 0.2 } }),
  ]);
  await decisions.flush();
  const [unknown, match] = await log.list();
  assert.deepEqual(
    [match!.decision, match!.door, match!.identityId, match!.score, match!.threshold, match!.modelId, match!.liveness, match!.detail],
    ['match', 'kiosk (browser)', amy, 0.62, 0.4, MODEL, { passed: true, method: 'blink', score: 0.88 }, '2 of the last 3 frames'],
  );
  assert.deepEqual([unknown!.door, unknown!.liveness], ['api', { passed: false, method: 'antispoof', score: 0.2 }]);
  await log.close();
});

test('rotation: by UTC day, and by size within a day (a tenth of the cap a segment)', async () => {
  const c = clock('2025-06-01T23:59:59.000Z');
  const { dir, log } = await openLog({ now: c.now, cap: 100 });
  assert.equal(segmentLines(100), 10);
  await log.record({ decision: 'unknown', time: new Date('2025-06-01T23:59:59.999Z') });
  await log.record({ decision: 'unknown', time: new Date('2025-06-02T00:00:00.000Z') });
  assert.deepEqual(await auditFiles(dir), ['audit-2025-06-01.jsonl', 'audit-2025-06-02.jsonl'], 'midnight UTC starts a file');
  c.set('2025-06-02T09:00:00.000Z');
  // 24 more on the 2nd: 25 in all, in one batch and one at a time.
  await log.recordMany(Array.from({ length: 14 }, () => ({ decision: 'unknown' })));
  for (let i = 0; i < 10; i++) await log.record({ decision: 'unknown' });
  assert.deepEqual(await auditFiles(dir), ['audit-2025-06-01.jsonl', 'audit-2025-06-02.1.jsonl', 'audit-2025-06-02.2.jsonl', 'audit-2025-06-02.jsonl']);
  const counts = await Promise.all(['audit-2025-06-02.jsonl', 'audit-2025-06-02.1.jsonl', 'audit-2025-06-02.2.jsonl'].map(async (f) => (await linesOf(path.join(dir, 'audit', f))).length));
  assert.deepEqual(counts, [10, 10, 5]);
  assert.equal((await log.list()).length, 26);
  assert.deepEqual(log.files().map((f) => path.basename(f)), ['audit-2025-06-01.jsonl', 'audit-2025-06-02.jsonl', 'audit-2025-06-02.1.jsonl', 'audit-2025-06-02.2.jsonl'], 'oldest first');
  await log.close();
});

test('retention: a purge removes the days past retentionDays and their snapshots, keeps the recent ones; old records are refused', async () => {
  const c = clock('2025-01-01T12:00:00.000Z');
  const { dir, log, people, settings } = await openLog({ now: c.now, retentionDays: 7, keepSnapshots: true });
  const amy = newId('identity');
  const bob = newId('identity');
  people.add(amy).add(bob);
  const old = await log.record({ decision: 'match', identityId: amy, score: 0.8, snapshotJpeg: jpeg });
  c.addDays(1);
  const bobOld = await log.record({ decision: 'match', identityId: bob, score: 0.8, snapshotJpeg: jpeg });
  c.addDays(5); // 2025-01-07
  const recent = await log.record({ decision: 'unknown', score: 0.1, snapshotJpeg: jpeg });
  const bobNew = await log.record({ decision: 'match', identityId: bob, score: 0.9 });
  for (const e of [old, bobOld, recent]) assert.ok(await stat(log.snapshotPath(e)!));
  assert.deepEqual(await auditFiles(dir), ['audit-2025-01-01.jsonl', 'audit-2025-01-02.jsonl', 'audit-2025-01-07.jsonl']);

  // 2025-01-09: kept from 2025-01-02 on (7 days back); the 1st goes with Amy's snapshot and last-seen time.
  c.set('2025-01-09T10:00:00.000Z');
  const r = await log.purge();
  assert.deepEqual(r.files.map((f) => path.basename(f)), ['audit-2025-01-01.jsonl']);
  assert.equal(r.entries, 1);
  assert.deepEqual(await auditFiles(dir), ['audit-2025-01-02.jsonl', 'audit-2025-01-07.jsonl']);
  await assert.rejects(stat(path.join(dir, 'snapshots', `${old.id}.jpg`)), { code: 'ENOENT' });
  assert.ok(await stat(log.snapshotPath(bobOld)!), 'the snapshots of kept days stay');
  assert.ok(await stat(log.snapshotPath(recent)!));
  assert.equal(log.lastSeen(amy), null, 'a last-seen time goes with the records of its day');
  assert.equal(log.lastSeen(bob), bobNew.time);
  assert.ok(!(await readFile(path.join(dir, 'audit', 'last-seen.json'), 'utf8')).includes(amy));
  assert.deepEqual((await log.list()).map((e) => e.id), [bobNew.id, recent.id, bobOld.id]);
  assert.ok(!log.query().some((e) => e.id === old.id), 'nor in memory');

  // A record dated before the retention period is not kept.
  await rejects(log.record({ decision: 'unknown', time: new Date('2025-01-01T12:00:00.000Z') }), 'INVALID_INPUT', /retention period \(7 days\)/);

  // Shorter retention takes effect at the next purge; the first record of a new day purges too.
  settings.audit.retentionDays = 2;
  c.set('2025-01-10T00:00:01.000Z');
  await log.record({ decision: 'unknown' });
  assert.deepEqual(await auditFiles(dir), ['audit-2025-01-10.jsonl']);
  assert.deepEqual(await walk(path.join(dir, 'snapshots')), [], 'every snapshot went with its day');
  await log.close();
});

test('retention runs on open (the sweep of Enrolled.open) and on the timer', async () => {
  const dir = await tmpDir();
  const gs = await Enrolled.open(dir);
  await gs.settings.update({ keepSnapshots: true, audit: { retentionDays: 30 } });
  const kept = await gs.activity.record({ decision: 'unknown', snapshotJpeg: jpeg });
  await gs.close();
  // A day long past, as a crash before the purge would have left it.
  const oldSnap = `${newId('activity')}.jpg`;
  const oldFile = path.join(dir, 'audit', 'audit-2001-02-03.jsonl');
  const oldLine = { id: oldSnap.slice(0, -4), time: '2001-02-03T10:00:00.000Z', decision: 'unknown', door: 'api', identityId: null, score: 0.1, threshold: 0.4, metric: 'cosine', modelId: MODEL, liveness: null, snapshot: oldSnap, detail: null, redacted: false, redactedAt: null };
  await writeFile(oldFile, JSON.stringify(oldLine) + '\n');
  await writeFile(path.join(dir, 'snapshots', oldSnap), jpeg);

  const reopened = await Enrolled.open(dir);
  await assert.rejects(stat(oldFile), { code: 'ENOENT' }, 'purged on open');
  await assert.rejects(stat(path.join(dir, 'snapshots', oldSnap)), { code: 'ENOENT' }, 'with its snapshot');
  assert.ok(await stat(reopened.activity.snapshotPath(kept)!), 'today is kept');
  assert.deepEqual((await reopened.activity.list()).map((e) => e.id), [kept.id]);
  await reopened.close();

  // The timer (mocked: no waiting): a purge each interval.
  const c = clock('2025-05-01T10:00:00.000Z');
  const { dir: d2, log } = await openLog({ now: c.now, retentionDays: 1 });
  await log.record({ decision: 'unknown' });
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    log.startRetention();
    log.startRetention(); // once only
    c.set('2025-05-04T10:00:00.000Z');
    mock.timers.tick(RETENTION_EVERY_MS - 1);
    await log.recordMany([]); // waits for anything queued before it
    assert.deepEqual(await auditFiles(d2), ['audit-2025-05-01.jsonl'], 'not before the interval');
    mock.timers.tick(1);
    await log.recordMany([]);
    assert.deepEqual(await auditFiles(d2), [], 'purged by the timer');
    await log.close();
  } finally {
    mock.timers.reset();
  }
});

test('the cap: beyond activityCap records the oldest segments go, with their snapshots', async () => {
  const c = clock('2025-02-01T10:00:00.000Z');
  const { dir, log } = await openLog({ now: c.now, cap: 20, keepSnapshots: true });
  const first = await log.record({ decision: 'unknown', snapshotJpeg: jpeg });
  for (let i = 0; i < 24; i++) await log.record({ decision: 'unknown', snapshotJpeg: i === 23 ? jpeg : undefined });
  const kept = (await log.list()).length;
  assert.ok(kept <= 20 && kept > 20 - segmentLines(20), `${kept} records kept`);
  assert.ok(!(await log.list()).some((e) => e.id === first.id));
  await assert.rejects(stat(path.join(dir, 'snapshots', `${first.id}.jpg`)), { code: 'ENOENT' });
  assert.equal((await walk(path.join(dir, 'snapshots'))).length, 1);
  await log.close();
});

test('a crash mid-append: the torn line is cut before the next append; a failed append (disk full) keeps nothing', async () => {
  const c = clock('2025-04-01T10:00:00.000Z');
  let full = false;
  const io: FileIo & { appendSynced(file: string, data: string): Promise<void> } = {
    ...nodeIo,
    async appendSynced(file, data) {
      if (full) {
        await writeFile(file, data.slice(0, 7), { flag: 'a' }); // a partial write...
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      await writeFile(file, data, { flag: 'a' });
    },
  };
  const { dir, log } = await openLog({ now: c.now, io });
  await log.record({ decision: 'unknown' });
  const file = path.join(dir, 'audit', 'audit-2025-04-01.jsonl');
  const good = await readFile(file);

  full = true;
  await rejects(log.record({ decision: 'unknown' }), 'WRITE_FAILED', /disk full/);
  assert.deepEqual(await readFile(file), good, '...undone');
  assert.equal(log.query().length, 1);
  full = false;
  await log.close();

  // A crash left half a record at the end.
  await writeFile(file, '{"id":"a_', { flag: 'a' });
  const { log: again } = await openLog({ dir, now: c.now, io });
  assert.equal((await again.list()).length, 1, 'the torn line is no record');
  await again.record({ decision: 'match' });
  const lines = (await readFile(file, 'utf8')).split('\n');
  assert.equal(lines.at(-1), '');
  assert.deepEqual(lines.slice(0, -1).map((l) => (JSON.parse(l) as ActivityEntry).decision), ['unknown', 'match']);
  await again.close();
});

test('erasure: the person\'s records stay as redacted lines; their id, name, scores and snapshots are gone from every file under enrolled/', async () => {
  const root = await tmpDir();
  const dir = path.join(root, 'enrolled');
  const gs = await Enrolled.open(dir);
  await gs.settings.update({ keepSnapshots: true });
  const erased = await gs.gallery.addIdentity({ name: 'Erik Eraseme', badge: 'B-ERASE-1' });
  const kept = await gs.gallery.addIdentity({ name: 'Kate Keep' });
  const day = (n: number) => new Date(Date.now() - n * 86_400_000);
  // Three days: the person on the first and the last, someone else on the middle one.
  const e1 = await gs.activity.record({ decision: 'match', door: 'kiosk (browser)', identityId: erased.id, score: 0.83, threshold: 0.4, metric: 'cosine', modelId: MODEL, liveness: { passed: true, method: 'blink', score: 0.9 }, snapshotJpeg: jpeg, detail: '2 of the last 3 frames', time: day(2) });
  const k1 = await gs.activity.record({ decision: 'match', door: 'kiosk (browser)', identityId: kept.id, score: 0.77, threshold: 0.4, metric: 'cosine', modelId: MODEL, snapshotJpeg: jpeg, time: day(1) });
  const e2 = await gs.activity.record({ decision: 'verify-reject', door: 'api', identityId: erased.id, score: 0.12, threshold: 0.4, metric: 'cosine', modelId: MODEL, snapshotJpeg: jpeg });
  const door = await gs.activity.record({ decision: 'door-ok', detail: 'webhook (open): HTTP 200 for Erik Eraseme' });
  const other = await gs.activity.record({ decision: 'unknown', door: 'api', score: 0.05 });
  assert.ok(gs.gallery.getIdentity(erased.id)?.lastSeen);
  const middle = path.join(dir, 'audit', `audit-${day(1).toISOString().slice(0, 10)}.jsonl`);
  const middleBefore = await stat(middle);

  const report = await gs.erase(erased.id);
  assert.equal(report.activityEntries, 3, 'two decisions and the door line naming them');

  // Nothing under enrolled/ names them: not a path, not a byte of any file.
  for (const f of await walk(root)) {
    assert.ok(!f.includes(erased.id), `path ${f}`);
    const content = await readFile(path.join(root, f), 'latin1');
    const utf8 = await readFile(path.join(root, f), 'utf8');
    for (const s of [erased.id, 'Erik Eraseme', 'B-ERASE-1']) assert.ok(!content.includes(s) && !utf8.includes(s), `${f} still contains ${s}`);
  }
  for (const e of [e1, e2]) await assert.rejects(stat(path.join(dir, 'snapshots', `${e.id}.jpg`)), { code: 'ENOENT' }, 'their snapshots are gone');
  assert.ok(await stat(gs.activity.snapshotPath(k1)!), 'others\' snapshots stay');
  assert.equal(gs.activity.lastSeen(erased.id), null);

  // The redacted lines remain, on disk and in what is read: the decision, its time, door, threshold and model.
  const onDisk = (await Promise.all(gs.activity.files().map(linesOf))).flat();
  const byId = new Map(onDisk.map((e) => [e.id, e]));
  assert.equal(onDisk.length, 5, 'no line removed');
  for (const [e, decision] of [[e1, 'match'], [e2, 'verify-reject']] as const) {
    const r = byId.get(e.id)!;
    assert.equal(r.redacted, true);
    assert.match(r.redactedAt ?? '', /^\d{4}-\d{2}-\d{2}T/);
    assert.deepEqual(
      { decision: r.decision, time: r.time, door: r.door, threshold: r.threshold, modelId: r.modelId, identityId: r.identityId, score: r.score, liveness: r.liveness, snapshot: r.snapshot, detail: r.detail },
      { decision, time: e.time, door: e.door, threshold: 0.4, modelId: MODEL, identityId: null, score: null, liveness: null, snapshot: null, detail: null },
    );
  }
  assert.equal(byId.get(door.id)!.redacted, true, 'a line whose detail names them');
  assert.equal(byId.get(k1.id)!.identityId, kept.id, 'others untouched');
  assert.equal(byId.get(other.id)!.redacted, false);
  const redactedRead = await gs.activity.list({ filter: { redacted: true } });
  assert.deepEqual(new Set(redactedRead.map((e) => e.id)), new Set([e1.id, e2.id, door.id]));
  assert.deepEqual(new Set(gs.activity.query({ filter: { redacted: true } }).map((e) => e.id)), new Set([e1.id, e2.id, door.id]));
  const middleAfter = await stat(middle);
  assert.equal(middleAfter.ino, middleBefore.ino, 'a file that does not name them is not rewritten');
  assert.equal(middleAfter.mtimeMs, middleBefore.mtimeMs);
  await gs.close();

  // Still so after a reopen; and a record left by an erasure cut short (the person gone from the gallery) is redacted by the sweep.
  const ghost = newId('identity');
  const today = path.join(dir, 'audit', `audit-${new Date().toISOString().slice(0, 10)}.jsonl`);
  const ghostLine = { id: newId('activity'), time: new Date().toISOString(), decision: 'match', door: 'api', identityId: ghost, score: 0.9, threshold: 0.4, metric: 'cosine', modelId: MODEL, liveness: null, snapshot: null, detail: null, redacted: false, redactedAt: null };
  await writeFile(today, JSON.stringify(ghostLine) + '\n', { flag: 'a' });
  const again = await Enrolled.open(dir);
  assert.ok(!(await readFile(today, 'utf8')).includes(ghost));
  assert.equal((await again.activity.list({ filter: { redacted: true } })).length, 4);
  await again.close();
});

test('migration: an activity.json of an earlier version becomes the trail, once, and is removed', async () => {
  const dir = await tmpDir();
  const gs = await Enrolled.open(dir);
  const amy = await gs.gallery.addIdentity({ name: 'Amy' });
  await gs.close();
  await rm(path.join(dir, 'audit'), { recursive: true, force: true });
  const snap = newId('activity');
  const recentDay = (n: number, h = '09:00:00.000') => `${new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10)}T${h}Z`;
  const legacy = {
    format: 'facegate-activity',
    version: 1,
    entries: [
      { id: newId('activity'), time: recentDay(3), decision: 'enroll', identityId: amy.id, score: null, metric: null, modelId: MODEL, snapshot: null, detail: '5 templates from 5 images' },
      { id: snap, time: recentDay(2), decision: 'match', identityId: amy.id, score: 0.8, metric: 'cosine', modelId: MODEL, snapshot: `${snap}.jpg`, detail: 'kiosk (browser): 2 of the last 3 frames' },
      { id: newId('activity'), time: recentDay(2, '10:00:00.000'), decision: 'unknown', identityId: null, score: 0.1, metric: 'cosine', modelId: MODEL, snapshot: null, detail: null },
      { id: newId('activity'), time: recentDay(1), decision: 'door-ok', identityId: null, score: null, metric: null, modelId: null, snapshot: null, detail: 'webhook (open): HTTP 200' },
    ],
    lastSeen: { [amy.id]: recentDay(2) },
  };
  await writeFile(path.join(dir, 'activity.json'), JSON.stringify(legacy, null, 2));
  await mkdir(path.join(dir, 'snapshots'), { recursive: true });
  await writeFile(path.join(dir, 'snapshots', `${snap}.jpg`), jpeg);
  // A migration cut short: one record already appended to the trail.
  const { recordLine } = await import('../src/activity/segments.js');
  const { ActivityEntrySchema } = await import('../src/activity/schema.js');
  await mkdir(path.join(dir, 'audit'), { recursive: true });
  const firstDay = path.join(dir, 'audit', `audit-${recentDay(3).slice(0, 10)}.jsonl`);
  await writeFile(firstDay, recordLine(ActivityEntrySchema.parse(legacy.entries[0])) + '\n');

  const m = await Enrolled.open(dir);
  await assert.rejects(stat(path.join(dir, 'activity.json')), { code: 'ENOENT' }, 'activity.json is gone');
  assert.deepEqual(
    (await auditFiles(dir)).map((f) => f.slice(6, 16)),
    [recentDay(3), recentDay(2), recentDay(1)].map((t) => t.slice(0, 10)),
    'one file per day',
  );
  const all = await m.activity.list();
  assert.deepEqual(all.map((e) => e.decision), ['door-ok', 'unknown', 'match', 'enroll'], 'each once, newest first');
  const match = all.find((e) => e.decision === 'match')!;
  assert.equal(match.door, 'kiosk (browser)', 'the door, out of the old detail');
  assert.equal(match.detail, '2 of the last 3 frames');
  assert.equal(match.threshold, null);
  assert.equal(match.redacted, false);
  assert.ok(await stat(m.activity.snapshotPath(match)!), 'its snapshot still named and kept');
  assert.equal(m.gallery.getIdentity(amy.id)?.lastSeen, recentDay(2));
  await m.close();
  const before = await Promise.all((await auditFiles(dir)).map((f) => readFile(path.join(dir, 'audit', f))));
  const again = await Enrolled.open(dir);
  assert.deepEqual(await Promise.all((await auditFiles(dir)).map((f) => readFile(path.join(dir, 'audit', f)))), before, 'a second open changes nothing');
  await again.close();

  // An activity.json that does not validate is refused and left as it is.
  const bad = '{"format": "facegate-activity", "version": 1, "entries": [{"id": 1}]}';
  await writeFile(path.join(dir, 'activity.json'), bad);
  await rejects(Enrolled.open(dir), 'CORRUPT', /activity\.json does not validate/);
  assert.equal(await readFile(path.join(dir, 'activity.json'), 'utf8'), bad);
});

test('csvCell: formulas stay text, numbers stay numbers', () => {
  for (const s of ['=1+2', '+1', '-1', '@SUM(A1)', '\t=1', '\r=1', ' =1', '\u3000=1', '＝1+2', '＋1', '－1', '＠x']) assert.ok(csvCell(s).replace(/^"/, '').startsWith("'"), JSON.stringify(s));
  assert.equal(csvCell(-0.25), '-0.25');
  assert.equal(csvCell('Amy'), 'Amy');
  assert.equal(csvCell('=HYPERLINK("http://x","y")'), '"\'=HYPERLINK(""http://x"",""y"")"');
  assert.equal(csvCell(true), 'true');
});

// ---- the Activity page and the admin API, over a trail written here ------------------------------

let created: CreatedApp;
let service: FaceService;
const people: Record<string, string> = {};
const ids: Record<string, string> = {};

before(async () => {
  await initBackend({ quiet: true });
  const tmp = await tmpDir();
  const galleryDir = path.join(tmp, 'gallery');
  const gs = await Enrolled.open(galleryDir);
  await gs.settings.update({ keepSnapshots: true });
  const evil = await gs.gallery.addIdentity({ name: '=HYPERLINK("http://evil.example","Click")' });
  const zoe = await gs.gallery.addIdentity({ name: 'Zoë Ng' });
  const gone = await gs.gallery.addIdentity({ name: 'Gone Person' });
  Object.assign(people, { evil: evil.id, zoe: zoe.id, gone: gone.id });
  const at = (n: number) => new Date(Date.now() - n * 86_400_000);
  const rec = async (key: string, input: Parameters<typeof gs.activity.record>[0]) => (ids[key] = (await gs.activity.record(input)).id);
  await rec('evil', { decision: 'match', door: 'kiosk (browser)', identityId: evil.id, score: 0.66, threshold: 0.4, metric: 'cosine', modelId: MODEL, liveness: { passed: true, method: 'blink', score: 0.8 }, detail: '+cmd|calc', time: at(3) });
  await rec('zoe', { decision: 'verify-accept', door: 'api', identityId: zoe.id, score: 0.7, threshold: 0.4, metric: 'cosine', modelId: MODEL, time: at(2) });
  await rec('gone', { decision: 'match', door: 'kiosk (device /dev/video0)', identityId: gone.id, score: 0.9, threshold: 0.4, metric: 'cosine', modelId: MODEL, snapshotJpeg: jpeg, time: at(1) });
  await rec('unknown', { decision: 'unknown', door: 'kiosk (browser)', score: -0.05, threshold: 0.4, metric: 'cosine', modelId: MODEL });
  await gs.erase(gone.id);
  await gs.close();
  const config = loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'no-model'), galleryDir } });
  service = await FaceService.open(config, { quiet: true });
  created = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'audit-trail-test-secret-'.repeat(2) } });
});

after(async () => {
  await created?.close();
  await service?.close();
  await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
});

const day = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);

test('the Activity page filters by person, decision, door and dates, and shows redacted records as such', async () => {
  const c = new PageClient(created.app);
  await c.login();
  const rowsOf = (html: string) => [...html.matchAll(/<tr class="decision-([a-z-]+)( redacted)?">/g)].map((m) => m[1] + (m[2] ? ' (redacted)' : ''));
  const all = await c.get('/admin/activity');
  assert.equal(all.status, 200);
  assert.deepEqual(rowsOf(all.text), ['unknown', 'match (redacted)', 'verify-accept', 'match']);
  assert.match(all.text, /<em class="redacted"[^>]*>Redacted <small>\(erased \d{4}-\d{2}-\d{2} /);
  assert.doesNotMatch(all.text, /Gone Person/);
  assert.ok(all.text.includes('<td>=HYPERLINK(&quot;http://evil.example&quot;,&quot;Click&quot;)</td>'), 'the name, as escaped HTML');
  assert.match(all.text, /<td>0\.660 \/ 0\.400 <small>cosine<\/small><\/td>/, 'score against threshold');
  assert.match(all.text, /<td>passed \(blink\)<\/td>/);
  assert.match(all.text, /<option value="kiosk \(device \/dev\/video0\)">/, 'doors seen are offered');

  assert.deepEqual(rowsOf((await c.get(`/admin/activity?identity=${people.zoe}`)).text), ['verify-accept']);
  assert.deepEqual(rowsOf((await c.get('/admin/activity?identity=redacted')).text), ['match (redacted)']);
  assert.deepEqual(rowsOf((await c.get('/admin/activity?decision=match')).text), ['match (redacted)', 'match']);
  assert.deepEqual(rowsOf((await c.get(`/admin/activity?door=${encodeURIComponent('kiosk (browser)')}`)).text), ['unknown', 'match']);
  assert.deepEqual(rowsOf((await c.get(`/admin/activity?since=${day(2)}&until=${day(1)}`)).text), ['match (redacted)', 'verify-accept']);
  assert.deepEqual(rowsOf((await c.get('/admin/activity?limit=2')).text), ['unknown', 'match (redacted)']);
  const bad = await c.get('/admin/activity?since=yesterday');
  assert.equal(bad.status, 400);
  assert.match(bad.text, /From must be a date/);

  // The exports link the same filters.
  const filtered = await c.get(`/admin/activity?decision=match&door=${encodeURIComponent('kiosk (browser)')}`);
  assert.match(filtered.text, /href="\/admin\/activity\.csv\?decision=match&amp;door=kiosk\+%28browser%29"/);
  assert.match(filtered.text, /href="\/admin\/activity\.json\?decision=match&amp;door=kiosk\+%28browser%29"/);
});

test('the page\'s exports: CSV (formula-safe, UTF-8 with BOM) and JSON of exactly what the page shows', async () => {
  const c = new PageClient(created.app);
  await c.login();
  const csv = await c.get('/admin/activity.csv');
  assert.equal(csv.status, 200);
  assert.match(csv.res.headers.get('content-type')!, /^text\/csv; charset=utf-8/);
  assert.match(csv.res.headers.get('content-disposition')!, /attachment; filename="facegate-activity-\d{4}-\d{2}-\d{2}\.csv"/);
  const lines = csv.text.trimEnd().split('\r\n'); // text() drops the byte-order mark (checked below, on the bytes)
  assert.equal(lines[0], 'time,decision,decision_label,door,identity_id,name,score,threshold,metric,model_id,liveness,liveness_method,liveness_score,snapshot,redacted,redacted_at,detail,id');
  assert.equal(lines.length, 5);
  const [unknown, gone, zoe, evil] = lines.slice(1);
  assert.match(unknown!, /^[^,]+,unknown,Not recognised,kiosk \(browser\),,,-0\.05,0\.4,cosine,efr@1\.0\.0,,,,,false,,,a_/, 'a negative score is a number, not a formula');
  assert.match(gone!, /^[^,]+,match,Granted,kiosk \(device \/dev\/video0\),,,,0\.4,cosine,efr@1\.0\.0,,,,,true,\d{4}-\d{2}-\d{2}T[^,]+,,a_/, 'redacted: no id, name, score or snapshot');
  assert.ok(zoe!.includes(`,${people.zoe},Zoë Ng,0.7,0.4,`));
  assert.ok(evil!.includes(`,${people.evil},"'=HYPERLINK(""http://evil.example"",""Click"")",0.66,`), evil);
  assert.ok(evil!.includes(",passed,blink,0.8,,false,,'+cmd|calc,"), 'a detail starting with + stays text');

  // The same filters, the same rows.
  const some = (await c.get(`/admin/activity.csv?decision=match&door=${encodeURIComponent('kiosk (browser)')}`)).text.trimEnd().split('\r\n');
  assert.equal(some.length, 2);
  assert.ok(some[1]!.includes(people.evil!));

  const json = await c.get(`/admin/activity.json?identity=${people.zoe}`);
  assert.equal(json.status, 200);
  assert.match(json.res.headers.get('content-type')!, /^application\/json/);
  const doc = JSON.parse(json.text) as { format: string; version: number; retentionDays: number; filter: Record<string, unknown>; entries: (ActivityEntry & { name: string })[] };
  assert.equal(doc.format, 'facegate-audit-export');
  assert.equal(doc.retentionDays, 90);
  assert.equal(doc.filter.identity, people.zoe);
  assert.deepEqual(doc.entries.map((e) => [e.id, e.name, e.door, e.score, e.threshold]), [[ids.zoe, 'Zoë Ng', 'api', 0.7, 0.4]]);
  const everything = JSON.parse((await c.get('/admin/activity.json')).text) as { entries: ActivityEntry[] };
  assert.deepEqual(everything.entries.map((e) => e.id), [ids.unknown, ids.gone, ids.zoe, ids.evil]);
  assert.ok(!JSON.stringify(everything).includes(people.gone!), 'the erased person is not in an export');
});

test('the admin API: /api/activity lists and exports with filters; a visitor without a session gets nothing', async () => {
  for (const p of ['/api/activity', '/api/activity/export.csv', '/api/activity/export.json']) {
    const r = await created.app.request(p);
    assert.equal(r.status, 401, p);
  }
  const login = await created.app.request('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
  const { token } = (await login.json()) as { token: string };
  const get = (p: string) => created.app.request(p, { headers: { authorization: `Bearer ${token}` } });

  const list = (await (await get('/api/activity?decision=match,verify-accept')).json()) as { entries: (ActivityEntry & { name: string | null })[]; count: number };
  assert.deepEqual(list.entries.map((e) => [e.decision, e.redacted, e.name]), [['match', true, null], ['verify-accept', false, 'Zoë Ng'], ['match', false, '=HYPERLINK("http://evil.example","Click")']]);
  const redacted = (await (await get('/api/activity?identity=redacted')).json()) as { entries: ActivityEntry[] };
  assert.deepEqual(redacted.entries.map((e) => e.id), [ids.gone]);
  const since = (await (await get(`/api/activity?since=${day(1)}`)).json()) as { entries: ActivityEntry[] };
  assert.deepEqual(since.entries.map((e) => e.id), [ids.unknown, ids.gone]);
  assert.equal((await get('/api/activity?since=last+week')).status, 400);
  assert.equal((await get('/api/activity?identity=../x')).status, 400);
  assert.equal((await get('/api/activity?limit=0')).status, 400);

  const csv = await get(`/api/activity/export.csv?door=${encodeURIComponent('kiosk (browser)')}`);
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-disposition')!, /attachment; filename="facegate-audit-\d{4}-\d{2}-\d{2}\.csv"/);
  const bytes = Buffer.from(await csv.arrayBuffer());
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 with a byte-order mark, for spreadsheets');
  const rows = bytes.toString('utf8').slice(1).trimEnd().split('\r\n');
  assert.equal(rows[0]!.split(',')[0], 'time');
  assert.equal(rows.length, 3);
  assert.ok(rows[2]!.includes(`"'=HYPERLINK(`));
  const doc = (await (await get('/api/activity/export.json?limit=1')).json()) as { entries: ActivityEntry[] };
  assert.deepEqual(doc.entries.map((e) => e.id), [ids.unknown]);
});
