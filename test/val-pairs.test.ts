// Identity-disjoint validation pairs held out of the training data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { scanDatasets } from '../src/data/dataset.js';
import { holdOutIdentities, pairsTsv } from '../src/data/val-pairs.js';
import { parsePairsTsv } from '../src/eval/pairs.js';

const glint = new URL('../../shared/data/train/glint/', import.meta.url).pathname;

test('held-out identities leave training, and every pair stays inside one fold', async () => {
  const data = await scanDatasets([glint]);
  const h = holdOutIdentities(data, { seed: 3, identities: 20, pairsPerFold: 30 });
  assert.equal(h.identities.length, 20);
  assert.equal(h.data.classes.length, data.classes.length - 20);
  for (const id of h.identities) assert.ok(!h.data.classes.includes(id));
  const heldPaths = new Set(data.items.filter((it) => h.identities.includes(data.classes[it.label]!)).map((it) => it.path));
  assert.ok(h.data.items.every((it) => !heldPaths.has(it.path) && h.data.classes[it.label] !== undefined));
  assert.equal(h.data.items.length + heldPaths.size, data.items.length);
  // Labels still name the right identity after relabelling.
  for (const it of h.data.items.slice(0, 200)) assert.equal(path.basename(path.dirname(it.path)), h.data.classes[it.label]!.split('/')[1]);

  const identityOf = (p: string) => path.basename(path.dirname(p));
  const foldsOfIdentity = new Map<string, Set<number>>();
  for (const p of h.pairs) {
    assert.ok(heldPaths.has(p.a) && heldPaths.has(p.b));
    assert.equal(identityOf(p.a) === identityOf(p.b), p.same);
    if (p.same) assert.notEqual(p.a, p.b);
    for (const x of [p.a, p.b]) (foldsOfIdentity.get(identityOf(x)) ?? foldsOfIdentity.set(identityOf(x), new Set()).get(identityOf(x))!).add(p.fold);
  }
  for (const [id, folds] of foldsOfIdentity) assert.equal(folds.size, 1, `${id} appears in folds ${[...folds]}`);
  assert.equal(h.pairs.filter((p) => p.same).length, 300);
  assert.equal(h.pairs.filter((p) => !p.same).length, 300);

  // Same seed, same pairs; written as our pairs TSV they parse back.
  assert.deepEqual(holdOutIdentities(data, { seed: 3, identities: 20, pairsPerFold: 30 }).pairs, h.pairs);
  assert.notDeepEqual(holdOutIdentities(data, { seed: 4, identities: 20, pairsPerFold: 30 }).identities, h.identities);
  const parsed = parsePairsTsv(pairsTsv(h.pairs, (p) => path.relative(glint, p)), glint);
  assert.deepEqual(parsed.map((p) => [p.fold, p.same, p.a, p.b]), h.pairs.map((p) => [p.fold, p.same, p.a, p.b]));
});
