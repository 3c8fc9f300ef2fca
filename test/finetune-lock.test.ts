// The finetune's gallery write (promoteVersion, step 6 of src/finetune/finetune.ts) and the
// gallery's one-writer rule (src/owner), without a training run: a stand-in model whose
// embedCrops returns fixed vectors, a small gallery with stored crops, and owner locks taken in
// this process the way a CLI command or a server takes them.
//   - no server: the write waits for a CLI command holding the lock, is done under the lock, and
//     keeps what that command wrote meanwhile (without the lock, the command's later write from
//     its stale copy would drop the finetune's templates);
//   - a server owns the gallery: the finetune does not write gallery.json at all; it promotes the
//     version (active.json) and the server's switch embeds the crops;
//   - a failed promotion removes its templates and the saved version, and frees the lock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { Enrolled } from '../src/enrolled/index.js';
import { FaceNet } from '../src/model/facenet.js';
import { defaultMeta, saveModel } from '../src/model/io.js';
import { Gallery } from '../src/gallery/index.js';
import { ModelRegistry } from '../src/model/registry.js';
import { OwnerLock, claimForServer, currentOwner, type OwnerRecord } from '../src/owner/index.js';
import { promoteVersion, type PromotedVersion } from '../src/finetune/finetune.js';
import { encodeJpeg } from '../src/vision/decode.js';
import type { RgbImage } from '../src/vision/types.js';

const OLD = 'base@1';
const NEW = 'base@ft-20260101T000000';
const FOLDER = 'base-ft-20260101T000000';
const DIM = 8;

let tmp: string;
let n = 0;

/** A small real model folder (its own embedding size: the stand-in's vectors are what the gallery gets): `facegate model use` checks that a folder loads. */
let modelFolder: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-finetune-lock-'));
  await initBackend({ quiet: true });
  modelFolder = path.join(tmp, 'tiny-model');
  const net = FaceNet.create({ variant: 'mobilefacenet', width: 0.25, inputSize: 64, embeddingSize: 32 }, 1);
  await saveModel(modelFolder, net, defaultMeta(net, 'base', '1'));
  net.dispose();
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const unit = (i: number) => Float32Array.from({ length: DIM }, (_, k) => (k === i % DIM ? 1 : 0));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A gallery with two people, two templates each with stored crops; a models folder with the parent and the saved new version. */
async function setup(opts: { modelJson?: boolean } = {}) {
  const root = path.join(tmp, `case${n++}`);
  const galleryDir = path.join(root, 'enrolled');
  const modelsDir = path.join(root, 'models');
  const outDir = path.join(modelsDir, FOLDER);
  await cp(modelFolder, path.join(modelsDir, 'base'), { recursive: true });
  if (opts.modelJson ?? true) await cp(modelFolder, outDir, { recursive: true });
  else await mkdir(outDir, { recursive: true });
  await new ModelRegistry(modelsDir).use('base');
  const g = await Gallery.open(galleryDir);
  const ids: string[] = [];
  for (const [k, name] of ['Ada', 'Bo'].entries()) {
    const who = await g.addIdentity({ name });
    const crop: RgbImage = { data: new Uint8Array(112 * 112 * 3).fill(60 + 40 * k), width: 112, height: 112 };
    const cropJpeg = await encodeJpeg(crop);
    await g.addTemplates(who.id, [0, 1].map((j) => ({ embedding: unit(2 * k + j), modelId: OLD, quality: 0.9, source: 'cli' as const, cropJpeg })));
    ids.push(who.id);
  }
  await g.close();
  return { galleryDir, modelsDir, outDir, ids };
}

/** The stand-in model: records each call and who held the gallery's lock at that moment. */
function standIn(galleryDir: string) {
  const calls: { crops: number; owner: OwnerRecord | null }[] = [];
  const net: PromotedVersion['net'] = {
    embedCrops: async (crops: RgbImage[]) => {
      calls.push({ crops: crops.length, owner: await currentOwner(galleryDir) });
      return crops.map((_, i) => unit(i + 3));
    },
  };
  return { net, calls };
}

async function openGallery(dir: string): Promise<Gallery> {
  return (await Enrolled.open(dir, { sweepOnOpen: false })).gallery;
}

test('no server: the finetune waits for a CLI writer, writes under the lock, and keeps what that writer wrote', async () => {
  const s = await setup();
  const { net, calls } = standIn(s.galleryDir);
  const logs: string[] = [];

  // A CLI command (`facegate enroll`) holds the gallery, its copy in memory.
  const held = await OwnerLock.tryTake(s.galleryDir, { kind: 'cli', command: 'facegate enroll' });
  assert.ok('lock' in held);
  const cliGallery = await openGallery(s.galleryDir);

  let settled = false;
  const promoting = promoteVersion({ galleryDir: s.galleryDir, modelsDir: s.modelsDir }, { net, modelId: NEW, folder: FOLDER, outDir: s.outDir, trainedOn: s.ids, log: (l) => logs.push(l) });
  void promoting.finally(() => (settled = true)).catch(() => {});
  await sleep(400);
  assert.equal(settled, false, 'still waiting for the command');
  assert.equal(calls.length, 0, 'nothing embedded or written while the command holds the gallery');
  assert.ok(logs.some((l) => /in use by `facegate enroll` \(pid \d+\): waiting/.test(l)), logs.join('\n'));

  // The command writes from its in-memory copy, then finishes.
  const carol = await cliGallery.addIdentity({ name: 'Carol' });
  await cliGallery.close();
  await held.lock.release();

  assert.equal(await promoting, 'finetune');
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.crops, 4, 'every stored crop embedded');
  assert.equal(calls[0]!.owner?.kind, 'cli');
  assert.equal(calls[0]!.owner?.command, 'facegate finetune');
  assert.equal(calls[0]!.owner?.pid, process.pid, 'the finetune held the lock while it wrote');
  assert.equal(await currentOwner(s.galleryDir), null, 'and released it');

  const g = await openGallery(s.galleryDir);
  try {
    assert.ok(g.getIdentity(carol.id), "the command's write is kept");
    const fresh = g.templates(NEW);
    assert.equal(fresh.length, 4, "the finetune's templates are in the file");
    assert.deepEqual(new Set(fresh.map((t) => t.identityId)), new Set(s.ids));
    const oldCrops = new Set(g.templates(OLD).map((t) => t.crop));
    assert.ok(fresh.every((t) => t.crop !== null && oldCrops.has(t.crop)), 'new templates share the stored crops');
    assert.equal(g.templates(OLD).length, 4, 'old templates kept for rollback');
  } finally {
    await g.close();
  }
  assert.equal(new ModelRegistry(s.modelsDir).activeSync().active, FOLDER);
});

test('a server owns the gallery: the finetune leaves gallery.json alone and promotes; the server embeds on its switch', async () => {
  const s = await setup();
  const { net, calls } = standIn(s.galleryDir);
  const logs: string[] = [];
  const server = await claimForServer(s.galleryDir);
  await server.publish('http://127.0.0.1:9');
  try {
    const file = path.join(s.galleryDir, 'gallery.json');
    const bytes = await readFile(file);
    const mtime = (await stat(file)).mtimeMs;

    const who = await promoteVersion({ galleryDir: s.galleryDir, modelsDir: s.modelsDir }, { net, modelId: NEW, folder: FOLDER, outDir: s.outDir, trainedOn: s.ids, log: (l) => logs.push(l) });
    assert.equal(who, 'server');
    assert.equal(calls.length, 0, 'no crop embedded here');
    assert.deepEqual(await readFile(file), bytes, 'gallery.json not rewritten');
    assert.equal((await stat(file)).mtimeMs, mtime);
    assert.equal(new ModelRegistry(s.modelsDir).activeSync().active, FOLDER, 'the version is promoted for the server to follow');
    assert.ok(existsSync(s.outDir));
    assert.ok(logs.some((l) => /served by a facegate server \(pid \d+\) at http:\/\/127\.0\.0\.1:9: it embeds the stored crops/.test(l)), logs.join('\n'));
    assert.equal((await currentOwner(s.galleryDir))?.kind, 'server', "the server's lock is untouched");

    // Someone erased meanwhile: their crops are in the weights, so nothing is promoted, even here.
    const s2 = await setup();
    const server2 = await claimForServer(s2.galleryDir);
    await server2.publish('http://127.0.0.1:9');
    try {
      const g = await openGallery(s2.galleryDir);
      await g.deleteIdentity(s2.ids[0]!);
      await g.close();
      await assert.rejects(
        promoteVersion({ galleryDir: s2.galleryDir, modelsDir: s2.modelsDir }, { net, modelId: NEW, folder: FOLDER, outDir: s2.outDir, trainedOn: s2.ids, log: () => {} }),
        /deleted during the run/,
      );
      assert.equal(new ModelRegistry(s2.modelsDir).activeSync().active, 'base');
      assert.ok(!existsSync(s2.outDir), 'the saved version is removed');
    } finally {
      await server2.release();
    }
  } finally {
    await server.release();
  }
});

test('no server, a promotion that fails: its templates and the saved version are removed, the lock is freed', async () => {
  const s = await setup({ modelJson: false });
  const { net, calls } = standIn(s.galleryDir);
  await assert.rejects(
    promoteVersion({ galleryDir: s.galleryDir, modelsDir: s.modelsDir }, { net, modelId: NEW, folder: FOLDER, outDir: s.outDir, trainedOn: s.ids, log: () => {} }),
    /model\.json missing/,
  );
  assert.equal(calls.length, 1, 'the templates were embedded before active.json refused the folder');
  const g = await openGallery(s.galleryDir);
  try {
    assert.equal(g.templates(NEW).length, 0);
    assert.equal(g.templates(OLD).length, 4);
  } finally {
    await g.close();
  }
  assert.ok(!existsSync(s.outDir));
  assert.equal(new ModelRegistry(s.modelsDir).activeSync().active, 'base');
  assert.equal(await currentOwner(s.galleryDir), null);
});
