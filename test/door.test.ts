// One door path: the same frame gets the same decision and score from the kiosk (POST
// /kiosk/frame, k-of-n at 1 of 1), from POST /api/verify and from `facegate verify`, because all
// three go through src/door. And /api/identify refuses what verify refuses. Shipped model, real
// photos; skipped, never faked, if the shipped model is missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { inFrame } from '../bench/lowres.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { initBackend } from '../src/engine/backend.js';
import { createApp, type AppEnv } from '../src/http/index.js';
import { FaceService } from '../src/service/index.js';
import { BBT, DATA, LOCAL, PASSWORD, PageClient, SHIPPED_MODEL, shippedModelExists } from './fixtures/web/harness.js';

const skip = shippedModelExists() ? false : 'models/facegate-default is missing';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
const photo = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));

let tmp: string;
let service: FaceService;
let app: Hono<AppEnv>;
let close: () => Promise<void>;
/** name -> [bytes, content type]: one frame of each kind of outcome. */
const frames = new Map<string, { bytes: Buffer; type: string; expect: string }>();

before(async () => {
  if (skip) return;
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-door-'));
  const config = loadConfig({ env: {}, overrides: { modelDir: SHIPPED_MODEL, galleryDir: path.join(tmp, 'gallery') } });
  service = await FaceService.open(config, { quiet: true });
  // cooldown 0: every kiosk frame is judged afresh; k of n = 1 of 1: one frame decides, as the API does.
  ({ app, close } = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'door-test-secret-'.repeat(3) }, web: { judge: { cooldownMs: 0 } } }));
  await service.updateSettings({ kOfN: { k: 1, n: 1 } });
  const images = await Promise.all([2, 3, 4].map(async (n) => ({ bytes: await photo('amy', n), file: `amy${n}.png` })));
  await service.enroll({ name: 'Amy', images });
  const gray = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 120, g: 120, b: 120 } } }).jpeg().toBuffer();
  frames.set('amy5', { bytes: await photo('amy', 5), type: 'image/png', expect: 'granted' });
  frames.set('penny1', { bytes: await photo('penny', 1), type: 'image/png', expect: 'denied' });
  // Amy's photo shrunk to 32 px, then enlarged into a camera frame: too little detail to judge.
  frames.set('amy4 from 32 px', { bytes: await inFrame(await photo('amy', 4), 32), type: 'image/jpeg', expect: 'poor_quality' });
  frames.set('two people', { bytes: await readFile(path.join(DATA, 'small/examples/misc/two_people.jpg')), type: 'image/jpeg', expect: 'multiple_faces' });
  frames.set('empty room', { bytes: gray, type: 'image/jpeg', expect: 'no_face' });
});

after(async () => {
  await close?.();
  await service?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function apiVerify(f: { bytes: Buffer; type: string }, route = '/api/verify') {
  const res = await app.request(route, { method: 'POST', body: new Uint8Array(f.bytes), headers: { 'content-type': f.type } }, LOCAL);
  assert.equal(res.status, 200, `${route}: ${res.status}`);
  return (await res.json()) as { decision: string; score: number | null; message: string; identity: { name: string } | null };
}

/** The kiosk's decision: what the screen shows, and for a verdict the score it logged. */
async function kioskDecision(kiosk: PageClient, f: { bytes: Buffer; type: string }) {
  const logged = service.activity({ limit: 1 })[0]?.id;
  const r = await kiosk.req('/kiosk/frame', { method: 'POST', body: new Uint8Array(f.bytes), headers: { 'content-type': f.type, 'x-csrf-token': kiosk.csrf } });
  assert.equal(r.status, 200, r.text);
  const view = JSON.parse(r.text) as { state: string; message: string };
  if (view.state !== 'granted' && view.state !== 'denied') {
    const decision = view.state === 'look' ? 'no_face' : view.message === 'One person at a time' ? 'multiple_faces' : 'poor_quality';
    return { decision, score: null, message: view.message };
  }
  // The verdict is logged in the background: wait for its entry.
  for (let i = 0; i < 100; i++) {
    const e = service.activity({ limit: 1 })[0];
    if (e && e.id !== logged && e.door?.startsWith('kiosk')) return { decision: view.state, score: e.score, message: view.message };
    await sleep(20);
  }
  assert.fail('the kiosk verdict was not logged');
}

test('the kiosk, /api/verify and `facegate verify` give the same frame the same decision and score', { skip }, async () => {
  const kiosk = new PageClient(app);
  await kiosk.get('/');
  for (const [name, f] of frames) {
    const api = await apiVerify(f);
    assert.equal(api.decision, f.expect, `${name}: /api/verify said ${api.decision} (${api.message})`);
    const k = await kioskDecision(kiosk, f);
    assert.equal(k.decision, api.decision, `${name}: kiosk ${k.decision}, API ${api.decision}`);
    if (api.score === null) assert.equal(k.score, null, name);
    else assert.ok(Math.abs(k.score! - api.score) < 1e-6, `${name}: kiosk score ${k.score}, API ${api.score}`);
    // Refusals are worded the same (the kiosk says "Look at the camera" to an empty room).
    if (api.decision === 'poor_quality' || api.decision === 'multiple_faces') assert.equal(k.message, api.message, name);
  }

  // The CLI, in its own process, on the same gallery and model (it takes the gallery's lock: no server owns it here).
  const file = path.join(tmp, 'frame');
  for (const [name, f] of frames) {
    await writeFile(file, f.bytes);
    const out = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'verify', file, '--json', '--model', SHIPPED_MODEL, '--gallery', path.join(tmp, 'gallery')], { cwd: ROOT }).catch(
      // Exit codes 1 (denied) and 2 (refused) still print the decision.
      (err: { stdout?: string; code?: number }) => ({ stdout: err.stdout ?? '', code: err.code }),
    );
    const cli = JSON.parse(out.stdout) as { decision: string; score: number | null };
    const api = await apiVerify(f);
    assert.equal(cli.decision, api.decision, `${name}: CLI ${cli.decision}, API ${api.decision}`);
    if (api.score === null) assert.equal(cli.score, null, name);
    else assert.ok(Math.abs(cli.score! - api.score) < 1e-6, `${name}: CLI score ${cli.score}, API ${api.score}`);
  }
});

test('/api/identify refuses what /api/verify refuses, and names no candidate for it', { skip }, async () => {
  const tensors = tf.memory().numTensors;
  for (const [name, f] of frames) {
    const v = await apiVerify(f);
    const i = (await apiVerify(f, '/api/identify')) as Awaited<ReturnType<typeof apiVerify>> & { candidates: unknown[] };
    if (v.decision === 'granted' || v.decision === 'denied') {
      assert.equal(i.decision, v.decision === 'granted' ? 'match' : 'unknown', name);
      assert.equal(i.score, v.score, name);
    } else {
      assert.equal(i.decision, v.decision, `${name}: identify ${i.decision}, verify ${v.decision}`);
      assert.equal(i.message, v.message, name);
      assert.deepEqual(i.candidates, [], name);
    }
  }
  assert.equal(tf.memory().numTensors, tensors, 'no tensor leaks on either path');
});
