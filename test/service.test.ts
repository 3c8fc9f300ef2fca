// The verification service on real photos through the real pipeline (decode, detect, align,
// quality, embed, match) and real gallery files in a temp dir. None of these assertions depend
// on recognition quality, so they run on the shipped model when it exists and otherwise on a
// randomly initialised one (recognition itself: test/service-recognition.test.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { FaceNet } from '../src/model/facenet.js';
import { defaultMeta, saveModel } from '../src/model/io.js';
import { loadConfig } from '../src/config/index.js';
import { FaceService, InferenceQueue, ServiceError, selectDiverse, type EnrollImage } from '../src/service/index.js';
import { refused } from './fixtures/expect.js';

const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const BBT = path.join(DATA, 'small/bbt');
const TWO_PEOPLE = path.join(DATA, 'small/examples/misc/two_people.jpg');
const SHIPPED = fileURLToPath(new URL('../models/facegate-default/', import.meta.url));

const photo = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));
const images = (who: string, ns: number[]): Promise<EnrollImage[]> => Promise.all(ns.map(async (n) => ({ bytes: await photo(who, n), file: `${who}${n}.png` })));

async function randomModel(dir: string, name: string, seed: number): Promise<string> {
  const net = FaceNet.create({ width: 0.25 }, seed);
  await saveModel(dir, net, defaultMeta(net, name, '1'));
  net.dispose();
  return dir;
}

let tmp: string;
let galleryDir: string;
let modelA: string;
let service: FaceService;
let noFace: Buffer;
let amyId: string;

const configFor = (modelDir: string) =>
  loadConfig({ env: {}, overrides: { modelDir, galleryDir, enroll: { minSamples: 3, maxTemplates: 3 } } });

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-service-'));
  galleryDir = path.join(tmp, 'gallery');
  modelA = existsSync(path.join(SHIPPED, 'model.json')) ? SHIPPED : await randomModel(path.join(tmp, 'model-a'), 'test-random', 1);
  service = await FaceService.open(configFor(modelA), { quiet: true });
  // A real photo region with nobody in it (left edge of the two-person shot).
  noFace = await sharp(TWO_PEOPLE).extract({ left: 0, top: 0, width: 200, height: 661 }).jpeg().toBuffer();
});

after(async () => {
  await service?.close();
  await rm(tmp, { recursive: true, force: true });
});

test('enrollment refuses images that fail quality, with the reason, and needs enough good samples', async () => {
  const err = await refused(
    async () =>
      service.enroll({
        name: 'Amy',
        images: [
          { bytes: await photo('amy', 1), file: 'amy1.png' }, // turned away, face cut by the frame
          { bytes: await photo('amy', 2), file: 'amy2.png' },
          { bytes: await readFile(TWO_PEOPLE), file: 'two_people.jpg' },
          { bytes: Buffer.from('not an image at all'), file: 'notes.txt' },
          { bytes: noFace, file: 'empty-wall.jpg' },
        ],
      }),
    'insufficient_samples',
  );
  const samples = err.details?.samples as { file: string; accepted: boolean; reasons: { code: string; message: string }[] }[];
  const codes = (file: string) => samples.find((s) => s.file === file)!.reasons.map((r) => r.code);
  assert.ok(codes('amy1.png').includes('pose'), `amy1: ${codes('amy1.png')}`);
  assert.deepEqual(codes('amy2.png'), []);
  assert.ok(codes('two_people.jpg').includes('multiple_faces'));
  assert.deepEqual(codes('notes.txt'), ['unreadable']);
  assert.deepEqual(codes('empty-wall.jpg'), ['no_face']);
  assert.ok(samples.every((s) => s.reasons.every((r) => r.message.length > 0)));
  assert.equal(service.listIdentities().length, 0, 'nothing stored');
});

test('enrollment keeps the most diverse good samples as templates, with their aligned crops', async () => {
  const out = await service.enroll({ name: '  Amy   Farrah Fowler ', badge: 'B-1001', images: await images('amy', [2, 3, 4, 5]) });
  amyId = out.identity.id;
  assert.match(amyId, /^i_[0-9a-z]{20}$/);
  assert.equal(out.identity.name, 'Amy Farrah Fowler');
  assert.equal(out.samples.filter((s) => s.accepted).length, 4);
  assert.equal(out.templates, 3, 'maxTemplates = 3 of 4 good samples');
  assert.equal(out.samples.filter((s) => s.kept).length, 3);
  const templates = service.templates(service.modelId!);
  assert.equal(templates.length, 3);
  assert.ok(templates.every((t) => t.identityId === amyId && t.crop !== null && t.quality > 0 && t.quality <= 1));
  const crops = await readdir(path.join(galleryDir, 'faces', amyId));
  assert.deepEqual(crops.sort(), templates.map((t) => t.crop).sort());
  const meta = await sharp(path.join(galleryDir, 'faces', amyId, crops[0]!)).metadata();
  assert.equal(meta.width, 112);
  assert.equal(meta.height, 112);
});

test('enrolling the same face again is a duplicate unless confirmed', async () => {
  const err = await refused(async () => service.enroll({ name: 'Someone Else', images: await images('amy', [2, 3, 4]) }), 'duplicate');
  const matches = err.details?.matches as { id: string; name: string; score: number }[];
  assert.equal(matches[0]!.id, amyId);
  assert.equal(matches[0]!.name, 'Amy Farrah Fowler');
  assert.equal(service.listIdentities().length, 1);

  const out = await service.enroll({ name: 'Someone Else', images: await images('amy', [2, 3, 4]), confirmDuplicate: true });
  assert.equal(out.duplicateOf[0]!.id, amyId);
  await service.deleteIdentity(out.identity.id);
  assert.equal(service.listIdentities().length, 1);
});

test('a badge already in use is refused before any image work', async () => {
  await refused(async () => service.enroll({ name: 'Another', badge: 'b-1001', images: await images('raj', [1, 2, 3]) }), 'conflict');
});

test('verify returns decision, identity, score, metric, threshold, box, landmarks, stage timings and model id', async () => {
  const out = await service.verify(await photo('amy', 5), { claim: amyId });
  assert.ok(out.decision === 'granted' || out.decision === 'denied');
  assert.equal(out.claim?.id, amyId);
  assert.equal(typeof out.score, 'number');
  assert.equal(out.metric, 'cosine');
  assert.equal(out.threshold, service.getSettings().thresholds.cosine);
  assert.equal(out.modelId, service.modelId);
  assert.equal(out.face!.landmarks.length, 5);
  assert.ok(out.face!.box.width > 80);
  for (const stage of ['decode', 'queue', 'detect', 'align', 'quality', 'embed', 'match', 'total'] as const) {
    assert.ok(Number.isFinite(out.timings[stage]) && out.timings[stage] >= 0, stage);
  }
  assert.ok(out.timings.embed > 0 && out.timings.detect > 0);
  // Claim by badge, case-insensitive, resolves to the same person.
  assert.equal((await service.verify(await photo('amy', 5), { claim: 'B-1001' })).claim?.id, amyId);
});

test('verify: two faces, no face and a poor-quality face are decisions, not errors', async () => {
  const two = await service.verify(await readFile(TWO_PEOPLE));
  assert.equal(two.decision, 'multiple_faces');
  assert.equal(two.faces, 2);
  assert.equal(two.score, null);
  assert.equal(two.message, 'One person at a time');

  const none = await service.verify(noFace);
  assert.equal(none.decision, 'no_face');
  assert.equal(none.face, null);

  const poor = await service.verify(await photo('amy', 1));
  assert.equal(poor.decision, 'poor_quality');
  assert.ok(poor.face!.quality.reasons.some((r) => r.code === 'pose'));
  assert.equal(poor.timings.embed, 0, 'a refused face is not embedded');
});

test('verify: corrupt, foreign, empty and oversized uploads are clear errors', async () => {
  const jpeg = await readFile(TWO_PEOPLE);
  const corrupt = await refused(() => service.verify(jpeg.subarray(0, jpeg.length >> 1)), 'corrupt_image');
  assert.match(corrupt.message, /truncated/);
  await refused(() => service.verify(Buffer.from('%PDF-1.4 a document')), 'unsupported_media');
  await refused(() => service.verify(new Uint8Array(0)), 'empty_image');
  // 5000 x 5000 = 25 MP, over the 16 MP default; a flat PNG that size is only a few KB.
  const huge = await sharp({ create: { width: 5000, height: 5000, channels: 3, background: '#808080' } }).png().toBuffer();
  assert.ok(huge.length < 1024 * 1024);
  const big = await refused(() => service.verify(huge), 'image_too_large');
  assert.match(big.message, /MP/);
  await refused(async () => service.verify(await photo('amy', 5), { claim: 'i_00000000000000000000' }), 'not_found');
  await refused(async () => service.verify(await photo('amy', 5), { claim: '../../etc/passwd' }), 'invalid_input');
});

test('concurrent verifies are serialised and give the same results as one at a time', async () => {
  const frames = [await photo('amy', 5), await photo('raj', 4), await photo('amy', 3), await readFile(TWO_PEOPLE)];
  const alone = [];
  for (const f of frames) alone.push(await service.verify(f));
  const together = await Promise.all(frames.map((f) => service.verify(f)));
  assert.deepEqual(together.map((o) => [o.decision, o.score]), alone.map((o) => [o.decision, o.score]));
  assert.equal(service.queueDepth, 0);
});

test('identify returns the k best candidates with names', async () => {
  const out = await service.identify(await photo('amy', 5), { k: 3 });
  assert.ok(out.decision === 'match' || out.decision === 'unknown');
  assert.equal(out.candidates.length, 1, 'one identity enrolled');
  assert.equal(out.candidates[0]!.id, amyId);
  assert.equal(out.candidates[0]!.name, 'Amy Farrah Fowler');
  assert.equal(typeof out.candidates[0]!.passes, 'boolean');
  assert.equal((await service.identify(noFace)).decision, 'no_face');
});

test('no tensor growth across 100 verifies', async () => {
  const frames = [await photo('amy', 5), await photo('raj', 4), await readFile(TWO_PEOPLE), noFace, await photo('amy', 1)];
  await service.verify(frames[0]!); // warm-up: lazily created kernels or caches are not leaks
  const before = tf.memory().numTensors;
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) seen.add((await service.verify(frames[i % frames.length]!)).decision);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(seen.has('multiple_faces') && seen.has('no_face') && seen.has('poor_quality'), [...seen].join());
});

test('after a model change the gallery follows on open: stored crops re-embedded (128-d to 512-d here), old templates kept, new ones compared', async () => {
  const oldModel = service.modelId!;
  const oldTemplates = service.templates(oldModel);
  await service.close();
  const modelB = await randomModel(path.join(tmp, 'model-b'), 'test-other', 7);
  const lines: string[] = [];
  service = await FaceService.open(configFor(modelB), { quiet: true, log: (l) => lines.push(l) });
  assert.equal(service.modelId, 'test-other@1');
  assert.ok(lines.some((l) => /re-embedded for test-other@1: \d+ templates from stored crops/.test(l)), lines.join('\n'));

  const h = service.health();
  assert.equal(h.gallery.templates, oldTemplates.length, 're-embedded when the service opened');
  assert.equal(h.gallery.otherModelTemplates, oldTemplates.length, 'old templates kept for rollback');
  assert.deepEqual([h.gallery.reembedPending, h.gallery.needEnrollment], [0, 0]);
  assert.equal(h.model.embeddingSize, 512);
  const fresh = service.templates('test-other@1');
  assert.deepEqual(fresh.map((t) => t.crop).sort(), oldTemplates.map((t) => t.crop).sort(), 'same crops, new embeddings');
  assert.ok(fresh.every((t) => t.dim === 512));
  assert.equal(service.getSettings().activeModelId, 'test-other@1');
  assert.equal(service.templates(oldModel).length, oldTemplates.length, 'old templates kept for rollback');
  const after = await service.verify(await photo('amy', 5), { claim: amyId });
  assert.equal(after.modelId, 'test-other@1');
  assert.equal(typeof after.score, 'number', 'compared with the re-embedded templates');
  assert.equal(after.decision, 'granted');
  assert.equal((await service.reembed()).reembedded, 0, 'nothing left to do');
});

test('deleting an identity erases its templates, crops and log entries', async () => {
  const facesDir = path.join(galleryDir, 'faces', amyId);
  assert.ok(existsSync(facesDir));
  const logged = service.activity({ filter: { identityId: amyId } });
  assert.ok(logged.length > 0, 'verifications were logged');
  const r = await service.deleteIdentity(amyId);
  assert.ok(r.templates >= 6, 'both models\' templates');
  assert.equal(existsSync(facesDir), false);
  // The audit trail keeps her records redacted, without her id (src/activity).
  const audit = (await readdir(path.join(galleryDir, 'audit'))).map((f) => path.join('audit', f));
  assert.ok(audit.some((f) => f.endsWith('.jsonl')), 'the verifications were logged in the audit trail');
  for (const f of ['gallery.json', ...audit]) {
    assert.equal((await readFile(path.join(galleryDir, f), 'utf8')).includes(amyId), false, `${f} still names the identity`);
  }
  await refused(() => service.deleteIdentity(amyId), 'not_found');
  await refused(() => service.deleteIdentity('../faces'), 'invalid_input');
});

test('without a model the service opens, reports why, and refuses recognition with no_model', async () => {
  const s = await FaceService.open(loadConfig({ env: {}, overrides: { modelDir: path.join(tmp, 'missing'), galleryDir: path.join(tmp, 'g2') } }), { quiet: true });
  try {
    const h = s.health();
    assert.equal(h.status, 'no_model');
    assert.match(h.model.error!, /model\.json not found/);
    const err = await refused(async () => s.verify(await photo('amy', 5)), 'no_model');
    assert.match(err.message, /missing/);
    await refused(async () => s.enroll({ name: 'X', images: await images('amy', [2, 3, 4]) }), 'no_model');
  } finally {
    await s.close();
  }
});

test('the inference queue runs jobs one at a time in order and refuses beyond its bound', async () => {
  const q = new InferenceQueue(2);
  const order: string[] = [];
  let running = 0;
  const job = (name: string) => async () => {
    running++;
    assert.equal(running, 1, 'never two at once');
    await new Promise((r) => setImmediate(r));
    order.push(name);
    running--;
    return name;
  };
  const a = q.run(job('a'));
  const b = q.run(job('b'));
  await assert.rejects(q.run(job('c')), (e: unknown) => e instanceof ServiceError && e.code === 'busy');
  assert.deepEqual(await Promise.all([a, b]), ['a', 'b']);
  assert.deepEqual(order, ['a', 'b']);
  assert.equal(q.depth, 0);
  assert.equal(await q.run(job('d')), 'd', 'accepts again once drained');
});

test('template selection starts from the best sample and prefers spread, skipping near-duplicates', () => {
  const unit = (...v: number[]) => {
    const n = Math.hypot(...v);
    return Float32Array.from(v, (x) => x / n);
  };
  const e = [unit(1, 0, 0), unit(1, 0.01, 0), unit(0.8, 0.6, 0), unit(0, 0, 1)];
  assert.deepEqual(selectDiverse(e, [0.9, 0.95, 0.5, 0.4], 3), [1, 3, 2]);
  // Only near-duplicates of the kept one left: stop early rather than keep copies.
  assert.deepEqual(selectDiverse([e[0]!, e[1]!], [0.5, 0.6], 5), [1]);
  assert.deepEqual(selectDiverse([], [], 3), []);
});
