import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  PairsFormatError,
  detectPairsFormat,
  parseLfwPairs,
  parsePairsTsv,
  readPairs,
  resolveInside,
} from '../src/eval/pairs.js';

const root = path.resolve('/data/set');

test('TSV: comments and blank lines skipped, paths resolved under root', () => {
  const text = '# fold\tsame\tp1\tp2\n\n0\t1\ta/1.jpg\ta/2.jpg\r\n3\t0\ta/1.jpg\tb/sub/9.jpg\n   \n';
  assert.deepEqual(parsePairsTsv(text, root), [
    { fold: 0, same: true, a: path.join(root, 'a/1.jpg'), b: path.join(root, 'a/2.jpg') },
    { fold: 3, same: false, a: path.join(root, 'a/1.jpg'), b: path.join(root, 'b/sub/9.jpg') },
  ]);
});

test('TSV: malformed lines name the line number', () => {
  const bad: Array<[string, RegExp]> = [
    ['# h\n0\t1\ta.jpg\n', /x\.tsv:2: expected 4 tab-separated fields.*got 3/],
    ['0\t1\ta.jpg\tb.jpg\n0 1 a.jpg b.jpg\n', /x\.tsv:2: expected 4/],
    ['\n\nx\t1\ta.jpg\tb.jpg\n', /x\.tsv:3: fold must be a non-negative integer, got "x"/],
    ['0\t2\ta.jpg\tb.jpg\n', /x\.tsv:1: same must be 1 or 0, got "2"/],
    ['0\t1\ta.jpg\t\n', /x\.tsv:1: empty image path/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parsePairsTsv(text, root, 'x.tsv'), (e: unknown) => e instanceof PairsFormatError && re.test(e.message));
  }
});

test('paths escaping the root are rejected', () => {
  for (const p of ['../etc/passwd', 'a/../../b.jpg', '/etc/passwd', 'C:\\x.jpg', '\\\\host\\share\\x.jpg', 'a\\..\\..\\b.jpg']) {
    assert.throws(
      () => parsePairsTsv(`# c\n0\t1\tok.jpg\t${p}\n`, root, 'x.tsv'),
      (e: unknown) => e instanceof PairsFormatError && e.line === 2 && /escapes the dataset root/.test(e.message),
      p,
    );
  }
  assert.throws(() => resolveInside(root, '.'), /dataset root itself/);
  // A name that merely starts with dots is fine.
  assert.equal(resolveInside(root, '..a/b.jpg'), path.join(root, '..a/b.jpg'));
});

function lfwText(folds: number, n: number): string {
  const lines = [`${folds}\t${n}`];
  for (let f = 0; f < folds; f++) {
    for (let i = 0; i < n; i++) lines.push(`Person_${f}_${i}\t1\t${i + 2}`);
    for (let i = 0; i < n; i++) lines.push(`Alice_${f}\t${i + 1}\tBob_Smith\t${i + 10}`);
  }
  return lines.join('\n') + '\n';
}

test('LFW pairs.txt: folds, matched then mismatched, name_%04d.jpg paths', () => {
  const pairs = parseLfwPairs(lfwText(2, 2), root);
  assert.equal(pairs.length, 8);
  assert.deepEqual(pairs.map((p) => [p.fold, p.same]), [
    [0, true], [0, true], [0, false], [0, false], [1, true], [1, true], [1, false], [1, false],
  ]);
  assert.deepEqual(pairs[1], {
    fold: 0,
    same: true,
    a: path.join(root, 'Person_0_1/Person_0_1_0001.jpg'),
    b: path.join(root, 'Person_0_1/Person_0_1_0003.jpg'),
  });
  assert.deepEqual(pairs[7], {
    fold: 1,
    same: false,
    a: path.join(root, 'Alice_1/Alice_1_0002.jpg'),
    b: path.join(root, 'Bob_Smith/Bob_Smith_0011.jpg'),
  });
});

test('LFW: single-number header means one fold (pairsDevTest.txt)', () => {
  const pairs = parseLfwPairs('1\nA\t1\t2\nA\t1\tB\t1\n', root);
  assert.deepEqual(pairs.map((p) => [p.fold, p.same]), [[0, true], [0, false]]);
});

test('LFW: malformed files give line numbers', () => {
  // Mismatched line where a matched one belongs (line 3 is the second matched line of fold 0).
  const swapped = '1\t2\nA\t1\t2\nA\t1\tB\t2\nA\t1\tB\t2\nA\t1\tB\t3\n';
  assert.throws(() => parseLfwPairs(swapped, root, 'pairs.txt'), /pairs\.txt:3: fold 0: expected matched pair/);
  assert.throws(() => parseLfwPairs('1\t2\nA\t1\t2\n', root, 'pairs.txt'), /pairs\.txt:2: header promises 1 folds x 2 x 2 = 4 pair lines, found 1/);
  assert.throws(() => parseLfwPairs('ten\t300\n', root, 'pairs.txt'), /pairs\.txt:1: expected header/);
  assert.throws(() => parseLfwPairs('1\t1\nA\t0\t2\nA\t1\tB\t1\n', root, 'pairs.txt'), /pairs\.txt:2: image number must be a positive integer/);
  assert.throws(() => parseLfwPairs('1\t1\n..\t1\t2\nA\t1\tB\t1\n', root, 'pairs.txt'), /pairs\.txt:2: invalid person name/);
});

test('format detection and readPairs with a temp dir', async () => {
  assert.equal(detectPairsFormat('10\t300\nA\t1\t2\n'), 'lfw');
  assert.equal(detectPairsFormat('# comment\n0\t1\ta\tb\n'), 'tsv');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-pairs-'));
  try {
    const tsv = path.join(dir, 'pairs.tsv');
    await writeFile(tsv, '# h\n0\t1\tx/1.jpg\tx/2.jpg\n');
    assert.deepEqual(await readPairs(tsv), [
      { fold: 0, same: true, a: path.join(dir, 'x/1.jpg'), b: path.join(dir, 'x/2.jpg') },
    ]);
    const lfw = path.join(dir, 'pairs.txt');
    await writeFile(lfw, lfwText(10, 3));
    const pairs = await readPairs(lfw, path.join(dir, 'lfw'));
    assert.equal(pairs.length, 60);
    assert.equal(new Set(pairs.map((p) => p.fold)).size, 10);
    assert.ok(pairs.every((p) => p.a.startsWith(path.join(dir, 'lfw') + path.sep)));
    await writeFile(tsv, '0\t1\tx/1.jpg\n');
    await assert.rejects(readPairs(tsv), new RegExp(`${tsv.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1: expected 4`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const celeba = '/work/shared/data/dev/celeba-pairs.tsv';
test('the shared CelebA dev pairs: 6,000 pairs, 10 balanced folds', { skip: !existsSync(celeba) && 'dev data not present' }, async () => {
  const pairs = await readPairs(celeba, '/work/shared/data/dev/celeba');
  assert.equal(pairs.length, 6000);
  const folds = new Map<number, { same: number; diff: number }>();
  for (const p of pairs) {
    const c = folds.get(p.fold) ?? { same: 0, diff: 0 };
    if (p.same) c.same++;
    else c.diff++;
    folds.set(p.fold, c);
  }
  assert.deepEqual([...folds.keys()].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (const c of folds.values()) assert.deepEqual(c, { same: 300, diff: 300 });
  assert.ok(existsSync(pairs[0].a), `${pairs[0].a} should exist`);
});
