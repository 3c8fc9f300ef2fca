// Warm start: a new run begins from another run's checkpoint (longer schedules, a changed loss)
// rather than from random weights. Tensors are matched by name and shape, so a run may add or drop
// a head (the distillation projection, a different class list) and keep the backbone.
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FaceNet, TrainableFaceNet } from '../model/facenet.js';
import { modelConfig, type ModelConfig } from '../model/config.js';
import { loadModel } from '../model/io.js';
import { readCrop } from './validate.js';
import { loadCheckpoint, type Checkpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { writeFlat } from './flat.js';
import { TeacherCache } from './teacher-cache.js';

export interface InitReport {
  copied: number;
  total: number;
  /** Target tensors left at their fresh initialisation. */
  fresh: string[];
}

/** The network a run with `cfg` trains: backbone, ArcFace head and, with a teacher, the distillation head. */
export function trainableFor(cfg: TrainConfig, numClasses: number, teacherDim?: number): TrainableFaceNet {
  const net = new FaceNet(architectureOf(cfg), cfg.seed);
  const distill = teacherDim ? { mode: cfg.distillMode, teacherDim, weight: cfg.distillWeight } : undefined;
  return new TrainableFaceNet(net, numClasses, { s: cfg.s, m: cfg.m }, cfg.seed + 1000, distill);
}

/** The network architecture a training config describes. */
export function architectureOf(cfg: TrainConfig): ModelConfig {
  return modelConfig({ variant: cfg.variant, inputSize: cfg.inputSize, embeddingSize: cfg.embeddingSize, width: cfg.width, padding: cfg.padding, pixels: cfg.pixels });
}

/** A checkpoint's network with its weights and BN statistics loaded (the caller disposes it). */
export async function trainableFromCheckpoint(ck: Checkpoint): Promise<TrainableFaceNet> {
  const cfg = ck.state.config;
  const teacherDim = cfg.teacher ? await TeacherCache.dimOf(cfg.teacher).catch(() => undefined) : undefined;
  const tm = trainableFor(cfg, ck.state.classes.length, teacherDim);
  writeFlat(tm.trainableVariables(), ck.params);
  writeFlat(tm.bufferVariables(), ck.buffers);
  return tm;
}

/**
 * Warm start from `dir`: a model folder (model.json) or a checkpoint. `items` (training images with
 * labels) let a model folder seed the ArcFace head with class centres.
 */
export async function initFrom(tm: TrainableFaceNet, dir: string, classes: readonly string[], items: readonly { path: string; label: number }[] = []): Promise<InitReport> {
  return existsSync(path.join(dir, 'model.json')) ? initFromModel(tm, dir, items) : initFromCheckpoint(tm, dir, classes);
}

/** Backbone from a model folder; the architecture (padding and input convention included) must be the same. */
async function initFromModel(tm: TrainableFaceNet, dir: string, items: readonly { path: string; label: number }[]): Promise<InitReport> {
  const { net } = await loadModel(dir);
  try {
    const want = JSON.stringify(tm.net.config);
    if (JSON.stringify(net.config) !== want) {
      throw new Error(`${dir} is ${JSON.stringify(net.config)}; this run builds ${want}: set variant, inputSize, embeddingSize, width, padding and pixels in the run config to the model's`);
    }
    const from = new Map(net.params.all());
    for (const [name, v] of tm.net.params.all()) v.assign(from.get(name)!);
    const fresh = tm.headParams.all().map(([n]) => n);
    if (items.length) {
      await headFromCentres(tm, items);
      fresh.splice(fresh.indexOf('arcface.weight'), 1);
    }
    return { copied: from.size + (items.length ? 1 : 0), total: from.size + tm.headParams.all().length, fresh };
  } finally {
    net.dispose();
  }
}

/** Each class's weight = the normalised mean embedding of up to `per` of its training crops. */
async function headFromCentres(tm: TrainableFaceNet, items: readonly { path: string; label: number }[], per = 16): Promise<void> {
  const size = tm.net.config.inputSize;
  const dim = tm.net.config.embeddingSize;
  const k = tm.head.numClasses;
  const byClass = new Map<number, string[]>();
  for (const it of items) {
    const l = byClass.get(it.label) ?? [];
    if (l.length < per) byClass.set(it.label, [...l, it.path]);
  }
  const centres = new Float32Array(dim * k);
  for (const [label, files] of byClass) {
    const crops = await Promise.all(files.map(async (f) => ({ data: await readCrop(f, size), width: size, height: size })));
    const embs = await tm.net.embedCrops(crops, 16);
    const mean = new Float64Array(dim);
    for (const e of embs) for (let d = 0; d < dim; d++) mean[d]! += e[d]!;
    const norm = Math.hypot(...mean) || 1;
    // The head weight is [dim, classes]: class `label` is a column.
    for (let d = 0; d < dim; d++) centres[d * k + label] = mean[d]! / norm;
  }
  tf.tidy(() => tm.head.weight.assign(tf.tensor2d(centres, [dim, k])));
}

/** Copies the checkpoint in `dir` into `tm` where names and shapes agree; returns what was copied. */
export async function initFromCheckpoint(tm: TrainableFaceNet, dir: string, classes: readonly string[]): Promise<InitReport> {
  const ck = await loadCheckpoint(dir);
  const src = await trainableFromCheckpoint(ck);
  try {
    const sameClasses = ck.state.classes.length === classes.length && ck.state.classes.every((k, i) => k === classes[i]);
    const from = new Map([...src.trainableVariables(), ...src.bufferVariables()]);
    const fresh: string[] = [];
    const targets = [...tm.trainableVariables(), ...tm.bufferVariables()];
    for (const [name, v] of targets) {
      const s = from.get(name);
      const ok = s && s.shape.join('x') === v.shape.join('x') && (sameClasses || !name.startsWith('arcface.'));
      if (ok) v.assign(s);
      else fresh.push(name);
    }
    return { copied: targets.length - fresh.length, total: targets.length, fresh };
  } finally {
    src.dispose();
  }
}
