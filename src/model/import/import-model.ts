// `facegate model import`: an ONNX face embedder -> one of our model folders. The network is rebuilt
// in our own layers (mobilefacenet-onnx.ts), so it runs, trains, quantises and ships like any model
// trained here. Optional steps: BatchNorm statistics measured on training crops (so a warm-started
// training run begins where the import is) and thresholds calibrated on validation pairs.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Pixels } from '../config.js';
import type { FaceNet } from '../facenet.js';
import { defaultMeta, roundTripWeights, saveModel, type ModelMeta, type WeightQuantization } from '../io.js';
import { scanDatasets } from '../../data/dataset.js';
import { Rng } from '../../data/rng.js';
import { PairValidator, readCrop, recordCalibration } from '../../train/validate.js';
import { readOnnx } from './onnx-graph.js';
import { importMobileFaceNet, type ImportReport } from './mobilefacenet-onnx.js';
import { recalibrateBatchNorm, type RecalibrationReport } from './batchnorm-stats.js';

export interface ImportOptions {
  /** The .onnx file. */
  file: string;
  /** Model folder to write. */
  out: string;
  name: string;
  /** The input convention the file's publisher documents: ONNX does not record it. */
  pixels: Pixels;
  /** Aligned training crops (identity-per-folder) to measure BatchNorm statistics on. */
  calibrate?: { data: string[]; images: number; seed?: number };
  /** Validation pairs (never the dev pairs) for the recommended thresholds. */
  valPairs?: { file: string; root: string };
  quantize?: WeightQuantization;
  /** Where the weights came from, what they were trained on, licence notes: copied into meta.json. */
  provenance?: Record<string, unknown>;
  log?: (line: string) => void;
}

export interface ImportResult {
  dir: string;
  meta: ModelMeta;
  report: ImportReport;
  batchNorm?: RecalibrationReport;
}

/** Up to `count` crops spread evenly over identities (seeded), as [n,S,S,3] batches of 32. */
async function* sampleCrops(data: string[], count: number, size: number, seed: number): AsyncGenerator<tf.Tensor4D> {
  const ds = await scanDatasets(data);
  const byLabel = new Map<number, string[]>();
  for (const it of ds.items) byLabel.set(it.label, [...(byLabel.get(it.label) ?? []), it.path]);
  const rng = new Rng(seed);
  const lists = [...byLabel.values()].map((l) => l.map((p) => ({ p, r: rng.next() })).sort((a, b) => a.r - b.r).map((x) => x.p));
  const picked: string[] = [];
  for (let round = 0; picked.length < count && lists.some((l) => l.length > round); round++) {
    for (const l of lists) if (l[round] && picked.length < count) picked.push(l[round]!);
  }
  for (let i = 0; i < picked.length; i += 32) {
    const chunk = await Promise.all(picked.slice(i, i + 32).map((f) => readCrop(f, size)));
    const flat = new Uint8Array(chunk.length * size * size * 3);
    chunk.forEach((c, j) => flat.set(c, j * size * size * 3));
    yield tf.tensor4d(flat, [chunk.length, size, size, 3], 'int32');
  }
}

export async function importOnnxModel(opts: ImportOptions): Promise<ImportResult> {
  const log = opts.log ?? (() => {});
  const bytes = await readFile(opts.file);
  const graph = readOnnx(bytes);
  const { net, report } = importMobileFaceNet(graph, opts.pixels);
  try {
    log(`[import] ${path.basename(opts.file)}: opset ${graph.opset}, ${report.nodes} nodes (${Object.entries(report.ops).map(([k, v]) => `${v} ${k}`).join(', ')}) -> MobileFaceNet ${report.inputSize}px, width ${report.width}, ${report.embeddingSize}-d`);
    let batchNorm: RecalibrationReport | undefined;
    if (opts.calibrate) {
      batchNorm = await recalibrateBatchNorm(net, sampleCrops(opts.calibrate.data, opts.calibrate.images, net.config.inputSize, opts.calibrate.seed ?? 7));
      log(`[import] BatchNorm statistics of ${batchNorm.layers} layers measured on ${batchNorm.images} crops`);
    }
    // What is measured below is what ships: the weights after quantisation.
    const stored = roundTripWeights(net, opts.quantize ?? 'none');
    const version = `${new Date().toISOString().slice(0, 10)}.${createHash('sha256').update(stored).digest('hex').slice(0, 8)}`;
    const meta = defaultMeta(net, opts.name, version);
    meta.source = {
      ...opts.provenance,
      importedFrom: path.basename(opts.file),
      sha256: createHash('sha256').update(bytes).digest('hex'),
      md5: createHash('md5').update(bytes).digest('hex'),
      onnx: { opset: graph.opset, producer: graph.producer || undefined, nodes: report.ops, input: graph.input, output: graph.output },
      batchNormStatistics: batchNorm ? { images: batchNorm.images, data: opts.calibrate!.data } : 'none (folded into the conv bias; identity statistics)',
    };
    if (opts.valPairs) await calibrate(net, meta, opts.valPairs);
    await saveModel(opts.out, net, meta, { quantize: opts.quantize });
    return { dir: opts.out, meta, report, batchNorm };
  } finally {
    net.dispose();
  }
}

/** Thresholds, ROC and held-out accuracy from validation pairs, as a training run's export records them. */
export async function calibrate(net: FaceNet, meta: ModelMeta, pairs: { file: string; root: string }): Promise<void> {
  const v = await PairValidator.open(pairs.file, pairs.root, net.config.inputSize);
  const m = await v.measure({ net });
  meta.metrics = { ...(meta.metrics as Record<string, unknown> | undefined), verifAcc: m.accuracy.mean, verifStd: m.accuracy.std, valPairs: path.relative(process.cwd(), pairs.file) };
  recordCalibration(meta as { thresholds?: unknown; metrics?: Record<string, unknown> }, m);
}
