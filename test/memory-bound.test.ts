// Memory under load (issue 18, item 5). RSS grew by about 0.8 MB per verify while the tensor count
// stayed flat: each decision waiting for the activity log kept its decoded frame (640x480 RGB,
// 0.9 MB), and under load the log fell ever further behind (one gallery write per decision, each
// a few fsyncs, starved by inference on the event loop). The decision log now keeps only the entry,
// writes what waits in one gallery write, and drops (and counts) decisions beyond its bound.
// A real activity log (src/activity) on a temp folder; its file I/O is wrapped to stall or count
// its writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setImmediate as tick } from 'node:timers/promises';
import { ActivityLog } from '../src/activity/activity-log.js';
import { appendSynced } from '../src/activity/segments.js';
import { DecisionLog, type DecisionRecord } from '../src/door/decision-log.js';
import { nodeIo, type FileIo } from '../src/gallery/atomic-file.js';
import type { RgbImage } from '../src/vision/types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** File I/O whose activity-log writes (the audit trail's appends) wait for release() (a stalled disk), and are counted. */
function stallableIo() {
  let open: () => void = () => {};
  let gate: Promise<void> | null = null;
  const io = {
    activityWrites: 0,
    stall() {
      gate = new Promise<void>((r) => (open = r));
    },
    release() {
      gate = null;
      open();
    },
    writeSynced: nodeIo.writeSynced,
    async appendSynced(file: string, data: string) {
      io.activityWrites++;
      if (gate) await gate;
      return appendSynced(file, data);
    },
    rename: nodeIo.rename,
    remove: nodeIo.remove,
    syncDir: nodeIo.syncDir,
  } satisfies FileIo & Record<string, unknown>;
  return io;
}

interface Fixture {
  activity: ActivityLog;
  io: ReturnType<typeof stallableIo>;
  /** The people who exist (the log refuses decisions about anyone else). */
  people: Set<string>;
  /** A decision log on `activity` (snapshots off). */
  decisionLog(opts?: { onError?: (m: string) => void; maxPending?: number }): DecisionLog;
}

async function withActivity(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-memory-bound-'));
  const io = stallableIo();
  const people = new Set<string>();
  const settings = () => ({ activityCap: 5000, keepSnapshots: false });
  const activity = await ActivityLog.open(dir, { io, settings, identityExists: (id) => people.has(id) });
  io.activityWrites = 0;
  try {
    await fn({ activity, io, people, decisionLog: (o = {}) => new DecisionLog(activity, settings, { enabled: true, onError: () => {}, ...o }) });
  } finally {
    io.release();
    await activity.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const frame = (): RgbImage => ({ data: new Uint8Array(640 * 480 * 3), width: 640, height: 480 });
const record = (f?: RgbImage): DecisionRecord => ({ decision: 'unknown', identityId: null, score: 0.1, metric: 'cosine', modelId: null, frame: f });

test('decisions waiting for the disk do not keep their frames', async () => {
  await withActivity(async ({ activity, io, decisionLog }) => {
    const log = decisionLog();
    io.stall();
    const refs: WeakRef<RgbImage>[] = [];
    const written: Promise<void>[] = [];
    // 100 frames of 0.9 MB each: what 100 verifies queue while the log is behind.
    (() => {
      for (let i = 0; i < 100; i++) {
        const f = frame();
        refs.push(new WeakRef(f));
        written.push(log.record(record(f)));
      }
    })();
    await tick();
    gc();
    await tick();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    assert.equal(alive, 0, `${alive} of 100 frames (${alive * 0.9} MB) are kept alive by decisions waiting for the disk`);
    io.release();
    await Promise.all(written);
    assert.equal(activity.query({ limit: 1000 }).length, 100, 'every decision reached the log once the disk answered');
  });
});

test('a stalled disk: the backlog stops at its bound and what is beyond it is dropped and counted', async () => {
  await withActivity(async ({ activity, io, decisionLog }) => {
    const errors: string[] = [];
    const byDefault = decisionLog().maxPending;
    assert.ok(Number.isInteger(byDefault) && byDefault > 0 && byDefault <= 1000, `default bound ${byDefault}`);
    const max = 50;
    const log = decisionLog({ onError: (m) => errors.push(m), maxPending: max });
    io.stall();
    const extra = 100;
    const written = Array.from({ length: max + extra }, () => log.record(record()));
    await tick();
    assert.equal(log.backlog, max);
    assert.equal(log.dropped, extra);
    assert.match(errors[0] ?? '', /not logged/);
    io.release();
    await Promise.all(written);
    assert.equal(log.backlog, 0);
    assert.equal(activity.query({ limit: 10_000 }).length, max);
  });
});

test('decisions that arrive while a write runs go to the activity log together in the next write', async () => {
  await withActivity(async ({ activity, io, decisionLog }) => {
    const log = decisionLog();
    io.stall();
    const first = log.record(record());
    await tick();
    const rest = Array.from({ length: 99 }, () => log.record(record()));
    io.release();
    await Promise.all([first, ...rest]);
    assert.equal(activity.query({ limit: 1000 }).length, 100);
    assert.equal(io.activityWrites, 2, 'one write for the first decision, one for the 99 that waited');
  });
});

test('flush() waits for every decision recorded so far, so closing the activity log then loses none', async () => {
  await withActivity(async ({ activity, io, decisionLog }) => {
    const log = decisionLog();
    io.stall();
    for (let i = 0; i < 20; i++) void log.record(record());
    await tick();
    const flushed = log.flush();
    io.release();
    await flushed;
    assert.equal(log.backlog, 0);
    assert.equal(activity.query({ limit: 100 }).length, 20);
  });
});

test('a batch keeps what it can: a person erased meanwhile is not logged, the others are', async () => {
  await withActivity(async ({ activity, io, people }) => {
    const kept = 'i_' + 'a'.repeat(20);
    const gone = 'i_' + 'b'.repeat(20);
    people.add(kept);
    const results = await activity.recordMany([
      { decision: 'match', identityId: kept, score: 0.9 },
      { decision: 'match', identityId: gone, score: 0.9 },
      { decision: 'unknown', score: 0.1 },
    ]);
    assert.deepEqual(
      results.map((r) => (r instanceof Error ? (r as Error & { code: string }).code : r.decision)),
      ['match', 'NOT_FOUND', 'unknown'],
    );
    assert.equal(io.activityWrites, 1);
    assert.equal(activity.query({ limit: 10 }).length, 2);
    assert.ok(activity.lastSeen(kept), 'an accepted decision in a batch updates lastSeen');
  });
});
