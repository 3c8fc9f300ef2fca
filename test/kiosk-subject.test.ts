// The kiosk's k-of-n votes belong to one person (src/door/kiosk-station.ts): a frame of someone
// else, or a frame with two faces, drops the votes so far, so one person's recognised frames never
// count toward another's grant (or toward a grant after a stranger stepped in). Real frames (bbt
// photos in a 640x480 frame), the shipped model, the door's own station; liveness off.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { inFrame } from '../bench/lowres.js';
import { loadConfig } from '../src/config/index.js';
import { KioskStation, type DoorDecision } from '../src/door/index.js';
import { initBackend } from '../src/engine/backend.js';
import { FaceService, type EnrollImage } from '../src/service/index.js';
import { BBT, SHIPPED_MODEL, shippedModelExists } from './fixtures/web/harness.js';

const skip = shippedModelExists() ? false : 'models/facegate-default is missing';
const photo = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));
const images = (who: string, ns: number[]): Promise<EnrollImage[]> => Promise.all(ns.map(async (n) => ({ bytes: await photo(who, n), file: `${who}${n}.png` })));

let tmp: string;
let service: FaceService;
const frame: Record<string, Buffer> = {};
const decisions: DoorDecision[] = [];

before(async () => {
  if (skip) return;
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-kiosk-subject-'));
  service = await FaceService.open(loadConfig({ env: {}, overrides: { modelDir: SHIPPED_MODEL, galleryDir: path.join(tmp, 'gallery'), logDecisions: false, enroll: { minSamples: 2 } } }), { quiet: true });
  await service.enroll({ name: 'Amy', images: await images('amy', [2, 3]) });
  await service.enroll({ name: 'Penny', images: await images('penny', [1, 2, 3]) });
  for (const [who, n] of [['amy', 4], ['amy', 5], ['penny', 4]] as const) frame[`${who}${n}`] = await inFrame(await photo(who, n));
  // Both side by side, the same size: the gate refuses it as two people.
  const half = async (who: string, n: number) => sharp(await photo(who, n)).resize(300, 300).toBuffer();
  frame.both = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 118, g: 118, b: 118 } } })
    .composite([{ input: await half('amy', 4), left: 10, top: 90 }, { input: await half('penny', 4), left: 330, top: 90 }])
    .jpeg({ quality: 85 })
    .toBuffer();
  service.door.onDecision((d) => decisions.push(d));
});

after(async () => {
  await service?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A station deciding 2 of the last 3 frames, and what it shows for each of `names`. */
async function show(names: string[]): Promise<string[]> {
  const station = new KioskStation(service.door, { rule: () => ({ k: 2, n: 3 }), source: 'test', judge: { cooldownMs: 0 } });
  const seen: string[] = [];
  let t = 1_000_000;
  for (const name of names) {
    const view = await station.frame(frame[name]!, (t += 200));
    seen.push(view.state === 'granted' || view.state === 'denied' ? `${view.state}: ${view.message}` : view.progress ? `${view.state} ${view.progress.have}/${view.progress.need}` : view.state);
  }
  return seen;
}

test('each frame alone: Amy and Penny are recognised, the two together refused', { skip }, async () => {
  for (const [name, expect] of [['amy4', 'Amy'], ['amy5', 'Amy'], ['penny4', 'Penny']] as const) {
    const out = await service.verify(frame[name]!);
    assert.equal(out.decision, 'granted', `${name}: ${out.decision}`);
    assert.equal(out.identity?.name, expect);
  }
  assert.equal((await service.verify(frame.both!)).decision, 'multiple_faces');
});

test("one person's votes do not count toward another's: Amy, Penny, Amy is not 2 of 3 for Amy", { skip }, async () => {
  decisions.length = 0;
  const seen = await show(['amy4', 'penny4', 'amy5', 'amy4']);
  // Penny's frame starts a new subject; Amy's next frame starts another; Amy twice in a row decides.
  assert.deepEqual(seen, ['checking 1/2', 'checking 1/2', 'checking 1/2', 'granted: Welcome, Amy']);
  assert.deepEqual(decisions.map((d) => `${d.decision} ${d.identity?.name}`), ['granted Amy']);
});

test('a frame with two faces drops the votes before it', { skip }, async () => {
  decisions.length = 0;
  const seen = await show(['amy4', 'both', 'amy5', 'amy4']);
  assert.equal(seen[1], 'adjust', 'two faces: one person at a time');
  assert.deepEqual([seen[0], seen[2], seen[3]], ['checking 1/2', 'checking 1/2', 'granted: Welcome, Amy']);
  assert.equal(decisions.length, 1);
});

test('the same person over several frames keeps the votes: Amy, Amy decides', { skip }, async () => {
  decisions.length = 0;
  assert.deepEqual(await show(['amy4', 'amy5']), ['checking 1/2', 'granted: Welcome, Amy']);
});
