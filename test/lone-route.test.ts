// A lone request with the inference workers idle may run on the main thread's WASM threads
// (src/door/lone-route.ts picks the faster route by measurement): it gives the same decision and
// score as on a worker, concurrent requests still go to the workers, and the choice follows the
// measured times (the faster route, the other now and then). This file's process
// starts its backend on two WASM threads, as `facegate serve` does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inFrame } from '../bench/lowres.js';
import { loadConfig } from '../src/config/index.js';
import { initBackend } from '../src/engine/backend.js';
import { LoneRoute, type Route } from '../src/door/lone-route.js';
import { FaceService, ServiceError, type EnrollImage } from '../src/service/index.js';
import { refused } from './fixtures/expect.js';
import { BBT, SHIPPED_MODEL, shippedModelExists } from './fixtures/web/harness.js';

const photo = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));
const images = (who: string, ns: number[]): Promise<EnrollImage[]> => Promise.all(ns.map(async (n) => ({ bytes: await photo(who, n), file: `${who}${n}.png` })));
const skipShipped = shippedModelExists() ? false : 'models/facegate-default is missing';

let tmp: string;

before(async () => {
  const choice = await initBackend({ quiet: true, wasmThreads: 2 });
  assert.equal(choice.threads, 2, 'this process runs its kernels on two WASM threads');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-lone-'));
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('LoneRoute measures both routes first, then takes the faster, looks at the other once enough requests and time have passed, and a fresh look replaces a stale figure', () => {
  let now = 0;
  const r = new LoneRoute({ exploreEvery: 4, exploreAfterMs: 1000, alpha: 0.5, now: () => now });
  assert.equal(r.pick(), 'here', 'unmeasured: here first');
  r.record('here', 30);
  assert.equal(r.pick(), 'workers', 'then the workers');
  r.record('workers', 40);
  // A busy door: 100 ms apart. The 4th request since the look is due by count but not by time
  // (400 ms); the look comes at the 10th (1,000 ms), not at the 4th and 8th.
  const picks: Route[] = [];
  for (let i = 0; i < 12; i++) {
    now += 100;
    picks.push(r.pick());
  }
  assert.deepEqual(picks, [...Array(9).fill('here'), 'workers', 'here', 'here']);
  // A quiet door: a minute apart. Due by time at once, but only every 4th request.
  const quiet: Route[] = [];
  for (let i = 0; i < 8; i++) {
    now += 60_000;
    quiet.push(r.pick());
  }
  assert.deepEqual(quiet, ['here', 'workers', 'here', 'here', 'here', 'workers', 'here', 'here'], 'the 2 requests since the look above, then every 4th');
  // The cores got busy: here took 200 ms (alpha 0.5: 30 -> 115), and the workers are faster now;
  // leaving needs no look. Coming back does, once it is due.
  r.record('here', 200);
  assert.deepEqual(r.averages, { here: 115, workers: 40 });
  now += 60_000;
  const busy: Route[] = [r.pick(), r.pick()];
  assert.deepEqual(busy, ['workers', 'here'], 'the workers, then a look at here (the 4th request since the last look, a minute on)');
  // That look finds the cores idle again: 25 ms replaces the stale 115 (not blended), and here is back.
  r.record('here', 25);
  assert.deepEqual(r.averages, { here: 25, workers: 40 });
  assert.deepEqual([r.pick(), r.pick()], ['here', 'here']);
  // In use, a route's figure is a moving average: one slow frame moves it, it does not replace it.
  r.record('here', 45);
  assert.deepEqual(r.averages, { here: 35, workers: 40 });
  assert.equal(r.pick(), 'here');
});

test('a lone request runs on this thread or a worker with the same decision and score; concurrent ones go to the workers', { skip: skipShipped }, async () => {
  const config = loadConfig({ env: {}, overrides: { modelDir: SHIPPED_MODEL, galleryDir: path.join(tmp, 'g'), logDecisions: false, enroll: { minSamples: 3, maxTemplates: 3 } } });
  const service = await FaceService.open(config, { quiet: true, workers: 2, threads: 2 });
  try {
    assert.equal(service.inference, "2 inference workers; a lone request on this thread's 2 WASM threads");
    await service.enroll({ name: 'Amy', images: await images('amy', [2, 3, 4]) });
    const frame = await inFrame(await photo('amy', 5));
    const s0 = service.loneStats!;
    // One at a time: the first lone request runs here, the second on a worker (both routes get measured).
    const first = await service.verify(frame);
    const s1 = service.loneStats!;
    const second = await service.verify(frame);
    const s2 = service.loneStats!;
    assert.equal(s1.servedHere - s0.servedHere, 1, 'the first lone request ran on this thread');
    assert.equal(s2.servedByWorkers - s1.servedByWorkers, 1, 'the second on a worker');
    assert.ok(s2.loneMsHere! > 0 && s2.loneMsWorkers! > 0, `both routes measured: ${JSON.stringify(s2)}`);
    assert.equal(first.decision, 'granted');
    assert.equal(second.decision, first.decision);
    assert.equal(second.score, first.score, 'the same score, to the last bit, on either route');
    assert.deepEqual(second.face?.box, first.face?.box);

    // Eight at once: none is alone but possibly the first to start, so at least seven go to the workers.
    const before = service.loneStats!;
    const many = await Promise.all(Array.from({ length: 8 }, () => service.verify(frame)));
    const after = service.loneStats!;
    assert.ok(after.servedByWorkers - before.servedByWorkers >= 7, `to the workers: ${JSON.stringify({ before, after })}`);
    for (const v of many) assert.equal(v.score, first.score);
  } finally {
    await service.close();
  }
});

test('on the main-thread route a liveness pass waits for the lone request, and refusals read as on a worker', { skip: skipShipped }, async () => {
  const config = loadConfig({ env: {}, overrides: { modelDir: SHIPPED_MODEL, galleryDir: path.join(tmp, 'g2'), logDecisions: false, enroll: { minSamples: 3, maxTemplates: 3 } } });
  const service = await FaceService.open(config, { quiet: true, workers: 1, threads: 2 });
  try {
    await service.enroll({ name: 'Amy', images: await images('amy', [2, 3, 4]) });
    const frame = await inFrame(await photo('amy', 5));
    // The first lone request with a face runs here; once it is counted it holds this thread's queue,
    // and a liveness pass asked for meanwhile starts only after its analysis (decode to embedding).
    const here0 = service.loneStats!.servedHere;
    const t0 = performance.now();
    const verifying = service.verify(frame);
    for (const end = Date.now() + 10_000; service.loneStats!.servedHere === here0; ) {
      assert.ok(Date.now() < end, 'the lone request never started on this thread');
      await new Promise((r) => setImmediate(r));
    }
    let livenessAt = 0;
    const liveness = service.door.inQueue(async () => void (livenessAt = performance.now() - t0));
    const [v] = await Promise.all([verifying, liveness]);
    assert.equal(v.decision, 'granted');
    const t = v.timings;
    const analysed = t.queue + t.decode + t.detect + t.align + t.quality + t.embed;
    assert.ok(livenessAt >= analysed, `the liveness pass started at ${livenessAt.toFixed(1)} ms, the analysis took ${analysed.toFixed(1)} ms: it waited`);

    // Junk bytes: refused alike when alone (this thread) and among others (the worker).
    const junk = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const s0 = service.loneStats!;
    const alone = await refused(() => service.verify(junk), 'unsupported_media');
    const s1 = service.loneStats!;
    assert.equal(s1.servedHere - s0.servedHere, 1, 'the lone junk was decoded on this thread');
    const together = await Promise.allSettled([service.verify(junk), service.verify(junk), service.verify(junk)]);
    assert.ok(service.loneStats!.servedByWorkers - s1.servedByWorkers >= 2, 'the others went to the worker');
    for (const r of together) {
      assert.equal(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason as ServiceError;
      assert.ok(e instanceof ServiceError);
      assert.equal(e.code, alone.code);
      assert.equal(e.message, alone.message);
    }
  } finally {
    await service.close();
  }
});
