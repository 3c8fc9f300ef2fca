// A run's weights as a model folder: at the end of `facegate train --export`, or any checkpoint
// later with `facegate model export`. Thresholds are calibrated on the run's validation pairs.
import path from 'node:path';
import { createHash } from 'node:crypto';
import { initBackend } from '../engine/backend.js';
import type { TrainableFaceNet } from '../model/facenet.js';
import { defaultMeta, roundTripWeights, saveModel, type ModelMeta, type WeightQuantization } from '../model/io.js';
import { readSplit, type Split } from '../data/split.js';
import { loadCheckpoint, type TrainState } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { writeFlat } from './flat.js';
import { trainableFromCheckpoint } from './init.js';
import { openPairValidator } from './run-data.js';
import { recordCalibration, type PairValidator } from './validate.js';

/** Exports a checkpoint of a run (default: its best epoch): `facegate model export`. */
export async function exportCheckpoint(runDir: string, outDir: string, opts: { checkpoint?: string; quantize?: WeightQuantization } = {}): Promise<string> {
  await initBackend();
  const ck = await loadCheckpoint(path.join(runDir, 'checkpoints', opts.checkpoint ?? 'best'));
  const cfg = ck.state.config;
  const split = await readSplit(runDir);
  const tm = await trainableFromCheckpoint(ck);
  try {
    const pairs = await openPairValidator(cfg);
    const state = { ...ck.state, best: { metric: ck.state.best?.metric ?? NaN, epoch: ck.state.epoch } };
    return await exportBest(runDir, outDir, tm, cfg, split, state, pairs, { loadBest: false, quantize: opts.quantize });
  } finally {
    tm.dispose();
  }
}

export async function exportBest(
  runDir: string,
  outDir: string,
  tm: TrainableFaceNet,
  cfg: TrainConfig,
  split: Split,
  state: TrainState,
  pairs?: PairValidator,
  opts: { loadBest?: boolean; quantize?: WeightQuantization } = {},
): Promise<string> {
  // Export the best epoch's weights (selected on verification accuracy when pairs are given).
  // A missing or unreadable best checkpoint is an error, not a reason to export other weights under its epoch.
  if (opts.loadBest !== false && state.best) {
    const best = await loadCheckpoint(path.join(runDir, 'checkpoints', 'best'));
    writeFlat(tm.trainableVariables(), best.params);
    writeFlat(tm.bufferVariables(), best.buffers);
  }
  // Thresholds and metrics below must describe the weights as stored, after quantisation.
  const stored = roundTripWeights(tm.net, opts.quantize ?? 'none');
  // The version is part of the model id that gallery templates are keyed by: the date alone let two
  // exports of one day share an id. A hash of the stored weights makes the id follow the weights.
  const version = `${new Date().toISOString().slice(0, 10)}.${createHash('sha256').update(stored).digest('hex').slice(0, 8)}`;
  const meta: ModelMeta = defaultMeta(tm.net, cfg.name, version);
  meta.training = {
    run: path.resolve(runDir),
    data: cfg.data,
    identities: split.classes.length,
    trainImages: split.train.length,
    epochs: state.epoch,
    bestEpoch: state.best?.epoch,
    arcface: { s: cfg.s, m: cfg.m },
    config: cfg,
  };
  const last = state.history.find((h) => h.epoch === state.best?.epoch) ?? state.history.at(-1);
  meta.metrics = { valAcc: last?.valAcc, verifAcc: last?.verifAcc, verifStd: last?.verifStd, valPairs: cfg.valIdentities ? `${cfg.valIdentities} held-out training identities` : cfg.valPairs };
  if (pairs) {
    // Thresholds come from validation data only: the dev pairs stay unseen until `facegate eval`.
    recordCalibration(meta, await pairs.calibrate(tm));
  }
  await saveModel(outDir, tm.net, meta, { quantize: opts.quantize });
  return outDir;
}
