// Stratified, seeded train/val/test split by image within each identity, saved in the run folder
// so a run (or its evaluation) can be reproduced from the exact same file lists.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { DatasetItem } from './dataset.js';
import { Rng } from './rng.js';

export const SPLIT_FILE = 'split.json';

export interface SplitOptions {
  seed: number;
  /** Fraction of each identity's images held out of training (default 0.12, as the seed code). */
  heldOut?: number;
  /** Fraction of the held-out images that go to test, the rest to val (default 0.4 → 88 / 7.2 / 4.8 %). */
  testFraction?: number;
  /** Identities with fewer images stay wholly in train and are listed in `trainOnly` (default 3). */
  minImagesToSplit?: number;
}

const ItemSchema = z.object({ path: z.string(), label: z.number().int().nonnegative() });

const SplitSchema = z.object({
  version: z.literal(1),
  seed: z.number().int(),
  heldOut: z.number().min(0).lt(1),
  testFraction: z.number().min(0).max(1),
  minImagesToSplit: z.number().int().min(1),
  classes: z.array(z.string()),
  train: z.array(ItemSchema),
  val: z.array(ItemSchema),
  test: z.array(ItemSchema),
  trainOnly: z.array(z.string()),
});

export type Split = z.infer<typeof SplitSchema>;

/**
 * Rounds sizes[i] * fraction to integers that are each the floor or the ceiling of the exact share and add up
 * to the rounded global total, so both every identity and the whole split are within one image of the target.
 * Which identities get the ceiling: largest remainder first, ties in seeded random order.
 */
function apportion(sizes: number[], fraction: number, cap: (i: number) => number, rng: Rng): number[] {
  const exact = sizes.map((s) => s * fraction);
  const out = exact.map((e, i) => Math.min(Math.floor(e + 1e-9), cap(i)));
  let remaining = Math.round(exact.reduce((a, b) => a + b, 0) + 1e-9) - out.reduce((a, b) => a + b, 0);
  const tiebreak = sizes.map(() => rng.next());
  const frac = exact.map((e) => Math.round((e - Math.floor(e + 1e-9)) * 1e6)); // quantised so equal shares tie
  const order = sizes.map((_, i) => i).sort((a, b) => frac[b] - frac[a] || tiebreak[a] - tiebreak[b]);
  for (const i of order) {
    if (remaining <= 0) break;
    if (out[i] < cap(i)) {
      out[i]++;
      remaining--;
    }
  }
  return out;
}

/** Splits every identity's images; same (items, seed, options) → same split. */
export function splitDataset(data: { classes: string[]; items: readonly DatasetItem[] }, opts: SplitOptions): Split {
  const heldOut = opts.heldOut ?? 0.12;
  const testFraction = opts.testFraction ?? 0.4;
  const minImagesToSplit = opts.minImagesToSplit ?? 3;
  if (!(heldOut >= 0 && heldOut < 1)) throw new RangeError(`heldOut must be in [0, 1), got ${heldOut}`);
  if (!(testFraction >= 0 && testFraction <= 1)) throw new RangeError(`testFraction must be in [0, 1], got ${testFraction}`);

  const byLabel = data.classes.map((): DatasetItem[] => []);
  for (const it of data.items) {
    if (!byLabel[it.label]) throw new RangeError(`item ${it.path} has label ${it.label} outside the ${data.classes.length} classes`);
    byLabel[it.label].push(it);
  }

  const trainOnly: string[] = [];
  const splittable: number[] = [];
  byLabel.forEach((list, label) => {
    if (list.length >= minImagesToSplit) splittable.push(label);
    else if (list.length > 0) trainOnly.push(data.classes[label]);
  });

  const sizes = splittable.map((l) => byLabel[l].length);
  const held = apportion(sizes, heldOut, (i) => sizes[i] - 1, Rng.derive(opts.seed, 'split-held')); // ≥ 1 train image each
  const nTest = apportion(held, testFraction, (i) => held[i], Rng.derive(opts.seed, 'split-test'));

  const train: DatasetItem[] = [];
  const val: DatasetItem[] = [];
  const test: DatasetItem[] = [];
  const splitOf = new Set(splittable);
  byLabel.forEach((list, label) => {
    if (!splitOf.has(label)) train.push(...list);
  });
  splittable.forEach((label, i) => {
    // the images picked depend only on the seed and the identity's own files
    const list = [...byLabel[label]].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    Rng.derive(opts.seed, 'split-pick', data.classes[label]).shuffle(list);
    test.push(...list.slice(0, nTest[i]));
    val.push(...list.slice(nTest[i], held[i]));
    train.push(...list.slice(held[i]));
  });
  const order = (a: DatasetItem, b: DatasetItem): number => a.label - b.label || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return {
    version: 1,
    seed: opts.seed,
    heldOut,
    testFraction,
    minImagesToSplit,
    classes: [...data.classes],
    train: train.sort(order),
    val: val.sort(order),
    test: test.sort(order),
    trainOnly,
  };
}

/** Writes `<dir>/split.json` (atomically); returns its path. */
export async function writeSplit(dir: string, split: Split): Promise<string> {
  const file = path.join(dir, SPLIT_FILE);
  await writeFileAtomic(file, JSON.stringify(SplitSchema.parse(split), null, 1) + '\n');
  return file;
}

/** Reads and validates `<dir>/split.json`. */
export async function readSplit(dir: string): Promise<Split> {
  const file = path.join(dir, SPLIT_FILE);
  const parsed = SplitSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file} is not a valid split: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
