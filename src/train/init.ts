// Warm start: a new run begins from another run's checkpoint (longer schedules, a changed loss)
// rather than from random weights. Tensors are matched by name and shape, so a run may add or drop
// a head (the distillation projection, a different class list) and keep the backbone.
import { FaceNet, TrainableFaceNet } from '../model/facenet.js';
import { modelConfig } from '../model/config.js';
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
  const net = new FaceNet(modelConfig({ variant: cfg.variant, inputSize: cfg.inputSize, embeddingSize: cfg.embeddingSize, width: cfg.width }), cfg.seed);
  const distill = teacherDim ? { mode: cfg.distillMode, teacherDim, weight: cfg.distillWeight } : undefined;
  return new TrainableFaceNet(net, numClasses, { s: cfg.s, m: cfg.m }, cfg.seed + 1000, distill);
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
