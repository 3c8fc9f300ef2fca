// A run's data: the class list and train/val/test split, fixed at the first run and reread on
// resume, and the verification pairs that select the best epoch.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { scanDatasets, type DatasetItem } from '../data/dataset.js';
import { holdOutIdentities, pairsTsv } from '../data/val-pairs.js';
import { readSplit, splitDataset, writeSplit, type Split } from '../data/split.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { PairValidator } from './validate.js';
import type { TrainConfig } from './config.js';

const VAL_PAIRS_FILE = 'val-pairs.tsv';

export async function loadOrMakeSplit(cfg: TrainConfig, classes?: string[]): Promise<Split> {
  try {
    const split = await readSplit(cfg.runDir);
    if (classes && split.classes.join('\n') !== classes.join('\n')) throw new Error('split.json classes differ from the checkpoint');
    return split;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const scanned = await scanDatasets(cfg.data, { minImagesPerClass: cfg.minImagesPerClass });
  if (!scanned.classes.length) throw new Error(`no identities with images found in ${cfg.data.join(', ')}`);
  let data: { classes: string[]; items: DatasetItem[] } = scanned;
  let heldOut: string[] = [];
  if (cfg.valIdentities > 0) {
    const h = holdOutIdentities(scanned, { seed: cfg.seed, identities: cfg.valIdentities });
    data = h.data;
    heldOut = h.identities;
    const root = commonDir(h.pairs.flatMap((p) => [p.a, p.b]));
    await writeFileAtomic(path.join(cfg.runDir, VAL_PAIRS_FILE), pairsTsv(h.pairs, (p) => path.relative(root, p)));
    await writeFileAtomic(path.join(cfg.runDir, 'val-pairs.root'), root + '\n');
  }
  const split = splitDataset(data, { seed: cfg.seed, heldOut: cfg.holdout, testFraction: cfg.testFraction });
  await writeSplit(cfg.runDir, split);
  await writeFileAtomic(path.join(cfg.runDir, 'data-summary.json'), JSON.stringify({ summary: scanned.summary, skipped: scanned.skipped, heldOutIdentities: heldOut }, null, 2) + '\n');
  return split;
}

/** Held-out identity pairs from this run, else the pairs given on the command line, else none. */
export async function openPairValidator(cfg: TrainConfig): Promise<PairValidator | undefined> {
  if (cfg.valIdentities > 0) {
    const root = (await readFile(path.join(cfg.runDir, 'val-pairs.root'), 'utf8')).trim();
    return PairValidator.open(path.join(cfg.runDir, VAL_PAIRS_FILE), root, cfg.inputSize);
  }
  return cfg.valPairs && cfg.valRoot ? PairValidator.open(cfg.valPairs, cfg.valRoot, cfg.inputSize) : undefined;
}

function commonDir(paths: string[]): string {
  let prefix = path.dirname(paths[0]!);
  for (const p of paths) while (!(p + path.sep).startsWith(prefix + path.sep) && prefix !== path.dirname(prefix)) prefix = path.dirname(prefix);
  return prefix;
}
