// Checkpoints hold everything needed to continue a run exactly: parameters (backbone, ArcFace
// head, BN statistics), Adam moments and step, scheduler state, history, position, config, classes.
// Each is written to a temporary folder and swapped into place (the old copy moved aside until the
// new one is in), then `latest.json` is updated, so a crash mid-save leaves a usable checkpoint.
import { mkdir, readFile, rename, rm, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadTensorFile, saveTensorFile } from '../model/io.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { AdamState } from './adam.js';
import type { PlateauState } from './plateau.js';
import type { TrainConfig } from './config.js';
import type { EpochRecord } from './history.js';

export interface TrainState {
  /** Epochs fully completed. */
  epoch: number;
  /** Batches already done in epoch `epoch` (non-zero only for an interrupted run). */
  batch: number;
  lr: number;
  plateau: PlateauState;
  best: { metric: number; epoch: number } | null;
  history: EpochRecord[];
  config: TrainConfig;
  classes: string[];
}

export interface Checkpoint {
  state: TrainState;
  /** Trainable parameters, flat, in TrainableFaceNet.trainableVariables() order. */
  params: Float32Array;
  /** Buffers (BN moving statistics), flat, in bufferVariables() order. */
  buffers: Float32Array;
  adam: AdamState;
}

function flatTensor(a: Float32Array): tf.Tensor {
  return tf.tensor1d(a, 'float32');
}

export async function saveCheckpoint(dir: string, ck: Checkpoint): Promise<void> {
  const parent = path.dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  const tensors: [string, tf.Tensor][] = [
    ['params', flatTensor(ck.params)],
    ['buffers', flatTensor(ck.buffers)],
    ['adam.m', flatTensor(ck.adam.m)],
    ['adam.v', flatTensor(ck.adam.v)],
  ];
  try {
    await saveTensorFile(tmp, 'tensors', tensors, { adamStep: ck.adam.step });
  } finally {
    tf.dispose(tensors.map(([, t]) => t));
  }
  await writeFileAtomic(path.join(tmp, 'state.json'), JSON.stringify(ck.state, null, 1));
  // Swap with the old copy moved aside rather than deleted first: at every instant either `dir`
  // or `dir.old` is a complete checkpoint, and loadCheckpoint falls back to the latter.
  const old = `${dir}.old`;
  if (existsSync(dir)) {
    await rm(old, { recursive: true, force: true });
    await rename(dir, old);
  } // else a previous swap died half-way and `old` is the whole copy: keep it until `dir` is back
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}

export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  // Killed between saveCheckpoint's two renames: the previous copy is still whole beside it.
  if (!existsSync(dir) && existsSync(`${dir}.old`)) dir = `${dir}.old`;
  const state = JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')) as TrainState;
  const { tensors, extra } = await loadTensorFile(dir, 'tensors');
  try {
    const get = (n: string) => tensors[n]!.dataSync() as Float32Array;
    return {
      state,
      params: Float32Array.from(get('params')),
      buffers: Float32Array.from(get('buffers')),
      adam: { step: extra.adamStep as number, m: Float32Array.from(get('adam.m')), v: Float32Array.from(get('adam.v')) },
    };
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/** A run folder or a checkpoint folder -> the checkpoint folder to resume from. */
export async function resolveCheckpoint(p: string): Promise<string> {
  try {
    const latest = JSON.parse(await readFile(path.join(p, 'checkpoints', 'latest.json'), 'utf8')) as { dir: string };
    return path.join(p, 'checkpoints', latest.dir);
  } catch {
    await readFile(path.join(p, 'state.json')); // throws a clear ENOENT if p is neither
    return p;
  }
}

export async function markLatest(runDir: string, name: string): Promise<void> {
  await writeFileAtomic(path.join(runDir, 'checkpoints', 'latest.json'), JSON.stringify({ dir: name }) + '\n');
}

/** Keeps the newest `keep` periodic checkpoints (best/ and last/ are separate and kept). */
export async function prunePeriodic(runDir: string, keep = 3): Promise<void> {
  const dir = path.join(runDir, 'checkpoints');
  const periodic = (await readdir(dir)).filter((d) => /^epoch-\d+$/.test(d)).sort();
  for (const d of periodic.slice(0, Math.max(0, periodic.length - keep))) await rm(path.join(dir, d), { recursive: true, force: true });
}
