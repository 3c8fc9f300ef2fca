// `facegate train`: FaceNet (EfficientFR or MobileFaceNet + ArcFace) on identity-per-folder data.
// One step: the loader's batch is cut into micro-batches, replicas return summed gradients,
// the main thread averages them, runs Adam on the flat parameter vector, and folds the BN batch
// moments into the moving averages. Parameters live here as one Float32Array; the in-thread
// model is synchronised from it for validation and export.
import { mkdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { initBackend } from '../engine/backend.js';
import type { TrainableFaceNet } from '../model/facenet.js';
import { defaultMeta, roundTripWeights, saveModel, type ModelMeta, type WeightQuantization } from '../model/io.js';
import { scanDatasets, type DatasetItem } from '../data/dataset.js';
import { holdOutIdentities, pairsTsv } from '../data/val-pairs.js';
import { readSplit, splitDataset, writeSplit, type Split } from '../data/split.js';
import { BatchLoader } from '../data/loader.js';
import { AugmentConfigSchema } from '../data/augment.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { Adam } from './adam.js';
import { ReduceLROnPlateau } from './plateau.js';
import { TrainConfigSchema, type TrainConfig } from './config.js';
import { readFlat, writeFlat } from './flat.js';
import { bnLayers, type MicroBatch } from './gradients.js';
import { createGradientEngine, defaultWorkerCount, type GradientEngine } from './replicas.js';
import { loadCheckpoint, markLatest, prunePeriodic, resolveCheckpoint, saveCheckpoint, type TrainState } from './checkpoint.js';
import { writeHistory, type EpochRecord } from './history.js';
import { PairValidator, closedSetBatch, recordCalibration } from './validate.js';
import { TeacherCache } from './teacher-cache.js';
import { initFrom, trainableFor, trainableFromCheckpoint } from './init.js';

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

const BN_MOMENTUM = 0.9;

export async function train(input: Partial<TrainConfig> & Pick<TrainConfig, 'data' | 'runDir'>, opts: TrainOptions = {}): Promise<TrainResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  // Before anything makes a tensor (loading a checkpoint does).
  const backend = await initBackend();
  const resumeFrom = opts.resume ? await loadCheckpoint(await resolveCheckpoint(opts.resume)) : undefined;
  const cfg: TrainConfig = resumeFrom ? { ...resumeFrom.state.config, ...(opts.epochs ? { epochs: opts.epochs } : {}) } : TrainConfigSchema.parse(input);
  if (!resumeFrom && opts.epochs) cfg.epochs = opts.epochs;
  const runDir = cfg.runDir;
  await mkdir(path.join(runDir, 'checkpoints'), { recursive: true });

  // Data: the class list and split are fixed at the first run and reread on resume.
  const split = await loadOrMakeSplit(cfg, resumeFrom?.state.classes);
  const classes = split.classes;
  await writeFileAtomic(path.join(runDir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  await writeFileAtomic(path.join(runDir, 'classes.json'), JSON.stringify(classes) + '\n');
  log(`[train] ${classes.length} identities; ${split.train.length} train / ${split.val.length} val / ${split.test.length} test images` + (split.trainOnly.length ? `; ${split.trainOnly.length} identities too small to split (train only)` : ''));

  const rawTeacher = cfg.teacher ? await TeacherCache.read(cfg.teacher) : undefined;
  const teacher = rawTeacher && cfg.distillCentre ? rawTeacher.centred(split.train.map((it) => it.path)) : rawTeacher;
  if (teacher) {
    const covered = split.train.filter((it) => teacher.get(it.path)).length;
    // Refused here, before any training, rather than at the first batch that meets a missing row.
    if (covered < split.train.length) {
      throw new Error(`${split.train.length - covered} of ${split.train.length} training images have no embedding in ${cfg.teacher}: rebuild it for these data with \`facegate teacher\``);
    }
    log(`[train] distilling from ${teacher.index.teacher} (${teacher.dim}-d${cfg.distillCentre ? ', centred' : ''}, ${cfg.distillMode}, weight ${cfg.distillWeight}) for all ${covered} training images`);
  }
  const tm = trainableFor(cfg, classes.length, teacher?.dim);
  if (cfg.init && !resumeFrom) {
    const r = await initFrom(tm, cfg.init, classes, split.train).catch((err: unknown) => {
      tm.dispose();
      throw err;
    });
    log(`[train] initialised ${r.copied} of ${r.total} tensors from ${cfg.init}` + (r.fresh.length ? `; fresh: ${r.fresh.join(', ')}` : ''));
  }
  const trainVars = tm.trainableVariables();
  const bufVars = tm.bufferVariables();
  const params = resumeFrom ? resumeFrom.params : readFlat(trainVars);
  const buffers = resumeFrom ? resumeFrom.buffers : readFlat(bufVars);
  if (params.length !== readFlat(trainVars).length) throw new Error('checkpoint does not match the model architecture');
  const adam = new Adam(params.length, { lr: cfg.lr, weightDecay: cfg.weightDecay });
  if (resumeFrom) adam.state = resumeFrom.adam;
  const decayMask = weightDecayMask(trainVars);
  const plateau = new ReduceLROnPlateau({ mode: 'max', factor: cfg.plateau.factor, patience: cfg.plateau.patience, minLr: cfg.plateau.minLr });
  const state: TrainState = resumeFrom?.state ?? { epoch: 0, batch: 0, lr: cfg.lr, plateau: plateau.state, best: null, history: [], config: cfg, classes };
  state.config = cfg;
  plateau.state = state.plateau;
  if (resumeFrom && opts.lr !== undefined && opts.lr !== state.lr) {
    log(`[train] learning rate ${state.lr.toExponential(2)} -> ${opts.lr.toExponential(2)} from epoch ${state.epoch + 1}`);
    state.lr = opts.lr;
  }

  const workers = cfg.workers ?? defaultWorkerCount();
  const engine: GradientEngine = await createGradientEngine(tm, workers, backend.name);
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

  let interrupted = false;
  const onAbort = () => (interrupted = true);
  opts.signal?.addEventListener('abort', onAbort);
  const snapshot = () => ({ state, params, buffers, adam: adam.state });

  try {
    for (let epoch = state.epoch + 1; epoch <= cfg.epochs && !interrupted; epoch++) {
      const plan = loader.epochPlan(epoch - 1);
      const nBatches = Math.min(plan, cfg.maxBatchesPerEpoch ?? plan);
      const bar = makeBar(opts.progress ?? process.stderr.isTTY, nBatches, epoch, cfg.epochs, log);
      const t0 = performance.now();
      let seen = 0, lossSum = 0, distillSum = 0, correct = 0;
      const startBatch = state.batch;
      for await (const batch of loader.batches(epoch - 1, startBatch)) {
        if (batch.index >= nBatches) break;
        adam.lr = warmupLr(cfg, state.lr, epoch - 1, batch.index, nBatches);
        const teacherRows = teacher?.gather(Array.from(batch.items, (i) => split.train[i]!.path));
        const sums = await engine.compute(params, microBatches(batch.images, batch.labels, cfg.microBatch, cfg.inputSize, teacherRows));
        const inv = 1 / sums.count;
        for (let i = 0; i < sums.grads.length; i++) sums.grads[i]! *= inv;
        adam.update(params, sums.grads, decayMask);
        updateMovingStats(tm, bufVars, buffers, sums.bnStats, inv);
        seen += sums.count;
        lossSum += sums.lossSum;
        distillSum += sums.distillSum;
        correct += sums.correct;
        state.batch = batch.index + 1;
        bar.update(batch.index + 1, { loss: (lossSum / seen).toFixed(3), acc: (correct / seen).toFixed(3), ips: (seen / ((performance.now() - t0) / 1000)).toFixed(1) });
        if (interrupted) break;
      }
      bar.stop();
      if (interrupted && state.batch < nBatches) {
        await saveNamed(runDir, 'interrupted', snapshot());
        log(`[train] interrupted in epoch ${epoch} at batch ${state.batch}/${nBatches}; checkpoint saved. Resume with --resume ${runDir}`);
        break;
      }
      const seconds = (performance.now() - t0) / 1000;
      // Validation runs on the in-thread model, synchronised from the flat vectors.
      writeFlat(trainVars, params);
      writeFlat(bufVars, buffers);
      const rec: EpochRecord = { epoch, trainLoss: lossSum / Math.max(1, seen), trainAcc: correct / Math.max(1, seen), lr: adam.lr, seconds, imagesPerSecond: seen / seconds };
      if (teacher) rec.distillLoss = distillSum / Math.max(1, seen);
      if (valLoader) {
        let vl = 0, vc = 0, vn = 0;
        for await (const b of valLoader.batches(0)) {
          const r = closedSetBatch(tm, b.images, b.labels);
          vl += r.lossSum;
          vc += r.correct;
          vn += b.labels.length;
        }
        rec.valLoss = vl / Math.max(1, vn);
        rec.valAcc = vc / Math.max(1, vn);
      }
      if (pairs) {
        const v = await pairs.evaluate(tm);
        rec.verifAcc = v.mean;
        rec.verifStd = v.std;
      }
      state.history.push(rec);
      state.epoch = epoch;
      state.batch = 0;
      // The seed schedules on validation accuracy; verification accuracy when pairs are given.
      const metric = rec.verifAcc ?? rec.valAcc ?? rec.trainAcc;
      state.lr = plateau.step(metric, state.lr);
      state.plateau = plateau.state;
      log(`[train] epoch ${epoch}/${cfg.epochs} loss ${rec.trainLoss.toFixed(4)} acc ${fmt(rec.trainAcc)} | val loss ${fmt(rec.valLoss)} acc ${fmt(rec.valAcc)} | verif ${fmt(rec.verifAcc)} | lr ${rec.lr.toExponential(2)} | ${rec.imagesPerSecond.toFixed(1)} img/s, ${seconds.toFixed(0)} s`);
      if (!state.best || metric > state.best.metric) {
        state.best = { metric, epoch };
        await saveNamed(runDir, 'best', snapshot(), false);
      }
      if (epoch % cfg.checkpointEvery === 0) {
        await saveNamed(runDir, `epoch-${String(epoch).padStart(4, '0')}`, snapshot());
        await prunePeriodic(runDir);
      }
      await saveNamed(runDir, 'last', snapshot());
      await writeHistory(runDir, state.history);
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await engine.close();
    await loader.close();
    await valLoader?.close();
  }

  let modelDir: string | undefined;
  if (opts.exportDir && !interrupted) {
    modelDir = await exportBest(runDir, opts.exportDir, tm, cfg, split, state, pairs);
    log(`[train] exported ${modelDir}`);
  }
  const result = { runDir, history: state.history, best: state.best, interrupted, params, buffers, modelDir };
  tm.dispose();
  return result;
}

async function loadOrMakeSplit(cfg: TrainConfig, classes?: string[]): Promise<Split> {
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

const VAL_PAIRS_FILE = 'val-pairs.tsv';

/** Held-out identity pairs from this run, else the pairs given on the command line, else none. */
async function openPairValidator(cfg: TrainConfig): Promise<PairValidator | undefined> {
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

/** Cuts a batch into micro-batches (the unit of BN statistics and of work per replica). */
export function microBatches(images: Uint8Array, labels: Int32Array, micro: number, size: number, teacher?: Float32Array): MicroBatch[] {
  const per = size * size * 3;
  const dim = teacher ? teacher.length / labels.length : 0;
  const out: MicroBatch[] = [];
  for (let i = 0, j = 0; i < labels.length; i = j) {
    j = Math.min(labels.length, i + micro);
    // A lone last image would give BatchNorm a batch variance of 0 (the 1x1 layers output beta and
    // pass no gradient): it joins the micro-batch before it.
    if (labels.length - j === 1) j++;
    out.push({ images: images.slice(i * per, j * per), labels: labels.slice(i, j), ...(teacher ? { teacher: teacher.slice(i * dim, j * dim) } : {}) });
  }
  return out;
}

/** Linear warm-up over the first `warmupEpochs`, then the scheduler's rate. */
function warmupLr(cfg: TrainConfig, lr: number, epoch0: number, batch: number, perEpoch: number): number {
  if (!cfg.warmupEpochs) return lr;
  const progress = (epoch0 * perEpoch + batch + 1) / (cfg.warmupEpochs * perEpoch);
  return progress >= 1 ? lr : lr * progress;
}

/** Weight decay on conv/dense/ArcFace weights only, never on BN or PReLU parameters. */
function weightDecayMask(vars: [string, { size: number }][]): Uint8Array {
  const mask = new Uint8Array(vars.reduce((n, [, v]) => n + v.size, 0));
  let o = 0;
  for (const [name, v] of vars) {
    if (name.endsWith('.w') || name === 'arcface.weight') mask.fill(1, o, o + v.size);
    o += v.size;
  }
  return mask;
}

/** moving = 0.9 * moving + 0.1 * (mean over micro-batches of the batch moments). */
function updateMovingStats(tm: TrainableFaceNet, bufVars: [string, { size: number }][], buffers: Float32Array, stats: Float32Array, inv: number): void {
  const offsets = new Map<string, number>();
  let o = 0;
  for (const [name, v] of bufVars) {
    offsets.set(name, o);
    o += v.size;
  }
  const half = stats.length / 2;
  let b = 0;
  for (const l of bnLayers(tm)) {
    const mo = offsets.get(`${l.name}.moving_mean`)!;
    const vo = offsets.get(`${l.name}.moving_var`)!;
    for (let i = 0; i < l.channels; i++) {
      buffers[mo + i] = BN_MOMENTUM * buffers[mo + i]! + (1 - BN_MOMENTUM) * stats[b + i]! * inv;
      buffers[vo + i] = BN_MOMENTUM * buffers[vo + i]! + (1 - BN_MOMENTUM) * stats[half + b + i]! * inv;
    }
    b += l.channels;
  }
}

async function saveNamed(runDir: string, name: string, ck: Parameters<typeof saveCheckpoint>[1], latest = true): Promise<void> {
  await saveCheckpoint(path.join(runDir, 'checkpoints', name), ck);
  if (latest) await markLatest(runDir, name);
}

/**
 * Exports a checkpoint of a run (default: its best epoch) as a model folder, with thresholds
 * calibrated on the run's validation pairs: `facegate model export`.
 */
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

async function exportBest(
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

function fmt(v: number | undefined): string {
  return v === undefined ? '-' : v.toFixed(4);
}

interface Bar {
  update(n: number, payload: Record<string, string>): void;
  stop(): void;
}

function makeBar(tty: boolean, total: number, epoch: number, epochs: number, log: (l: string) => void): Bar {
  if (tty) {
    const bar = new cliProgress.SingleBar(
      { format: `epoch ${epoch}/${epochs} [{bar}] {value}/{total} | loss {loss} | acc {acc} | {ips} img/s | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 20 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { loss: '-', acc: '-', ips: '-' });
    return bar;
  }
  // Non-interactive (CI, systemd journal): a line every ~10% of the epoch.
  const every = Math.max(1, Math.round(total / 10));
  return {
    update(n, p) {
      if (n % every === 0 || n === total) log(`[train] epoch ${epoch}/${epochs} batch ${n}/${total} loss ${p.loss} acc ${p.acc} ${p.ips} img/s`);
    },
    stop() {},
  };
}

export async function readRunConfig(runDir: string): Promise<TrainConfig> {
  return TrainConfigSchema.parse(JSON.parse(await readFile(path.join(runDir, 'config.json'), 'utf8')));
}
