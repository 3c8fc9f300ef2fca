// The verification service: it holds the model, the gallery and the inference queue, and composes
// the door (src/door: frame -> decision) over them. Besides the door it does enrollment,
// re-embedding, model switches and gallery admin, for the HTTP API, the pages and the CLI alike.
// The model can be switched at runtime (switchModel): every request picks the model inside its
// queue job and matches with that model's matcher, so none runs half on the old and half on the new.
// Inference runs in-process or on a pool of worker threads (config.workers; src/door/analyzer-pool):
// with a pool, a new model is loaded in every worker before it becomes the current one.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, describeChoice } from '../engine/backend.js';
import { resolveThreads } from '../engine/wasm-threads.js';
import type { ActuationOutcome } from '../actuation/index.js';
import { SNAPSHOT_FILE, type ActivityEntry, type ActivityQuery } from '../activity/index.js';
import { Enrolled } from '../enrolled/index.js';
import type { Gallery, Identity, NewTemplate, Template } from '../gallery/gallery.js';
import { isId } from '../gallery/ids.js';
import { BadgeSchema, CROP_FILE, IdentityPatchSchema, NameSchema, NewIdentitySchema, type IdentityPatch } from '../gallery/schema.js';
import { SettingsSchema, type Settings, type SettingsPatch } from '../settings/index.js';
import { GalleryMatcher } from '../match/gallery-matcher.js';
import { cosineToDistance, distanceToCosine, isBetter } from '../match/vector.js';
import { DecisionLog, Door, type ActiveModel, type FaceCheck, type IdentifyOutcome, type IdentityRef, type SampleReport, type VerifyOutcome } from '../door/index.js';
import { AnalyzerPool, PooledAnalyzer, payloadOf, resolveWorkers } from '../door/analyzer-pool.js';
import type { WorkerMemory } from '../door/analyzer-protocol.js';
import { InProcessAnalyzer, warmUp, type FrameAnalyzer } from '../door/frame-analyzer.js';
import { decodeImage, encodeJpeg } from '../vision/decode.js';
import { sharedDetector, type ExtractedFace } from '../vision/extract.js';
import { photoQualityConfig, type QualityConfig } from '../vision/quality.js';
import type { FaceDetector, RgbImage } from '../vision/types.js';
import type { AppConfig } from '../config/schema.js';
import { loadEmbedder, recommendedThresholds, type Embedder, type EmbedderSlot } from './embedder.js';
import { ServiceError, translate, translated } from './errors.js';
import { InferenceQueue } from './inference-queue.js';
import { selectDiverse } from './templates.js';
import type { AddSamplesOutcome, DuplicateMatch, EnrollOutcome, HealthReport, IdentityView, LoneStats, ModelSwitchOutcome, ReembedOutcome } from './types.js';

export interface OpenOptions {
  /** Don't print the backend choice, nor (without `log`) what opening did to the gallery. */
  quiet?: boolean;
  /** An already loaded embedder (tests, benchmarks); by default config.modelDir is loaded. */
  embedder?: EmbedderSlot;
  /** Where to say what opening did to the gallery (re-embedding, people who must enrol again); default stderr unless quiet. */
  log?: (line: string) => void;
  /**
   * Inference workers when config.workers is unset: the server passes 'auto' (one per core);
   * default 0 (in-process: the CLI, tests, benchmarks start quickly). config.workers wins.
   */
  workers?: number | 'auto';
  /** Main-thread WASM threads when config.threads is unset: the server passes 'auto'; default 1. */
  threads?: number | 'auto';
}

export interface EnrollImage {
  bytes: Uint8Array;
  /** Shown back in the per-sample report; never used as a path. */
  file?: string;
  /** Where this image came from, when a request mixes camera captures and uploads (default: the request's source). */
  source?: Source;
}

export interface EnrollRequest {
  name: string;
  badge?: string | null;
  notes?: string;
  images: EnrollImage[];
  /** Enrol even when the face already matches another identity. */
  confirmDuplicate?: boolean;
  source?: 'upload' | 'camera' | 'cli';
}

type Source = 'upload' | 'camera' | 'cli';

interface ModelState {
  slot: EmbedderSlot;
  matcher: GalleryMatcher | undefined;
}

type Runner = <T>(job: () => Promise<T>) => Promise<T>;

type Thresholds = Settings['thresholds'];

/** Thresholds given for a model: one metric is enough (on unit vectors it determines the other). */
export interface ThresholdOverride {
  cosine?: number;
  euclidean?: number;
}

/**
 * What the settings' thresholds become when a model is the active one (#thresholdStep): kept
 * (already its own, or the built-in defaults), set to its own, or missing (it has none, and
 * the ones in use were set for another model).
 */
type ThresholdStep =
  | { kind: 'keep' }
  | { kind: 'set'; thresholds: Thresholds; patch: SettingsPatch; why: string }
  | { kind: 'missing'; message: string };

/** Crops embedded for re-embedding, in the order of `items`. */
interface EmbeddedCrops {
  items: ReturnType<Gallery['templatesNeedingReembed']>;
  embeddings: Float32Array[];
  failed: ReembedOutcome['failed'];
}

/**
 * Crops per queue job when re-embedding: a door request waits behind at most one batch
 * (8 x ~30 ms on the WASM backend), while batching still pays for itself.
 */
const REEMBED_BATCH = 8;

/** What a stored secret reads as. */
export const REDACTED = '(stored)';
const BACKGROUND_MAX_WAIT_MS = 2000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const round = (ms: number) => Math.round(ms * 100) / 100;

const DEFAULT_THRESHOLDS: Thresholds = SettingsSchema.parse({}).thresholds;

/** Both metrics from one or both (null when neither is given). */
function bothMetrics(t: ThresholdOverride): Thresholds | null {
  const cosine = t.cosine ?? (t.euclidean === undefined ? undefined : distanceToCosine(t.euclidean));
  const euclidean = t.euclidean ?? (t.cosine === undefined ? undefined : cosineToDistance(t.cosine));
  return cosine === undefined || euclidean === undefined ? null : { cosine, euclidean };
}

const fmt = (t: ThresholdOverride) => [t.cosine !== undefined && `cosine ${t.cosine.toFixed(3)}`, t.euclidean !== undefined && `euclidean ${t.euclidean.toFixed(3)}`].filter(Boolean).join(', ');

const ref = (i: Pick<Identity, 'id' | 'name'>): IdentityRef => ({ id: i.id, name: i.name });

export class FaceService {
  readonly startedAt = Date.now();
  /** Frame -> decision: verify, identify, kiosk frames, enrollment screening. */
  readonly door: Door;
  readonly #queue: InferenceQueue;
  /** Frames and crops -> faces and embeddings: in-process, or the inference workers. */
  readonly #analyzer: FrameAnalyzer;
  #model: ModelState;
  /** Model switches and re-embeddings, one at a time (a switch must not dispose a net a re-embed is using). */
  #modelOps: Promise<unknown> = Promise.resolve();
  /** Operator messages (OpenOptions.log). */
  readonly #say: (line: string) => void;

  readonly #enrolled: Enrolled;
  /** The door's decisions on their way to the activity log (its backlog and drops are metrics). */
  readonly decisions: DecisionLog;

  private constructor(
    readonly config: AppConfig,
    enrolled: Enrolled,
    slot: EmbedderSlot,
    detector: FaceDetector,
    readonly backend: string,
    log: (line: string) => void,
    pool: AnalyzerPool | null,
    threads: number,
  ) {
    this.#enrolled = enrolled;
    // A pool runs as many requests at once as it has worker slots; in-process, one at a time.
    this.#queue = new InferenceQueue(config.limits.maxQueue, pool ? Math.min(pool.capacity, config.limits.maxQueue) : 1);
    this.#model = this.#stateOf(slot);
    const { gallery, settings, activity } = enrolled;
    this.#say = log;
    const model = () => (this.#model.slot.loaded ? this.#current() : { reason: this.#model.slot.reason });
    const here = threads > 1 ? { detector, limits: config.limits, threads } : undefined;
    this.#analyzer = pool ? new PooledAnalyzer(pool, { queue: this.#queue, model, here }) : new InProcessAnalyzer({ limits: config.limits, detector, queue: this.#queue, model });
    this.door = new Door({
      limits: config.limits,
      quality: config.quality,
      detector,
      queue: this.#queue,
      model,
      analyzer: this.#analyzer,
      gallery,
      settings: () => settings.get(),
    });
    // Every final decision goes to the audit trail (1:1 claims as verify-accept / verify-reject),
    // with its door, threshold and liveness check (when the kiosk ran one: src/pad).
    const decisions = new DecisionLog(activity, () => settings.get(), { enabled: config.logDecisions, onError: (m) => log(`activity log: ${m}`) });
    this.decisions = decisions;
    this.door.onDecision((d, frame) => {
      const granted = d.decision === 'granted';
      void decisions.record({
        // A denial that names someone: recognised, but the liveness check turned them away.
        decision: d.claim ? (granted ? 'verify-accept' : 'verify-reject') : granted ? 'match' : d.identity ? 'not-live' : 'unknown',
        door: d.door,
        identityId: d.identity?.id ?? d.claim?.id ?? null,
        score: d.score,
        threshold: d.threshold,
        metric: d.metric,
        modelId: d.modelId,
        liveness: d.liveness ?? null,
        frame,
        detail: d.detail,
      });
    });
  }

  /** Requests waiting for or running on the model. */
  get queueDepth(): number {
    return this.#queue.depth;
  }

  /** Where inference runs: 'in-process' or 'N inference workers'. */
  get inference(): string {
    return this.#analyzer.describe;
  }

  /**
   * The inference workers' own view (debug, health, the leak check): each worker's tf.memory()
   * and WASM heap, and restarts so far. In-process: no workers (tensorCount() is this thread's).
   */
  async inferenceHealth(): Promise<HealthReport['inference'] & { memory: (WorkerMemory & { worker: number })[] }> {
    const pool = this.workerPool;
    return { ...this.#inferenceView(), memory: pool ? await pool.memory() : [] };
  }

  /** health().inference: where inference runs, its workers and the lone routes. */
  #inferenceView(): HealthReport['inference'] {
    const pool = this.workerPool;
    return { describe: this.inference, workers: pool?.size ?? 0, live: pool?.live ?? 0, restarts: pool?.restarts ?? 0, lone: this.loneStats };
  }

  /** With workers and a multi-threaded main thread: where requests ran, and the lone routes' averages (door/lone-route.ts). */
  get loneStats(): LoneStats | null {
    const a = this.#analyzer;
    if (!(a instanceof PooledAnalyzer) || !a.runsHere) return null;
    const avg = a.loneAverages;
    const ms = (v: number) => (Number.isNaN(v) ? null : Math.round(v * 10) / 10);
    return { servedHere: a.served.here, servedByWorkers: a.served.workers, loneMsHere: ms(avg.here), loneMsWorkers: ms(avg.workers) };
  }

  /** The inference worker pool (tests, benchmarks), or null in-process. */
  get workerPool(): AnalyzerPool | null {
    return this.#analyzer instanceof PooledAnalyzer ? this.#analyzer.pool : null;
  }

  #stateOf(slot: EmbedderSlot): ModelState {
    const { gallery, settings } = this.#enrolled;
    return { slot, matcher: slot.loaded ? new GalleryMatcher(gallery, () => settings.get(), { modelId: slot.embedder.modelId }) : undefined };
  }

  /** Identities and templates (the settings and the log: this.#enrolled). */
  get #gallery(): Gallery {
    return this.#enrolled.gallery;
  }

  /** The model in use now (or why there is none). Changes on switchModel. */
  get slot(): EmbedderSlot {
    return this.#model.slot;
  }

  static async open(config: AppConfig, opts: OpenOptions = {}): Promise<FaceService> {
    const choice = await initBackend({ quiet: opts.quiet, wasmThreads: resolveThreads(config.threads ?? opts.threads ?? 1) });
    const enrolled = await translated(() => Enrolled.open(config.galleryDir));
    const gallery = enrolled.gallery;
    try {
      const [loaded, detector] = await Promise.all([opts.embedder ?? loadEmbedder(config.modelDir), sharedDetector(config.detector)]);
      let slot = loaded;
      const conflict = slot.loaded ? FaceService.#sizeConflict(gallery, slot.embedder) : null;
      if (slot.loaded && conflict) {
        slot.embedder.net.dispose();
        slot = { loaded: false, dir: slot.embedder.dir, reason: conflict };
      }
      const log = opts.log ?? (opts.quiet ? () => {} : (line: string) => console.error(`[facegate] ${line}`));
      const pool = await FaceService.#startPool(config, opts, choice.name, slot, log);
      const service = new FaceService(config, enrolled, slot, detector, describeChoice(choice), log, pool?.pool ?? null, choice.threads);
      if (pool && slot.loaded) (service.#analyzer as PooledAnalyzer).adopt(slot.embedder, pool.key!);
      // A lone request may run on this thread (door/lone-route.ts): its first one must not be cold,
      // or the route is judged on a cold start.
      if (pool && choice.threads > 1) await warmUp(detector, config.limits, slot.loaded ? slot.embedder : undefined);
      try {
        await service.#followModel();
      } catch (err) {
        await service.#analyzer.close();
        throw err;
      }
      return service;
    } catch (err) {
      await enrolled.close();
      throw translate(err);
    }
  }

  /**
   * The inference workers, when configured (config.workers, else opts.workers; 'auto' is one per
   * core, and none on a native backend, which has threads of its own), with the model loaded in
   * each. A pool that cannot start is said, and inference runs in-process.
   */
  static async #startPool(config: AppConfig, opts: OpenOptions, backend: string, slot: EmbedderSlot, log: (line: string) => void): Promise<{ pool: AnalyzerPool; key: number | null } | null> {
    const setting = config.workers ?? opts.workers ?? 0;
    const size = setting === 'auto' && (backend === 'node' || backend === 'gpu') ? 0 : resolveWorkers(setting);
    if (size <= 0) return null;
    let pool: AnalyzerPool | undefined;
    try {
      pool = await AnalyzerPool.start({ size, detector: config.detector, limits: config.limits, log });
      const key = slot.loaded ? await pool.load(await payloadOf(slot.embedder)) : null;
      return { pool, key };
    } catch (err) {
      await pool?.terminate();
      log(`could not start ${size} inference workers (${(err as Error).message.split('\n')[0]}); inference runs in-process`);
      return null;
    }
  }

  /** Waits for a model switch in progress and gallery writes, then disposes the model (an injected one too: the service owns it). */
  async close(): Promise<void> {
    await this.#modelOps.catch(() => {});
    // Decisions still waiting for the disk are written before the log closes.
    await this.decisions.flush();
    await this.#enrolled.close();
    await this.#analyzer.close();
    if (this.slot.loaded) this.slot.embedder.net.dispose();
  }

  get embedder(): Embedder | undefined {
    return this.slot.loaded ? this.slot.embedder : undefined;
  }

  get modelId(): string | null {
    return this.slot.loaded ? this.slot.embedder.modelId : null;
  }

  /**
   * The gallery follows the model it is opened with. Templates are keyed by model id, so after a
   * model change (an upgrade, `facegate model use` while nothing ran, --model) the new model has
   * none and would recognise nobody: the stored crops it has no template for are embedded now,
   * and it becomes the active model with its own thresholds (what reembed() does; the old
   * templates stay for rollback). The thresholds are checked on every open too: a crash between
   * a switch's gallery write and its settings write leaves the new model active with the old
   * model's thresholds. This runs whenever a service opens, so the server, every CLI command and
   * the pages all see it. People with no stored crop cannot follow: they are named.
   * A failure (a read-only or full disk) is reported and leaves the gallery as it was.
   */
  async #followModel(): Promise<void> {
    const e = this.embedder;
    if (!e) return;
    try {
      const pending = this.#gallery.templatesNeedingReembed(e.modelId).length;
      if (pending > 0 || this.#gallery.activeModelId !== e.modelId || this.#enrolled.settings.get().thresholdsFor !== e.modelId) {
        if (pending > 0) this.#say(`model ${e.modelId}: re-embedding ${pending} stored face crops of another model...`);
        const r = await this.reembed();
        if (r.reembedded > 0 || r.failed.length > 0) {
          this.#say(`gallery re-embedded for ${r.modelId}: ${r.reembedded} templates from stored crops, ${r.kept} already there` + (r.failed.length ? `, ${r.failed.length} crops failed` : ''));
        }
        for (const f of r.failed) this.#say(`  ${this.#gallery.getIdentity(f.identityId)?.name ?? f.identityId}: ${f.reason}`);
      }
    } catch (err) {
      this.#say(`could not re-embed the gallery for ${e.modelId}: ${(err as Error).message}. People enrolled under another model are not recognised until it is (facegate gallery reembed, or the Gallery page)`);
    }
    const missing = this.needEnrollment();
    if (missing.length > 0) {
      this.#say(`${missing.length} enrolled ${missing.length === 1 ? 'person has' : 'people have'} no template for model ${e.modelId} and no stored face crop to re-embed; enroll them again: ${missing.map((i) => i.name).join(', ')}`);
    }
  }

  /**
   * Templates of a model id and embeddings of another size would be compared: it happens when
   * two different models carry the same name@version (e.g. folders without meta.json). Such a
   * model is refused, with the reason, rather than loaded.
   */
  static #sizeConflict(gallery: Gallery, e: Embedder): string | null {
    const stored = gallery.models().find((m) => m.modelId === e.modelId)?.dim;
    const size = e.net.config.embeddingSize;
    if (stored === undefined || stored === size) return null;
    return `the gallery holds ${stored}-d templates of model ${e.modelId}, but the model in ${e.dir} embeds ${size}-d: two different models share one name@version; give this one its own version in meta.json`;
  }

  #requireModel(): Embedder {
    return this.#current().embedder;
  }

  /** The current model with its matcher; read inside a queue job, it cannot change until the job ends. */
  #current(): ActiveModel {
    const { slot, matcher } = this.#model;
    if (!slot.loaded) throw new ServiceError('no_model', `no face model loaded, so faces cannot be compared: ${slot.reason}`);
    // #stateOf builds a matcher for every loaded slot.
    return { embedder: slot.embedder, matcher: matcher! };
  }

  /** Serialises model switches and re-embeddings. */
  #modelOp<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#modelOps.then(fn);
    this.#modelOps = run.catch(() => {});
    return run;
  }

  /**
   * For a model switch's embedding batches: lets requests being decoded get into the queue first
   * (door requests come before background work; waiting at most BACKGROUND_MAX_WAIT_MS so a busy
   * camera cannot starve the switch), then waits for room like #runWhenRoom.
   */
  async #runBehindRequests<T>(job: () => Promise<T>): Promise<T> {
    const deadline = performance.now() + BACKGROUND_MAX_WAIT_MS;
    while (this.door.decoding > 0 && performance.now() < deadline) await sleep(5);
    return this.#runWhenRoom(job);
  }

  /** Like queue.run, but waits for room instead of refusing as busy: a model switch must not be dropped. */
  async #runWhenRoom<T>(job: () => Promise<T>, opts: { exclusive?: boolean } = {}): Promise<T> {
    while (this.#queue.depth >= this.#queue.maxPending) await sleep(25);
    return opts.exclusive ? this.#queue.exclusive(job) : this.#queue.run(job);
  }

  /**
   * Embeds aligned crops with the current model, inside the queue (so the model cannot be
   * switched and disposed halfway). Says which model it was: templates must be stored under it.
   */
  async embedCrops(crops: RgbImage[]): Promise<{ embeddings: Float32Array[]; modelId: string }> {
    const { embeddings, model } = await this.#embed(crops);
    return { embeddings, modelId: model.embedder.modelId };
  }

  async #embed(crops: RgbImage[]): Promise<{ embeddings: Float32Array[]; model: ActiveModel }> {
    this.#requireModel();
    return this.#queue.run(async () => {
      const model = this.#current();
      return { embeddings: await this.#analyzer.embedCrops(model.embedder, crops), model };
    });
  }

  /**
   * An identity id, a badge or a person's name (case-insensitive, whole name) -> the identity.
   * 404 when an id or badge-shaped claim matches nobody; 400 for any other claim that matches no
   * name; 409 (conflict) when the claim could be more than one person: people who share the name,
   * or one person's badge and another's name. Ids are never guessed.
   */
  resolveClaim(claim: string): Identity {
    const c = claim.trim();
    if (isId('identity', c)) {
      const found = this.#gallery.getIdentity(c);
      if (!found) throw new ServiceError('not_found', `no identity ${c}`);
      return found;
    }
    const name = NameSchema.safeParse(c);
    const key = name.success ? name.data.toLowerCase() : null;
    const byName = key === null ? [] : this.#gallery.listIdentities().filter((i) => i.name.toLowerCase() === key);
    const badgeShaped = BadgeSchema.safeParse(c).success;
    const byBadge = badgeShaped ? this.#gallery.findByBadge(c) : undefined;
    const matches = [...(byBadge ? [byBadge] : []), ...byName.filter((i) => i.id !== byBadge?.id)];
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      const who = matches.map((i) => `${i.id} (${i.name}${i.badge ? `, badge ${i.badge}` : ''})`).join(', ');
      throw new ServiceError('conflict', `claim "${c}" matches ${matches.length} people: ${who}; claim one of them by id or badge`, {
        candidates: matches.map((i) => ({ id: i.id, name: i.name, badge: i.badge })),
      });
    }
    if (badgeShaped) throw new ServiceError('not_found', `no identity with badge or name "${c}"`);
    // An invalid name (control characters, too long) is not echoed back.
    throw new ServiceError('invalid_input', `claim ${name.success ? `"${c}" ` : ''}is not an identity id (i_...), a badge or the name of an enrolled person`);
  }

  // ---- verification ---------------------------------------------------------------------------

  /** One frame -> decision. With a claim (identity id, badge or name) 1:1, otherwise 1:N open set. */
  async verify(bytes: Uint8Array, opts: { claim?: string } = {}): Promise<VerifyOutcome> {
    this.#requireModel();
    const claim = opts.claim !== undefined ? this.resolveClaim(opts.claim) : undefined;
    return this.door.verify(bytes, { claim });
  }

  /** 1:N with the k best candidates (names and scores), for operators. */
  identify(bytes: Uint8Array, opts: { k?: number } = {}): Promise<IdentifyOutcome> {
    return this.door.identify(bytes, opts);
  }

  /** Detection and the camera quality gate only (the enrollment page's guidance); no model needed. */
  checkFace(bytes: Uint8Array): Promise<FaceCheck> {
    return this.door.check(bytes);
  }

  // ---- enrollment -----------------------------------------------------------------------------

  /**
   * The quality gate for a source: camera frames get the kiosk's (the face inside the frame, its
   * words: "Come closer"); photos (uploads, files given to the CLI) get the photo gate (a tight
   * headshot is fine, a face cut off by the edge is not; reasons in photo terms).
   */
  qualityFor(source: Source): Partial<QualityConfig> {
    return source === 'camera' ? this.config.quality : photoQualityConfig(this.config.quality);
  }

  /**
   * The enrollment quality gate, per image: decode, detect, quality (the gate of the image's
   * source, else `opts.source`, else an upload: see qualityFor). Every image gets a report (accepted
   * or the reasons why not); the accepted ones come back with their face for embedding. Shared by
   * enroll and the gallery page's "add samples".
   */
  screenSamples(images: EnrollImage[], opts: { source?: Source } = {}): Promise<{ samples: SampleReport[]; good: { sample: SampleReport; face: ExtractedFace }[] }> {
    return this.door.screen(images.map((img) => ({ bytes: img.bytes, file: img.file, quality: this.qualityFor(img.source ?? opts.source ?? 'upload') })));
  }

  async enroll(req: EnrollRequest): Promise<EnrollOutcome> {
    this.#requireModel();
    const person = NewIdentitySchema.safeParse({ name: req.name, badge: req.badge ?? undefined, notes: req.notes });
    if (!person.success) throw new ServiceError('invalid_input', person.error.issues.map((i) => `${i.path.join('.') || 'identity'}: ${i.message}`).join('; '));
    if (person.data.badge && this.#gallery.findByBadge(person.data.badge)) throw new ServiceError('conflict', `badge ${person.data.badge} is already used by another identity`);
    const { minSamples, maxTemplates } = this.config.enroll;
    const max = this.config.limits.maxEnrollImages;
    if (req.images.length === 0) throw new ServiceError('invalid_input', `no images: enrollment needs at least ${minSamples} good photos`);
    if (req.images.length > max) throw new ServiceError('invalid_input', `${req.images.length} images: at most ${max} per enrollment`);

    const { samples, good } = await this.screenSamples(req.images, { source: req.source ?? 'upload' });
    if (good.length < minSamples) {
      // Each refused image by name (or number) with its reasons: "amy1.png: the face is turned too far to the side".
      const why = samples
        .filter((s) => !s.accepted)
        .map((s) => `${s.file ?? `image ${s.index + 1}`}: ${s.reasons.map((r) => r.message).join('; ')}`)
        .join('. ');
      throw new ServiceError('insufficient_samples', `${good.length} of ${req.images.length} images are usable; enrollment needs at least ${minSamples}. ${why}`, { samples });
    }

    // The model that embedded the samples checks for duplicates; the templates are stored under the one in use at the write (#commitTemplates).
    const { embeddings, model } = await this.#embed(good.map((g) => g.face.crop));
    const e = model.embedder;
    const duplicateOf = this.#duplicates(embeddings, model.matcher);
    if (duplicateOf.length > 0 && !req.confirmDuplicate) {
      throw new ServiceError('duplicate', `this face already matches ${duplicateOf.map((d) => d.name).join(', ')}; send confirmDuplicate=true to enroll anyway`, {
        matches: duplicateOf,
        samples,
      });
    }

    const keep = selectDiverse(embeddings, good.map((g) => g.sample.quality!), maxTemplates);
    const templates: NewTemplate[] = [];
    for (const i of keep) {
      good[i]!.sample.kept = true;
      templates.push({
        embedding: embeddings[i]!,
        modelId: e.modelId,
        quality: good[i]!.sample.quality!,
        source: req.source ?? 'upload',
        cropJpeg: await encodeJpeg(good[i]!.face.crop),
      });
    }
    // The identity and its templates in one write: a crash cannot leave the person without templates.
    const { result: identity, modelId } = await this.#commitTemplates(templates, keep.map((i) => good[i]!.face.crop), async () => this.#view(await this.#gallery.addIdentity(person.data, templates)));
    void this.#enrolled.activity
      .record({ decision: 'enroll', identityId: identity.id, modelId, detail: `${templates.length} templates from ${req.images.length} images` })
      .catch(() => {});
    return { identity, templates: templates.length, samples, duplicateOf, modelId };
  }

  /**
   * Stores new templates (`write`) under the model in use when they are written. The write runs in
   * a queue job, and a switch swaps models in an exclusive one, so the model cannot change between
   * the check and the write: if a switch ran since the crops were embedded, they are embedded again
   * with the model now in use (stored under the outgoing model only, the person would be denied by
   * the new one until the next re-embed). A switch that comes after the write re-embeds the stored
   * crops itself (when crops are kept). Door requests wait behind the write: one gallery write.
   */
  async #commitTemplates<T>(templates: NewTemplate[], crops: RgbImage[], write: () => Promise<T>): Promise<{ result: T; modelId: string }> {
    return this.#runWhenRoom(async () => {
      const now = this.#current().embedder;
      if (templates.some((t) => t.modelId !== now.modelId)) {
        const fresh = await this.#analyzer.embedCrops(now, crops);
        templates.forEach((t, k) => Object.assign(t, { embedding: fresh[k]!, modelId: now.modelId }));
      }
      return { modelId: now.modelId, result: await translated(write) };
    });
  }

  /**
   * "Add samples" for someone already enrolled: the same quality gate and diversity pick as
   * enrollment, templates stored under whichever model embedded them.
   */
  async addSamples(identityId: string, images: EnrollImage[], source: 'upload' | 'camera'): Promise<AddSamplesOutcome> {
    this.#requireModel();
    const who = this.findIdentity(identityId);
    if (!who) throw new ServiceError('not_found', `no identity ${identityId}`);
    if (images.length === 0) throw new ServiceError('invalid_input', 'no images');
    const max = this.config.limits.maxEnrollImages;
    if (images.length > max) throw new ServiceError('invalid_input', `${images.length} images: at most ${max} at a time`);
    const { samples, good } = await this.screenSamples(images, { source });
    if (good.length === 0) throw new ServiceError('insufficient_samples', `none of the ${images.length} images is usable (see the reasons per image)`, { samples });
    // Stored under the model in use when they are written (#commitTemplates: it may be switched meanwhile).
    const { embeddings, model } = await this.#embed(good.map((g) => g.face.crop));
    const keep = selectDiverse(embeddings, good.map((g) => g.sample.quality!), this.config.enroll.maxTemplates);
    const templates: NewTemplate[] = [];
    for (const i of keep) {
      good[i]!.sample.kept = true;
      templates.push({ embedding: embeddings[i]!, modelId: model.embedder.modelId, quality: good[i]!.sample.quality!, source, cropJpeg: await encodeJpeg(good[i]!.face.crop) });
    }
    const { modelId } = await this.#commitTemplates(templates, keep.map((i) => good[i]!.face.crop), () => this.#gallery.addTemplates(identityId, templates));
    return { identityId, templates: templates.length, samples, modelId };
  }

  /** Identities any of the new samples already matches (best score per identity, best first). */
  #duplicates(embeddings: Float32Array[], matcher: GalleryMatcher): DuplicateMatch[] {
    const best = new Map<string, DuplicateMatch>();
    for (const emb of embeddings) {
      const r = matcher.identify(emb);
      if (r.decision !== 'match' || !r.identityId || r.score === null) continue;
      const who = this.#gallery.getIdentity(r.identityId);
      if (!who) continue;
      const prev = best.get(who.id);
      const better = !prev || isBetter(r.score, prev.score, r.metric);
      if (better) best.set(who.id, { ...ref(who), score: r.score, metric: r.metric, threshold: r.threshold });
    }
    return [...best.values()].sort((a, b) => (a.metric === 'cosine' ? b.score - a.score : a.score - b.score));
  }

  // ---- model change ---------------------------------------------------------------------------

  /**
   * Embeds every stored crop of other models' templates with the loaded model and makes it the
   * active one. The old templates stay (rollback) but are never compared with this model's.
   * Batches go through the queue one by one, so the kiosk keeps answering meanwhile.
   */
  reembed(): Promise<ReembedOutcome> {
    return this.#modelOp(() => this.#reembedFor(this.#requireModel(), (job) => this.#queue.run(job)));
  }

  /**
   * Loads the model in `dir` and makes it the one in use, without a restart. With inference
   * workers, every worker loads it first. Then the crops the new model has no templates for are
   * embedded in small queue jobs, so door requests keep being answered (by the old model) in
   * between. Then, inside one short exclusive queue job (no request runs meanwhile, so none runs
   * half on the old and half on the new model), it re-reads the gallery (another process, e.g. the
   * finetune, may have written templates), embeds only crops added since, activates the model with
   * its own thresholds (#thresholdStep), swaps model and matcher, and disposes the old net (in the
   * workers, once the requests using it are answered). If the model cannot be loaded or the gallery
   * not written, the old model stays and the error is thrown. A model with no thresholds of its own
   * is refused (conflict) while the ones in use were set for another model, unless `thresholds`
   * gives them. Switching to the folder already in use does nothing.
   */
  switchModel(dir: string, opts: { onProgress?: (embedded: number, total: number) => void; thresholds?: ThresholdOverride } = {}): Promise<ModelSwitchOutcome> {
    return this.#modelOp(async () => {
      const t0 = performance.now();
      const abs = path.resolve(dir);
      const from = this.modelId;
      if (this.slot.loaded && this.slot.embedder.dir === abs) {
        return { switched: false, from, modelId: this.slot.embedder.modelId, dir: abs, reembed: null, ms: 0 };
      }
      const next = await loadEmbedder(abs);
      if (!next.loaded) throw new ServiceError(next.missing ? 'not_found' : 'invalid_input', next.reason);
      let swapped = false;
      try {
        // Refused before any work; checked again on the settings as they are when it commits.
        const plan = this.#thresholdStep(next.embedder, this.#gallery.activeModelId, opts.thresholds);
        if (plan.kind === 'missing') throw new ServiceError('conflict', plan.message);
        // Every worker has the new model before any request can be given it.
        await this.#analyzer.prepare(next.embedder);
        await translated(() => this.#enrolled.reload());
        const conflict = FaceService.#sizeConflict(this.#gallery, next.embedder);
        if (conflict) throw new ServiceError('conflict', conflict);
        const early = await this.#embedMissing(next.embedder, (job) => this.#runBehindRequests(job), undefined, opts.onProgress);
        const reembed = await this.#runWhenRoom(
          async () => {
            await translated(() => this.#enrolled.reload());
            // Already inside the queue job: embed directly (queue.run here would wait for itself).
            const r = await this.#reembedFor(next.embedder, (job) => job(), early, { thresholds: opts.thresholds, refuse: true });
            const old = this.#model.slot;
            this.#model = this.#stateOf(next);
            swapped = true;
            if (old.loaded) {
              old.embedder.net.dispose();
              this.#analyzer.release(old.embedder);
            }
            return r;
          },
          { exclusive: true },
        );
        return { switched: true, from, modelId: next.embedder.modelId, dir: abs, reembed, ms: round(performance.now() - t0) };
      } finally {
        if (!swapped) {
          next.embedder.net.dispose();
          this.#analyzer.release(next.embedder);
        }
      }
    });
  }

  /**
   * The re-embedding behind reembed() and switchModel(): keeps the templates `e` already has,
   * embeds the crops it lacks, activates it and adopts its thresholds (#thresholdStep). `run` wraps
   * each embedding batch (the queue, or nothing when already inside a queue job). With `refuse`,
   * a model without thresholds of its own is refused before anything is written; without (on
   * open), it is said and it runs with the ones in use.
   */
  async #reembedFor(e: Embedder, run: Runner, done?: EmbeddedCrops, opts: { thresholds?: ThresholdOverride; refuse?: boolean } = {}): Promise<ReembedOutcome> {
    const { items, embeddings, failed } = await this.#embedMissing(e, run, done);
    // An identity erased while its crops were being embedded is left out (the write would refuse it).
    const alive = (t: { identityId: string }) => this.#gallery.getIdentity(t.identityId) !== undefined;
    const existing = this.#gallery.templates(e.modelId).filter(alive).map((t) => ({
      identityId: t.identityId,
      embedding: this.#gallery.embedding(t.id),
      quality: t.quality,
      source: t.source,
      fromTemplateId: t.id,
    }));
    const fresh = items
      .map((item, i) => ({
        identityId: item.identityId,
        embedding: embeddings[i]!,
        quality: item.quality,
        source: item.source,
        fromTemplateId: item.templateId,
      }))
      .filter(alive);
    // Thresholds follow the model (the old model's threshold means nothing for the new one's scores).
    const previous = this.#gallery.activeModelId;
    const step = this.#thresholdStep(e, previous, opts.thresholds);
    if (step.kind === 'missing' && opts.refuse) throw new ServiceError('conflict', step.message);
    if (fresh.length > 0) {
      // keepUnlisted: an enrollment written while the crops were embedded keeps its templates.
      await translated(() => this.#gallery.replaceTemplatesForModel(e.modelId, [...existing, ...fresh], { activate: true, keepUnlisted: true }));
    } else {
      // Nothing new to embed (e.g. the finetune already wrote this model's templates): only activate.
      await translated(() => this.#gallery.setActiveModel(e.modelId));
    }
    // After the gallery write: a crash in between leaves thresholdsFor naming the old model, and the next open does this again.
    await this.#adoptThresholds(e, previous, step);
    return { modelId: e.modelId, reembedded: fresh.length, kept: existing.length, failed, needEnrollment: this.#uncovered(e.modelId) };
  }

  /**
   * The thresholds `e` runs with when it becomes the active model (`previous` was). In order: the
   * ones given (`override`); none to change when they were set for it already; the ones it ran
   * with before (a rollback gets the operator's tuning back); its recommended ones (meta.json);
   * settings from before thresholdsFor existed, when the gallery already ran this model (they
   * are its own). The built-in defaults, set for no model, are kept for a model that has none.
   * Otherwise the thresholds in use were set for another model, whose score scale they belong to,
   * and `e` has none: missing, with how to give it some.
   */
  #thresholdStep(e: Embedder, previous: string | null, override?: ThresholdOverride): ThresholdStep {
    const s = this.#enrolled.settings.get();
    const was = s.thresholdsFor;
    const set = (thresholds: Thresholds, why: string): ThresholdStep => {
      // What the outgoing model ran with, for when it is in use again (the defaults too: unbound, they were still its).
      const outgoing = was ?? previous;
      const remember = outgoing !== null && outgoing !== e.modelId ? { [outgoing]: s.thresholds } : {};
      return { kind: 'set', thresholds, why, patch: { thresholds, thresholdsFor: e.modelId, thresholdsByModel: remember } };
    };
    if (override) {
      const given = bothMetrics(override);
      const valid = given && given.cosine >= -1 && given.cosine <= 1 && given.euclidean >= 0 && given.euclidean <= 2;
      if (!valid) throw new ServiceError('invalid_input', `thresholds for ${e.modelId}: give cosine (-1..1) or euclidean (0..2)`);
      return set(given, 'given with the switch');
    }
    if (was === e.modelId) return { kind: 'keep' };
    const before = s.thresholdsByModel[e.modelId];
    if (before) return set(before, 'the ones it ran with before');
    if (was === null && previous === e.modelId && !isDeepStrictEqual(s.thresholds, DEFAULT_THRESHOLDS)) return set(s.thresholds, 'kept: set while it was in use');
    const recommended = bothMetrics(recommendedThresholds(e.meta));
    if (recommended) return set(recommended, 'its recommended ones');
    if (was === null) return { kind: 'keep' };
    return {
      kind: 'missing',
      message:
        `model ${e.modelId} has no recommended thresholds (its meta.json has no "thresholds"), and the ones in use (${fmt(s.thresholds)}) were set for ${was}: ` +
        `another model's scores are on another scale. Give it its own: import it with --val-pairs and --val-root (facegate model import), ` +
        `export it from a training run with validation pairs (facegate model export --run), or measure it (facegate eval --model ${e.dir} --pairs FILE --root DIR) ` +
        `and write the threshold into its meta.json as "thresholds": {"cosine": {"bestAccuracy": T}}`,
    };
  }

  /**
   * Applies #thresholdStep's outcome once `e` is the gallery's active model. On a model change (the
   * gallery's, or thresholds still set for another model: a switch cut short) the per-person
   * thresholds are cleared first (see #clearIdentityThresholds).
   */
  async #adoptThresholds(e: Embedder, previous: string | null, step: ThresholdStep): Promise<void> {
    const was = this.#enrolled.settings.get().thresholdsFor;
    const changed = (previous !== null && previous !== e.modelId) || (step.kind === 'set' && was !== null && was !== e.modelId);
    if (changed) await this.#clearIdentityThresholds(e.modelId);
    if (step.kind === 'set') {
      await translated(() => this.#enrolled.settings.update(step.patch));
      if (was !== e.modelId) this.#say(`thresholds for model ${e.modelId}: ${fmt(step.thresholds)} (${step.why})`);
    } else if (step.kind === 'missing') {
      // On open there is nothing to refuse (the model is the configured one): the door keeps working, and says so until it is fixed.
      this.#say(`${step.message}. Until then the door uses these thresholds`);
    }
  }

  /**
   * Per-person thresholds were tuned on the outgoing model's score scale: on the new one a number
   * can be anywhere, stricter or looser than its global threshold. Cleared, each person is judged
   * at the new model's own threshold (its calibrated operating point), a known risk; kept, a stale
   * number could be far looser on the new scale and let impostors in without bound. The stricter
   * intent of some is lost, so the people are named with their old values for review.
   */
  async #clearIdentityThresholds(modelId: string): Promise<void> {
    const tuned = this.#gallery.listIdentities().filter((i) => i.threshold.cosine !== undefined || i.threshold.euclidean !== undefined);
    if (tuned.length === 0) return;
    for (const i of tuned) {
      try {
        await this.#gallery.updateIdentity(i.id, { threshold: {} });
      } catch (err) {
        // Erased meanwhile: nothing to clear.
        if (this.#gallery.getIdentity(i.id)) throw translate(err);
      }
    }
    this.#say(
      `model ${modelId}: per-person thresholds cleared (set on another model's score scale; they now use the model's threshold), review them: ` +
        tuned.map((i) => `${i.name} (${fmt(i.threshold)})`).join(', '),
    );
  }

  /**
   * Embeds, with `e`, the stored crops of templates `e` has none for, REEMBED_BATCH crops per
   * `run` call; crops already in `done` (by template id) are not embedded again. `onProgress`
   * hears after each batch.
   */
  async #embedMissing(e: Embedder, run: Runner, done?: EmbeddedCrops, onProgress?: (embedded: number, total: number) => void): Promise<EmbeddedCrops> {
    const todo = this.#gallery.templatesNeedingReembed(e.modelId);
    const failed: ReembedOutcome['failed'] = [];
    const items: typeof todo = [];
    const embeddings: Float32Array[] = [];
    const pending: { item: (typeof todo)[number]; crop: RgbImage }[] = [];
    const already = new Map(done?.items.map((d, k) => [d.templateId, done.embeddings[k]!]));
    for (const item of todo) {
      const embedding = already.get(item.templateId);
      if (embedding) {
        items.push(item);
        embeddings.push(embedding);
        continue;
      }
      try {
        pending.push({ item, crop: await decodeImage(await readFile(item.cropPath), { maxBytes: this.config.limits.maxImageBytes, maxPixels: this.config.limits.maxPixels }) });
      } catch (err) {
        failed.push({ templateId: item.templateId, identityId: item.identityId, reason: `crop ${path.basename(item.cropPath)}: ${(err as Error).message}` });
      }
    }
    for (let i = 0; i < pending.length; i += REEMBED_BATCH) {
      // A batch blocks the event loop while WASM computes; between batches let pending I/O (an HTTP
      // request, a finished decode) run, so its queue job gets in before the next batch.
      await new Promise((r) => setImmediate(r));
      const batch = pending.slice(i, i + REEMBED_BATCH);
      const out = await run(() => this.#analyzer.embedCrops(e, batch.map((p) => p.crop)));
      items.push(...batch.map((p) => p.item));
      embeddings.push(...out);
      onProgress?.(i + batch.length, pending.length);
    }
    return { items, embeddings, failed };
  }

  /** Identities with no template of `modelId`: that model cannot recognise them. */
  #uncovered(modelId: string): IdentityRef[] {
    const covered = new Set(this.#gallery.templates(modelId).map((t) => t.identityId));
    return this.#gallery.listIdentities().filter((i) => !covered.has(i.id)).map(ref);
  }

  /** People the loaded model has no template for and no stored crop to re-embed: they must enrol again. */
  needEnrollment(): IdentityRef[] {
    const modelId = this.modelId;
    if (!modelId) return [];
    const pending = new Set(this.#gallery.templatesNeedingReembed(modelId).map((t) => t.identityId));
    return this.#uncovered(modelId).filter((i) => !pending.has(i.id));
  }

  // ---- gallery admin --------------------------------------------------------------------------

  #view(i: Identity): IdentityView {
    const modelId = this.modelId;
    const modelTemplates = modelId ? this.#gallery.templates(modelId).filter((t) => t.identityId === i.id).length : 0;
    return { ...i, modelTemplates };
  }

  listIdentities(): IdentityView[] {
    const modelId = this.modelId;
    const counts = new Map<string, number>();
    if (modelId) for (const t of this.#gallery.templates(modelId)) counts.set(t.identityId, (counts.get(t.identityId) ?? 0) + 1);
    return this.#gallery.listIdentities().map((i) => ({ ...i, modelTemplates: counts.get(i.id) ?? 0 }));
  }

  getIdentity(id: string): IdentityView & { templates: ReturnType<Gallery['templates']> } {
    if (!isId('identity', id)) throw new ServiceError('invalid_input', 'invalid identity id');
    const found = this.#gallery.getIdentity(id);
    if (!found) throw new ServiceError('not_found', `no identity ${id}`);
    return { ...this.#view(found), templates: this.#gallery.templates().filter((t) => t.identityId === id) };
  }

  async updateIdentity(id: string, patch: IdentityPatch): Promise<IdentityView> {
    const p = IdentityPatchSchema.safeParse(patch);
    if (!p.success) throw new ServiceError('invalid_input', p.error.issues.map((i) => `${i.path.join('.') || 'patch'}: ${i.message}`).join('; '));
    return this.#view(await translated(() => this.#gallery.updateIdentity(id, p.data)));
  }

  /** Erasure: the identity, its templates, crops, log entries and snapshots. */
  async deleteIdentity(id: string): Promise<{ identityId: string; templates: number; activityEntries: number; removed: string[] }> {
    const r = await translated(() => this.#enrolled.erase(id));
    return {
      identityId: r.identityId,
      templates: r.templates,
      activityEntries: r.activityEntries,
      removed: r.removedPaths.map((p) => path.relative(this.#enrolled.dir, p)),
    };
  }

  /** An identity by id, or undefined (also for a malformed id: callers pass what a URL says). */
  findIdentity(id: string): Identity | undefined {
    return isId('identity', id) ? this.#gallery.getIdentity(id) : undefined;
  }

  /** Template metadata (no vectors): all models, or one. */
  templates(modelId?: string): Template[] {
    return this.#gallery.templates(modelId);
  }

  /** The file of a stored face crop, or null when the names are not the gallery's own. */
  cropFile(identityId: string, crop: string): string | null {
    if (!isId('identity', identityId) || !CROP_FILE.test(crop)) return null;
    return this.#gallery.cropPath({ identityId, crop });
  }

  /**
   * What the door hardware did with a decision, in the activity log: final outcomes only (a retry
   * is not news), best effort like every log entry.
   */
  logDoorOutcome(o: ActuationOutcome): void {
    if (o.status === 'retrying') return;
    void this.#enrolled.activity
      .record({ decision: `door-${o.status}`, detail: `${o.channel} (${o.event}): ${o.detail}`.slice(0, 500), time: new Date(o.time) })
      .catch((err: Error) => this.#say(`activity log: ${err.message}`));
  }

  /** The activity log, newest first. */
  activity(query: ActivityQuery = {}): ActivityEntry[] {
    return this.#enrolled.activity.query(query);
  }

  /** The file of a decision snapshot, or null when the name is not the log's own. */
  snapshotFile(snapshot: string): string | null {
    return SNAPSHOT_FILE.test(snapshot) ? this.#enrolled.activity.snapshotPath({ snapshot }) : null;
  }

  /**
   * The settings, with the model whose templates are searched (read only: it follows the loaded
   * model). The door's secrets read as REDACTED: pages and API answers never carry them back.
   */
  getSettings(): Settings & { activeModelId: string | null } {
    const s = this.#enrolled.settings.get();
    if (s.door.webhook) s.door.webhook.secret = REDACTED;
    if (s.door.mqtt?.password) s.door.mqtt.password = REDACTED;
    return { ...s, activeModelId: this.#gallery.activeModelId };
  }

  /** The door's settings with their secrets, for the actuation channels only. */
  doorSettings(): Settings['door'] {
    return this.#enrolled.settings.get().door;
  }

  /**
   * Applies a settings patch; answers as getSettings does (secrets redacted). Thresholds that change
   * are recorded as the loaded model's (thresholdsFor): they stay while it is in use, and come back
   * with it after a switch away.
   */
  async updateSettings(patch: SettingsPatch): Promise<Settings & { activeModelId: string | null }> {
    if (patch && typeof patch === 'object' && 'activeModelId' in patch) {
      throw new ServiceError('invalid_input', 'activeModelId follows the loaded model; change models with POST /api/models/use (or --model and POST /api/gallery/reembed)');
    }
    if (patch && typeof patch === 'object' && ('thresholdsFor' in patch || 'thresholdsByModel' in patch)) {
      throw new ServiceError('invalid_input', 'thresholdsFor and thresholdsByModel follow the loaded model; set thresholds, and they are recorded as its own');
    }
    const current = this.#enrolled.settings.get();
    const t = patch?.thresholds;
    // Unchanged thresholds (a form posting back what it showed) are no review: they stay the model's they were.
    const changed = t && typeof t === 'object' && (['cosine', 'euclidean'] as const).some((m) => t[m] !== undefined && t[m] !== current.thresholds[m]);
    if (changed && this.modelId) patch = { ...patch, thresholdsFor: this.modelId };
    // A form or a client that sends back what getSettings showed keeps the stored secret.
    const door = patch?.door;
    if (door?.webhook?.secret === REDACTED) delete door.webhook.secret;
    if (door?.mqtt?.password === REDACTED) delete door.mqtt.password;
    await translated(() => this.#enrolled.settings.update(patch));
    return this.getSettings();
  }

  health(): HealthReport {
    const modelId = this.modelId;
    const templates = this.#gallery.templates();
    const mine = modelId ? templates.filter((t) => t.modelId === modelId).length : 0;
    const s = this.#enrolled.settings.get();
    return {
      status: this.slot.loaded ? 'ok' : 'no_model',
      model: {
        loaded: this.slot.loaded,
        id: modelId,
        dir: this.slot.loaded ? this.slot.embedder.dir : this.slot.dir,
        error: this.slot.loaded ? null : this.slot.reason,
        variant: this.slot.loaded ? this.slot.embedder.net.config.variant : null,
        embeddingSize: this.slot.loaded ? this.slot.embedder.net.config.embeddingSize : null,
      },
      backend: this.backend,
      gallery: {
        dir: this.#enrolled.dir,
        identities: this.#gallery.listIdentities().length,
        templates: mine,
        otherModelTemplates: templates.length - mine,
        reembedPending: modelId ? this.#gallery.templatesNeedingReembed(modelId).length : 0,
        needEnrollment: this.needEnrollment().length,
      },
      queue: this.#queue.depth,
      inference: this.#inferenceView(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      settings: { metric: s.metric, thresholds: s.thresholds },
    };
  }

  /** Live tensors: the leak check in tests and /metrics. */
  static tensorCount(): number {
    return tf.memory().numTensors;
  }
}
