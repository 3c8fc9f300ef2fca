// Warm start: a new run begins from another run's checkpoint (longer schedules, a changed loss)
// rather than from random weights. Tensors are matched by name and shape, so a run may add or drop
// a head (the distillation projection, a different class list) and keep the backbone.
import * as tf from '@tensorflow/tfjs-core';
import { FaceNet, TrainableFaceNet } from '../model/facenet.js';
import { modelConfig } from '../model/config.js';
import { loadCheckpoint } from './checkpoint.js';
import { writeFlat } from './flat.js';
import { TeacherCache } from './teacher-cache.js';

export interface InitReport {
  copied: number;
  total: number;
  /** Target tensors left at their fresh initialisation. */
  fresh: string[];
}

/** Copies the checkpoint in `dir` into `tm` where names and shapes agree; returns what was copied. */
export async function initFromCheckpoint(tm: TrainableFaceNet, dir: string, classes: readonly string[]): Promise<InitReport> {
  const ck = await loadCheckpoint(dir);
  const c = ck.state.config;
  const teacherDim = c.teacher && c.distillMode === 'projection' ? (await TeacherCache.read(c.teacher)).dim : undefined;
  const src = new TrainableFaceNet(
    new FaceNet(modelConfig({ variant: c.variant, inputSize: c.inputSize, embeddingSize: c.embeddingSize, width: c.width }), c.seed),
    ck.state.classes.length,
    { s: c.s, m: c.m },
    c.seed + 1000,
    teacherDim ? { mode: 'projection', teacherDim, weight: c.distillWeight } : undefined,
  );
  try {
    writeFlat(src.trainableVariables(), ck.params);
    writeFlat(src.bufferVariables(), ck.buffers);
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
