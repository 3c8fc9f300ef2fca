// Inference on worker threads, one per core: TF.js on WASM runs one thread per process in Node, so
// one analyzer per thread is how both cores work. AnalyzerPool is the main-thread side of the
// workers (analyzer-worker.ts): it starts them, loads every model in each, hands out frames to the
// least busy, restarts a worker that dies (failing its requests at once with a clear error), and
// stops them. PooledAnalyzer is the door's FrameAnalyzer over it.
//
// Models: the main thread loads a model (it knows its id, size and thresholds) and the pool ships
// its exact weights to every worker before it becomes the current one; a request names the model
// it was dispatched with, and its result is judged by that model's matcher. A released model is
// disposed in a worker once no request of it is left there. util/worker-pool.ts (training, eval)
// runs one task per worker and never replaces one, so this pool is its own.
import { perCore } from '../util/cores.js';
import { RefCounts } from '../util/ref-counts.js';
import { LoneRoute } from './lone-route.js';
import type { Worker } from 'node:worker_threads';
import { encodeTensors } from '../model/io.js';
import type { Embedder } from '../service/embedder.js';
import { ServiceError } from '../service/errors.js';
import { InferenceQueue } from '../service/inference-queue.js';
import { startWorker } from '../util/worker.js';
import type { QualityConfig } from '../vision/quality.js';
import type { DetectorKind, FaceDetector, RgbImage } from '../vision/types.js';
import type { FromWorker, ModelPayload, ToWorker, WorkerAnalysis, WorkerError, WorkerMemory, WorkerStart } from './analyzer-protocol.js';
import { ANALYZER_WORKER_ROLE } from './analyzer-worker.js';
import { analyzeDecoded, decodeFrame, warmUpEmbedder, type AnalyzedFrame, type AnalyzeOptions, type FrameAnalyzer, type ModelSource } from './frame-analyzer.js';

/** The most workers 'auto' starts (one per core, up to this). */
export const MAX_AUTO_WORKERS = 4;

/** Workers for a setting: a number as is, 'auto' one per core (os.availableParallelism(), at most MAX_AUTO_WORKERS). */
export function resolveWorkers(setting: number | 'auto'): number {
  return setting === 'auto' ? perCore(MAX_AUTO_WORKERS) : setting;
}

export interface AnalyzerPoolOptions {
  size: number;
  detector: DetectorKind;
  limits: { maxImageBytes: number; maxPixels: number };
  /** Requests a worker holds at once (one being computed, the next decoding). Default 2. */
  perWorker?: number;
  /** Frames whose subjects one worker embeds in one batch. Default perWorker. */
  maxBatch?: number;
  /** Restarts and failures, for the operator. */
  log?: (line: string) => void;
  /** How long a worker may take to start (backend, detector). Default 120 s. */
  startTimeoutMs?: number;
  /** V8 young generation of each worker, MB. Default 64. */
  youngGenerationMb?: number;
}

type Task = Extract<ToWorker, { type: 'analyze' | 'embed' | 'memory' }>;
type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; kind: Task['type'] | 'load'; model: number | null };

interface Slot {
  index: number;
  worker: Worker;
  /** starting: no 'ready' yet; loading: ready, loading the pool's models; ready: takes requests. */
  state: 'starting' | 'loading' | 'ready' | 'dead';
  /** Requests (analyze, embed) sent and not answered: at most perWorker. */
  busy: number;
  pending: Map<number, Pending>;
}

/** A worker that ended while it held requests. */
export class WorkerExitError extends ServiceError {
  constructor(message: string) {
    super('busy', message);
  }
}

export class AnalyzerPool {
  readonly size: number;
  readonly perWorker: number;
  readonly #opts: AnalyzerPoolOptions;
  readonly #slots: Slot[] = [];
  readonly #waiting: { task: Task; transfer: ArrayBuffer[]; pending: Pending }[] = [];
  /** Models every worker has (or loads when it starts): key -> weights. */
  readonly #models = new Map<number, ModelPayload>();
  /** Requests per model not yet answered (queued here or in a worker). */
  readonly #modelRefs = new RefCounts<number>();
  readonly #releasing = new Set<number>();
  #nextId = 1;
  #nextKey = 1;
  #restarts = 0;
  /** Deaths in the last minute (restart backoff). */
  #recentDeaths: number[] = [];
  #closing: Promise<void> | undefined;
  #lastStartError = '';

  private constructor(opts: AnalyzerPoolOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new RangeError(`inference workers: the pool size must be an integer >= 1, got ${opts.size}`);
    this.#opts = opts;
    this.size = opts.size;
    this.perWorker = Math.max(1, opts.perWorker ?? 2);
  }

  /** Starts `size` workers and waits until every one is ready; one that cannot start stops them all. */
  static async start(opts: AnalyzerPoolOptions): Promise<AnalyzerPool> {
    const pool = new AnalyzerPool(opts);
    const started = Array.from({ length: opts.size }, (_, i) => pool.#spawn(i));
    try {
      await Promise.all(started);
    } catch (err) {
      await pool.terminate();
      throw err;
    }
    return pool;
  }

  /** Requests the pool runs at once: what the inference queue lets through. */
  get capacity(): number {
    return this.size * this.perWorker;
  }

  /** Workers restarted since the pool started. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Nothing waits for a worker and no worker holds a request. */
  get idle(): boolean {
    return this.#waiting.length === 0 && this.#slots.every((s) => s.busy === 0);
  }

  /** Workers ready to take requests now. */
  get live(): number {
    return this.#slots.filter((s) => s.state === 'ready').length;
  }

  #say(line: string): void {
    this.#opts.log?.(`inference workers: ${line}`);
  }

  #start(): WorkerStart {
    return { detector: this.#opts.detector, limits: this.#opts.limits, maxBatch: Math.max(1, this.#opts.maxBatch ?? this.perWorker) };
  }

  /** Starts worker `index` (at first, or in place of one that died); resolves once it is ready with every model loaded. */
  #spawn(index: number): Promise<void> {
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    // A larger young generation than a worker's default: every frame allocates a few MB (pixels,
    // crops, tensor data), which would otherwise mean a scavenge every few frames.
    const resourceLimits = { maxYoungGenerationSizeMb: this.#opts.youngGenerationMb ?? 64 };
    const worker = startWorker(new URL(`./analyzer-worker${ext}`, import.meta.url), { workerData: { role: ANALYZER_WORKER_ROLE, ...this.#start() }, resourceLimits });
    const slot: Slot = { index, worker, state: 'starting', busy: 0, pending: new Map() };
    this.#slots[index] = slot;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#lastStartError = why;
        reject(new Error(`inference worker ${index} could not start: ${why}`));
      };
      const timer = setTimeout(() => {
        fail(`not ready after ${this.#opts.startTimeoutMs ?? 120_000} ms`);
        void worker.terminate();
      }, this.#opts.startTimeoutMs ?? 120_000);
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          slot.state = 'loading';
          void this.#loadAll(slot).then(
            () => {
              if (slot.state !== 'loading') return;
              slot.state = 'ready';
              settled = true;
              clearTimeout(timer);
              resolve();
              this.#pump();
            },
            (err: Error) => {
              fail(err.message);
              void worker.terminate();
            },
          );
        } else if (msg.type === 'failed') {
          fail(msg.message.split('\n')[0]!);
          void worker.terminate();
        } else this.#answer(slot, msg);
      });
      worker.on('error', (err) => {
        fail(err.message);
        this.#failAll(slot, `inference worker ${index} failed: ${err.message}`);
      });
      worker.on('exit', (code) => {
        fail(`exited with code ${code}`);
        this.#onExit(slot, code);
      });
    });
  }

  /** Loads every model of the pool in a worker that just started (models added meanwhile too). */
  async #loadAll(slot: Slot): Promise<void> {
    const done = new Set<number>();
    for (;;) {
      const todo = [...this.#models.keys()].filter((k) => !done.has(k));
      if (todo.length === 0) return;
      await Promise.all(todo.map((k) => this.#send(slot, { type: 'load', id: this.#nextId++, key: k, model: this.#models.get(k)! }, 'load', null)));
      for (const k of todo) done.add(k);
    }
  }

  #send(slot: Slot, msg: Extract<ToWorker, { id: number }>, kind: Pending['kind'], model: number | null, transfer: ArrayBuffer[] = []): Promise<unknown> {
    return new Promise((resolve, reject) => {
      slot.pending.set(msg.id, { resolve, reject, kind, model });
      try {
        slot.worker.postMessage(msg, transfer);
      } catch (err) {
        slot.pending.delete(msg.id);
        reject(err as Error);
      }
    });
  }

  #answer(slot: Slot, msg: Extract<FromWorker, { type: 'ok' | 'error' }>): void {
    const p = slot.pending.get(msg.id);
    if (!p) return;
    slot.pending.delete(msg.id);
    if (p.kind === 'analyze' || p.kind === 'embed' || p.kind === 'memory') {
      slot.busy--;
      this.#unref(p.model);
    }
    if (msg.type === 'ok') p.resolve(msg.result);
    else p.reject(errorFrom(msg.error));
    this.#pump();
  }

  #failAll(slot: Slot, message: string): void {
    for (const [id, p] of slot.pending) {
      slot.pending.delete(id);
      if (p.kind === 'analyze' || p.kind === 'embed' || p.kind === 'memory') {
        slot.busy--;
        this.#unref(p.model);
      }
      p.reject(new WorkerExitError(message));
    }
  }

  #onExit(slot: Slot, code: number): void {
    const wasReady = slot.state === 'ready' || slot.state === 'loading';
    slot.state = 'dead';
    this.#failAll(slot, `inference worker ${slot.index} stopped (exit code ${code}) while working on this request; it is being restarted: retry`);
    if (this.#closing || this.#slots[slot.index] !== slot) return;
    const now = Date.now();
    this.#recentDeaths = [...this.#recentDeaths.filter((t) => now - t < 60_000), now];
    // Straight back after a rare death; slower when they keep dying (at most every 10 s).
    const delay = Math.min(10_000, this.#recentDeaths.length <= 2 ? 0 : 250 * 2 ** (this.#recentDeaths.length - 3));
    this.#say(`worker ${slot.index} ${wasReady ? 'stopped' : 'failed to start'} (exit code ${code}); restarting${delay ? ` in ${delay} ms` : ''}`);
    // No worker left to take what waits: refuse it now rather than leave it hanging.
    if (!this.#slots.some((s) => s.state === 'ready')) this.#rejectWaiting(`no inference worker is running (${this.#lastStartError || `worker ${slot.index} exited with code ${code}`}); restarting: retry`);
    setTimeout(() => {
      if (this.#closing || this.#slots[slot.index] !== slot) return;
      this.#restarts++;
      this.#spawn(slot.index).catch((err: Error) => this.#say(err.message));
    }, delay).unref();
  }

  #rejectWaiting(message: string): void {
    for (const w of this.#waiting.splice(0)) {
      this.#unref(w.pending.model);
      w.pending.reject(new WorkerExitError(message));
    }
  }

  #ref(key: number | null): void {
    this.#modelRefs.hold(key);
  }

  #unref(key: number | null): void {
    if (this.#modelRefs.drop(key) && this.#releasing.has(key!)) this.#releaseNow(key!);
  }

  /** Hands waiting requests to the least busy ready workers. */
  #pump(): void {
    while (this.#waiting.length > 0) {
      let best: Slot | undefined;
      for (const s of this.#slots) if (s.state === 'ready' && s.busy < this.perWorker && (!best || s.busy < best.busy)) best = s;
      if (!best) return;
      const w = this.#waiting.shift()!;
      best.busy++;
      best.pending.set(w.task.id, w.pending);
      try {
        best.worker.postMessage(w.task, w.transfer);
      } catch (err) {
        best.busy--;
        best.pending.delete(w.task.id);
        this.#unref(w.pending.model);
        w.pending.reject(err as Error);
      }
    }
  }

  #run<R>(task: Task, model: number | null, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.#closing) return Promise.reject(new ServiceError('busy', 'the inference workers are stopping'));
    if (model !== null && !this.#models.has(model)) return Promise.reject(new Error(`inference workers: model #${model} is not loaded`));
    if (!this.#slots.some((s) => s.state !== 'dead')) return Promise.reject(new WorkerExitError(`no inference worker is running (${this.#lastStartError}); restarting: retry`));
    this.#ref(model);
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push({ task, transfer, pending: { resolve: resolve as (v: unknown) => void, reject, kind: task.type, model } });
      this.#pump();
    });
  }

  /** Decode, detect, align, quality and (with a model and `embed`) the subject's embedding, on a worker. */
  analyze(req: { bytes: Uint8Array; embed: boolean; image: boolean; quality: Partial<QualityConfig>; what?: string; model: number | null }): Promise<WorkerAnalysis> {
    // The bytes are copied (the caller may keep using them: the kiosk logs its own JPEG).
    return this.#run({ type: 'analyze', id: this.#nextId++, bytes: req.bytes, embed: req.embed, image: req.image, quality: req.quality, what: req.what, model: req.model }, req.model);
  }

  /** Embeddings of aligned crops with model `key`, on a worker (the crops are copied). */
  embed(key: number, crops: RgbImage[]): Promise<Float32Array[]> {
    return this.#run({ type: 'embed', id: this.#nextId++, model: key, crops }, key);
  }

  /**
   * Loads a model in every worker (and in any worker started later); resolves with its key once
   * all have it. A worker that dies meanwhile loads it when it is back.
   */
  async load(model: ModelPayload): Promise<number> {
    if (this.#closing) throw new Error('inference workers: the pool is closed');
    const key = this.#nextKey++;
    this.#models.set(key, model);
    const targets = this.#slots.filter((s) => s.state === 'ready' || s.state === 'loading');
    const results = await Promise.allSettled(targets.map((s) => this.#send(s, { type: 'load', id: this.#nextId++, key, model }, 'load', null)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof WorkerExitError));
    if (failed) {
      this.release(key);
      throw new Error(`inference workers could not load ${model.modelId}: ${(failed.reason as Error).message}`);
    }
    return key;
  }

  /** Drops a model: workers dispose it once the requests that use it are answered. */
  release(key: number): void {
    if (!this.#models.has(key)) return;
    this.#releasing.add(key);
    if (!this.#modelRefs.has(key)) this.#releaseNow(key);
  }

  #releaseNow(key: number): void {
    this.#releasing.delete(key);
    this.#models.delete(key);
    for (const s of this.#slots) if (s.state !== 'dead' && s.state !== 'starting') s.worker.postMessage({ type: 'release', key } satisfies ToWorker);
  }

  /** Each live worker's tf.memory() (and WASM heap): the leak check. Asked behind each worker's own work. */
  async memory(): Promise<(WorkerMemory & { worker: number })[]> {
    const live = this.#slots.filter((s) => s.state === 'ready');
    return Promise.all(
      live.map(async (s) => {
        s.busy++;
        const m = (await this.#send(s, { type: 'memory', id: this.#nextId++ }, 'memory', null)) as WorkerMemory;
        return { worker: s.index, ...m };
      }),
    );
  }

  /** Tests: worker `index` dies in the middle of its work (it is restarted like any other). */
  crash(index: number): void {
    this.#slots[index]?.worker.postMessage({ type: 'crash' } satisfies ToWorker);
  }

  /** Tests: ends worker `index` at once, as a kill would. */
  async kill(index: number): Promise<void> {
    await this.#slots[index]?.worker.terminate();
  }

  /** Requests sent to worker `index` and not answered yet. */
  busy(index: number): number {
    return this.#slots[index]?.busy ?? 0;
  }

  /** Waits until every worker is ready (after a restart). */
  async whenReady(timeoutMs = 120_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.live < this.size) {
      if (Date.now() > end) throw new Error(`inference workers: ${this.live} of ${this.size} ready after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Lets the requests in the workers finish (up to `graceMs`), then stops every worker; queued requests are refused. */
  close(graceMs = 10_000): Promise<void> {
    return (this.#closing ??= (async () => {
      this.#rejectWaiting('the inference workers are stopping');
      const end = Date.now() + graceMs;
      while (this.#slots.some((s) => s.state !== 'dead' && s.busy > 0) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      await Promise.all(
        this.#slots.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.state === 'dead') return resolve();
              const timer = setTimeout(() => void s.worker.terminate(), 2000);
              s.worker.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              try {
                s.worker.postMessage({ type: 'stop' } satisfies ToWorker);
              } catch {
                void s.worker.terminate();
              }
            }),
        ),
      );
    })());
  }

  /** Ends every worker at once. */
  terminate(): Promise<void> {
    return (this.#closing ??= (async () => {
      this.#rejectWaiting('the inference workers are stopping');
      await Promise.all(this.#slots.map((s) => (s.state === 'dead' ? undefined : s.worker.terminate())));
    })());
  }
}

function errorFrom(e: WorkerError): Error {
  if (e.kind === 'service') return new ServiceError(e.code, e.message, e.details);
  const err = new Error(`inference worker: ${e.message}`);
  if (e.stack) err.stack = `${err.message}\n(in the worker) ${e.stack}`;
  return err;
}

/** The exact weights of a loaded model, for the workers. */
export async function payloadOf(e: Embedder): Promise<ModelPayload> {
  const { data, specs } = await encodeTensors(e.net.params.all());
  return { dir: e.dir, modelId: e.modelId, config: e.net.config, weights: data, specs, foldBatchNorm: e.net.foldBatchNorm };
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export interface PooledDeps {
  queue: InferenceQueue;
  model: ModelSource;
  /**
   * A lone request may run on this thread instead, when this thread's kernels use every core (WASM
   * threads, engine/wasm-threads.ts): faster than a single-threaded worker on idle cores, slower
   * on busy ones, so LoneRoute measures which. With more than one request in flight they go to
   * the workers, whose single threads share the cores without contention (several multi-threaded
   * backends on the same cores slow each other down).
   */
  here?: { detector: FaceDetector; limits: { maxImageBytes: number; maxPixels: number }; threads: number };
}

/** The door's analyzer over a pool: requests queue in the inference queue (busy beyond its bound), then run on the least busy worker. */
export class PooledAnalyzer implements FrameAnalyzer {
  readonly decoding = 0;
  readonly #keys = new Map<Embedder, number>();
  /** Model work on this thread (liveness), one at a time. */
  readonly #local: InferenceQueue;
  /** Requests answered on this thread (PooledDeps.here) and by the workers. */
  readonly served = { here: 0, workers: 0 };
  /** Where a lone request goes: measured (lone-route.ts). */
  readonly #route = new LoneRoute();

  constructor(
    readonly pool: AnalyzerPool,
    private readonly deps: PooledDeps,
  ) {
    this.#local = new InferenceQueue(deps.queue.maxPending, 1);
  }

  /** Only this request in the queue, none in the workers, and `local` jobs on this thread (its own, if it runs here). */
  #stillAlone(local: number): boolean {
    return this.deps.queue.depth === 1 && this.#local.depth === local && this.pool.idle;
  }

  /** Whether a lone request may run on this thread (PooledDeps.here). */
  get runsHere(): boolean {
    return this.deps.here !== undefined;
  }

  /** The lone-request routes' moving averages, ms (NaN: not measured yet). */
  get loneAverages(): Readonly<Record<'here' | 'workers', number>> {
    return this.#route.averages;
  }

  get describe(): string {
    const here = this.deps.here ? `; a lone request on this thread's ${this.deps.here.threads} WASM threads` : '';
    return `${this.pool.size} inference worker${this.pool.size === 1 ? '' : 's'}${here}`;
  }

  get workers(): number {
    return this.pool.size;
  }

  #key(e: Embedder): number {
    const k = this.#keys.get(e);
    if (k === undefined) throw new Error(`model ${e.modelId} is not loaded in the inference workers`);
    return k;
  }

  async analyze(bytes: Uint8Array, opts: AnalyzeOptions = {}): Promise<AnalyzedFrame> {
    const t0 = performance.now();
    let tq = 0;
    const here = this.deps.here;
    const { r, model } = await this.deps.queue.run(async () => {
      tq = performance.now();
      // Alone: nothing else queued or running here, in the workers, or on this thread (liveness).
      const lone = here !== undefined && this.deps.queue.depth === 1 && this.#local.depth === 0 && this.pool.idle;
      const route = lone ? this.#route.pick() : 'workers';
      if (here && route === 'here') {
        this.served.here++;
        // In this thread's local queue, which was empty: a liveness pass that comes meanwhile waits
        // instead of sharing the detector and the cores with this request.
        return this.#local.run(async () => {
          const image = await decodeFrame(bytes, here.limits, opts.what);
          const decode = performance.now() - tq;
          const a = await analyzeDecoded(image, { detector: here.detector, model: this.deps.model }, opts);
          // A time counts only if nothing else came in meanwhile (it would not be a lone time).
          if (a.embedding && this.#stillAlone(1)) this.#route.record('here', performance.now() - tq);
          return { r: { ...a, timings: { ...a.timings, decode, wait: 0 } }, model: a.model };
        });
      }
      this.served.workers++;
      // The model is read when the job starts, as in-process: it cannot be swapped until the job ends.
      const m = this.deps.model();
      const model = 'reason' in m ? null : m;
      const r = await this.pool.analyze({ bytes, embed: opts.embed !== false, image: opts.image !== false, quality: opts.quality ?? {}, what: opts.what, model: model ? this.#key(model.embedder) : null });
      if (lone && r.embedding && this.#stillAlone(0)) this.#route.record('workers', performance.now() - tq);
      return { r, model };
    });
    const t = r.timings;
    return {
      image: r.image,
      width: r.width,
      height: r.height,
      faces: r.faces,
      embedding: r.embedding,
      model,
      timings: { decode: t.decode, queue: round(tq - t0 + t.wait), detect: t.detect, align: t.align, quality: t.quality, embed: t.embed },
    };
  }

  embedCrops(e: Embedder, crops: RgbImage[]): Promise<Float32Array[]> {
    return this.pool.embed(this.#key(e), crops);
  }

  async prepare(e: Embedder): Promise<void> {
    if (this.#keys.has(e)) return;
    this.#keys.set(e, await this.pool.load(await payloadOf(e)));
    // A lone request may use it on this thread: warm it here too (the workers do on load).
    if (this.deps.here) await this.local(() => warmUpEmbedder(e));
  }

  /** Takes `e` as loaded in the pool under `key` (what prepare() does, for a model loaded before the analyzer existed). */
  adopt(e: Embedder, key: number): void {
    this.#keys.set(e, key);
  }

  release(e: Embedder): void {
    const k = this.#keys.get(e);
    if (k === undefined) return;
    this.#keys.delete(e);
    this.pool.release(k);
  }

  local<T>(job: () => Promise<T>): Promise<T> {
    return this.#local.run(job);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
