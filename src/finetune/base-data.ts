// The base model's own data, which a finetune needs twice: a replay sample of its training images
// (so the model does not forget the faces it was trained on) and its validation pairs (held-out
// training identities: the check that the box did not get worse). Both are found through the
// model's meta.json -> training run -> split.json and val-pairs.tsv. Those name prepared crops;
// on a machine without them the same photos are read from the raw dataset and aligned here.
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelMeta } from '../model/io.js';
import { readSplit } from '../data/split.js';
import { readPairs, type Pair } from '../eval/pairs.js';
import { Rng } from '../data/rng.js';
import { faceCropOf } from '../eval/embed-images.js';
import type { RgbImage } from '../vision/types.js';
import { PROJECT_ROOT } from '../config/load.js';

export interface BaseSources {
  /** Training run folder of the base model (split.json, val-pairs.tsv). */
  runDir: string;
  /** Folder the run's crops were prepared into (its val-pairs.root). */
  preparedRoot: string;
  /** Where to read images from: the prepared crops, or the raw photos they were made from. */
  imageRoot: string;
  aligned: boolean;
}

export interface BaseData {
  sources: BaseSources;
  /** Replay images with their base class index (into `classes`). */
  replay: { label: number; image: RgbImage }[];
  classes: string[];
  pairs: Pair[];
  /** Aligned crop per pair image; null when the photo could not be read or has no face. */
  pairImages: Map<string, RgbImage | null>;
}

export interface BaseDataOptions {
  replaySize: number;
  maxPairs: number;
  seed: number;
  /** Training run folder (default: the model's meta.training.run). */
  runDir?: string;
  /** Raw photo root to fall back to when the prepared crops are not on this machine. */
  rawRoot?: string;
  log?: (line: string) => void;
}

export class BaseDataError extends Error {
  override readonly name = 'BaseDataError';
}

const exists = (p: string) => access(p).then(() => true, () => false);

/** The run folder from meta.json; a run recorded on another machine is looked up under models/training/. */
async function findRun(meta: ModelMeta, explicit?: string): Promise<string> {
  const recorded = (meta.training as { run?: unknown } | undefined)?.run;
  const candidates = [explicit, typeof recorded === 'string' ? recorded : undefined, typeof recorded === 'string' ? path.join(PROJECT_ROOT, 'models', 'training', path.basename(recorded)) : undefined].filter((c): c is string => !!c);
  for (const c of candidates) if (await exists(path.join(c, 'split.json'))) return path.resolve(c);
  throw new BaseDataError(`cannot find the base model's training run (tried ${candidates.join(', ') || 'nothing: meta.json names no run'}); pass --base-run DIR`);
}

export async function resolveBaseSources(meta: ModelMeta, opts: Pick<BaseDataOptions, 'runDir' | 'rawRoot'>): Promise<BaseSources> {
  const runDir = await findRun(meta, opts.runDir);
  const rootFile = path.join(runDir, 'val-pairs.root');
  if (!(await exists(rootFile))) throw new BaseDataError(`${runDir} has no validation pairs (val-pairs.root): the run was trained without held-out identities`);
  const preparedRoot = (await readFile(rootFile, 'utf8')).trim();
  if (await exists(preparedRoot)) return { runDir, preparedRoot, imageRoot: preparedRoot, aligned: true };
  // `facegate prepare` keeps relative paths, so the raw photo of a prepared crop sits at the same place.
  const rawRoot = path.resolve(opts.rawRoot ?? (meta.training as { sourceData?: string } | undefined)?.sourceData ?? path.join(PROJECT_ROOT, '..', 'shared', 'data', 'train'));
  if (await exists(rawRoot)) return { runDir, preparedRoot, imageRoot: rawRoot, aligned: false };
  throw new BaseDataError(`the base model's images are not on this machine: neither the prepared crops (${preparedRoot}) nor the raw photos (${rawRoot}); pass --base-raw-root DIR`);
}

/** An aligned crop, or null (unreadable, no face): the pairs using it count as errors for both models. */
async function loadImage(file: string, aligned: boolean): Promise<RgbImage | null> {
  // The kiosk's detector: finetune runs on the appliance, and 'fast' is what its faces went through.
  return faceCropOf(file, { aligned, detector: 'fast' }).then((c) => c ?? null, () => null);
}

/** Alternate labels so a small replay sample still spans every base identity. */
function stratifiedSample<T extends { label: number }>(items: readonly T[], n: number, rng: Rng): T[] {
  const byClass = new Map<number, T[]>();
  for (const it of items) {
    const list = byClass.get(it.label);
    if (list) list.push(it);
    else byClass.set(it.label, [it]);
  }
  const queues = [...byClass.values()].map((q) => rng.shuffle([...q]));
  rng.shuffle(queues);
  const out: T[] = [];
  for (let round = 0; out.length < n; round++) {
    let any = false;
    for (const q of queues) {
      if (round < q.length && out.length < n) {
        out.push(q[round]!);
        any = true;
      }
    }
    if (!any) break;
  }
  return out;
}

/** Pairs thinned evenly across folds (every fold keeps its same/different balance). */
function thinPairs(pairs: Pair[], max: number): Pair[] {
  if (pairs.length <= max) return pairs;
  const keep = max / pairs.length;
  const seen = new Map<string, number>();
  return pairs.filter((p) => {
    const k = `${p.fold}/${p.same}`;
    const i = (seen.get(k) ?? 0) + 1;
    seen.set(k, i);
    return Math.floor(i * keep) !== Math.floor((i - 1) * keep);
  });
}

export async function loadBaseData(meta: ModelMeta, opts: BaseDataOptions): Promise<BaseData> {
  const sources = await resolveBaseSources(meta, opts);
  const log = opts.log ?? (() => {});
  const remap = (p: string) => path.join(sources.imageRoot, path.relative(sources.preparedRoot, p));
  const split = await readSplit(sources.runDir);
  const rng = Rng.derive(opts.seed, 'replay');
  const chosen = stratifiedSample(split.train, opts.replaySize, rng);
  log(`[finetune] base data from ${sources.aligned ? 'prepared crops' : 'raw photos (detecting and aligning)'} under ${sources.imageRoot}`);
  const replay: BaseData['replay'] = [];
  for (const it of chosen) {
    const image = await loadImage(remap(it.path), sources.aligned);
    if (image) replay.push({ label: it.label, image });
  }
  const pairs = thinPairs(await readPairs(path.join(sources.runDir, 'val-pairs.tsv'), sources.imageRoot), opts.maxPairs);
  const pairImages = new Map<string, RgbImage | null>();
  for (const f of new Set(pairs.flatMap((p) => [p.a, p.b]))) pairImages.set(f, await loadImage(f, sources.aligned));
  return { sources, replay, classes: split.classes, pairs, pairImages };
}
