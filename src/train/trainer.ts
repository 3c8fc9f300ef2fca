// `facegate train`: FaceNet (EfficientFR or MobileFaceNet + ArcFace) on identity-per-folder data,
// in the shape of arcface_torch's train_v2.py: set up, then `fit` (loop.ts) with one step
// (step.ts: replicas' gradients -> Adam with weight decay per parameter group -> BN moving
// averages) and callbacks for progress, validation, the schedule, checkpoints and history.
// Parameters live here as one Float32Array; the in-thread model is synchronised from it for
// validation and export.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { initBackend } from '../engine/backend.js';
import { BatchLoader } from '../data/loader.js';
import type { Split } from '../data/split.js';
import { AugmentConfigSchema } from '../data/augment.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { Adam } from './adam.js';
import { ReduceLROnPlateau } from './plateau.js';
import { TrainConfigSchema, type TrainConfig } from './config.js';
import { readFlat } from './flat.js';
import { microBatches } from './gradients.js';
import { createGradientEngine, defaultWorkerCount } from './replicas.js';
import { loadCheckpoint, resolveCheckpoint, type Checkpoint, type TrainState } from './checkpoint.js';
import type { EpochRecord } from './history.js';
import { TeacherCache } from './teacher-cache.js';
import { initFrom, trainableFor } from './init.js';
import { flatGroups, weightDecayGroups } from './param-groups.js';
import { BnMovingStats, trainStep } from './step.js';
import { fit, type Callback } from './loop.js';
import { loadOrMakeSplit, openPairValidator } from './run-data.js';
import { exportBest } from './export.js';
import { epochSummary, progress } from './callbacks/logging.js';
import { validation } from './callbacks/validation.js';
import { lrSchedule } from './callbacks/lr-schedule.js';
import { checkpoints } from './callbacks/checkpoint.js';
import { historyFiles } from './callbacks/history.js';

// Imported from here by `facegate model export` and bench/engine.ts.
export { exportCheckpoint } from './export.js';
export { microBatches } from './gradients.js';

export interface TrainOptions {
  /** Run folder or checkpoint folder to continue from. */
  resume?: string;
  /** Override the number of epochs (e.g. to extend a finished run). */
  epochs?: number;
  /** On resume: continue at this learning rate (a manual step decay between resumable runs). */
  lr?: number;
  /** Where to export the final model (models/<name>); none if undefined. */
  exportDir?: string;
  log?: (line: string) => void;
  /** Progress bar on a TTY; plain lines otherwise. */
  progress?: boolean;
  /** Stop cleanly (checkpoint, then return) when aborted; Ctrl-C wires this up in the CLI. */
  signal?: AbortSignal;
}

export interface TrainResult {
  runDir: string;
  history: EpochRecord[];
  best: TrainState['best'];
  interrupted: boolean;
  params: Float32Array;
  buffers: Float32Array;
  modelDir?: string;
}

export async function train(input: Partial<TrainConfig> & Pick<TrainConfig, 'data' | 'runDir'>, opts: TrainOptions = {}): Promise<TrainResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  // Before anything makes a tensor (loading a checkpoint does).
  const backend = await initBackend();
  const resumeFrom = opts.resume ? await loadCheckpoint(await resolveCheckpoint(opts.resume)) : undefined;
  const cfg: TrainConfig = resumeFrom ? { ...resumeFrom.state.config } : TrainConfigSchema.parse(input);
  if (opts.epochs) cfg.epochs = opts.epochs;
  const runDir = cfg.runDir;
  await mkdir(path.join(runDir, 'checkpoints'), { recursive: true });

  const split = await loadOrMakeSplit(cfg, resumeFrom?.state.classes);
  const classes = split.classes;
  await writeFileAtomic(path.join(runDir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  await writeFileAtomic(path.join(runDir, 'classes.json'), JSON.stringify(classes) + '\n');
  log(`[train] ${classes.length} identities; ${split.train.length} train / ${split.val.length} val / ${split.test.length} test images` + (split.trainOnly.length ? `; ${split.trainOnly.length} identities too small to split (train only)` : ''));
  const teacher = await openTeacher(cfg, split, log);

  const tm = trainableFor(cfg, classes.length, teacher?.dim);
  if (cfg.init && !resumeFrom) {
    const r = await initFrom(tm, cfg.init, classes, split.train).catch((err: unknown) => {
      tm.dispose();
      throw err;
    });
    log(`[train] initialised ${r.copied} of ${r.total} tensors from ${cfg.init}` + (r.fresh.length ? `; fresh: ${r.fresh.join(', ')}` : ''));
  }
  const trainVars = tm.trainableVariables();
  const params = resumeFrom ? resumeFrom.params : readFlat(trainVars);
  const buffers = resumeFrom ? resumeFrom.buffers : readFlat(tm.bufferVariables());
  if (params.length !== readFlat(trainVars).length) throw new Error('checkpoint does not match the model architecture');
  const adam = new Adam(params.length, { lr: cfg.lr, groups: flatGroups(trainVars, weightDecayGroups(trainVars, cfg.weightDecay)) });
  if (resumeFrom) adam.state = resumeFrom.adam;
  const plateau = new ReduceLROnPlateau({ mode: 'max', factor: cfg.plateau.factor, patience: cfg.plateau.patience, minLr: cfg.plateau.minLr });
  const state: TrainState = resumeFrom?.state ?? { epoch: 0, batch: 0, lr: cfg.lr, plateau: plateau.state, best: null, history: [], config: cfg, classes };
  state.config = cfg;
  if (resumeFrom && opts.lr !== undefined && opts.lr !== state.lr) {
    log(`[train] learning rate ${state.lr.toExponential(2)} -> ${opts.lr.toExponential(2)} from epoch ${state.epoch + 1}`);
    state.lr = opts.lr;
  }

  const workers = cfg.workers ?? defaultWorkerCount();
  const engine = await createGradientEngine(tm, workers, backend.name);
  log(`[train] ${cfg.variant} ${cfg.inputSize}px, ${(tm.net.params.countTrainable() / 1e6).toFixed(2)}M backbone params, backend ${backend.name}, ${workers || 'no'} gradient workers, batch ${cfg.batchSize} (micro ${cfg.microBatch})`);
  const loader = new BatchLoader(split.train, {
    batchSize: cfg.batchSize,
    inputSize: cfg.inputSize,
    // No augment section in the config means the seed's defaults, not none.
    augment: AugmentConfigSchema.parse(cfg.augment ?? {}),
    shuffle: true,
    seed: cfg.seed,
    workers: cfg.loaderWorkers,
    cache: cfg.cache,
  });
  const valLoader = split.val.length ? new BatchLoader(split.val, { batchSize: 64, inputSize: cfg.inputSize, augment: null, shuffle: false, seed: cfg.seed, workers: cfg.loaderWorkers, cache: cfg.cache }) : undefined;
  const pairs = await openPairValidator(cfg);
  if (pairs?.missing) log(`[train] ${pairs.missing} validation-pair images have no crop; their pairs count as errors`);

  const bnStats = new BnMovingStats(tm, buffers);
  const teacherRows = (items: Int32Array) => teacher?.gather(Array.from(items, (i) => split.train[i]!.path));
  let interrupted: boolean;
  try {
    ({ interrupted } = await fit({
      state,
      epochs: cfg.epochs,
      batchesPerEpoch: (epoch) => Math.min(loader.epochPlan(epoch - 1), cfg.maxBatchesPerEpoch ?? Infinity),
      batches: (epoch, from) => loader.batches(epoch - 1, from),
      step: (b) => trainStep(params, adam, (p) => engine.compute(p, microBatches(b.images, b.labels, cfg.microBatch, cfg.inputSize, teacherRows(b.items))), bnStats),
      optimizer: adam,
      distill: !!teacher,
      signal: opts.signal,
      callbacks: runCallbacks({
        cfg,
        state,
        log,
        tty: opts.progress ?? process.stderr.isTTY,
        validation: validation({ tm, params, buffers, valLoader, pairs }),
        optimizer: adam,
        plateau,
        snapshot: () => ({ state, params, buffers, adam: adam.state }),
      }),
    }));
  } finally {
    await engine.close();
    await loader.close();
    await valLoader?.close();
  }

  let modelDir: string | undefined;
  if (opts.exportDir && !interrupted) {
    modelDir = await exportBest(runDir, opts.exportDir, tm, cfg, split, state, pairs);
    log(`[train] exported ${modelDir}`);
  }
  tm.dispose();
  return { runDir, history: state.history, best: state.best, interrupted, params, buffers, modelDir };
}

/**
 * A run's callbacks, in their order: each epoch-end hook sees what the ones before it did. The bar
 * ends before validation; validation's figures reach the schedule, the summary line and the
 * checkpoints; checkpoints hold the rate the schedule set for the next epoch.
 */
export function runCallbacks(o: {
  cfg: Pick<TrainConfig, 'runDir' | 'warmupEpochs' | 'checkpointEvery'>;
  state: TrainState;
  log: (line: string) => void;
  tty: boolean;
  validation: Callback;
  optimizer: Adam;
  plateau: ReduceLROnPlateau;
  snapshot: () => Checkpoint;
}): Callback[] {
  const { cfg, state, log } = o;
  return [
    progress({ tty: o.tty, log }),
    o.validation,
    lrSchedule({ optimizer: o.optimizer, state, warmupEpochs: cfg.warmupEpochs, plateau: o.plateau }),
    epochSummary(log),
    checkpoints({ runDir: cfg.runDir, every: cfg.checkpointEvery, snapshot: o.snapshot, state, log }),
    historyFiles(cfg.runDir, state.history),
  ];
}

/** The teacher cache for distillation, refused unless it covers every training image. */
async function openTeacher(cfg: TrainConfig, split: Split, log: (l: string) => void): Promise<TeacherCache | undefined> {
  if (!cfg.teacher) return undefined;
  const raw = await TeacherCache.read(cfg.teacher);
  const teacher = cfg.distillCentre ? raw.centred(split.train.map((it) => it.path)) : raw;
  const covered = split.train.filter((it) => teacher.get(it.path)).length;
  // Refused here, before any training, rather than at the first batch that meets a missing row.
  if (covered < split.train.length) {
    throw new Error(`${split.train.length - covered} of ${split.train.length} training images have no embedding in ${cfg.teacher}: rebuild it for these data with \`facegate teacher\``);
  }
  log(`[train] distilling from ${teacher.index.teacher} (${teacher.dim}-d${cfg.distillCentre ? ', centred' : ''}, ${cfg.distillMode}, weight ${cfg.distillWeight}) for all ${covered} training images`);
  return teacher;
}
