// Inference workers (src/door/analyzer-pool.ts): a pool of 2 gives the same decisions, scores and
// faces as in-process inference; a model switch under concurrent load never mixes models (every
// result is embedded by the model it names and judged by that model's matcher); a worker that is
// killed fails its request at once with a clear error and is replaced; the bounded queue still
// refuses as busy; no worker leaks tensors. And the inference queue's slots and exclusive jobs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { inFrame } from '../bench/lowres.js';
import { loadConfig } from '../src/config/index.js';
import { initBackend } from '../src/engine/backend.js';
import { FaceService, InferenceQueue, ServiceError, type EnrollImage } from '../src/service/index.js';
import { refused } from './fixtures/expect.js';
import { BBT, DATA, SHIPPED_MODEL, randomModel, shippedModelExists } from './fixtures/web/harness.js';

const photo = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));
const images = (who: string, ns: number[]): Promise<EnrollImage[]> => Promise.all(ns.map(async (n) => ({ bytes: await photo(who, n), file: `${who}${n}.png` })));
const skipShipped = shippedModelExists() ? false : 'models/facegate-default is missing';

const ALPHA = 'test-alpha@1';
const BETA = 'test-beta@1';

let tmp: string;
let dirA: string;
let dirB: string;
/** name -> bytes: one frame of each kind of outcome. */
const frames = new Map<string, Uint8Array>();

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-pool-'));
  dirA = await randomModel(path.join(tmp, 'models', 'alpha'), 'test-alpha', {}, 1);
  dirB = await randomModel(path.join(tmp, 'models', 'beta'), 'test-beta', {}, 2);
  frames.set('amy5', await photo('amy', 5));
  frames.set('penny1', await photo('penny', 1));
  frames.set('howard1', await photo('howard', 1));
  frames.set('amy5 camera frame', await inFrame(await photo('amy', 5)));
  frames.set('amy4 from 32 px', await inFrame(await photo('amy', 4), 32));
  frames.set('two people', await readFile(path.join(DATA, 'small/examples/misc/two_people.jpg')));
  frames.set('empty room', await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 120, g: 120, b: 120 } } }).jpeg().toBuffer());
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const open = (name: string, modelDir: string, workers: number, extra: Record<string, unknown> = {}) =>
  FaceService.open(loadConfig({ env: {}, overrides: { modelDir, galleryDir: path.join(tmp, name), workers, logDecisions: false, enroll: { minSamples: 3, maxTemplates: 3 }, ...extra } }), { quiet: true });

const maxDiff = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

/** Frames on every worker at once (the detector's and the model's lazily built tensors exist afterwards). */
async function warmUp(s: FaceService, frame: Uint8Array): Promise<void> {
  await Promise.all(Array.from({ length: 2 * (s.workerPool?.size ?? 1) }, () => s.door.analyze(frame)));
}

/** Each worker's tensors and models, after the work queued before the question. */
async function workerTensors(s: FaceService): Promise<{ tensors: number[]; models: number[] }> {
  const h = await s.inferenceHealth();
  const m = [...h.memory].sort((a, b) => a.worker - b.worker);
  return { tensors: m.map((w) => w.numTensors), models: m.map((w) => w.models) };
}

test('a pool of 2 inference workers gives the same decisions, scores and faces as in-process', { skip: skipShipped }, async () => {
  const inproc = await open('same-in', SHIPPED_MODEL, 0);
  const pooled = await open('same-pool', SHIPPED_MODEL, 2, { logDecisions: true });
  try {
    assert.equal(inproc.inference, 'in-process');
    assert.equal(pooled.inference, '2 inference workers');
    // Enrollment (screening and embedding) on each path: the templates are the same vectors.
    const a = await inproc.enroll({ name: 'Amy', images: await images('amy', [2, 3, 4]) });
    const b = await pooled.enroll({ name: 'Amy', images: await images('amy', [2, 3, 4]) });
    assert.deepEqual(b.samples.map((s) => [s.accepted, s.kept, s.quality]), a.samples.map((s) => [s.accepted, s.kept, s.quality]));
    await warmUp(pooled, frames.get('amy5')!);
    const warm = await workerTensors(pooled);

    // The pool gets every frame at once (both workers busy, batched embedding); in-process one at a time.
    const names = [...frames.keys()];
    const fromPool = await Promise.all(names.flatMap((n) => [pooled.verify(frames.get(n)!), pooled.identify(frames.get(n)!)]));
    const seen = new Set<string>();
    for (const [i, name] of names.entries()) {
      const v = await inproc.verify(frames.get(name)!);
      const id = await inproc.identify(frames.get(name)!);
      const pv = fromPool[2 * i] as Awaited<ReturnType<FaceService['verify']>>;
      const pid = fromPool[2 * i + 1] as Awaited<ReturnType<FaceService['identify']>>;
      seen.add(v.decision);
      assert.equal(pv.decision, v.decision, `${name}: pool ${pv.decision}, in-process ${v.decision}`);
      assert.equal(pv.message, v.message, name);
      assert.equal(pv.modelId, v.modelId, name);
      assert.equal(pv.faces, v.faces, name);
      if (v.score === null) assert.equal(pv.score, null, name);
      else assert.ok(Math.abs(pv.score! - v.score) < 1e-6, `${name}: pool score ${pv.score}, in-process ${v.score}`);
      assert.deepEqual(pv.face?.box, v.face?.box, name);
      assert.deepEqual(pv.face?.quality, v.face?.quality, name);
      assert.equal(pid.decision, id.decision, name);
      assert.deepEqual(pid.candidates.map((c) => c.name), id.candidates.map((c) => c.name), name);
      for (const [k, c] of pid.candidates.entries()) assert.ok(Math.abs(c.score - id.candidates[k]!.score) < 1e-6, name);
      assert.ok(pv.timings.total > 0 && pv.timings.detect > 0, `${name}: timings ${JSON.stringify(pv.timings)}`);
    }
    assert.deepEqual([...seen].sort(), ['denied', 'granted', 'multiple_faces', 'no_face', 'poor_quality'], 'every kind of outcome was compared');

    // The frame analysis the kiosk and liveness use: the image and the subject's crop come back too.
    const fa = await inproc.door.analyze(frames.get('amy5 camera frame')!);
    const fb = await pooled.door.analyze(frames.get('amy5 camera frame')!);
    assert.deepEqual([fb.image.width, fb.image.height], [fa.image.width, fa.image.height]);
    assert.deepEqual(Buffer.from(fb.image.data), Buffer.from(fa.image.data), 'the same decoded pixels');
    assert.equal(fb.gate.kind, 'usable');
    assert.deepEqual(Buffer.from(fb.faces[0]!.crop.data), Buffer.from(fa.faces[0]!.crop.data), 'the same aligned crop');
    assert.ok(maxDiff(fb.embedding!, fa.embedding!) < 1e-6, 'the same embedding');
    assert.equal(fb.model!.embedder.modelId, fa.model!.embedder.modelId);
    // Liveness work runs on this thread beside the pool.
    assert.equal(await pooled.door.inQueue(async () => 'ran'), 'ran');

    // Image errors cross the thread as the same refusals.
    const junk = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const e1 = await refused(() => inproc.verify(junk), 'unsupported_media');
    const e2 = await refused(() => pooled.verify(junk), 'unsupported_media');
    assert.equal(e2.message, e1.message);

    assert.deepEqual(await workerTensors(pooled), warm, 'no tensor left behind in either worker');

    // Verify hands the decoded frame to the log when snapshots are kept (a worker sends it back only then).
    await pooled.updateSettings({ keepSnapshots: true });
    await pooled.verify(frames.get('amy5 camera frame')!);
    await pooled.decisions.flush();
    const entry = pooled.activity({ limit: 1 })[0]!;
    assert.equal(entry.decision, 'match');
    assert.ok(entry.snapshot, 'the decision has its snapshot');
    const file = pooled.snapshotFile(entry.snapshot)!;
    const meta = await sharp(file).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 640, 480]);
  } finally {
    await inproc.close();
    await pooled.close();
  }
});

test('a model switch under concurrent load never mixes models, and the old model is freed in every worker', async () => {
  const service = await open('switch', dirA, 2);
  try {
    const amy = (await service.enroll({ name: 'Amy', images: await images('amy', [2, 3, 4, 5]) })).identity.id;
    const names = ['amy5', 'penny1', 'howard1', 'amy5 camera frame'];
    // Per model: each frame's embedding and score (deterministic), alone, before the load.
    const ref = new Map<string, Map<string, { embedding: Float32Array; score: number | null }>>();
    const record = async () => {
      const per = new Map<string, { embedding: Float32Array; score: number | null }>();
      for (const n of names) {
        const a = await service.door.analyze(frames.get(n)!);
        const v = await service.verify(frames.get(n)!, { claim: amy });
        assert.equal(v.modelId, a.model!.embedder.modelId);
        per.set(n, { embedding: a.embedding!, score: v.score });
      }
      ref.set(service.modelId!, per);
    };
    await record();
    await warmUp(service, frames.get('amy5')!);
    const warm = await workerTensors(service);
    assert.deepEqual(warm.models, [1, 1]);
    assert.equal((await service.switchModel(dirB)).modelId, BETA);
    await record();
    assert.equal((await service.switchModel(dirA)).modelId, ALPHA);
    assert.notEqual(ref.get(ALPHA)!.get('amy5')!.score, ref.get(BETA)!.get('amy5')!.score);

    // Four clients analyse and verify without pause while the model flips four times.
    let stop = false;
    const seen = new Map<string, number>();
    const check = (modelId: string, name: string, embedding: Float32Array | undefined, score: number | null | undefined) => {
      seen.set(modelId, (seen.get(modelId) ?? 0) + 1);
      const want = ref.get(modelId)!.get(name)!;
      if (embedding) assert.ok(maxDiff(embedding, want.embedding) < 1e-6, `${name}: embedding of ${modelId} as it claims`);
      if (score !== undefined) assert.ok(score !== null && Math.abs(score - want.score!) < 1e-6, `${name}: scored ${score} under ${modelId}, want ${want.score}`);
    };
    const client = async (k: number) => {
      for (let i = 0; !stop || i < 4; i++) {
        const name = names[(i + k) % names.length]!;
        const a = await service.door.analyze(frames.get(name)!);
        // The matcher that judges a result is its own model's.
        assert.equal(a.model!.matcher.modelId, a.model!.embedder.modelId);
        check(a.model!.embedder.modelId, name, a.embedding, undefined);
        const v = await service.verify(frames.get(name)!, { claim: amy });
        check(v.modelId, name, undefined, v.score);
      }
    };
    const clients = [0, 1, 2, 3].map(client);
    for (const dir of [dirB, dirA, dirB, dirA]) {
      await new Promise((r) => setTimeout(r, 150));
      await service.switchModel(dir);
    }
    stop = true;
    await Promise.all(clients);
    assert.ok((seen.get(ALPHA) ?? 0) > 4 && (seen.get(BETA) ?? 0) > 4, `both models answered: ${JSON.stringify([...seen])}`);
    assert.equal(service.modelId, ALPHA);

    // Every worker holds only the model in use again, with the tensors it had before the switches.
    assert.deepEqual(await workerTensors(service), warm, 'old models disposed in every worker, nothing leaked');
  } finally {
    await service.close();
  }
});

test('a killed worker fails its request at once with a clear error and is replaced; the queue still refuses as busy', async () => {
  const service = await open('kill', dirA, 2, { limits: { maxQueue: 6 } });
  try {
    const pool = service.workerPool!;
    const frame = frames.get('amy5')!;
    await service.enroll({ name: 'Amy', images: await images('amy', [2, 3, 4]) });
    const before = await service.verify(frame);
    await warmUp(service, frame);
    const warm = await workerTensors(service);

    for (const how of ['kill', 'crash'] as const) {
      const restarts = pool.restarts;
      const inFlight = service.verify(frame);
      inFlight.catch(() => {});
      // It is on a worker once the queue has handed it over.
      let w = -1;
      for (let i = 0; i < 200 && w < 0; i++) {
        await new Promise((r) => setImmediate(r));
        w = [0, 1].find((k) => pool.busy(k) > 0) ?? -1;
      }
      assert.ok(w >= 0, 'the request reached a worker');
      if (how === 'kill') await pool.kill(w);
      else pool.crash(w);
      const err = await refused(() => inFlight, 'busy');
      assert.match(err.message, new RegExp(`inference worker ${w} stopped \\(exit code \\d+\\) while working on this request; it is being restarted: retry`));
      await pool.whenReady(60_000);
      assert.equal(pool.restarts, restarts + 1);
      // The new worker has the model: the same answer as before, from both workers.
      const again = await Promise.all([service.verify(frame), service.verify(frame), service.verify(frame)]);
      for (const r of again) {
        assert.equal(r.decision, before.decision);
        assert.ok(Math.abs(r.score! - before.score!) < 1e-6);
      }
    }
    assert.deepEqual(await workerTensors(service), warm, 'the replacements hold what the first workers held');

    // Bounded as in-process: beyond maxQueue requests waiting or running, busy (503) at once.
    const burst = await Promise.allSettled(Array.from({ length: 14 }, () => service.verify(frame)));
    const busy = burst.filter((r) => r.status === 'rejected');
    assert.ok(busy.length >= 14 - 6, `${busy.length} of 14 refused`);
    for (const r of busy) assert.ok((r as PromiseRejectedResult).reason instanceof ServiceError && (r as PromiseRejectedResult).reason.code === 'busy');
    assert.ok(burst.some((r) => r.status === 'fulfilled'));
    assert.equal(service.queueDepth, 0);
  } finally {
    await service.close();
  }
});

test('the inference queue runs `concurrency` jobs at once in order, an exclusive job alone, and refuses beyond its bound', async () => {
  const q = new InferenceQueue(5, 2);
  const log: string[] = [];
  let running = 0;
  let most = 0;
  const job = (name: string, ticks = 2) => async () => {
    running++;
    most = Math.max(most, running);
    log.push(`+${name}`);
    for (let i = 0; i < ticks; i++) await new Promise((r) => setImmediate(r));
    log.push(`-${name}`);
    running--;
    return name;
  };
  const jobs = [q.run(job('a')), q.run(job('b')), q.exclusive(job('X')), q.run(job('c')), q.run(job('d'))];
  await assert.rejects(q.run(job('e')), (e: unknown) => e instanceof ServiceError && e.code === 'busy');
  assert.deepEqual(await Promise.all(jobs), ['a', 'b', 'X', 'c', 'd']);
  assert.equal(most, 2);
  // X starts after a and b ended, and c after X ended.
  assert.ok(log.indexOf('+X') > log.indexOf('-a') && log.indexOf('+X') > log.indexOf('-b'), log.join(' '));
  assert.ok(log.indexOf('+c') > log.indexOf('-X'), log.join(' '));
  assert.equal(q.depth, 0);
  // A failing job frees its slot.
  await assert.rejects(q.run(async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await q.run(job('f')), 'f');
});
