// The gallery follows the model. A gallery enrolled under a 512-d model (what facegate-default was
// before the imported 128-d MobileFaceNet) is opened with the shipped 128-d model: the stored face
// crops are re-embedded when the service opens, on every path that opens one (the service itself,
// a server pinned to its model, the CLI after `facegate model use`), so the kiosk recognises the
// people enrolled before the upgrade instead of silently matching nobody. People enrolled without
// a stored crop cannot follow and are named. Templates are keyed by model id, so a 512-d template
// is never compared with a 128-d probe. Real photos, real models (a small random-weight 512-d one
// stands for the old model), real gallery files; skipped, never faked, without the shipped model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { FaceNet } from '../src/model/facenet.js';
import { defaultMeta, readMeta, saveModel } from '../src/model/io.js';
import { ModelRegistry } from '../src/model/registry.js';
import { loadConfig, PROJECT_ROOT } from '../src/config/load.js';
import { FaceService, modelIdOf } from '../src/service/index.js';
import { withService } from '../src/service/cli-run.js';
import { startServer } from '../src/http/start.js';
import { createApp } from '../src/http/app.js';
import { hashPassword } from '../src/config/index.js';
import { PASSWORD, PageClient } from './fixtures/web/harness.js';

const BBT = fileURLToPath(new URL('../../shared/data/small/bbt/', import.meta.url));
const SHIPPED = path.join(PROJECT_ROOT, 'models', 'facegate-default');
const skip = existsSync(path.join(SHIPPED, 'model.json')) ? false : 'no shipped model: models/facegate-default/model.json is missing';

const photo = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));
const images = (who: string, ns: number[]) => Promise.all(ns.map(async (n) => ({ bytes: await photo(who, n), file: `${who}${n}.png` })));

const OLD = 'upgrade-old@1';
let tmp: string;
/** The gallery as the old model left it; every test works on its own copy. */
let enrolled: string;
let oldModel: string;
let newId: string;
let newThreshold: number;
const ids: Record<string, string> = {};
const oldTemplates: Record<string, string[]> = {};

async function tinyModel(dir: string, name: string, embeddingSize: number, seed: number): Promise<string> {
  const net = FaceNet.create({ variant: 'mobilefacenet', width: 0.25, inputSize: 64, embeddingSize }, seed);
  await saveModel(dir, net, defaultMeta(net, name, '1'));
  net.dispose();
  return dir;
}

async function galleryCopy(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await cp(enrolled, dir, { recursive: true });
  return dir;
}

const configFor = (modelDir: string, galleryDir: string) => loadConfig({ env: {}, overrides: { modelDir, galleryDir, enroll: { minSamples: 3, maxTemplates: 3 } } });

before(async () => {
  if (skip) return;
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-upgrade-'));
  oldModel = await tinyModel(path.join(tmp, 'models', 'old'), 'upgrade-old', 512, 3);
  const meta = await readMeta(SHIPPED);
  newId = modelIdOf(meta);
  newThreshold = meta.thresholds!.cosine!.far1e3!;
  assert.equal(meta.embeddingSize, 128);
  enrolled = path.join(tmp, 'enrolled');
  const s = await FaceService.open(configFor(oldModel, enrolled), { quiet: true });
  try {
    // Random weights: everyone looks alike, hence confirmDuplicate.
    for (const [who, ns] of [['amy', [2, 3, 4]], ['raj', [1, 2, 3]]] as const) ids[who] = (await s.enroll({ name: who, images: await images(who, [...ns]), confirmDuplicate: true })).identity.id;
    // Enrolled while keep-crops was off: nothing to re-embed from.
    await s.updateSettings({ keepCrops: false });
    ids.howard = (await s.enroll({ name: 'howard', images: await images('howard', [1, 2, 3]), confirmDuplicate: true })).identity.id;
    await s.updateSettings({ keepCrops: true });
    for (const who of Object.keys(ids)) oldTemplates[who] = s.templates(OLD).filter((t) => t.identityId === ids[who]).map((t) => t.id);
    assert.ok(s.templates().every((t) => t.modelId === OLD && t.dim === 512));
    assert.equal(s.getSettings().activeModelId, OLD);
  } finally {
    await s.close();
  }
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('opening the gallery with the 128-d model re-embeds the stored crops; the people are recognised; those without crops are named', { skip }, async () => {
  const galleryDir = await galleryCopy('g-service');
  const tensors = tf.memory().numTensors;
  const lines: string[] = [];
  const s = await FaceService.open(configFor(SHIPPED, galleryDir), { quiet: true, log: (l) => lines.push(l) });
  try {
    assert.equal(s.modelId, newId);
    const settings = s.getSettings();
    assert.equal(settings.activeModelId, newId, 'the loaded model is the active one');
    assert.equal(settings.thresholds.cosine, newThreshold, "the new model's threshold, not the old one's");
    const fresh = s.templates(newId);
    assert.ok(fresh.every((t) => t.dim === 128));
    const old = s.templates(OLD);
    for (const who of ['amy', 'raj']) {
      const mine = fresh.filter((t) => t.identityId === ids[who]);
      assert.equal(mine.length, oldTemplates[who]!.length, `${who}: one new template per stored crop`);
      assert.deepEqual(mine.map((t) => t.crop).sort(), old.filter((t) => t.identityId === ids[who]).map((t) => t.crop).sort(), `${who}: the same crops`);
    }
    assert.equal(fresh.filter((t) => t.identityId === ids.howard).length, 0, 'howard has no crop to re-embed');
    assert.equal(old.length, Object.values(oldTemplates).flat().length, '512-d templates kept for rollback');
    assert.ok(old.every((t) => t.dim === 512));

    const h = s.health();
    assert.deepEqual([h.gallery.templates, h.gallery.reembedPending, h.gallery.needEnrollment], [fresh.length, 0, 1]);
    assert.equal(h.model.embeddingSize, 128);
    assert.ok(lines.some((l) => l.includes(newId) && /re-embedded/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes('howard') && /enrol/.test(l)), `howard is named: ${lines.join('\n')}`);

    // 1:N and 1:1 with the real 128-d model against the re-embedded templates.
    const amy = await s.verify(await photo('amy', 5));
    assert.equal(amy.modelId, newId);
    assert.equal(amy.decision, 'granted', `amy5: ${amy.score} vs ${amy.threshold}`);
    assert.equal(amy.identity?.id, ids.amy);
    const raj = await s.verify(await photo('raj', 4), { claim: ids.raj! });
    assert.equal(raj.decision, 'granted', `raj4 claiming raj: ${raj.score} vs ${raj.threshold}`);

    // Howard's 512-d templates are never compared with a 128-d probe: no score, no candidate, a clear message.
    const howard = await s.verify(await photo('howard', 4), { claim: ids.howard! });
    assert.equal(howard.decision, 'denied');
    assert.equal(howard.score, null);
    assert.match(howard.message, /howard has no template for model .+ and no stored face crop: enroll howard again/);
    const who = await s.identify(await photo('howard', 4), { k: 5 });
    assert.deepEqual(who.candidates.map((c) => c.id).sort(), [ids.amy, ids.raj].sort(), 'only people with 128-d templates are candidates');
    assert.notEqual(who.identity?.id, ids.howard);

    // The Gallery page names who must enroll again (and no longer calls the kept 512-d templates crop-less).
    const created = createApp({ service: s, config: configFor(SHIPPED, galleryDir), admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'upgrade-test-secret-'.repeat(3) } });
    try {
      const c = new PageClient(created.app);
      await c.login();
      const page = await c.get('/admin/gallery');
      assert.equal(page.status, 200);
      assert.match(page.text, /no stored face crop to re-embed: <strong>howard<\/strong> must enroll again/);
      assert.doesNotMatch(page.text, /stored face crops belong to another model/, 'nothing left to re-embed');
    } finally {
      await created.close();
    }
  } finally {
    await s.close();
  }
  // Reopening finds the gallery already following: nothing is embedded or written again.
  const before = await readFile(path.join(galleryDir, 'gallery.json'), 'utf8');
  const again: string[] = [];
  const s2 = await FaceService.open(configFor(SHIPPED, galleryDir), { quiet: true, log: (l) => again.push(l) });
  try {
    assert.equal(await readFile(path.join(galleryDir, 'gallery.json'), 'utf8'), before, 'gallery.json untouched');
    assert.ok(!again.some((l) => /re-embedded/.test(l)), again.join('\n'));
    assert.ok(again.some((l) => l.includes('howard')), 'still named on every start until re-enrolled');
  } finally {
    await s2.close();
  }
  assert.equal(tf.memory().numTensors, tensors, 'the re-embedding, the requests and both models left no tensor behind');
});

test('a server pinned to the 128-d model re-embeds before it answers: the first door request is recognised', { skip }, async () => {
  const galleryDir = await galleryCopy('g-server');
  const config = loadConfig({ env: {}, overrides: { port: 0, host: '127.0.0.1', modelDir: SHIPPED, galleryDir } });
  assert.equal(config.modelsDir, null, 'pinned: no active.json to follow, so no catch-up from the model manager');
  const running = await startServer(config, { quiet: true });
  try {
    const v = await fetch(`${running.url}/api/verify`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: await photo('amy', 5) });
    assert.equal(v.status, 200);
    const out = (await v.json()) as { decision: string; identity: { id: string } | null; modelId: string; score: number; threshold: number };
    assert.equal(out.modelId, newId);
    assert.equal(out.decision, 'granted', `amy5: ${out.score} vs ${out.threshold}`);
    assert.equal(out.identity?.id, ids.amy);
    const h = (await (await fetch(`${running.url}/api/health`)).json()) as { gallery: { reembedPending: number; needEnrollment: number } };
    assert.deepEqual([h.gallery.reembedPending, h.gallery.needEnrollment], [0, 1]);
    assert.match(await (await fetch(`${running.url}/metrics`)).text(), /^facegate_gallery_need_enrollment 1$/m, 'monitoring sees who cannot be recognised');
  } finally {
    await running.close();
  }
});

test('`facegate model use` while nothing runs, then the CLI: verify re-embeds first and grants', { skip }, async () => {
  const galleryDir = await galleryCopy('g-cli');
  const modelsRoot = path.join(tmp, 'cli-models');
  await mkdir(modelsRoot, { recursive: true });
  await cp(oldModel, path.join(modelsRoot, 'old'), { recursive: true });
  await cp(SHIPPED, path.join(modelsRoot, 'facegate-default'), { recursive: true });
  await new ModelRegistry(modelsRoot).use('old');
  const env: NodeJS.ProcessEnv = { ...process.env, FACEGATE_MODELS_DIR: modelsRoot, FACEGATE_GALLERY_DIR: galleryDir };
  delete env.FACEGATE_MODEL_DIR;
  delete env.FACEGATE_CONFIG;
  const cli = (...args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: PROJECT_ROOT, env });
  const use = await cli('model', 'use', 'facegate-default');
  assert.match(use.stdout, /active model: facegate-default/);

  const verify = await cli('verify', path.join(BBT, 'amy', 'amy5.png'), '--claim', ids.amy!, '--json');
  const out = JSON.parse(verify.stdout) as { decision: string; modelId: string; score: number; threshold: number };
  assert.equal(out.modelId, newId);
  assert.equal(out.decision, 'granted', `amy5 claiming amy: ${out.score} vs ${out.threshold}`);
  assert.match(verify.stderr, /re-embedded/);
  assert.match(verify.stderr, /howard/);

  // The CLI left the gallery following the new model.
  await withService(configFor(path.join(modelsRoot, 'facegate-default'), galleryDir), async (s) => {
    assert.equal(s.getSettings().activeModelId, newId);
    assert.equal(s.health().gallery.reembedPending, 0);
    assert.deepEqual(new Set(s.templates(newId).map((t) => t.identityId)), new Set([ids.amy, ids.raj]));
  });
});

test('two models under one model id with different embedding sizes: the new one is refused, never compared', { skip }, async () => {
  const galleryDir = path.join(tmp, 'g-collide');
  const a = await tinyModel(path.join(tmp, 'collide-a'), 'collide', 64, 5);
  const b = await tinyModel(path.join(tmp, 'collide-b'), 'collide', 32, 6);
  const sa = await FaceService.open(configFor(a, galleryDir), { quiet: true });
  try {
    await sa.enroll({ name: 'amy', images: await images('amy', [2, 3, 4]), confirmDuplicate: true });
    assert.equal(sa.templates('collide@1')[0]!.dim, 64);
    const tensors = tf.memory().numTensors;
    await assert.rejects(sa.switchModel(b), (e: Error & { code?: string }) => e.code === 'conflict' && /64-d .* 32-d/.test(e.message));
    assert.equal(tf.memory().numTensors, tensors, 'the refused model was disposed');
    const v = await sa.verify(await photo('amy', 5));
    assert.deepEqual([sa.modelId, v.modelId, typeof v.score], ['collide@1', 'collide@1', 'number'], 'the old model still serves');
  } finally {
    await sa.close();
  }
  const sb = await FaceService.open(configFor(b, galleryDir), { quiet: true });
  try {
    const h = sb.health();
    assert.equal(h.status, 'no_model');
    assert.match(h.model.error!, /64-d .* 32-d/);
    await assert.rejects(async () => sb.verify(await photo('amy', 5)), (e: Error & { code?: string }) => e.code === 'no_model');
    assert.equal(sb.templates('collide@1')[0]!.dim, 64, 'the gallery is left as it was');
  } finally {
    await sb.close();
  }
});
