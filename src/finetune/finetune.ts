// `facegate finetune` / `npm run finetune`: adapt the active model to this site's people, camera
// and light, and keep the result only if it is better. Steps:
//   1. data: the gallery's stored crops (some held out per person) + a replay sample of the base
//      model's training images + the base model's validation pairs;
//   2. features: the frozen trunk runs once per image;
//   3. before: site 1:N and base verification with the active model;
//   4. train: the tail + an ArcFace head over base + site identities, started from the old
//      model's class centres, with a pull toward the old embeddings on replay images;
//   5. after: the same measurements; promote only if the site got better and base verification
//      fell by no more than the tolerance;
//   6. promote: write models/<name>-ft-<time>/, re-embed the gallery into it, switch active.json
//      (a running server follows it without a restart). The gallery write follows the gallery's
//      one-writer rule (src/owner): see promoteVersion.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { initBackend } from '../engine/backend.js';
import { loadModel, roundTripWeights, saveModel, type ModelMeta, type WeightQuantization } from '../model/io.js';
import type { FaceNet } from '../model/facenet.js';
import { modelIdOf } from '../service/embedder.js';
import { decodeImage } from '../vision/decode.js';
import type { RgbImage } from '../vision/types.js';
import { ModelRegistry } from '../model/registry.js';
import { Enrolled } from '../enrolled/index.js';
import type { Gallery } from '../gallery/gallery.js';
import type { AppConfig } from '../config/schema.js';
import { describeOwner, useGallery } from '../owner/owner.js';
import { Rng } from '../data/rng.js';
import { calibrateOnPairs } from '../train/validate.js';
import { loadSiteData } from './site-data.js';
import { loadBaseData } from './base-data.js';
import { imprintCentres, tailEmbeddings, trainTail, trunkFeatures, type TailSample } from './tail.js';
import { metricsTable, pairMetrics, siteMetrics, siteVerdict, type Labelled } from './metrics.js';
import { isStale, readFinetuneStatus, writeFinetuneStatus, type FinetuneMetrics, type FinetuneReport, type FinetuneStatus } from './status.js';

export interface FinetuneOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  /** Base training images replayed so the model does not forget them. */
  replaySize: number;
  /** Base validation pairs used for the "no worse" check (thinned evenly over folds). */
  maxBasePairs: number;
  minCrops: number;
  heldOutPerIdentity: number;
  /** Largest drop in base verification accuracy (absolute, e.g. 0.01 = 1 point) still promoted. */
  tolerance: number;
  preserveWeight: number;
  seed: number;
  baseRun?: string;
  baseRawRoot?: string;
  /** Evaluate and train, but never promote. */
  dryRun?: boolean;
  /**
   * Promote even though some enrolled people have no stored face crop (enrolled with keepCrops
   * off): the new model has no template for them, so they are refused until they enroll again.
   */
  allowReenroll?: boolean;
  /** Sanity check of the guard: train on shuffled site labels; the result must be refused. */
  shuffleLabels?: boolean;
  /** A progress bar while training (interactive terminals); per-epoch lines otherwise. */
  progress?: boolean;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export const FINETUNE_DEFAULTS: FinetuneOptions = {
  epochs: 6,
  batchSize: 32,
  lr: 1e-4,
  replaySize: 600,
  maxBasePairs: 1000,
  minCrops: 3,
  heldOutPerIdentity: 1,
  tolerance: 0.01,
  preserveWeight: 16,
  seed: 7,
};

export class FinetuneError extends Error {
  override readonly name = 'FinetuneError';
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');

/** Folder name of a new version: the parent's base name (without an earlier -ft- suffix) + time. */
export function versionFolder(parentFolder: string, time = stamp()): string {
  return `${parentFolder.replace(/-ft-\d{8}T\d{6}$/, '')}-ft-${time}`;
}

export async function runFinetune(config: AppConfig, input: Partial<FinetuneOptions> = {}): Promise<FinetuneReport> {
  const o: FinetuneOptions = { ...FINETUNE_DEFAULTS, ...input };
  const log = o.log ?? ((l: string) => console.error(l));
  const t0 = performance.now();
  const status: FinetuneStatus = { state: 'running', pid: process.pid, startedAt: new Date().toISOString(), updatedAt: '', phase: 'data' };
  // One run at a time: the nightly timer and the Model page must not overlap. The server writes a
  // 'running' status with this process's pid before starting it, which is not a conflict.
  const current = await readFinetuneStatus(config.galleryDir);
  if (current && current.state === 'running' && current.pid !== process.pid && !isStale(current)) {
    throw new FinetuneError(`another finetune is running (pid ${current.pid}, since ${current.startedAt})`);
  }
  const phaseSeconds: Record<string, number> = {};
  let phaseStart = performance.now();
  const setStatus = async (patch: Partial<FinetuneStatus>) => {
    if (patch.phase && patch.phase !== status.phase) {
      phaseSeconds[status.phase] = (phaseSeconds[status.phase] ?? 0) + (performance.now() - phaseStart) / 1000;
      phaseStart = performance.now();
    }
    Object.assign(status, patch);
    await writeFinetuneStatus(config.galleryDir, status).catch((err) => log(`[finetune] could not write status: ${(err as Error).message}`));
  };
  await setStatus({});
  try {
    const report = await finetune(config, o, log, setStatus, t0);
    await setStatus({ phase: 'done' });
    report.phaseSeconds = phaseSeconds;
    await setStatus({ state: report.promoted ? 'promoted' : 'refused', phase: 'done', report, message: report.reasons.join('; ') });
    return report;
  } catch (err) {
    await setStatus({ state: 'failed', phase: 'done', message: (err as Error).message });
    throw err;
  }
}

async function finetune(
  config: AppConfig,
  o: FinetuneOptions,
  log: (l: string) => void,
  setStatus: (p: Partial<FinetuneStatus>) => Promise<void>,
  t0: number,
): Promise<FinetuneReport> {
  await initBackend({ quiet: true });
  const parentDir = path.resolve(config.modelDir);
  const parentFolder = path.basename(parentDir);
  const { net, meta } = await loadModel(parentDir).catch((err: Error) => {
    throw new FinetuneError(`cannot load the active model: ${err.message}`);
  });
  try {
    // 1. data
    // No sweep: the server may be mid-enrolment in this gallery, and its leftovers are its own.
    const enrolled = await Enrolled.open(config.galleryDir, { sweepOnOpen: false });
    let site;
    let stranded: string[];
    try {
      site = await loadSiteData(enrolled.gallery, { minCrops: o.minCrops, heldOutPerIdentity: o.heldOutPerIdentity, seed: o.seed });
      stranded = enrolled.gallery.identitiesWithoutCrops().map((i) => i.identityId);
    } finally {
      await enrolled.close();
    }
    // A promoted model has templates only for people with stored crops: the others would be
    // refused at the door from the switch on. Said before any training, not after.
    if (stranded.length > 0 && !o.allowReenroll && !o.dryRun) {
      throw new FinetuneError(
        `${stranded.length} enrolled ${stranded.length === 1 ? 'person has' : 'people have'} no stored face crop (${stranded.join(', ')}; enrolled with keepCrops off): a new model could not recognise them until they enroll again. Have them enroll again first, or pass --allow-reenroll to promote anyway`,
      );
    }
    // Ids only: this log outlives a deletion (journal, finetune.log); the pages look names up.
    for (const s of site.skipped) log(`[finetune] skipped ${s.id}: ${s.reason}`);
    if (site.identities.length < 2) {
      throw new FinetuneError(`finetune needs at least 2 enrolled people with ${o.minCrops}+ stored face crops; this gallery has ${site.identities.length}`);
    }
    log(`[finetune] site: ${site.identities.length} people, ${site.train.length} training crops, ${site.heldOut.length} held out`);
    const base = await loadBaseData(meta, { replaySize: o.replaySize, maxPairs: o.maxBasePairs, seed: o.seed, runDir: o.baseRun, rawRoot: o.baseRawRoot, log });
    const pairFiles = [...base.pairImages].filter(([, im]) => im !== null).map(([f]) => f);
    log(`[finetune] base: ${base.replay.length} replay images, ${base.pairs.length} validation pairs over ${base.pairImages.size} images (${base.pairImages.size - pairFiles.length} without a face)`);

    // 2. features (training images twice: as is and mirrored)
    await setStatus({ phase: 'features' });
    const siteTrainF = await trunkFeatures(net, site.train.map((c) => c.image), { flip: true });
    const siteHeldF = await trunkFeatures(net, site.heldOut.map((c) => c.image));
    const replayF = await trunkFeatures(net, base.replay.map((r) => r.image), { flip: true });
    const pairF = await trunkFeatures(net, pairFiles.map((f) => base.pairImages.get(f)!));
    const shape = siteTrainF.shape;

    // 3. before
    await setStatus({ phase: 'before' });
    const measure = (): FinetuneMetrics & { pairEmb: Float32Array[]; trainEmb: Float32Array[] } => {
      const trainEmb = tailEmbeddings(net, siteTrainF);
      const templates: Labelled[] = site.train.map((c, i) => ({ identityId: c.identityId, emb: trainEmb[2 * i]! }));
      const probes: Labelled[] = tailEmbeddings(net, siteHeldF).map((emb, i) => ({ identityId: site.heldOut[i]!.identityId, emb }));
      const pairEmb = tailEmbeddings(net, pairF);
      const v = pairMetrics(base.pairs, new Map(pairFiles.map((f, i) => [f, pairEmb[i]!])));
      return { ...siteMetrics(templates, probes), baseVerif: v.mean, baseVerifStd: v.std, pairEmb, trainEmb };
    };
    const before = measure();
    log(`[finetune] before: site top-1 ${(100 * before.siteTop1).toFixed(1)}%, d' ${before.siteSeparation.toFixed(3)}, base verification ${(100 * before.baseVerif!).toFixed(1)}%`);

    // 4. train: classes = base identities present in the replay sample, then the site's people.
    await setStatus({ phase: 'train', progress: { epoch: 0, epochs: o.epochs } });
    const baseLabels = [...new Set(base.replay.map((r) => r.label))].sort((a, b) => a - b);
    const classOf = new Map(baseLabels.map((l, i) => [l, i]));
    const siteLabel = new Map(site.identities.map((id, i) => [id, baseLabels.length + i]));
    const replayEmb = tailEmbeddings(net, replayF);
    const siteEmb = before.trainEmb;
    let siteLabels = site.train.flatMap((c) => [siteLabel.get(c.identityId)!, siteLabel.get(c.identityId)!]);
    if (o.shuffleLabels) siteLabels = shuffledLabels(siteLabels, o.seed);
    const replayLabels = base.replay.flatMap((r) => [classOf.get(r.label)!, classOf.get(r.label)!]);
    const numClasses = baseLabels.length + site.identities.length;
    const centres = imprintCentres([...replayEmb, ...siteEmb], [...replayLabels, ...siteLabels], numClasses, net.config.embeddingSize);
    const samples: TailSample[] = replayF.rows.map((feat, i) => ({ feat, label: replayLabels[i]!, anchor: replayEmb[i]! }));
    // The site's few crops are repeated so they make up about a third of each epoch.
    const repeat = Math.max(1, Math.round((0.5 * replayF.rows.length) / Math.max(1, siteTrainF.rows.length)));
    for (let r = 0; r < repeat; r++) siteTrainF.rows.forEach((feat, i) => samples.push({ feat, label: siteLabels[i]! }));
    const tTrain = performance.now();
    const bar = o.progress ? new cliProgress.SingleBar({ format: 'finetune [{bar}] {percentage}% | epoch {epoch}/{epochs} | loss {loss} | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
    const history = await trainTail(net, samples, shape, {
      epochs: o.epochs,
      batchSize: o.batchSize,
      lr: o.lr,
      preserveWeight: o.preserveWeight,
      arcface: { s: 30, m: 0.5 },
      seed: o.seed,
      centres,
      signal: o.signal,
      callbacks: [
        {
          // One bar over the whole run, rather than the trainer's one per epoch.
          afterStep: (s, meter) => {
            if (!bar) return;
            const done = (s.epoch - 1) * s.batches + s.batch + 1;
            if (done === 1) bar.start(s.batches * s.epochs, 0, { epoch: 1, epochs: s.epochs, loss: '-' });
            bar.update(done, { epoch: s.epoch, epochs: s.epochs, loss: meter.loss.toFixed(3) });
          },
          epochEnd: async (rec) => {
            if (!bar) log(`[finetune] epoch ${rec.epoch}/${o.epochs} loss ${rec.trainLoss.toFixed(4)} acc ${rec.trainAcc.toFixed(3)}`);
            await setStatus({ progress: { epoch: rec.epoch, epochs: o.epochs, loss: rec.trainLoss } });
          },
        },
      ],
    });
    bar?.stop();
    if (o.signal?.aborted) throw new FinetuneError('interrupted; the active model is unchanged');
    await assertNoneErased(config.galleryDir, site.identities);
    const trainSeconds = (performance.now() - tTrain) / 1000;
    log(`[finetune] trained ${history.losses.length} epochs over ${samples.length} samples in ${trainSeconds.toFixed(1)} s`);

    // 5. after, and the decision: measured on the weights exactly as they will be saved.
    await setStatus({ phase: 'after' });
    const quantize = (meta.weights as { quantization?: WeightQuantization } | undefined)?.quantization ?? 'none';
    roundTripWeights(net, quantize);
    const after = measure();
    const reasons: string[] = [];
    // The site verdict (siteVerdict): margins up on average, top-1 down by one crop at most, and no
    // held-out crop let in as someone else at the threshold the promoted model gets (FAR 1e-3).
    const cal = calibrateOnPairs(new Map(pairFiles.map((f, i) => [f, after.pairEmb[i]!])), base.pairs);
    const admits = cal.thresholds.at_far_1e3.cosine;
    const { better: siteBetter, gain, admitted } = siteVerdict(before, after, admits);
    const top1Note = after.siteTop1 < before.siteTop1 && admitted === 0 ? '; top-1 fell by one held-out crop, within the noise of a single crop, and no one would be let in as another' : '';
    const change = `margin ${gain.mean >= 0 ? '+' : ''}${gain.mean.toFixed(3)} ± ${gain.se.toFixed(3)} per held-out crop, d' ${before.siteSeparation.toFixed(3)} -> ${after.siteSeparation.toFixed(3)}, top-1 ${pct(before.siteTop1)} -> ${pct(after.siteTop1)}`;
    const admittedNote = admitted > 0 ? `; ${admitted} held-out crop${admitted === 1 ? '' : 's'} the parent recognised would now be let in as another person (score >= ${admits.toFixed(3)})` : '';
    reasons.push(siteBetter ? `site improved (${change}${top1Note})` : `site did not improve (${change}${admittedNote})`);
    const drop = before.baseVerif! - after.baseVerif!;
    const baseOk = drop <= o.tolerance;
    reasons.push(baseOk
      ? `base verification ${pct(before.baseVerif!)} -> ${pct(after.baseVerif!)} (within the ${(100 * o.tolerance).toFixed(1)}-point tolerance)`
      : `base verification fell ${(100 * drop).toFixed(1)} points (${pct(before.baseVerif!)} -> ${pct(after.baseVerif!)}), more than the ${(100 * o.tolerance).toFixed(1)}-point tolerance`);
    if (o.dryRun) reasons.push('dry run: nothing promoted');
    const promote = siteBetter && baseOk && !o.dryRun;

    const report: FinetuneReport = {
      parent: parentFolder,
      candidate: null,
      promoted: false,
      reasons,
      before: withoutEmbeddings(before),
      after: withoutEmbeddings(after),
      identities: { site: site.identities.length, skipped: site.skipped.map(({ id, crops, reason }) => ({ id, name: '', crops, reason })), base: baseLabels.length },
      images: { siteTrain: site.train.length, siteHeldOut: site.heldOut.length, replay: base.replay.length, basePairs: base.pairs.length },
      seconds: 0,
      trainSamplesPerSecond: (samples.length * history.losses.length) / Math.max(1e-9, trainSeconds),
      phaseSeconds: {},
      table: metricsTable(before, after),
    };

    // 6. promote
    if (promote) {
      await setStatus({ phase: 'promote' });
      const modelsDir = config.modelsDir ?? path.dirname(parentDir);
      const time = stamp();
      const folder = versionFolder(parentFolder, time);
      const outDir = path.join(modelsDir, folder);
      const newMeta: ModelMeta = {
        ...meta,
        version: `ft-${time}`,
        created: new Date().toISOString(),
        thresholds: {
          cosine: { far1e3: cal.thresholds.at_far_1e3.cosine, bestAccuracy: cal.thresholds.best_accuracy.cosine },
          euclidean: { far1e3: cal.thresholds.at_far_1e3.euclidean, bestAccuracy: cal.thresholds.best_accuracy.euclidean },
        },
        metrics: {
          verifAcc: after.baseVerif,
          verifStd: after.baseVerifStd,
          valPairs: `${base.pairs.length} of the base model's held-out validation pairs`,
          roc: cal.roc,
          calibration: { genuinePairs: cal.thresholds.genuine_pairs, impostorPairs: cal.thresholds.impostor_pairs, tarAtFar1e3: cal.thresholds.at_far_1e3.tar, bestAccuracy: cal.thresholds.best_accuracy.accuracy },
        },
        // Counts only: the model must not carry who was enrolled.
        finetune: {
          parent: parentFolder,
          parentModelId: modelIdOf(meta),
          siteIdentities: site.identities.length,
          images: report.images,
          before: withoutEmbeddings(before),
          after: withoutEmbeddings(after),
          options: { epochs: o.epochs, lr: o.lr, replaySize: o.replaySize, tolerance: o.tolerance, preserveWeight: o.preserveWeight, trained: 'last stage + embedding over a frozen trunk' },
        },
      };
      await saveModel(outDir, net, newMeta, { quantize });
      await promoteVersion(config, { net, modelId: modelIdOf(newMeta), folder, outDir, trainedOn: site.identities, log });
      report.candidate = folder;
      report.promoted = true;
      reasons.push(config.modelsDir ? `promoted: ${folder} is now the active model` : `saved ${outDir}; the model is pinned by --model, so start with --model ${outDir} to use it`);
    }
    report.seconds = (performance.now() - t0) / 1000;
    return report;
  } finally {
    net.dispose();
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Labels moved to other crops at random (the sanity check of the guard). */
function shuffledLabels(labels: number[], seed: number): number[] {
  return Rng.derive(seed, 'shuffle-labels').shuffle([...labels]);
}

/** Someone erased while this run trained: their crops are in the weights, so the result must not ship. */
function assertPresent(gallery: Gallery, trainedOn: readonly string[]): void {
  const gone = trainedOn.filter((id) => !gallery.getIdentity(id));
  if (gone.length > 0) throw new FinetuneError(`${gone.length} enrolled person(s) were deleted during the run; nothing promoted, run it again`);
}

async function assertNoneErased(galleryDir: string, trainedOn: readonly string[]): Promise<void> {
  const enrolled = await Enrolled.open(galleryDir, { sweepOnOpen: false });
  try {
    assertPresent(enrolled.gallery, trainedOn);
  } finally {
    await enrolled.close();
  }
}

function withoutEmbeddings(m: FinetuneMetrics & { pairEmb?: unknown; trainEmb?: unknown }): FinetuneMetrics {
  const { pairEmb: _p, trainEmb: _t, ...rest } = m;
  return rest;
}

export interface PromotedVersion {
  /** The new model (only its embedCrops is used here). */
  net: Pick<FaceNet, 'embedCrops'>;
  /** Its name@version. */
  modelId: string;
  /** Its folder name under config.modelsDir, and where it was saved. */
  folder: string;
  outDir: string;
  /** The identities it was trained on: any of them erased meanwhile stops the promotion. */
  trainedOn: readonly string[];
  log: (line: string) => void;
}

/**
 * Step 6 once the new version is saved: its templates in the gallery, then active.json. The
 * gallery has one writer at a time (src/owner), and this process is not a server:
 *  - no server owns the gallery: the templates are written under the gallery's lock, like any CLI
 *    writer (a command holding it is waited for, and one starting meanwhile waits for this);
 *  - a server owns it: nothing is written to the gallery from here. The server writes from its
 *    memory, and no re-read here could stop one of its writes landing between that re-read and our
 *    write (ours would drop its change, or its next write ours). Its switch to the new version,
 *    which follows active.json, re-reads the gallery and embeds the stored crops itself, behind
 *    door requests. (A server with a pinned model keeps it; the next start on the new version embeds
 *    them.)
 * Returns who embeds the crops. On failure the saved version, and templates written here, are removed.
 */
export async function promoteVersion(config: Pick<AppConfig, 'galleryDir' | 'modelsDir'>, v: PromotedVersion): Promise<'finetune' | 'server'> {
  const registry = config.modelsDir ? new ModelRegistry(config.modelsDir) : null;
  try {
    return await useGallery<'finetune' | 'server'>(
      config.galleryDir,
      'facegate finetune',
      {
        server: async (owner) => {
          v.log(`[finetune] gallery ${path.resolve(config.galleryDir)} is served by ${describeOwner({ kind: 'server', command: '', ...owner })}: it embeds the stored crops when it switches to the new model`);
          await assertNoneErased(config.galleryDir, v.trainedOn);
          await registry?.use(v.folder);
          return 'server';
        },
        local: async () => {
          try {
            await addGalleryTemplates(config.galleryDir, v.net, v.modelId, v.trainedOn, v.log);
            await registry?.use(v.folder);
          } catch (err) {
            const e = await Enrolled.open(config.galleryDir, { sweepOnOpen: false });
            await e.gallery.reload().then(() => e.gallery.dropTemplatesForModel(v.modelId)).catch(() => {}).finally(() => e.close());
            throw err;
          }
          return 'finetune';
        },
      },
      { say: (line) => v.log(`[finetune] ${line}`) },
    );
  } catch (err) {
    await rm(v.outDir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Embeds every stored crop with the new model into its own templates. The old templates stay for
 * rollback; the active model id is left to whoever loads the new model (a running server's switch,
 * or the next start). Called under the gallery's lock (promoteVersion); the write still re-reads
 * the gallery first, as a command may have changed it while this run trained.
 */
async function addGalleryTemplates(galleryDir: string, net: Pick<FaceNet, 'embedCrops'>, modelId: string, trainedOn: readonly string[], log: (l: string) => void): Promise<void> {
  // Through Enrolled: the templates are stored as the settings say (crops, dtype).
  const enrolled = await Enrolled.open(galleryDir, { sweepOnOpen: false });
  const gallery = enrolled.gallery;
  try {
    assertPresent(gallery, trainedOn);
    const items = gallery.templatesNeedingReembed(modelId);
    const crops: RgbImage[] = [];
    const ready: typeof items = [];
    for (const it of items) {
      try {
        crops.push(await decodeImage(await readFile(it.cropPath)));
        ready.push(it);
      } catch {
        /* an unreadable crop stays un-embedded; the server's switch reports it */
      }
    }
    const embs = await net.embedCrops(crops, 32);
    await gallery.replaceTemplatesForModel(
      modelId,
      ready.map((it, i) => ({ identityId: it.identityId, embedding: embs[i]!, quality: it.quality, source: it.source, fromTemplateId: it.templateId })),
      { reload: true },
    );
    log(`[finetune] gallery: ${ready.length} crops embedded with ${modelId}${items.length > ready.length ? `, ${items.length - ready.length} unreadable` : ''}`);
  } finally {
    await enrolled.close();
  }
}
