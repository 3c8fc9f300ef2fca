// Verification pair lists: our TSV format and LFW's pairs.txt, both resolved to absolute
// image paths under a dataset root. Paths come from files we did not write, so anything
// that could point outside the root is rejected rather than silently followed.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface Pair {
  fold: number;
  same: boolean;
  /** Absolute path of the first image. */
  a: string;
  /** Absolute path of the second image. */
  b: string;
}

export type PairsFormat = 'tsv' | 'lfw' | 'auto';

export class PairsFormatError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${source}:${line}: ${detail}`);
    this.name = 'PairsFormatError';
  }
}

/**
 * Resolves `rel` against `root`, refusing absolute paths (POSIX or Windows-style) and any
 * `..` segment, so a pairs file cannot make us read arbitrary files.
 */
export function resolveInside(root: string, rel: string, source = '<pairs>', line = 0): string {
  if (rel === '') throw new PairsFormatError(source, line, 'empty image path');
  const escapes =
    path.isAbsolute(rel) ||
    /^[a-zA-Z]:/.test(rel) ||
    rel.startsWith('\\') ||
    rel.split(/[\\/]/).some((seg) => seg === '..');
  const base = path.resolve(root);
  const full = path.resolve(base, rel);
  const back = path.relative(base, full);
  if (back === '') throw new PairsFormatError(source, line, `image path "${rel}" is the dataset root itself`);
  if (escapes || back === '..' || back.startsWith(`..${path.sep}`) || path.isAbsolute(back)) {
    throw new PairsFormatError(
      source,
      line,
      `image path "${rel}" escapes the dataset root (absolute paths and ".." are not allowed)`,
    );
  }
  return full;
}

function splitLines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r?\n/);
}

/**
 * Our format: `fold<TAB>same(1|0)<TAB>path1<TAB>path2` per line; `#` comments and blank
 * lines are skipped. Fold ids are non-negative integers (not necessarily contiguous).
 */
export function parsePairsTsv(text: string, root: string, source = '<pairs.tsv>'): Pair[] {
  const pairs: Pair[] = [];
  const lines = splitLines(text);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i];
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const f = line.split('\t');
    if (f.length !== 4) {
      throw new PairsFormatError(source, lineNo, `expected 4 tab-separated fields (fold, same, path1, path2), got ${f.length}`);
    }
    const [foldS, sameS, p1, p2] = f.map((s) => s.trim());
    if (!/^\d+$/.test(foldS)) throw new PairsFormatError(source, lineNo, `fold must be a non-negative integer, got "${foldS}"`);
    if (sameS !== '0' && sameS !== '1') throw new PairsFormatError(source, lineNo, `same must be 1 or 0, got "${sameS}"`);
    pairs.push({
      fold: Number(foldS),
      same: sameS === '1',
      a: resolveInside(root, p1, source, lineNo),
      b: resolveInside(root, p2, source, lineNo),
    });
  }
  return pairs;
}

function lfwImage(root: string, name: string, numS: string, source: string, lineNo: number): string {
  if (!/^[1-9]\d*$/.test(numS)) throw new PairsFormatError(source, lineNo, `image number must be a positive integer, got "${numS}"`);
  const rel = `${name}/${name}_${numS.padStart(4, '0')}.jpg`;
  // A name with a separator would let the template build a path outside `name/`.
  if (/[\\/]/.test(name) || name === '.' || name === '..') {
    throw new PairsFormatError(source, lineNo, `invalid person name "${name}"`);
  }
  return resolveInside(root, rel, source, lineNo);
}

/**
 * LFW `pairs.txt`: header `folds<TAB>n` (or just `n` for one fold, as in pairsDevTest.txt),
 * then per fold n matched lines `name n1 n2` followed by n mismatched lines
 * `name1 n1 name2 n2`. Images live at `name/name_%04d.jpg`. Folds are numbered from 0.
 */
export function parseLfwPairs(text: string, root: string, source = '<pairs.txt>'): Pair[] {
  const lines = splitLines(text)
    .map((l, i) => ({ no: i + 1, f: l.trim() === '' ? [] : l.trim().split(/\s+/) }))
    .filter((l) => l.f.length > 0);
  if (lines.length === 0) throw new PairsFormatError(source, 1, 'empty file, expected header "folds<TAB>pairs-per-class"');
  const head = lines[0];
  if (!head.f.every((s) => /^[1-9]\d*$/.test(s)) || head.f.length > 2) {
    throw new PairsFormatError(source, head.no, `expected header "folds<TAB>pairs-per-class", got "${head.f.join(' ')}"`);
  }
  const [folds, perClass] = head.f.length === 2 ? head.f.map(Number) : [1, Number(head.f[0])];
  const body = lines.slice(1);
  const expected = folds * perClass * 2;
  if (body.length !== expected) {
    const at = body.length > expected ? body[expected].no : (body.at(-1)?.no ?? head.no);
    throw new PairsFormatError(source, at, `header promises ${folds} folds x 2 x ${perClass} = ${expected} pair lines, found ${body.length}`);
  }
  const pairs: Pair[] = [];
  body.forEach(({ no, f }, k) => {
    const fold = Math.floor(k / (2 * perClass));
    const same = k % (2 * perClass) < perClass;
    if (same) {
      if (f.length !== 3) throw new PairsFormatError(source, no, `fold ${fold}: expected matched pair "name n1 n2", got ${f.length} fields`);
      pairs.push({ fold, same, a: lfwImage(root, f[0], f[1], source, no), b: lfwImage(root, f[0], f[2], source, no) });
    } else {
      if (f.length !== 4) throw new PairsFormatError(source, no, `fold ${fold}: expected mismatched pair "name1 n1 name2 n2", got ${f.length} fields`);
      pairs.push({ fold, same, a: lfwImage(root, f[0], f[1], source, no), b: lfwImage(root, f[2], f[3], source, no) });
    }
  });
  return pairs;
}

/** LFW files start with a purely numeric header; ours start with a comment or a 4-field row. */
export function detectPairsFormat(text: string): 'tsv' | 'lfw' {
  for (const line of splitLines(text)) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    return /^\d+(\s+\d+)?$/.test(t) ? 'lfw' : 'tsv';
  }
  return 'tsv';
}

export function parsePairs(text: string, root: string, format: PairsFormat = 'auto', source?: string): Pair[] {
  const fmt = format === 'auto' ? detectPairsFormat(text) : format;
  return fmt === 'lfw' ? parseLfwPairs(text, root, source) : parsePairsTsv(text, root, source);
}

/** Reads a pairs file; `root` defaults to the file's directory. */
export async function readPairs(file: string, root = path.dirname(file), format: PairsFormat = 'auto'): Promise<Pair[]> {
  return parsePairs(await readFile(file, 'utf8'), root, format, file);
}
