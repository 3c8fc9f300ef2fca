// Identity-disjoint validation pairs carved out of the training data. Model selection and the
// learning-rate schedule watch these, so the dev pairs stay untouched until `facegate eval`.
// LFW style: identities are dealt into folds, and every pair (same or different) stays inside
// one fold, so a threshold picked on nine folds never saw the tenth fold's people.
import type { DatasetItem } from './dataset.js';
import { Rng } from './rng.js';

export interface HeldOutIdentities {
  /** The data left for training, relabelled 0..classes-1. */
  data: { classes: string[]; items: DatasetItem[] };
  /** Held-out identity names. */
  identities: string[];
  pairs: { fold: number; same: boolean; a: string; b: string }[];
}

export interface HoldOutOptions {
  seed: number;
  identities: number;
  folds?: number;
  /** Same and different pairs per fold (each). */
  pairsPerFold?: number;
  /** Only identities with at least this many images are eligible. */
  minImages?: number;
}

export function holdOutIdentities(data: { classes: string[]; items: readonly DatasetItem[] }, opts: HoldOutOptions): HeldOutIdentities {
  const folds = opts.folds ?? 10;
  const perFold = opts.pairsPerFold ?? 100;
  const minImages = opts.minImages ?? 6;
  const byLabel = data.classes.map((): string[] => []);
  for (const it of data.items) byLabel[it.label]!.push(it.path);
  if (opts.identities < 2 * folds) throw new Error(`holding out ${opts.identities} identities for ${folds} folds: each fold needs at least two (${2 * folds})`);
  const eligible = data.classes.map((_, l) => l).filter((l) => byLabel[l]!.length >= minImages);
  if (eligible.length < Math.max(opts.identities, 2 * folds)) {
    throw new Error(`need ${Math.max(opts.identities, 2 * folds)} identities with >= ${minImages} images to hold out, found ${eligible.length}`);
  }
  const rng = Rng.derive(opts.seed, 'val-identities');
  rng.shuffle(eligible);
  const held = eligible.slice(0, opts.identities).sort((a, b) => a - b);
  const heldSet = new Set(held);

  // Deal held-out identities into folds, at least two per fold (different pairs need two).
  const foldOf = new Map<number, number>();
  held.forEach((l, i) => foldOf.set(l, i % folds));
  const pairs: HeldOutIdentities['pairs'] = [];
  const pick = (list: string[]) => list[rng.int(list.length)]!;
  for (let f = 0; f < folds; f++) {
    const members = held.filter((l) => foldOf.get(l) === f);
    for (let k = 0; k < perFold; k++) {
      const l = members[rng.int(members.length)]!;
      const imgs = byLabel[l]!;
      const i = rng.int(imgs.length);
      let j = rng.int(imgs.length - 1);
      if (j >= i) j++;
      pairs.push({ fold: f, same: true, a: imgs[i]!, b: imgs[j]! });
      const i1 = rng.int(members.length);
      let i2 = rng.int(members.length - 1);
      if (i2 >= i1) i2++;
      const l1 = members[i1]!, l2 = members[i2]!;
      pairs.push({ fold: f, same: false, a: pick(byLabel[l1]!), b: pick(byLabel[l2]!) });
    }
  }

  const keep = data.classes.map((_, l) => l).filter((l) => !heldSet.has(l));
  const relabel = new Map(keep.map((l, i) => [l, i]));
  return {
    data: {
      classes: keep.map((l) => data.classes[l]!),
      items: data.items.filter((it) => !heldSet.has(it.label)).map((it) => ({ path: it.path, label: relabel.get(it.label)! })),
    },
    identities: held.map((l) => data.classes[l]!),
    pairs,
  };
}

/** Our pairs TSV (fold, same, a, b) with paths relative to `root`. */
export function pairsTsv(pairs: HeldOutIdentities['pairs'], rel: (p: string) => string): string {
  return ['# fold\tsame\tpath1\tpath2', ...pairs.map((p) => `${p.fold}\t${p.same ? 1 : 0}\t${rel(p.a)}\t${rel(p.b)}`)].join('\n') + '\n';
}
