// Model switches and what the door decides with: the thresholds in use belong to the active model
// (a switch adopts the new model's own, records whose they are, and refuses a model that has none
// rather than keep another model's numbers; an open repairs thresholds left for another model by
// a switch cut short), per-person thresholds do not survive a model change, and an enrollment or
// "add samples" whose write lands after a switch is stored under the new model. The shipped model
// and two small random-weight models (one with recommended thresholds in its meta.json, one
// without); real photos through the real pipeline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../src/engine/backend.js';
import { loadConfig } from '../src/config/index.js';
import { Enrolled } from '../src/enrolled/index.js';
import { cosineToDistance } from '../src/match/vector.js';
import { readMeta } from '../src/model/io.js';
import { modelIdOf, recommendedThresholds } from '../src/service/embedder.js';
import { FaceService, type EnrollImage } from '../src/service/index.js';
import { refused } from './fixtures/expect.js';
import { BBT, SHIPPED_MODEL, randomModel, shippedModelExists } from './fixtures/web/harness.js';

const skip = !shippedModelExists() && 'the shipped model (models/facegate-default) is not there';

const photo = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));
const images = (who: string, ns: number[]): Promise<EnrollImage[]> => Promise.all(ns.map(async (n) => ({ bytes: await photo(who, n), file: `${who}${n}.png` })));

const BARE = 'test-bare@1';
const TUNED = 'test-tuned@1';
const TUNED_COSINE = 0.61;

let tmp: string;
let shippedId: string;
let shipped: { cosine: number; euclidean: number };
let bareDir: string;
let tunedDir: string;

const configFor = (modelDir: string, gallery: string) =>
  loadConfig({ env: {}, overrides: { modelDir, galleryDir: path.join(tmp, gallery), enroll: { minSamples: 3, maxTemplates: 3 } } });

async function open(modelDir: string, gallery: string, lines: string[] = []): Promise<FaceService> {
  return FaceService.open(configFor(modelDir, gallery), { quiet: true, log: (l) => lines.push(l) });
}

/**
 * Runs `between` when the next JPEG is encoded, then lets the encoding go on. Enrollment and "add
 * samples" encode their crops after embedding them and before storing them: a switch run here
 * lands exactly between the embedding and the write, with no timing involved.
 */
function onNextJpeg(between: () => Promise<unknown>): { fired: Promise<unknown> } {
  const proto = sharp.prototype as unknown as { jpeg: (...a: unknown[]) => unknown; toBuffer: (...a: unknown[]) => Promise<unknown> };
  const { jpeg, toBuffer } = proto;
  let gated: unknown = null;
  let fire!: (p: Promise<unknown>) => void;
  const fired = new Promise<unknown>((resolve) => (fire = resolve));
  proto.jpeg = function (this: unknown, ...a: unknown[]) {
    gated ??= this;
    return jpeg.apply(this, a);
  };
  proto.toBuffer = function (this: unknown, ...a: unknown[]) {
    if (this !== gated) return toBuffer.apply(this, a);
    // Once: the switch's own decoding and every later encoding run untouched.
    proto.jpeg = jpeg;
    proto.toBuffer = toBuffer;
    const ran = between();
    fire(ran);
    return ran.then(() => toBuffer.apply(this, a));
  };
  return { fired: fired.then((p) => p) };
}

before(async () => {
  if (skip) return;
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-switch-safety-'));
  const meta = await readMeta(SHIPPED_MODEL);
  shippedId = modelIdOf(meta);
  const r = recommendedThresholds(meta);
  shipped = { cosine: r.cosine!, euclidean: r.euclidean! };
  bareDir = await randomModel(path.join(tmp, 'models', 'bare'), 'test-bare', {}, 1);
  tunedDir = await randomModel(path.join(tmp, 'models', 'tuned'), 'test-tuned', { thresholds: { cosine: { far1e3: TUNED_COSINE } } }, 2);
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('a switch adopts the new model\'s own thresholds and records whose they are; a model without any is refused; per-person thresholds are cleared', { skip }, async () => {
  const lines: string[] = [];
  const service = await open(SHIPPED_MODEL, 'g-switch', lines);
  try {
    let s = service.getSettings();
    assert.deepEqual([s.thresholds, s.thresholdsFor], [shipped, shippedId], 'the shipped model\'s recommended thresholds, recorded as its own');
    const amy = (await service.enroll({ name: 'Amy', images: await images('amy', [2, 3, 4]) })).identity.id;
    await service.updateIdentity(amy, { threshold: { cosine: 0.2 } });

    // No recommended thresholds, and the ones in use are the shipped model's: refused, nothing changes.
    const err = await refused(() => service.switchModel(bareDir), 'conflict');
    assert.match(err.message, new RegExp(`model ${BARE} has no recommended thresholds`));
    assert.match(err.message, new RegExp(`set for ${shippedId.replace(/[.+]/g, '\\$&')}`));
    assert.match(err.message, /--val-pairs/);
    assert.equal(service.modelId, shippedId);
    s = service.getSettings();
    assert.deepEqual([s.activeModelId, s.thresholds, s.thresholdsFor], [shippedId, shipped, shippedId]);
    assert.deepEqual(service.getIdentity(amy).threshold, { cosine: 0.2 }, 'nothing written');
    assert.equal(service.templates(BARE).length, 0);

    // An operator's threshold is the loaded model's, and stays (a re-embed used to put the model's back).
    await service.updateSettings({ thresholds: { cosine: 0.5 } });
    assert.equal(service.getSettings().thresholdsFor, shippedId);
    await service.reembed();
    assert.equal(service.getSettings().thresholds.cosine, 0.5, 'the operator\'s threshold survives a re-embed');
    await refused(() => service.updateSettings({ thresholdsFor: TUNED }), 'invalid_input');

    // A model with recommended thresholds: they are applied (the missing metric derived), recorded as its own.
    const out = await service.switchModel(tunedDir);
    assert.equal(out.modelId, TUNED);
    s = service.getSettings();
    assert.deepEqual([s.thresholds, s.thresholdsFor], [{ cosine: TUNED_COSINE, euclidean: cosineToDistance(TUNED_COSINE) }, TUNED]);
    assert.deepEqual(service.getIdentity(amy).threshold, {}, 'tuned on the old model\'s scale: cleared');
    assert.ok(lines.some((l) => /per-person thresholds cleared/.test(l) && l.includes('Amy (cosine 0.200)')), lines.join('\n'));
    assert.equal((await service.verify(await photo('amy', 5), { claim: amy })).threshold, TUNED_COSINE, 'the door uses them');

    // Back: the thresholds it ran with (the operator's), not its recommendation.
    await service.switchModel(SHIPPED_MODEL);
    s = service.getSettings();
    assert.deepEqual([s.thresholds.cosine, s.thresholdsFor], [0.5, shippedId]);

    // Explicit thresholds for a model that has none: applied, recorded as its own.
    await service.switchModel(bareDir, { thresholds: { cosine: 0.3 } });
    s = service.getSettings();
    assert.deepEqual([service.modelId, s.thresholds, s.thresholdsFor], [BARE, { cosine: 0.3, euclidean: cosineToDistance(0.3) }, BARE]);
  } finally {
    await service.close();
  }
});

test('on open, thresholds recorded for another model than the active one are replaced by the active model\'s', { skip }, async () => {
  const gallery = 'g-restart';
  let service = await open(SHIPPED_MODEL, gallery);
  await service.close();
  // A switch to the tuned model cut short between its gallery write and its settings write.
  const e = await Enrolled.open(path.join(tmp, gallery));
  await e.gallery.setActiveModel(TUNED);
  await e.close();

  const lines: string[] = [];
  service = await open(tunedDir, gallery, lines);
  try {
    const s = service.getSettings();
    assert.equal(s.activeModelId, TUNED);
    assert.deepEqual([s.thresholds, s.thresholdsFor], [{ cosine: TUNED_COSINE, euclidean: cosineToDistance(TUNED_COSINE) }, TUNED]);
    assert.deepEqual(s.thresholdsByModel[shippedId], shipped, 'the shipped model\'s kept for a rollback');
  } finally {
    await service.close();
  }

  // Opened with a model that has none: nothing to refuse, so it runs with them and says so on every open.
  for (let i = 0; i < 2; i++) {
    const said: string[] = [];
    service = await open(bareDir, gallery, said);
    try {
      const s = service.getSettings();
      assert.deepEqual([service.modelId, s.thresholdsFor, s.thresholds.cosine], [BARE, TUNED, TUNED_COSINE]);
      assert.ok(said.some((l) => l.includes(`model ${BARE} has no recommended thresholds`) && l.includes('Until then the door uses these thresholds')), said.join('\n'));
    } finally {
      await service.close();
    }
  }
});

test('an enrollment or added samples whose write lands after a switch are stored under the new model', { skip }, async () => {
  const service = await open(SHIPPED_MODEL, 'g-enroll');
  try {
    // Embedded by the shipped model; the switch to the tuned one completes before the write.
    const gate = onNextJpeg(() => service.switchModel(tunedDir));
    const enrolled = await service.enroll({ name: 'Raj', images: await images('raj', [1, 2, 3]) });
    assert.equal(((await gate.fired) as { modelId: string }).modelId, TUNED, 'the switch ran in between');
    const raj = enrolled.identity.id;
    assert.equal(enrolled.modelId, TUNED);
    assert.equal(service.templates(TUNED).filter((t) => t.identityId === raj).length, enrolled.templates);
    assert.equal(service.templates(shippedId).filter((t) => t.identityId === raj).length, 0);
    const v = await service.verify(await photo('raj', 4), { claim: raj });
    assert.equal(v.modelId, TUNED);
    assert.equal(typeof v.score, 'number', 'the new model has templates to compare with');

    // The same for "add samples", switching back.
    const back = onNextJpeg(() => service.switchModel(SHIPPED_MODEL));
    const added = await service.addSamples(raj, await images('raj', [4]), 'upload');
    assert.equal(((await back.fired) as { modelId: string }).modelId, shippedId);
    assert.equal(added.modelId, shippedId);
    // The switch re-embedded the enrollment's crops; the added sample was embedded at its write.
    assert.equal(service.templates(shippedId).filter((t) => t.identityId === raj).length, enrolled.templates + added.templates);
    assert.equal(service.templates(TUNED).filter((t) => t.identityId === raj).length, enrolled.templates);
    const granted = await service.verify(await photo('raj', 4), { claim: raj });
    assert.equal(granted.decision, 'granted', `raj4 claiming raj with the shipped model: ${granted.score} vs ${granted.threshold}`);
  } finally {
    await service.close();
  }
});
