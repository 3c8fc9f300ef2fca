// Which framing of our ArcFace-aligned crops makes face-api's recognition net separate identities
// best: measured, not assumed, on pairs formed from training identities.
import { Rng } from '../data/rng.js';
import { scanDatasets } from '../data/dataset.js';
import { auc, bestThreshold, tarAtFar } from '../eval/metrics.js';
import { openFaceApi } from '../eval/faceapi-pool.js';
import type { CropFraming } from '../eval/peer-faceapi.js';

export interface FramingScore {
  framing: CropFraming;
  auc: number;
  tarAtFar1e2: number;
  bestAccuracy: number;
  meanGenuine: number;
  meanImpostor: number;
}

export interface FramingMeasurement {
  crops: number;
  identities: number;
  genuinePairs: number;
  impostorPairs: number;
  /** Crops face-api could not read (left out of every pair). */
  failed: number;
  results: FramingScore[];
  /** Highest AUC. */
  best: CropFraming;
}

export interface FramingOptions {
  data: string[];
  /** Identities sampled, round-robin over the dataset folders (default 40). */
  identities?: number;
  /** Crops per identity, at most (default 8). */
  perIdentity?: number;
  seed?: number;
  workers?: number;
  framings?: CropFraming[];
}

/** Sampled crop paths with identity labels, every dataset folder taking turns. */
export async function sampleIdentityCrops(data: string[], identities: number, perIdentity: number, seed: number): Promise<{ path: string; label: number }[]> {
  const ds = await scanDatasets(data, { minImagesPerClass: 2 });
  const byLabel = new Map<number, string[]>();
  for (const it of ds.items) byLabel.set(it.label, [...(byLabel.get(it.label) ?? []), it.path]);
  const rng = new Rng(seed);
  const perRoot = new Map<string, number[]>();
  ds.classes.forEach((c, label) => {
    const root = c.slice(0, c.indexOf('/'));
    perRoot.set(root, [...(perRoot.get(root) ?? []), label]);
  });
  const queues = [...perRoot.values()].map((labels) => rng.shuffle([...labels]));
  const picked: number[] = [];
  for (let k = 0; picked.length < identities && queues.some((q) => k < q.length); k++) {
    for (const q of queues) if (k < q.length && picked.length < identities) picked.push(q[k]!);
  }
  return picked.flatMap((label) => rng.shuffle([...byLabel.get(label)!]).slice(0, perIdentity).map((path) => ({ path, label })));
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export async function measureFramings(opts: FramingOptions): Promise<FramingMeasurement> {
  const sample = await sampleIdentityCrops(opts.data, opts.identities ?? 40, opts.perIdentity ?? 8, opts.seed ?? 1);
  const framings = opts.framings ?? (['crop', 'dlib'] as CropFraming[]);
  const runner = await openFaceApi({ workers: opts.workers ?? 0, withDetector: false });
  const descriptors = new Map<CropFraming, (Float32Array | null)[]>();
  try {
    for (const framing of framings) {
      const chunks: string[][] = [];
      for (let i = 0; i < sample.length; i += 8) chunks.push(sample.slice(i, i + 8).map((s) => s.path));
      const results = await Promise.all(chunks.map((files) => runner.run({ mode: 'crop', files, framing })));
      descriptors.set(framing, results.flat().map((o) => o.descriptor));
    }
  } finally {
    await runner.close();
  }
  // Only crops every framing could read, so all framings are scored on the same pairs.
  const usable = sample.map((_, i) => framings.every((f) => descriptors.get(f)![i])).map((ok, i) => (ok ? i : -1)).filter((i) => i >= 0);
  const labels: boolean[] = [];
  for (let x = 0; x < usable.length; x++) for (let y = x + 1; y < usable.length; y++) labels.push(sample[usable[x]!]!.label === sample[usable[y]!]!.label);
  const results = framings.map((framing): FramingScore => {
    const d = descriptors.get(framing)!;
    const scores: number[] = [];
    for (let x = 0; x < usable.length; x++) for (let y = x + 1; y < usable.length; y++) scores.push(dot(d[usable[x]!]!, d[usable[y]!]!));
    let g = 0, ng = 0, im = 0, ni = 0;
    scores.forEach((s, k) => (labels[k] ? ((g += s), ng++) : ((im += s), ni++)));
    return {
      framing,
      auc: auc(scores, labels),
      tarAtFar1e2: tarAtFar(scores, labels, 1e-2).tar,
      bestAccuracy: bestThreshold(scores, labels).accuracy,
      meanGenuine: g / ng,
      meanImpostor: im / ni,
    };
  });
  const genuinePairs = labels.filter(Boolean).length;
  return {
    crops: usable.length,
    identities: new Set(usable.map((i) => sample[i]!.label)).size,
    genuinePairs,
    impostorPairs: labels.length - genuinePairs,
    failed: sample.length - usable.length,
    results,
    best: [...results].sort((a, b) => b.auc - a.auc)[0]!.framing,
  };
}
