// Model versions at runtime: FaceService.switchModel (re-embeds what the new model lacks, keeps the
// old templates, never mixes models, keeps the old model when the new one fails, leaks no tensors),
// a running app following models/active.json without a restart, the /api/models and /api/finetune
// admin routes, and the Model page's Use / Roll back / finetune panel. Real photos through the real
// pipeline; two small random-weight models stand in (recognition quality is not asserted here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { ModelRegistry } from '../src/model/registry.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { PROJECT_ROOT } from '../src/config/load.js';
import type { AppConfig } from '../src/config/schema.js';
import { writeFinetuneStatus, type FinetuneReport } from '../src/finetune/status.js';
import { FaceService, ServiceError, type EnrollImage } from '../src/service/index.js';
import { createApp, finetuneCommand, type CreatedApp } from '../src/http/index.js';
import { refused, until } from './fixtures/expect.js';
import { BBT, LOCAL, PASSWORD, PageClient, randomModel } from './fixtures/web/harness.js';

const photo = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));
const images = (who: string, ns: number[]): Promise<EnrollImage[]> => Promise.all(ns.map(async (n) => ({ bytes: await photo(who, n), file: `${who}${n}.png` })));

const ALPHA = 'test-alpha@1';
const BETA = 'test-beta@1';

let tmp: string;
let modelsRoot: string;
let dirA: string;
let dirB: string;
let tensorsAtStart: number;

const enrollOpts = { enroll: { minSamples: 3, maxTemplates: 3 } };

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-switch-'));
  modelsRoot = path.join(tmp, 'models');
  dirA = await randomModel(path.join(modelsRoot, 'alpha'), 'test-alpha', { metrics: { verifAcc: 0.9, verifStd: 0.01 } }, 1);
  dirB = await randomModel(path.join(modelsRoot, 'beta'), 'test-beta', { finetune: { parent: 'alpha' }, thresholds: { cosine: { far1e3: 0.42 } } }, 2);
  // The detector's weights stay loaded for the process: count tensors once it is, with no model held.
  const warm = await FaceService.open(loadConfig({ env: {}, overrides: { modelDir: dirA, galleryDir: path.join(tmp, 'warm') } }), { quiet: true });
  await warm.verify(await photo('amy', 5));
  await warm.close();
  tensorsAtStart = tf.memory().numTensors;
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('switchModel re-embeds the gallery for the new model, keeps the old templates, refuses a bad model, and leaks no tensors', async () => {
  const config = loadConfig({ env: {}, overrides: { modelDir: dirA, galleryDir: path.join(tmp, 'g1'), ...enrollOpts } });
  const service = await FaceService.open(config, { quiet: true });
  try {
    const amy = (await service.enroll({ name: 'Amy', images: await images('amy', [2, 3, 4, 5]) })).identity.id;
    const alphaTemplates = service.templates(ALPHA);
    assert.equal(alphaTemplates.length, 3);
    const frame = await photo('amy', 5);
    // Scores per model (embeddings are deterministic): a request embedded by one model and matched
    // against the other's templates would score differently.
    const scores = new Map<string, { verify: number | null; identify: number | null }>();
    const record = async () => {
      const v = await service.verify(frame, { claim: amy });
      const i = await service.identify(frame);
      assert.equal(v.modelId, i.modelId);
      scores.set(v.modelId, { verify: v.score, identify: i.score });
      return v;
    };
    assert.equal((await record()).modelId, ALPHA);

    const out = await service.switchModel(dirB);
    assert.equal(out.switched, true);
    assert.equal(out.from, ALPHA);
    assert.equal(out.modelId, BETA);
    assert.equal(out.reembed?.reembedded, 3);
    assert.equal(out.reembed?.kept, 0);
    assert.equal(service.modelId, BETA);
    assert.equal(service.getSettings().activeModelId, BETA);
    assert.equal(service.getSettings().thresholds.cosine, 0.42, "the new model's recommended threshold");
    const betaTemplates = service.templates(BETA);
    assert.deepEqual(betaTemplates.map((t) => t.crop).sort(), alphaTemplates.map((t) => t.crop).sort(), 'same crops, new embeddings');
    assert.equal(service.templates(ALPHA).length, 3, 'old templates kept for rollback');
    assert.equal(service.health().gallery.templates, 3, 'only the new model\'s templates count');
    const v = await record();
    assert.equal(v.modelId, BETA);
    assert.equal(typeof v.score, 'number', 'compared with the re-embedded templates');
    assert.notEqual(scores.get(BETA)!.verify, scores.get(ALPHA)!.verify);

    assert.equal((await service.switchModel(dirB)).switched, false, 'already in use');

    const back = await service.switchModel(dirA);
    assert.equal(back.modelId, ALPHA);
    assert.deepEqual([back.reembed?.reembedded, back.reembed?.kept], [0, 3], 'its templates were still there');
    assert.equal(service.getSettings().activeModelId, ALPHA);

    // A folder without a model, and one whose model does not load: the old model stays in service.
    await refused(() => service.switchModel(path.join(tmp, 'nothing-here')), 'not_found');
    const broken = path.join(tmp, 'broken');
    await mkdir(broken, { recursive: true });
    await writeFile(path.join(broken, 'model.json'), '{"format": "not a model"');
    await refused(() => service.switchModel(broken), 'invalid_input');
    assert.equal(service.modelId, ALPHA);
    assert.equal(service.getSettings().activeModelId, ALPHA);
    assert.equal((await service.verify(await photo('amy', 5), { claim: amy })).modelId, ALPHA);

    // Requests around a switch each run wholly on one model and match that model's templates.
    const verifies = [0, 1, 2, 3].map(() => service.verify(frame, { claim: amy }));
    const identifies = [0, 1].map(() => service.identify(frame));
    const switched = service.switchModel(dirB);
    const later = [service.verify(frame, { claim: amy }), service.identify(frame)];
    assert.equal((await switched).modelId, BETA);
    const seen = new Set<string>();
    for (const r of await Promise.all([...verifies, ...identifies, ...later])) {
      seen.add(r.modelId);
      const want = scores.get(r.modelId)!;
      assert.equal(r.score, 'claim' in r ? want.verify : want.identify, `${r.modelId}: score of a request that used one model throughout`);
    }
    assert.ok([...seen].every((m) => m === ALPHA || m === BETA), [...seen].join());
    assert.equal((await service.verify(frame, { claim: amy })).modelId, BETA);
  } finally {
    await service.close();
  }
  assert.equal(tf.memory().numTensors, tensorsAtStart, 'old nets disposed, nothing leaked');
});

// ---- the app: following active.json, the API, the page -----------------------------------------

let galleryDir: string;
let config: AppConfig;
let service: FaceService;
let created: CreatedApp;
let token: string;
let registry: ModelRegistry;

async function call(url: string, init: RequestInit & { auth?: boolean; json?: unknown } = {}): Promise<{ status: number; body: any }> {
  const { auth, json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (auth) headers.set('authorization', `Bearer ${token}`);
  if (json !== undefined) headers.set('content-type', 'application/json');
  const res = await created.app.request(url, { ...rest, headers, ...(json !== undefined && { body: JSON.stringify(json) }) }, LOCAL);
  const text = await res.text();
  return { status: res.status, body: (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
}

const healthModel = async () => (await call('/api/health')).body.model.id as string | null;

test('a model switch embeds in short queue jobs: a door request made meanwhile is answered, by the old model, before the switch ends', async () => {
  const service = await FaceService.open(loadConfig({ env: {}, overrides: { modelDir: dirA, galleryDir: path.join(tmp, 'g-short'), ...enrollOpts } }), { quiet: true });
  try {
    // Random weights: everyone looks alike, hence confirmDuplicate. 24 crops: three re-embedding batches.
    for (const who of ['amy', 'bernadette', 'howard', 'leonard', 'penny', 'raj', 'sheldon', 'stuart']) await service.enroll({ name: who, images: await images(who, [1, 2, 3, 4, 5]), confirmDuplicate: true });
    assert.equal(service.templates(ALPHA).length, 24);
    const frame = await photo('amy', 5);
    const order: string[] = [];
    // The shipped model: embedding a batch takes long enough (~0.25 s) for the request to arrive mid-switch.
    const shipped = path.join(PROJECT_ROOT, 'models', 'facegate-default');
    // A frame arrives once the switch has embedded its first batch (two more to go).
    let asked: Promise<Awaited<ReturnType<FaceService['identify']>>> | undefined;
    const progress: number[] = [];
    const switching = service.switchModel(shipped, {
      onProgress: (n) => {
        progress.push(n);
        asked ??= service.identify(frame).then((r) => (order.push('identify'), r));
      },
    }).then((o) => (order.push('switch'), o));
    const seen = await until('a frame during the switch', async () => asked, 15_000, 1).then((p) => p);
    const out = await switching;
    assert.deepEqual(order, ['identify', 'switch'], 'the request waited for the whole switch');
    assert.equal(seen.modelId, ALPHA);
    assert.equal(out.reembed?.reembedded, 24);
    assert.deepEqual(progress, [8, 16, 24]);
    assert.equal((await service.identify(frame)).modelId, out.modelId);
    assert.notEqual(out.modelId, ALPHA);
  } finally {
    await service.close();
  }
});

test('a running app follows models/active.json: another process switches it without a restart', async () => {
  registry = new ModelRegistry(modelsRoot);
  await registry.use('alpha');
  galleryDir = path.join(tmp, 'g2');
  // No model folder configured: the active version of modelsRoot runs, and the app follows the file.
  config = loadConfig({ env: {}, overrides: { modelsDir: modelsRoot, galleryDir, ...enrollOpts } });
  assert.equal(config.modelDir, dirA);
  assert.equal(config.modelsDir, modelsRoot);
  service = await FaceService.open(config, { quiet: true });
  created = createApp({
    service,
    config,
    admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'switch-test-secret-'.repeat(3) },
    // A stand-in for `facegate finetune`: prints a line, then fails after a moment.
    models: { finetuneCommand: () => ({ command: process.execPath, args: ['-e', 'console.log("fake " + "finetune output"); setTimeout(() => process.exit(3), 1500)'], cwd: tmp }) },
  });
  await service.enroll({ name: 'Amy', images: await images('amy', [2, 3, 4, 5]) });
  token = (await call('/api/login', { method: 'POST', json: { password: PASSWORD } })).body.token;
  assert.ok(token);

  const list = await call('/api/models', { auth: true });
  assert.equal(list.status, 200);
  assert.equal(list.body.following, true);
  assert.equal(list.body.active, 'alpha');
  assert.deepEqual(list.body.versions.map((v: { folder: string }) => v.folder), ['alpha', 'beta']);
  const [a, b] = list.body.versions;
  assert.deepEqual([a.modelId, a.active, a.loaded, a.verifAcc, a.parent], [ALPHA, true, true, 0.9, null]);
  assert.deepEqual([b.modelId, b.active, b.loaded, b.parent], [BETA, false, false, 'alpha']);

  // What `facegate model use` or a finetune promotion does from another process.
  const t0 = Date.now();
  await registry.use('beta');
  await until('the app to switch to beta', async () => ((await healthModel()) === BETA ? true : undefined));
  const seconds = (Date.now() - t0) / 1000;
  assert.ok(seconds < 10, `${seconds} s`);
  assert.equal(service.templates(BETA).length, 3, 're-embedded for beta');
  assert.equal(service.templates(ALPHA).length, 3, 'alpha kept');
  assert.equal(service.getSettings().activeModelId, BETA);
});

test('POST /api/models/rollback and /use switch at once; bad folders are 400/404, no session 401, a pinned model 409', async () => {
  const rb = await call('/api/models/rollback', { method: 'POST', auth: true });
  assert.equal(rb.status, 200, JSON.stringify(rb.body));
  assert.equal(rb.body.switch.modelId, ALPHA);
  assert.equal(rb.body.models.active, 'alpha');
  assert.equal(await healthModel(), ALPHA, 'switched before answering');
  assert.equal(registry.activeSync().active, 'alpha');

  for (const folder of ['../x', '/etc', 'a/b', '', '.hidden']) {
    const r = await call('/api/models/use', { method: 'POST', auth: true, json: { folder } });
    assert.equal(r.status, 400, folder);
    assert.equal(r.body.error.code, 'invalid_input');
  }
  assert.equal((await call('/api/models/use', { method: 'POST', auth: true, json: { folder: 'alpha', extra: 1 } })).status, 400);
  assert.equal((await call('/api/models/use', { method: 'POST', auth: true, json: { folder: 'nope' } })).status, 404);
  assert.equal((await call('/api/models/use', { method: 'POST', json: { folder: 'beta' } })).status, 401);
  assert.equal((await call('/api/models/rollback', { method: 'POST' })).status, 401);
  assert.equal((await call('/api/models')).status, 401);
  assert.equal(await healthModel(), ALPHA, 'nothing switched');

  const use = await call('/api/models/use', { method: 'POST', auth: true, json: { folder: 'beta' } });
  assert.equal(use.status, 200);
  assert.equal(use.body.switch.modelId, BETA);
  assert.equal(use.body.switch.reembed.reembedded, 0, 'beta templates were kept from the first switch');
  assert.equal(registry.activeSync().active, 'beta');
  assert.deepEqual(registry.activeSync().history.slice(-1), ['alpha']);
  // The watcher then sees active.json changed and finds nothing to do.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(await healthModel(), BETA);

  // A server started with --model is pinned: it lists versions but does not switch them.
  const pinned = createApp({ service, config: { ...config, modelDir: dirB, modelsDir: null }, admin: { passwordHash: null, sessionSecret: 'y'.repeat(40) }, web: false });
  try {
    assert.equal(pinned.deps.models.following, false);
    await refused(() => pinned.deps.models.use('alpha'), 'conflict');
    await refused(() => pinned.deps.models.rollback(), 'conflict');
    const view = await pinned.deps.models.view();
    assert.deepEqual(view.versions.map((v) => [v.folder, v.active]), [['alpha', false], ['beta', true]]);
  } finally {
    await pinned.close();
  }
});

test('GET /api/finetune without a run is idle; POST starts the finetune as a detached child, refuses a second, and records a failure', async () => {
  assert.equal((await call('/api/finetune')).status, 401);
  assert.equal((await call('/api/finetune', { method: 'POST' })).status, 401);
  const idle = await call('/api/finetune', { auth: true });
  assert.equal(idle.status, 200);
  assert.equal(idle.body.running, false);
  assert.equal(idle.body.status, null);

  const start = await call('/api/finetune', { method: 'POST', auth: true });
  assert.equal(start.status, 202, JSON.stringify(start.body));
  assert.equal(typeof start.body.pid, 'number');
  assert.equal((await call('/api/finetune', { method: 'POST', auth: true })).status, 409, 'one at a time');
  const running = await call('/api/finetune', { auth: true });
  assert.equal(running.body.running, true);
  assert.equal(running.body.status.state, 'running');
  assert.equal(running.body.status.pid, start.body.pid);

  const failed = await until('the failed status', async () => {
    const s = (await call('/api/finetune', { auth: true })).body;
    return s.status?.state === 'failed' ? s : undefined;
  });
  assert.equal(failed.running, false);
  assert.match(failed.status.message, /exited with code 3/);
  assert.match(failed.status.message, /fake finetune output/, 'the log tail');
  const log = await readFile(path.join(galleryDir, 'finetune', 'finetune.log'), 'utf8');
  assert.match(log, /fake finetune output/);
});

test('the real finetune command: this node with tsx, the CLI, the gallery, the config file, and the model when pinned', () => {
  const cmd = finetuneCommand(config, 'conf/facegate.json');
  assert.equal(cmd.command, process.execPath);
  assert.equal(cmd.cwd, PROJECT_ROOT);
  assert.deepEqual(cmd.args, ['--import', 'tsx', path.join(PROJECT_ROOT, 'src/cli/main.ts'), 'finetune', '--gallery', galleryDir, '--config', path.resolve('conf/facegate.json')]);
  assert.ok(existsSync(cmd.args[2]!));
  const pinned = finetuneCommand({ ...config, modelsDir: null }, undefined);
  assert.deepEqual(pinned.args.slice(-2), ['--model', config.modelDir]);
});

test('model page: Use and Roll back with CSRF, and the finetune panel polling while running, then the before/after table', async () => {
  const c = new PageClient(created.app);
  await c.login();
  const page = await c.get('/admin/model');
  assert.equal(page.status, 200);
  assert.match(page.text, /id="active-model-id">test-beta@1</);
  assert.match(page.text, /<td>alpha<\/td><td>test-alpha@1<\/td>/);
  assert.match(page.text, /<input type="hidden" name="folder" value="alpha"><button type="submit" class="secondary">Use<\/button>/);
  assert.doesNotMatch(page.text, /name="folder" value="beta"/, 'no Use button on the active version');
  assert.match(page.text, /Roll back to alpha/);
  assert.match(page.text, /<td>90\.0% ± 1\.0%<\/td>/, 'verification accuracy from meta.json');
  assert.match(page.text, /Start finetune/);

  assert.equal((await c.post('/admin/model/use', { folder: 'alpha' }, { token: null })).status, 403, 'no CSRF token');
  assert.equal(service.modelId, BETA);
  const bad = await c.post('/admin/model/use', { folder: '../../etc' });
  assert.equal(bad.status, 400);
  assert.match(bad.text, /not a model folder name/);
  const used = await c.post('/admin/model/use', { folder: 'alpha' });
  assert.equal(used.status, 200);
  assert.match(used.text, /Now using <strong>test-alpha@1<\/strong>/);
  assert.equal(service.modelId, ALPHA);
  const rolled = await c.post('/admin/model/rollback', {});
  assert.equal(rolled.status, 200);
  assert.equal(service.modelId, BETA);

  // A run in progress (this process stands in for it): the panel polls itself and shows progress.
  const now = new Date().toISOString();
  await writeFinetuneStatus(galleryDir, { state: 'running', pid: process.pid, startedAt: now, updatedAt: now, phase: 'train', progress: { epoch: 3, epochs: 10, loss: 1.2345 } });
  const live = await c.get('/admin/model/finetune', { headers: { 'hx-request': 'true' } });
  assert.match(live.text, /hx-get="\/admin\/model\/finetune" hx-trigger="every 2s"/);
  assert.match(live.text, /<progress max="10" value="3"/);
  assert.match(live.text, /epoch 3 of 10, loss 1\.2345/);
  assert.match(live.text, /Finetune running…<\/button>/);
  assert.equal(live.res.headers.get('hx-refresh'), null);
  const again = await c.post('/admin/model/finetune', {}, { headers: { 'hx-request': 'true' } });
  assert.equal(again.status, 409);
  assert.match(again.text, /already running/);

  // Done: the before/after table from the report, no more polling.
  const report: FinetuneReport = {
    parent: 'beta',
    candidate: 'beta-ft-20261129-030000',
    promoted: true,
    reasons: ['site top-1 rose from 80.0% to 95.0%', 'base verification within tolerance'],
    before: { siteTop1: 0.8, siteGenuine: 0.61, siteImpostor: 0.32, siteSeparation: 2.1, baseVerif: 0.91, baseVerifStd: 0.02 },
    after: { siteTop1: 0.95, siteGenuine: 0.72, siteImpostor: 0.3, siteSeparation: 3.05, baseVerif: 0.905, baseVerifStd: 0.02 },
    identities: { site: 4, skipped: [{ id: 'i_x', name: 'Zed <b>', crops: 1, reason: 'too few crops' }], base: 100 },
    images: { siteTrain: 12, siteHeldOut: 4, replay: 200, basePairs: 600 },
    trainSamplesPerSecond: 200,
    phaseSeconds: { data: 20, features: 30, train: 60 },
    seconds: 321.4,
    table: '| metric | before | after |',
  };
  await writeFinetuneStatus(galleryDir, { state: 'promoted', pid: 2 ** 22 + 7, startedAt: now, updatedAt: now, phase: 'done', report });
  const done = await c.get('/admin/model/finetune', { headers: { 'hx-request': 'true' } });
  assert.doesNotMatch(done.text, /hx-trigger/);
  assert.equal(done.res.headers.get('hx-refresh'), 'true', 'the poll that sees the end reloads the page (new active model)');
  assert.match(done.text, /<strong>Promoted<\/strong>: beta-ft-20261129-030000/);
  assert.match(done.text, /<th scope="col">Before \(beta\)<\/th><th scope="col">After \(beta-ft-20261129-030000\)<\/th>/);
  assert.match(done.text, /recognised \(held-out photos, top-1\)<\/th><td>80\.0%<\/td><td>95\.0%<\/td><td>\+15\.0%<\/td>/);
  assert.match(done.text, /<td>91\.0% ± 2\.0%<\/td><td>90\.5% ± 2\.0%<\/td><td>−0\.50%<\/td>/);
  assert.match(done.text, /<li>site top-1 rose from 80\.0% to 95\.0%<\/li>/);
  assert.match(done.text, /Zed &lt;b&gt; \(too few crops\)/, 'names are escaped');
  assert.match(done.text, /Start finetune<\/button>/);

  // A 'running' status whose process is gone is shown as failed.
  await writeFinetuneStatus(galleryDir, { state: 'running', pid: 2 ** 22 + 7, startedAt: now, updatedAt: now, phase: 'train' });
  const stale = await call('/api/finetune', { auth: true });
  assert.equal(stale.body.running, false);
  assert.equal(stale.body.status.state, 'failed');
});

test('closing the app stops following active.json; the service then releases every tensor', async () => {
  await created.close();
  await registry.use('alpha');
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(service.modelId, BETA, 'no longer following');
  await service.close();
  assert.equal(tf.memory().numTensors, tensorsAtStart);
});

