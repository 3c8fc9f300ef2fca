// The finetune's site data: which stored crops it trains on and which it keeps aside to judge the
// result. Real aligned face crops (glint) in real galleries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Gallery } from '../src/gallery/gallery.js';
import { loadSiteData } from '../src/finetune/site-data.js';

const GLINT = new URL('../../shared/data/train/glint/', import.meta.url).pathname;
const PEOPLE = ['Barack_Obama', 'Halle_Berry'];

async function galleryOf(dir: string, people: string[]): Promise<Gallery> {
  const g = await Gallery.open(dir);
  for (const who of people) {
    const files = (await readdir(path.join(GLINT, who))).sort().slice(0, 5);
    const person = await g.addIdentity({ name: who.replace('_', ' ') });
    await g.addTemplates(
      person.id,
      await Promise.all(files.map(async (f, i) => ({ embedding: [1, i, 0, 0], modelId: 'test@1', quality: 0.9, source: 'upload' as const, cropJpeg: await readFile(path.join(GLINT, who, f)) }))),
    );
  }
  return g;
}

const pixels = (c: { image: { data: Uint8Array } }) => Buffer.from(c.image.data).toString('base64');

test('held-out crops follow the photos, not the ids the gallery drew: two galleries of the same people agree', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-site-'));
  try {
    const a = await galleryOf(path.join(tmp, 'a'), PEOPLE);
    const b = await galleryOf(path.join(tmp, 'b'), [...PEOPLE].reverse());
    const opts = { minCrops: 3, heldOutPerIdentity: 1, seed: 42 };
    const sa = await loadSiteData(a, opts);
    const sb = await loadSiteData(b, opts);
    assert.equal(sa.heldOut.length, 2);
    assert.equal(sa.train.length, 8);
    assert.notDeepEqual(sa.identities.sort(), sb.identities.sort(), 'the galleries drew their own ids');
    assert.deepEqual(sa.heldOut.map(pixels).sort(), sb.heldOut.map(pixels).sort());
    // Nothing held out is trained on, and another seed holds out other crops.
    const train = new Set(sa.train.map(pixels));
    assert.ok(sa.heldOut.every((c) => !train.has(pixels(c))));
    const other = await loadSiteData(a, { ...opts, seed: 7 });
    assert.notDeepEqual(other.heldOut.map(pixels).sort(), sa.heldOut.map(pixels).sort());
    await a.close();
    await b.close();
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
