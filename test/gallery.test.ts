import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NewTemplate } from '../src/gallery/gallery.js';
import { Enrolled } from '../src/enrolled/index.js';
import { GalleryError } from '../src/gallery/errors.js';
import { nodeIo, type FileIo } from '../src/gallery/atomic-file.js';
import { decodeEmbedding, encodeEmbedding, fromHalfBits, toHalfBits } from '../src/gallery/embedding-codec.js';
import { newId } from '../src/gallery/ids.js';
import { GalleryMatcher } from '../src/match/gallery-matcher.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'gallery');
const jpeg = await readFile(path.join(fixtures, 'face.jpg'));
const MODEL = 'efr@1.0.0';

const made: string[] = [];
after(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));

async function tmpDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'facegate-gallery-'));
  made.push(d);
  return d;
}

function vec(...v: number[]): Float32Array {
  return Float32Array.from(v);
}

function randomVec(dim: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: dim }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

function tpl(embedding: Float32Array, extra: Partial<NewTemplate> = {}): NewTemplate {
  return { embedding, modelId: MODEL, quality: 0.9, source: 'camera', ...extra };
}

async function rejects(p: Promise<unknown> | (() => unknown), code: string, re?: RegExp): Promise<void> {
  await assert.rejects(
    async () => (typeof p === 'function' ? p() : p),
    (e: unknown) => e instanceof GalleryError && e.code === code && (!re || re.test(e.message)),
  );
}

/** Every file and folder under dir (relative paths). */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out;
}

test('a new gallery is pretty JSON with base64 embeddings, and survives a reopen', async () => {
  const dir = await tmpDir();
  const gs = await Enrolled.open(dir);
  const g = gs.gallery;
  const ada = await g.addIdentity({ name: '  Ada   Lovelace ', badge: 'B-17', notes: 'first' });
  assert.equal(ada.name, 'Ada Lovelace');
  assert.match(ada.id, /^i_[0-9a-z]{20}$/);
  const v = randomVec(512, 1);
  const [t] = await g.addTemplates(ada.id, [tpl(v)]);
  const text = await readFile(path.join(dir, 'gallery.json'), 'utf8');
  const json = JSON.parse(text);
  assert.equal(typeof json.templates[0].embedding, 'string');
  assert.equal(json.templates[0].embedding.length, 4 * Math.ceil((512 * 4) / 3));
  assert.ok(text.includes('\n  "identities": [\n'), 'indented');
  assert.ok(!/\[\s*-?\d+\.\d+,/.test(text), 'no JSON number arrays');
  assert.equal(json.templates[0].modelId, MODEL);

  const g2s = await Enrolled.open(dir);
  const g2 = g2s.gallery;
  assert.deepEqual(g2.listIdentities(), g.listIdentities());
  const stored = g2.embedding(t.id);
  const n = Math.hypot(...v);
  stored.forEach((x, i) => assert.equal(x, Math.fround(v[i] / n))); // f32 is lossless after normalising
  assert.equal(g2.getIdentity(ada.id)?.templateCount, 1);
  assert.equal(g2.findByBadge('b-17')?.id, ada.id);
});

test('hand-written v1 fixture opens and matches', async () => {
  const dir = await tmpDir();
  await cp(path.join(fixtures, 'v1'), dir, { recursive: true });
  const gs = await Enrolled.open(dir);
  const g = gs.gallery;
  assert.deepEqual(g.listIdentities().map((i) => i.name), ['Alice', 'Bea']);
  assert.equal(gs.settings.get().thresholds.cosine, 0.5);
  assert.equal(gs.settings.get().thresholds.euclidean, 1.1); // default filled in
  // Version 1 kept the settings in gallery.json: they moved to settings.json, the active model stayed.
  assert.equal(g.activeModelId, 'toy@1');
  const files = { gallery: JSON.parse(await readFile(path.join(dir, 'gallery.json'), 'utf8')), settings: JSON.parse(await readFile(path.join(dir, 'settings.json'), 'utf8')) };
  assert.deepEqual([files.gallery.version, files.gallery.activeModelId, 'settings' in files.gallery], [2, 'toy@1', false]);
  assert.equal(files.settings.settings.thresholds.cosine, 0.5);
  const m = g.matrix('toy@1');
  assert.deepEqual([m.rows, m.dim], [3, 4]);
  assert.deepEqual(Array.from(m.matrix.subarray(4, 8)), [Math.fround(0.6), Math.fround(0.8), 0, 0]);
  const matcher = new GalleryMatcher(g, () => gs.settings.get());
  const res = matcher.identify(vec(0, 1, 0, 0));
  // Bea's template is identical (cos 1) but her own threshold is 0.9: still accepted. Alice's best is 0.8.
  assert.equal(res.identityId, 'i_bee00000000000000002');
  assert.equal(matcher.verify(vec(0.6, 0.8, 0, 0), 'i_a1ce0000000000000001').accepted, true);
  assert.equal(matcher.verify(vec(0.6, 0.8, 0, 0), 'i_bee00000000000000002').accepted, false); // 0.8 < Bea's 0.9
});

test('names, badges and notes are validated; unknown fields rejected', async () => {
  const gs = await Enrolled.open(await tmpDir());
  const g = gs.gallery;
  await rejects(g.addIdentity({ name: '   ' }), 'INVALID_INPUT', /empty/);
  await rejects(g.addIdentity({ name: 'x'.repeat(81) }), 'INVALID_INPUT', /longer/);
  await rejects(g.addIdentity({ name: 'bad\u0007name' }), 'INVALID_INPUT', /control/);
  await rejects(g.addIdentity({ name: 'evil\u202Eeman' }), 'INVALID_INPUT', /control/);
  await rejects(g.addIdentity({ name: 'ok', badge: '../etc' }), 'INVALID_INPUT', /badge/);
  await rejects(g.addIdentity({ name: 'ok', admin: true } as never), 'INVALID_INPUT', /admin/);
  const a = await g.addIdentity({ name: 'Zoë', badge: 'K1' });
  await rejects(g.addIdentity({ name: 'other', badge: 'k1' }), 'CONFLICT');
  const b = await g.addIdentity({ name: 'Bob' });
  await rejects(g.updateIdentity(b.id, { badge: 'K1' }), 'CONFLICT');
  const u = await g.updateIdentity(a.id, { notes: '  line1\nline2 ', threshold: { cosine: 0.6 } });
  assert.equal(u.notes, 'line1\nline2');
  assert.equal(u.threshold.cosine, 0.6);
  assert.equal(u.badge, 'K1'); // untouched fields kept
  await rejects(g.updateIdentity(a.id, { threshold: { cosine: 3 } }), 'INVALID_INPUT');
  await rejects(g.updateIdentity(newId('identity'), { name: 'x' }), 'NOT_FOUND');
  assert.deepEqual(g.listIdentities().map((i) => i.name), ['Bob', 'Zoë']);
});

test('ids are checked before any path is built: traversal attempts are rejected', async () => {
  const root = await tmpDir();
  const dir = path.join(root, 'g');
  const gs = await Enrolled.open(dir, { erasureDirs: [path.join(root, 'ft')] });
  const g = gs.gallery;
  const bad = ['../x', '../../etc/passwd', 'i_../../../tmp', '/etc', 'i_aaaaaaaaaaaaaaaaaaa/', '', 'I_AAAAAAAAAAAAAAAAAAAA'];
  for (const id of bad) {
    assert.throws(() => g.getIdentity(id), (e: unknown) => e instanceof GalleryError && e.code === 'INVALID_ID');
    await rejects(gs.erase(id), 'INVALID_ID');
    await rejects(g.addTemplates(id, [tpl(vec(1, 0))]), 'INVALID_ID');
    await rejects(g.updateIdentity(id, { name: 'x' }), 'INVALID_ID');
    await rejects(gs.activity.record({ decision: 'match', identityId: id }), 'INVALID_ID');
  }
  assert.throws(() => g.cropPath({ identityId: newId('identity'), crop: '../../gallery.json' }), /invalid crop/);
  assert.throws(() => g.embedding('t_../x'), /invalid template id/);
  assert.deepEqual((await walk(root)).sort(), ['g', 'g/gallery.json', 'g/settings.json'], 'the audit trail starts with its first record');
});

test('templates: validation, per-model matrix, cache invalidation, f16 storage', async () => {
  const gs = await Enrolled.open(await tmpDir());
  const g = gs.gallery;
  const a = await g.addIdentity({ name: 'A' });
  const b = await g.addIdentity({ name: 'B' });
  await rejects(g.addTemplates(a.id, [tpl(vec(0, 0, 0))]), 'INVALID_INPUT', /zeros/);
  await rejects(g.addTemplates(a.id, [tpl(vec(1, NaN, 0))]), 'INVALID_INPUT', /non-finite/);
  await rejects(g.addTemplates(a.id, [tpl(vec(1, 0, 0), { modelId: 'no-version' })]), 'INVALID_INPUT', /name@version/);
  await rejects(g.addTemplates(a.id, [tpl(vec(1, 0, 0), { quality: 2 })]), 'INVALID_INPUT', /quality/);
  await rejects(g.addTemplates(a.id, [tpl(vec(1, 0, 0), { source: 'web' as never })]), 'INVALID_INPUT');
  await rejects(g.addTemplates(a.id, [tpl(vec(1, 0, 0), { cropJpeg: Buffer.from('GIF89a') })]), 'INVALID_INPUT', /JPEG/);
  await rejects(g.addTemplates(newId('identity'), [tpl(vec(1, 0, 0))]), 'NOT_FOUND');
  assert.equal(g.templates().length, 0, 'failed calls add nothing');

  await g.addTemplates(a.id, [tpl(vec(3, 4, 0)), tpl(vec(0, 0, 2))]);
  await rejects(g.addTemplates(b.id, [tpl(vec(1, 0))]), 'INVALID_INPUT', /3 dims/);
  await g.addTemplates(b.id, [tpl(vec(0, 1, 0)), tpl(vec(1, 0), { modelId: 'other@2' })]);
  const m = g.matrix(MODEL);
  assert.equal(m, g.matrix(MODEL), 'cached');
  assert.deepEqual([m.rows, m.dim], [3, 3]);
  assert.deepEqual(Array.from(m.matrix), [0.6, 0.8, 0, 0, 0, 1, 0, 1, 0].map(Math.fround));
  assert.deepEqual(m.identityIds, [a.id, a.id, b.id]);
  assert.deepEqual(g.matrix('other@2').identityIds, [b.id], 'only the asked model');
  assert.equal(g.matrix('none@1').rows, 0);
  const rev = g.revision;
  await g.addTemplates(b.id, [tpl(vec(1, 1, 1))]);
  assert.ok(g.revision > rev);
  assert.notEqual(g.matrix(MODEL), m, 'rebuilt after a write');
  assert.equal(g.matrix(MODEL).rows, 4);

  await gs.settings.update({ embeddingDtype: 'f16' });
  const v = randomVec(512, 7);
  const [t16] = await g.addTemplates(a.id, [tpl(v, { modelId: 'big@1' })]);
  assert.equal(t16.dtype, 'f16');
  const raw = JSON.parse(await readFile(g.file, 'utf8')).templates.at(-1);
  assert.equal(raw.embedding.length, 4 * Math.ceil(1024 / 3));
  const back = g.embedding(t16.id);
  const n = Math.hypot(...v);
  back.forEach((x, i) => assert.ok(Math.abs(x - v[i] / n) < 2e-4));
});

test('float16 and float32 codecs round-trip', () => {
  for (const x of [0, 1, -1, 0.5, 65504, 6.1035e-5, 5.96e-8, -0.0001234]) assert.ok(Math.abs(fromHalfBits(toHalfBits(x)) - x) <= Math.abs(x) * 1e-3 + 6e-8, String(x));
  assert.equal(toHalfBits(1), 0x3c00);
  assert.equal(toHalfBits(-2), 0xc000);
  assert.equal(toHalfBits(1e6), 0x7c00);
  const v = randomVec(33, 3);
  assert.deepEqual(decodeEmbedding(encodeEmbedding(v, 'f32'), 'f32', 33), v);
  // Little-endian on disk: 1.0f is 00 00 80 3f.
  assert.equal(Buffer.from(encodeEmbedding(vec(1), 'f32'), 'base64').toString('hex'), '0000803f');
  assert.throws(() => decodeEmbedding(encodeEmbedding(v, 'f32'), 'f32', 32), /bytes/);
});

test('crops are kept per template, or not (keepCrops off) and reported as not re-embeddable', async () => {
  const dir = await tmpDir();
  const gs = await Enrolled.open(dir);
  const g = gs.gallery;
  const a = await g.addIdentity({ name: 'A' });
  const [t] = await g.addTemplates(a.id, [tpl(vec(1, 0), { cropJpeg: jpeg })]);
  assert.equal(t.crop, `${t.id}.jpg`);
  const p = path.join(dir, 'faces', a.id, `${t.id}.jpg`);
  assert.equal(g.cropPath(t), p);
  assert.deepEqual(await readFile(p), jpeg);

  await gs.settings.update({ keepCrops: false });
  const b = await g.addIdentity({ name: 'B' });
  const [tb] = await g.addTemplates(b.id, [tpl(vec(0, 1), { cropJpeg: jpeg })]);
  assert.equal(tb.crop, null);
  assert.equal(g.cropPath(tb), null);
  await assert.rejects(stat(path.join(dir, 'faces', b.id)), { code: 'ENOENT' });
  assert.deepEqual(g.identitiesWithoutCrops(), [{ identityId: b.id, name: 'B', templates: 1 }]);
  assert.deepEqual(g.templatesNeedingReembed('efr@2.0.0').map((i) => i.identityId), [a.id]);

  await g.removeTemplate(t.id);
  await assert.rejects(stat(p), { code: 'ENOENT' });
});

test('model change: re-embed from crops, keep old templates for rollback or drop them, atomically', async () => {
  const dir = await tmpDir();
  const gs = await Enrolled.open(dir);
  const g = gs.gallery;
  await g.setActiveModel(MODEL);
  const a = await g.addIdentity({ name: 'A' });
  const b = await g.addIdentity({ name: 'B' });
  const [ta] = await g.addTemplates(a.id, [tpl(vec(1, 0, 0), { cropJpeg: jpeg })]);
  const [tb] = await g.addTemplates(b.id, [tpl(vec(0, 1, 0), { cropJpeg: jpeg })]);
  const V2 = 'efr@2.0.0';

  const todo = g.templatesNeedingReembed(V2);
  assert.deepEqual(todo.map((i) => i.templateId), [ta.id, tb.id]);
  assert.deepEqual(await readFile(todo[0].cropPath), jpeg);
  const matcher = new GalleryMatcher(g, () => gs.settings.get());
  assert.equal(matcher.identify(vec(1, 0, 0)).identityId, a.id);

  // "Re-embed" into a different 4-d space; keep old templates, switch the active model.
  const news = await g.replaceTemplatesForModel(
    V2,
    todo.map((i, k) => ({ identityId: i.identityId, embedding: k === 0 ? vec(0, 0, 0, 1) : vec(0, 0, 1, 0), quality: i.quality, source: i.source, fromTemplateId: i.templateId })),
    { activate: true },
  );
  assert.equal(g.activeModelId, V2);
  assert.equal((await Enrolled.open(dir)).gallery.activeModelId, V2, 'the active model is stored with the templates');
  assert.deepEqual(news.map((t) => t.crop), [ta.crop, tb.crop], 'crops shared with the old templates');
  assert.deepEqual(g.templatesNeedingReembed(V2), []);
  assert.equal(g.matrix(MODEL).rows, 2, 'old model kept for rollback');
  assert.equal(g.matrix(V2).dim, 4);
  assert.equal(matcher.identify(vec(0, 0, 0, 1)).identityId, a.id, 'search uses only the active model');
  assert.throws(() => matcher.identify(vec(1, 0, 0)), /dims/);

  await rejects(g.dropTemplatesForModel(V2), 'CONFLICT');
  await rejects(g.replaceTemplatesForModel('efr@3.0.0', [{ identityId: a.id, embedding: vec(1, 0), quality: 1, source: 'cli', fromTemplateId: tb.id }]), 'INVALID_INPUT', /not a template of/);
  // Replacing again replaces (not appends) this model's templates; dropping the others keeps shared crops.
  await g.replaceTemplatesForModel(V2, [{ identityId: a.id, embedding: vec(0, 1, 0, 0), quality: 1, source: 'cli', fromTemplateId: ta.id }], { keepOtherModels: false });
  assert.deepEqual(g.models().map((m) => [m.modelId, m.templates]), [[V2, 1]]);
  assert.deepEqual(await readFile(g.cropPath(g.templates()[0])!), jpeg, 'crop still used: kept');
  await assert.rejects(stat(path.join(dir, 'faces', b.id, `${tb.id}.jpg`)), { code: 'ENOENT' }, 'unused crop removed');
});

test('deleting an identity erases every trace of it (right to erasure)', async () => {
  const root = await tmpDir();
  const dir = path.join(root, 'enrolled');
  const extra = path.join(root, 'datasets');
  const gs = await Enrolled.open(dir, { erasureDirs: ['finetune', extra] });
  const g = gs.gallery;
  await gs.settings.update({ keepSnapshots: true });
  const a = await g.addIdentity({ name: 'Erase Me', badge: 'GONE1', notes: 'secret' });
  const keep = await g.addIdentity({ name: 'Keep Me' });
  await g.addTemplates(a.id, [tpl(vec(1, 0), { cropJpeg: jpeg }), tpl(vec(1, 1), { cropJpeg: jpeg })]);
  const [kt] = await g.addTemplates(keep.id, [tpl(vec(0, 1), { cropJpeg: jpeg })]);
  await gs.activity.record({ decision: 'match', identityId: a.id, score: 0.9, snapshotJpeg: jpeg });
  await gs.activity.record({ decision: 'verify-reject', identityId: a.id, score: 0.2, snapshotJpeg: jpeg });
  const kept = await gs.activity.record({ decision: 'match', identityId: keep.id, score: 0.8, snapshotJpeg: jpeg });
  await gs.activity.record({ decision: 'unknown', score: 0.1 });
  for (const d of [path.join(dir, 'finetune', a.id), path.join(extra, a.id)]) {
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, 'pairs.bin'), 'x');
  }
  assert.ok(g.getIdentity(a.id)?.lastSeen);

  const report = await gs.erase(a.id);
  assert.equal(report.templates, 2);
  assert.equal(report.activityEntries, 2);
  assert.equal(g.getIdentity(a.id), undefined);

  const files = await walk(root);
  assert.ok(!files.some((f) => f.includes(a.id)), `paths left: ${files.filter((f) => f.includes(a.id))}`);
  for (const f of files) {
    const p = path.join(root, f);
    if ((await stat(p)).isFile()) {
      const content = await readFile(p, 'latin1');
      assert.ok(!content.includes(a.id) && !content.includes('GONE1') && !content.includes('Erase Me'), `${f} still mentions the identity`);
    }
  }
  // Only the erased identity's data went.
  assert.deepEqual(await readFile(g.cropPath(kt)!), jpeg);
  assert.ok(await stat(gs.activity.snapshotPath(kept)!));
  // Their records stay, redacted (src/activity: the decision and its time, not who or how well).
  assert.deepEqual(
    gs.activity.query().map((e) => [e.decision, e.identityId, e.score, e.snapshot, e.redacted]),
    [
      ['unknown', null, 0.1, null, false],
      ['match', keep.id, 0.8, kept.snapshot, false],
      ['verify-reject', null, null, null, true],
      ['match', null, null, null, true],
    ],
  );
  // Logging for a deleted identity cannot bring it back.
  await rejects(gs.activity.record({ decision: 'match', identityId: a.id }), 'NOT_FOUND');
  await rejects(gs.erase(a.id), 'NOT_FOUND');
});

test('open sweeps leftovers of an interrupted erasure or write', async () => {
  const dir = await tmpDir();
  const gs = await Enrolled.open(dir);
  const g = gs.gallery;
  const a = await g.addIdentity({ name: 'A' });
  const [t] = await g.addTemplates(a.id, [tpl(vec(1, 0), { cropJpeg: jpeg })]);
  await gs.close();
  const ghost = newId('identity');
  // A record and a last-seen time of someone whose erasure was cut short (the gallery went first).
  const now = new Date().toISOString();
  await mkdir(path.join(dir, 'audit'), { recursive: true });
  const ghostRecord = { id: newId('activity'), time: now, decision: 'match', door: 'api', identityId: ghost, score: 1, threshold: 0.4, metric: null, modelId: null, liveness: null, snapshot: null, detail: null, redacted: false, redactedAt: null };
  await writeFile(path.join(dir, 'audit', `audit-${now.slice(0, 10)}.jsonl`), JSON.stringify(ghostRecord) + '\n');
  await writeFile(path.join(dir, 'audit', 'last-seen.json'), JSON.stringify({ format: 'facegate-last-seen', version: 1, lastSeen: { [ghost]: now } }));
  const leftovers = [
    path.join(dir, 'faces', ghost, `${newId('template')}.jpg`),
    path.join(dir, 'faces', a.id, `${newId('template')}.jpg`), // crop written, gallery write never happened
    path.join(dir, 'finetune', ghost, 'x.bin'),
    path.join(dir, 'snapshots', `${newId('activity')}.jpg`),
    path.join(dir, '.gallery.json.999999.3.tmp'),
  ];
  for (const f of leftovers) {
    await mkdir(path.dirname(f), { recursive: true });
    await writeFile(f, 'x');
  }
  const old = new Date(Date.now() - 3600_000);
  await utimes(leftovers[4], old, old);
  const fresh = path.join(dir, '.gallery.json.999999.4.tmp'); // may belong to a live writer
  await writeFile(fresh, 'x');
  const notOurs = path.join(dir, 'faces', 'README.txt');
  await writeFile(notOurs, 'keep');

  const g2s = await Enrolled.open(dir);
  const g2 = g2s.gallery;
  for (const f of leftovers) await assert.rejects(stat(f), { code: 'ENOENT' }, f);
  await assert.rejects(stat(path.join(dir, 'faces', ghost)), { code: 'ENOENT' });
  assert.ok(await stat(fresh));
  assert.ok(await stat(notOurs));
  assert.ok(await stat(g2.cropPath(t)!));
  assert.deepEqual(g2s.activity.query().map((e) => [e.decision, e.identityId, e.score, e.redacted]), [['match', null, null, true]], 'redacted, as the erasure would have');
  assert.equal(g2s.activity.lastSeen(ghost), null);
  assert.ok(!(await readFile(path.join(dir, 'audit', 'last-seen.json'), 'utf8')).includes(ghost));
});

test('a failed write (disk full) throws a clear error and changes nothing', async () => {
  const dir = await tmpDir();
  let full = false;
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const io: FileIo & { appendSynced(file: string, data: string): Promise<void> } = {
    ...nodeIo,
    async writeSynced(file, data) {
      if (!full) return nodeIo.writeSynced(file, data);
      await writeFile(file, typeof data === 'string' ? data.slice(0, 10) : data.subarray(0, 10)); // partial temp file
      throw enospc();
    },
    // The audit trail's appends (src/activity/segments.ts).
    async appendSynced(file, data) {
      if (full) throw enospc();
      await writeFile(file, data, { flag: 'a' });
    },
  };
  const gs = await Enrolled.open(dir, { io });
  const g = gs.gallery;
  const a = await g.addIdentity({ name: 'A' });
  await g.addTemplates(a.id, [tpl(vec(1, 0))]);
  const before = await readFile(g.file, 'utf8');
  await gs.activity.record({ decision: 'unknown' });
  const trail = async () => Promise.all(gs.activity.files().map((f) => readFile(f, 'utf8')));
  const beforeAct = await trail();
  const beforeSettings = await readFile(gs.settings.file, 'utf8');
  const listed = g.listIdentities();

  full = true;
  await rejects(g.addIdentity({ name: 'B' }), 'WRITE_FAILED', /disk full/);
  await rejects(g.addTemplates(a.id, [tpl(vec(0, 1), { cropJpeg: jpeg })]), 'WRITE_FAILED');
  await rejects(gs.settings.update({ metric: 'euclidean' }), 'WRITE_FAILED');
  await rejects(gs.activity.record({ decision: 'match', identityId: a.id }), 'WRITE_FAILED');
  await rejects(gs.erase(a.id), 'WRITE_FAILED');
  assert.equal(await readFile(g.file, 'utf8'), before);
  assert.deepEqual(await trail(), beforeAct);
  assert.equal(await readFile(gs.settings.file, 'utf8'), beforeSettings);
  assert.deepEqual(g.listIdentities(), listed, 'memory unchanged too');
  assert.equal(gs.settings.get().metric, 'cosine');
  assert.equal(g.templates().length, 1);
  // The two good writes rotated gallery.json into its backups (src/util/atomic-write.ts); the failed ones did not.
  const audit = ['audit', ...gs.activity.files().map((f) => path.relative(dir, f)), path.join('audit', 'last-seen.json')];
  assert.deepEqual((await walk(dir)).sort(), ['gallery.json', 'gallery.json.bak.1', 'gallery.json.bak.2', 'settings.json', ...audit].sort(), 'no temp files or orphan crops');

  full = false;
  await g.addIdentity({ name: 'B' });
  assert.equal((await Enrolled.open(dir)).gallery.listIdentities().length, 2);
});

test('a corrupt gallery file is reported, not overwritten', async () => {
  const dir = await tmpDir();
  await writeFile(path.join(dir, 'gallery.json'), '{"format": "facegate-gallery", "version": 1, "identities": [');
  await rejects(Enrolled.open(dir), 'CORRUPT', /not valid JSON/);
  const bad = JSON.parse(await readFile(path.join(fixtures, 'v1', 'gallery.json'), 'utf8'));
  bad.templates[0].identityId = 'i_0000000000000000dead';
  await writeFile(path.join(dir, 'gallery.json'), JSON.stringify(bad));
  await rejects(Enrolled.open(dir), 'CORRUPT', /missing identity/);
  bad.templates[0].identityId = '../../x';
  await writeFile(path.join(dir, 'gallery.json'), JSON.stringify(bad));
  await rejects(Enrolled.open(dir), 'CORRUPT', /invalid identity id/);
  assert.equal(JSON.parse(await readFile(path.join(dir, 'gallery.json'), 'utf8')).templates[0].identityId, '../../x');
});

test('settings: defaults, deep-merged patches, validation, persistence', async () => {
  const dir = await tmpDir();
  const gs = await Enrolled.open(dir);
  const g = gs.gallery;
  const s = gs.settings.get();
  assert.equal(s.metric, 'cosine');
  assert.deepEqual(s.kOfN, { k: 2, n: 3 });
  assert.equal(s.keepCrops, true);
  s.metric = 'euclidean'; // a copy: mutating it changes nothing
  assert.equal(gs.settings.get().metric, 'cosine');
  const u = await gs.settings.update({ metric: 'euclidean', thresholds: { euclidean: 0.9 }, kOfN: { n: 5 }, camera: { source: '/dev/video2' } });
  assert.equal(u.thresholds.euclidean, 0.9);
  assert.equal(u.thresholds.cosine, 0.4, 'sibling kept');
  assert.deepEqual(u.kOfN, { k: 2, n: 5 });
  await rejects(gs.settings.update({ kOfN: { k: 9 } }), 'INVALID_INPUT', /kOfN/);
  await rejects(gs.settings.update({ metric: 'manhattan' as never }), 'INVALID_INPUT', /metric/);
  await rejects(gs.settings.update({ thresholds: { cosine: 1.5 } }), 'INVALID_INPUT');
  await rejects(gs.settings.update({ treshold: 1 } as never), 'INVALID_INPUT', /treshold/);
  await rejects(gs.settings.update({ activeModelId: 'x' } as never), 'INVALID_INPUT', /activeModelId/);
  assert.deepEqual((await Enrolled.open(dir)).settings.get(), u);
});

test('activity log: newest first, filters, cap drops oldest with snapshots, lastSeen on accepts', async () => {
  const dir = await tmpDir();
  const gs = await Enrolled.open(dir);
  const g = gs.gallery;
  await gs.settings.update({ activityCap: 10, keepSnapshots: true });
  const a = await g.addIdentity({ name: 'A' });
  // An hour ago (a record older than settings.audit.retentionDays is refused), to the second.
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
  const first = await gs.activity.record({ decision: 'unknown', score: 0.1, snapshotJpeg: jpeg, time: new Date(t0) });
  assert.ok(await stat(gs.activity.snapshotPath(first)!));
  await gs.activity.record({ decision: 'verify-reject', identityId: a.id, score: 0.2, time: new Date(t0 + 1000) });
  assert.equal(g.getIdentity(a.id)?.lastSeen, null, 'a reject is not a sighting');
  for (let i = 2; i < 12; i++) await gs.activity.record({ decision: i % 2 ? 'unknown' : 'match', identityId: i % 2 ? null : a.id, score: i / 20, metric: 'cosine', modelId: MODEL, time: new Date(t0 + i * 1000) });
  const all = gs.activity.query({ limit: 100 });
  assert.equal(all.length, 10);
  assert.equal(all[0].time, new Date(t0 + 11000).toISOString());
  assert.ok(!all.some((e) => e.id === first.id), 'oldest evicted');
  await assert.rejects(stat(path.join(dir, 'snapshots', `${first.id}.jpg`)), { code: 'ENOENT' }, 'evicted snapshot removed');
  assert.equal(g.getIdentity(a.id)?.lastSeen, new Date(t0 + 10000).toISOString());
  assert.equal(gs.activity.query({ limit: 3 }).length, 3);
  assert.ok(gs.activity.query({ filter: { identityId: a.id } }).every((e) => e.identityId === a.id));
  assert.deepEqual(new Set(gs.activity.query({ filter: { decision: ['match'] } }).map((e) => e.decision)), new Set(['match']));
  assert.equal(gs.activity.query({ filter: { since: new Date(t0 + 9000), until: new Date(t0 + 10000).toISOString() } }).length, 2);
  await rejects(gs.activity.record({ decision: 'Bad Decision' }), 'INVALID_INPUT');
  assert.throws(() => gs.activity.query({ filter: { since: 'yesterday' } }), /invalid since/);
  await gs.settings.update({ keepSnapshots: false });
  const noSnap = await gs.activity.record({ decision: 'unknown', snapshotJpeg: jpeg });
  assert.equal(noSnap.snapshot, null);
});

test('concurrent writes are serialised: none is lost', async () => {
  const dir = await tmpDir();
  const gs = await Enrolled.open(dir);
  const g = gs.gallery;
  const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => g.addIdentity({ name: `P${i}` })));
  await Promise.all(ids.map((p, i) => g.addTemplates(p.id, [tpl(randomVec(8, i + 1))])));
  await Promise.all([gs.settings.update({ topK: 7 }), gs.activity.record({ decision: 'unknown' }), g.updateIdentity(ids[0].id, { notes: 'n' })]);
  const g2s = await Enrolled.open(dir);
  const g2 = g2s.gallery;
  assert.equal(g2.listIdentities().length, 40);
  assert.equal(g2.templates(MODEL).length, 40);
  assert.equal(g2s.settings.get().topK, 7);
  assert.equal(g2.getIdentity(ids[0].id)?.notes, 'n');
});

test('GalleryMatcher follows gallery changes and settings', async () => {
  const gs = await Enrolled.open(await tmpDir());
  const g = gs.gallery;
  await g.setActiveModel(MODEL);
  await gs.settings.update({ thresholds: { cosine: 0.9 } });
  const matcher = new GalleryMatcher(g, () => gs.settings.get());
  assert.equal(matcher.identify(vec(1, 0, 0)).reason, 'empty-gallery');
  const a = await g.addIdentity({ name: 'A' });
  await g.addTemplates(a.id, [tpl(vec(1, 0, 0))]);
  assert.equal(matcher.identify(vec(1, 0.1, 0)).identityId, a.id);
  const b = await g.addIdentity({ name: 'B', threshold: { cosine: 0.999 } });
  await g.addTemplates(b.id, [tpl(vec(0, 1, 0))]);
  const rb = matcher.identify(vec(0.1, 1, 0));
  assert.equal(rb.candidates[0].identityId, b.id);
  assert.equal(rb.decision, 'unknown', "B's own stricter threshold applies");
  await gs.settings.update({ metric: 'euclidean', thresholds: { euclidean: 0.2 }, search: { coarse: 'int8', rerank: 4 } });
  const e = matcher.identify(vec(1, 0.1, 0));
  assert.equal(e.metric, 'euclidean');
  assert.equal(e.identityId, a.id);
  assert.equal(matcher.verify(vec(1, 0.1, 0), b.id).accepted, false);
});

test('a re-embed keeps templates written after it listed the ones it knew (an enrollment during a re-embed)', async () => {
  const dir = await tmpDir();
  const gs = await Enrolled.open(dir);
  const g = gs.gallery;
  await g.setActiveModel(MODEL);
  const a = await g.addIdentity({ name: 'A' });
  await g.addTemplates(a.id, [tpl(vec(1, 0, 0), { cropJpeg: jpeg })]);
  const V2 = 'efr@2.0.0';
  // The re-embed lists what V2 lacks, and embeds it...
  const todo = g.templatesNeedingReembed(V2);
  const fresh = todo.map((i) => ({ identityId: i.identityId, embedding: vec(0, 0, 0, 1), quality: i.quality, source: i.source, fromTemplateId: i.templateId }));
  // ...meanwhile C enrolls under V2 (the model in use)...
  const c = await g.addIdentity({ name: 'C' });
  const [tc] = await g.addTemplates(c.id, [{ ...tpl(vec(0, 1, 0, 0), { cropJpeg: jpeg }), modelId: V2 }]);
  // ...then the re-embed writes: C's template stays.
  await g.replaceTemplatesForModel(V2, fresh, { activate: true, keepUnlisted: true });
  assert.deepEqual(g.templates(V2).map((t) => t.identityId).sort(), [a.id, c.id].sort());
  assert.ok(g.templates(V2).some((t) => t.id === tc.id), "C's own template, as written");
  // Without keepUnlisted a replace is a replace: what it does not list is gone.
  await g.replaceTemplatesForModel(V2, fresh, { activate: true });
  assert.deepEqual(g.templates(V2).map((t) => t.identityId), [a.id]);
});
