// Issue 18, item 8: thresholds shown rounded (3 decimals) on the pages and in the CLI while the
// full value is stored; "Enroll" (US) in the user-facing text; the Model page's metrics with human
// labels as percentages; `verify --claim` by id, badge or name (two people with one name refused,
// naming their ids); BMP uploads accepted by the API, refusals naming the accepted formats.
// A random-weight model stands in (which person wins does not matter here), with the metrics and
// the long thresholds a trained model's meta.json has.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import sharp from 'sharp';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { initBackend } from '../src/engine/backend.js';
import { createApp, type AppEnv } from '../src/http/index.js';
import { FaceService, ServiceError } from '../src/service/index.js';
import { BBT, LOCAL, PASSWORD, PageClient, randomModel } from './fixtures/web/harness.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const COSINE = 0.5632768108060772;
const EUCLIDEAN = 1.1700696569847533;
const photo = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));

let tmp: string;
let modelDir: string;
let galleryDir: string;
let service: FaceService;
let serviceOpen = false;
let app: Hono<AppEnv>;
const ids: Record<'amy' | 'raj' | 'howard', string> = { amy: '', raj: '', howard: '' };

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-hardening-ui-'));
  modelDir = await randomModel(path.join(tmp, 'models', 'test-random'), 'test-random', {
    thresholds: { cosine: { far1e3: COSINE, bestAccuracy: 0.23158317174260723 }, euclidean: { far1e3: EUCLIDEAN, bestAccuracy: 1.2396909520177946 } },
    metrics: {
      valAcc: 0.8954635108481263,
      verifAcc: 0.8537,
      verifStd: 0.06305751343020115,
      valPairs: '30 held-out training identities',
      calibration: { genuinePairs: 31209, impostorPairs: 292730, tarAtFar1e3: 0.17321926367394022, bestAccuracy: 0.8531 },
      dev: {
        pairs: 'celeba-pairs.tsv',
        count: 6000,
        measured: '2026-11-29',
        ours: { name: 'v2e5', accuracy: 0.8123333333333334, accuracy_std: 0.043787364996461416, auc: 0.8883428888888889, tar_at_far: { '1e-3': 0.38533333333333336 } },
      },
    },
  });
  galleryDir = path.join(tmp, 'gallery');
  const config = loadConfig({ env: {}, overrides: { modelDir, galleryDir } });
  service = await FaceService.open(config, { quiet: true });
  serviceOpen = true;
  ({ app } = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'hardening-ui-secret-'.repeat(3) } }));
  const enroll = async (who: 'amy' | 'raj' | 'howard', name: string, badge: string | null) => {
    const images = await Promise.all([1, 2, 3].map(async (n) => ({ bytes: await photo(who, who === 'amy' ? n + 1 : n), file: `${who}${n}.png` })));
    ids[who] = (await service.enroll({ name, badge, images, confirmDuplicate: true })).identity.id;
  };
  await enroll('amy', 'Amy Farrah Fowler', 'B-77');
  // Two people with one name (as typed at enrollment: case and spaces differ).
  await enroll('raj', 'Sam Lee', null);
  await enroll('howard', 'sam   LEE', null);
});

after(async () => {
  if (serviceOpen) await service.close();
  await rm(tmp, { recursive: true, force: true });
});

async function admin(): Promise<PageClient> {
  const c = new PageClient(app);
  const r = await c.login();
  assert.equal(r.status, 303);
  return c;
}

test('thresholds: the model\'s full value is stored; the settings and model pages show 3 decimals; saving the page unchanged keeps the full value', async () => {
  assert.equal(service.getSettings().thresholds.cosine, COSINE, 'adopted from the model at full precision');
  const c = await admin();
  const page = await c.get('/admin/settings');
  assert.match(page.text, /id="threshold"[^>]*value="0\.563"/);
  assert.match(page.text, /cosine similarity ≥ <strong>0\.563<\/strong>/);
  assert.match(page.text, /0\.563 for FAR 0\.1%; 0\.232 for best accuracy/);
  assert.doesNotMatch(page.text, /0\.5632|0\.2315/, 'no long threshold anywhere on the page');
  // The other metric's threshold, brought in when the metric is switched.
  const sw = await c.get('/admin/settings/preview?metric=euclidean&switch=1', { headers: { 'hx-request': 'true' } });
  assert.match(sw.text, /id="threshold"[^>]*value="1\.17"/);
  assert.match(sw.text, /distance ≤ <strong>1\.170<\/strong>/);
  assert.doesNotMatch(sw.text, /1\.1700/);

  // Saving other settings posts the shown 0.563 back: the stored threshold must not be rounded.
  const form = { metric: 'cosine', threshold: '0.563', k: '3', n: '4', cameraSource: 'auto', keepCrops: 'true' };
  assert.equal((await c.post('/admin/settings', form)).status, 303);
  assert.equal(service.getSettings().kOfN.k, 3);
  assert.equal(service.getSettings().thresholds.cosine, COSINE);
  // A different value is a change.
  assert.equal((await c.post('/admin/settings', { ...form, threshold: '0.6' })).status, 303);
  assert.equal(service.getSettings().thresholds.cosine, 0.6);
  assert.equal((await c.post('/admin/settings', { ...form, threshold: '0.5632' })).status, 303);
  assert.equal(service.getSettings().thresholds.cosine, 0.5632);
  await service.updateSettings({ thresholds: { cosine: COSINE }, kOfN: { k: 2, n: 3 } });

  const model = await c.get('/admin/model');
  assert.match(model.text, /Cosine threshold for a false accept rate of 0\.1%<\/th><td>0\.563</);
  assert.match(model.text, /Euclidean distance threshold for the best accuracy<\/th><td>1\.240</);
  assert.doesNotMatch(model.text, /0\.5632|1\.1700|0\.2315|1\.2396/);
});

test('the Model page names its metrics in words and shows them as percentages', async () => {
  const c = await admin();
  const r = await c.get('/admin/model');
  assert.equal(r.status, 200);
  const rows: [string, string][] = [
    ['Closed-set accuracy (validation images)', '89.5%'],
    ['Verification accuracy (held-out identities)', '85.4% ± 6.3%'],
    ['Verification pairs', '30 held-out training identities'],
    ['Threshold calibration', '31,209 genuine and 292,730 impostor pairs; true accept rate 17.3% at false accept rate 0.1%; best accuracy 85.3%'],
    ['Evaluation on celeba-pairs.tsv (dev)', 'v2e5: 10-fold accuracy 81.2% ± 4.4%, AUC 0.888, TAR at FAR 0.1% 38.5% (6,000 pairs, 2026-11-29)'],
  ];
  for (const [label, value] of rows) {
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(r.text, new RegExp(`<th scope="row">${esc(label)}</th><td>${esc(value)}</td>`), label);
  }
  for (const raw of ['valAcc', 'verifAcc', 'verifStd', 'valPairs', 'genuinePairs', 'tarAtFar1e3', 'far1e3', 'bestAccuracy']) assert.doesNotMatch(r.text, new RegExp(`\\b${raw}\\b`), `raw key ${raw}`);
  assert.doesNotMatch(r.text, /<th scope="row">(<code>)?(calibration|dev)\b/, 'raw keys as labels');
  // The versions table: the same accuracy, under a header that says what it is.
  assert.match(r.text, /<th scope="col">Verification accuracy<\/th>/);
  assert.match(r.text, /<td>85\.4% ± 6\.3%<\/td>/);
});

test('"Enroll" (US) in the pages, the service messages and the page scripts; never "Enrol"', async () => {
  const c = await admin();
  const enroll = await c.get('/admin/enroll');
  assert.match(enroll.text, /<button type="submit" class="primary">Enroll<\/button>/);
  assert.match(enroll.text, /Enroll even if this face matches someone already enrolled/);
  // The upload field names the accepted formats (the decoder's one list).
  assert.match(enroll.text, /<p id="enroll-formats" class="muted">JPEG, PNG, WebP, GIF, TIFF, AVIF, BMP or PGM\/PPM\.<\/p>/);
  // The duplicate warning, through the page and through the service.
  const fd = new FormData();
  fd.set('name', 'Amy Again');
  for (const n of [2, 3, 4]) fd.append('images', new File([(await photo('amy', n)) as Uint8Array<ArrayBuffer>], `amy${n}.png`, { type: 'image/png' }));
  const dup = await c.postMultipart('/admin/enroll', fd, { headers: { 'hx-request': 'true' } });
  assert.equal(dup.status, 409, dup.text);
  assert.match(dup.text, /tick “Enroll even if this face matches someone already enrolled”/);
  await assert.rejects(
    service.enroll({ name: 'Amy Again', images: await Promise.all([2, 3, 4].map(async (n) => ({ bytes: await photo('amy', n) }))) }),
    (e: unknown) => e instanceof ServiceError && e.code === 'duplicate' && /send confirmDuplicate=true to enroll anyway$/.test(e.message),
  );
  const UK = /\benrol\b|\benrols\b|enrolment/i;
  const visitor = await new PageClient(app).get('/login');
  assert.equal(visitor.status, 200);
  assert.doesNotMatch(visitor.text, UK, '/login');
  for (const p of ['/', '/admin/enroll', '/admin/gallery', '/admin/settings', '/admin/activity', '/admin/model', '/static/js/enroll.js', '/static/js/kiosk.js']) {
    const r = await c.get(p);
    assert.equal(r.status, 200, p);
    assert.doesNotMatch(r.text, UK, p);
  }
  assert.doesNotMatch(dup.text, UK);
  // Every user-facing string in the files that hold them (page templates, page routes, scripts,
  // the verify/identify CLI, the service's messages; code comments aside).
  const files = [
    ...(await readdir(path.join(ROOT, 'views'))).map((f) => `views/${f}`),
    ...(await readdir(path.join(ROOT, 'src/web'), { recursive: true })).filter((f) => f.endsWith('.ts')).map((f) => `src/web/${f}`),
    ...(await readdir(path.join(ROOT, 'public/js'))).map((f) => `public/js/${f}`),
    'src/cli/commands/verify.ts',
    'src/cli/commands/identify.ts',
    'src/service/face-service.ts',
  ];
  const offending: string[] = [];
  for (const f of files) {
    const lines = (await readFile(path.join(ROOT, f), 'utf8')).split('\n');
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '').replace(/^\s*(\/\*\*?|\*).*$/, '');
      if (UK.test(code)) offending.push(`${f}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(offending, []);
});

test('a claim is an identity id, a badge or a name (whole name, any case); two people with one name are refused with their ids', async () => {
  const amy = ids.amy;
  for (const claim of [amy, 'B-77', 'b-77', 'Amy Farrah Fowler', 'amy farrah fowler', '  AMY   Farrah fowler ']) {
    assert.equal(service.resolveClaim(claim).id, amy, JSON.stringify(claim));
  }
  const out = await service.verify(await photo('amy', 5), { claim: 'amy farrah fowler' });
  assert.equal(out.claim?.id, amy);
  const refusal = (claim: string) => {
    try {
      service.resolveClaim(claim);
    } catch (e) {
      assert.ok(e instanceof ServiceError, String(e));
      return e;
    }
    assert.fail(`${claim} was accepted`);
  };
  const shared = refusal('sam lee');
  assert.equal(shared.code, 'conflict');
  assert.match(shared.message, /claim "sam lee" matches 2 people: /);
  assert.ok(shared.message.includes(ids.raj) && shared.message.includes(ids.howard), shared.message);
  assert.deepEqual((shared.details!.candidates as { id: string }[]).map((x) => x.id).sort(), [ids.raj, ids.howard].sort());
  // Part of a name, or nobody's name: refused, never guessed.
  assert.equal(refusal('Amy').code, 'not_found');
  assert.equal(refusal('Amy Farrah').code, 'invalid_input');
  assert.equal(refusal('i_00000000000000000000').code, 'not_found');
  // One person's badge that is another person's name is ambiguous too.
  await service.updateIdentity(ids.raj, { badge: 'Sam' });
  await service.updateIdentity(ids.howard, { name: 'Sam' });
  try {
    const both = refusal('sam');
    assert.equal(both.code, 'conflict');
    assert.ok(both.message.includes(ids.raj) && both.message.includes(ids.howard), both.message);
  } finally {
    await service.updateIdentity(ids.raj, { badge: null });
    await service.updateIdentity(ids.howard, { name: 'sam   LEE' });
  }

  // The API takes the same claims.
  const api = async (claim: string) => {
    const form = new FormData();
    form.set('claim', claim);
    form.set('image', new File([(await photo('amy', 5)) as Uint8Array<ArrayBuffer>], 'f.png', { type: 'image/png' }));
    const r = await app.request('/api/verify', { method: 'POST', body: form }, LOCAL);
    return { status: r.status, body: (await r.json()) as { claim?: { id: string }; error?: { code: string; candidates?: { id: string }[] } } };
  };
  const byName = await api('Amy Farrah Fowler');
  assert.equal(byName.status, 200);
  assert.equal(byName.body.claim?.id, amy);
  const ambiguous = await api('Sam Lee');
  assert.equal(ambiguous.status, 409);
  assert.equal(ambiguous.body.error?.code, 'conflict');
  assert.equal(ambiguous.body.error?.candidates?.length, 2);
});

test('the API decodes a BMP upload; an unsupported upload is refused naming the accepted formats', async () => {
  // A real photo as a 24-bit BMP (bottom-up BGR rows padded to 4 bytes).
  const { data, info } = await sharp(await photo('amy', 5)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const stride = Math.ceil((info.width * 3) / 4) * 4;
  const bmp = Buffer.alloc(54 + stride * info.height);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(bmp.length, 2);
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(info.width, 18);
  bmp.writeInt32LE(info.height, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      const s = (y * info.width + x) * 3;
      const d = 54 + (info.height - 1 - y) * stride + x * 3;
      [bmp[d], bmp[d + 1], bmp[d + 2]] = [data[s + 2]!, data[s + 1]!, data[s]!];
    }
  }
  const post = async (body: Buffer, type: string) => {
    const r = await app.request('/api/verify', { method: 'POST', headers: { 'content-type': type }, body: new Uint8Array(body) }, LOCAL);
    return { status: r.status, body: (await r.json()) as { decision?: string; face?: unknown; error?: { code: string; message: string } } };
  };
  const asBmp = await post(bmp, 'image/bmp');
  const asPng = await post(await photo('amy', 5), 'image/png');
  assert.equal(asBmp.status, 200, JSON.stringify(asBmp.body));
  // The same pixels: the same decision and face as the PNG.
  assert.equal(asBmp.body.decision, asPng.body.decision);
  assert.deepEqual(asBmp.body.face, asPng.body.face);
  const pdf = await post(Buffer.from('%PDF-1.7\n1 0 obj\n', 'latin1'), 'image/jpeg');
  assert.equal(pdf.status, 415);
  assert.match(pdf.body.error!.message, /PDF is not accepted; accepted formats: JPEG, PNG, WebP, GIF, TIFF, AVIF, BMP or PGM\/PPM/);
});

test('CLI: `verify --claim NAME` and `identify` print the threshold with 3 decimals; a shared name is refused with the ids', async () => {
  // The CLI opens the gallery itself: this process lets go of it first.
  await service.close();
  serviceOpen = false;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('FACEGATE_')) delete env[k];
  const cli = (...args: string[]) =>
    new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args, '--model', modelDir, '--gallery', galleryDir], { cwd: ROOT, env, timeout: 120_000 }, (e, out, err) =>
        resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }),
      );
    });
  const amy5 = path.join(BBT, 'amy', 'amy5.png');
  const v = await cli('verify', amy5, '--claim', 'AMY FARRAH FOWLER');
  assert.ok(v.code === 0 || v.code === 1, `granted or denied, not refused: ${v.code}\n${v.out}${v.err}`);
  assert.match(v.out, /^(GRANTED|DENIED): .*  cosine -?\d\.\d{3} \(threshold 0\.563\)$/m);
  assert.doesNotMatch(v.out, /0\.5632/);
  const shared = await cli('verify', amy5, '--claim', 'Sam Lee');
  assert.equal(shared.code, 2, shared.out + shared.err);
  assert.match(shared.err, /error \(conflict\): claim "Sam Lee" matches 2 people: /);
  assert.ok(shared.err.includes(ids.raj) && shared.err.includes(ids.howard), shared.err);
  const id = await cli('identify', amy5, '-k', '3');
  assert.equal(id.code, 0, id.out + id.err);
  assert.match(id.out, /\(cosine, threshold 0\.563; \* = passes\)/);
  assert.doesNotMatch(id.out, /0\.5632/);
});
