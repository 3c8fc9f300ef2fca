// Batches of decoded (and, for training, augmented) face crops, prepared by worker threads ahead of the
// training step. Deterministic: which sample sits at which place of an epoch, and how it is augmented, is a
// function of (seed, epoch, position) alone, so worker count and timing never change a batch and a run resumed
// at (epoch, batch) sees exactly the batches it would have seen.
//
// Unreadable images (corrupt, truncated, unknown format) do not stop training: each is reported once with
// console.warn and dropped from its batch, so a batch can hold fewer than batchSize samples (check `n`);
// a batch left with no sample at all is not yielded (its `index` is simply skipped).
import 'sharp'; // load libvips in the main thread first, so a worker exiting never unloads it (sharp docs: worker threads)
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/worker.js';
import { once } from 'node:events';
import type { AugmentConfig, AugmentParams } from './augment.js';
import { AugmentConfigSchema, drawAugmentParams } from './augment.js';
import { Rng, hashSeed } from './rng.js';
import { LOADER_WORKER_ROLE, processBatch, type BatchRequest, type BatchResult, type DecodeTask, type Fit, type WorkerReply } from './loader-worker.js';

export interface LoaderItem {
  path: string;
  label: number;
}

export interface BatchLoaderOptions {
  batchSize: number;
  /** Side of the square RGB images handed out (e.g. 112 or 224); inputs of any size are resized. */
  inputSize: number;
  /** Training augmentation; null/undefined = none (validation, test, embedding). */
  augment?: AugmentConfig | null;
  shuffle: boolean;
  seed: number;
  /** Decode threads (default 1); 0 decodes in the main thread (still async, but augmentation then blocks it). */
  workers?: number;
  /** Batches requested ahead of the one being consumed (default 4). */
  prefetch?: number;
  /** Leave out the last, partial batch of each epoch (default false). */
  dropLast?: boolean;
  /** Keep every decoded un-augmented crop in memory (inputSize² x 3 bytes each) so later epochs skip decoding. */
  cache?: boolean;
  /** How non-square inputs become square (default 'cover': centre-crop, no stretching). */
  fit?: Fit;
}

export interface Batch {
  /** n * inputSize * inputSize * 3 bytes, RGB, row-major, sample after sample. */
  images: Uint8Array;
  labels: Int32Array;
  /** Index into the loader's items of each sample (e.g. to look up cached teacher embeddings). */
  items: Int32Array;
  n: number;
  /** Position of this batch in the epoch, 0-based (what to store in a checkpoint). */
  index: number;
}

export interface PlannedSample {
  /** Index into the loader's items. */
  item: number;
  /** The seed-style augmented second copy of that item. */
  duplicate: boolean;
  params: AugmentParams | null;
}

interface WorkerSlot {
  worker: Worker;
  pending: Map<number, { resolve: (r: BatchResult) => void; reject: (e: Error) => void }>;
}

/** Starts loader-worker in a thread (through the shared TypeScript-aware worker bootstrap). */
function startLoaderWorker(): Worker {
  return startWorker(new URL('./loader-worker.ts', import.meta.url), { workerData: { role: LOADER_WORKER_ROLE } });
}

export class BatchLoader {
  readonly items: readonly LoaderItem[];
  private readonly batchSize: number;
  private readonly inputSize: number;
  private readonly augment: AugmentConfig | null;
  private readonly shuffle: boolean;
  private readonly seed: number;
  private readonly nWorkers: number;
  private readonly prefetch: number;
  private readonly dropLast: boolean;
  private readonly fit: Fit;
  private readonly cache: (Uint8Array | undefined)[] | null;
  private cached = 0;
  /** Items found unreadable: dropped from later batches without another try (and another warning). */
  private readonly bad = new Set<number>();
  private slots: WorkerSlot[] = [];
  private failure: Error | null = null;
  private closed = false;
  private nextId = 1;
  private readonly outstanding = new Set<Promise<unknown>>();
  private planMemo: { epoch: number; plan: PlannedSample[] } | null = null;

  constructor(items: readonly LoaderItem[], opts: BatchLoaderOptions) {
    const intAtLeast = (v: number, name: string, min: number): number => {
      if (!Number.isInteger(v) || v < min) throw new RangeError(`BatchLoader: ${name} must be an integer >= ${min}, got ${v}`);
      return v;
    };
    this.items = items;
    this.batchSize = intAtLeast(opts.batchSize, 'batchSize', 1);
    this.inputSize = intAtLeast(opts.inputSize, 'inputSize', 1);
    this.augment = opts.augment ? AugmentConfigSchema.parse(opts.augment) : null;
    this.shuffle = opts.shuffle;
    if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`BatchLoader: seed must be a safe integer, got ${opts.seed}`);
    this.seed = opts.seed;
    this.nWorkers = intAtLeast(opts.workers ?? 1, 'workers', 0);
    this.prefetch = intAtLeast(opts.prefetch ?? 4, 'prefetch', 0);
    this.dropLast = opts.dropLast ?? false;
    this.fit = opts.fit ?? 'cover';
    this.cache = opts.cache ? new Array<Uint8Array | undefined>(items.length) : null;
  }

  /** Samples in an epoch: every item once, plus the augmented duplicates when training. */
  epochSamples(): number {
    return this.items.length + this.duplicateCount();
  }

  /** Number of batches in that epoch (the same for every epoch). */
  epochPlan(epoch: number): number {
    void epoch; // same count every epoch; the parameter keeps callers honest if that ever changes
    const n = this.epochSamples();
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Crops currently held by the cache. */
  get cachedCount(): number {
    return this.cached;
  }

  private duplicateCount(): number {
    return this.augment ? Math.round(this.augment.duplicateFraction * this.items.length) : 0;
  }

  /** Every sample of the epoch in order, with its augmentation. Depends only on (seed, epoch). */
  planEpoch(epoch: number): PlannedSample[] {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be an integer >= 0, got ${epoch}`);
    if (this.planMemo?.epoch === epoch) return this.planMemo.plan;
    const n = this.items.length;
    const rng = Rng.derive(this.seed, 'plan', epoch);
    // which items get a duplicate this epoch: the first k of a seeded permutation, then in item order
    const k = this.duplicateCount();
    const perm = Int32Array.from({ length: n }, (_, i) => i);
    if (k > 0) rng.shuffle(perm);
    const dups = Array.from(perm.subarray(0, k)).sort((a, b) => a - b);
    const order: { item: number; duplicate: boolean }[] = [];
    for (let i = 0; i < n; i++) order.push({ item: i, duplicate: false });
    for (const i of dups) order.push({ item: i, duplicate: true });
    if (this.shuffle) rng.shuffle(order);
    const plan = order.map(({ item, duplicate }, pos) => ({
      item,
      duplicate,
      params: this.augment ? drawAugmentParams(new Rng(hashSeed(this.seed, 'aug', epoch, pos)), this.augment, duplicate) : null,
    }));
    this.planMemo = { epoch, plan };
    return plan;
  }

  /**
   * Yields the batches of `epoch` from `startBatch` on, in order, while the next `prefetch` batches are being
   * decoded. Break out of the loop early freely; call close() when done with the loader.
   */
  async *batches(epoch: number, startBatch = 0): AsyncGenerator<Batch> {
    if (this.closed) throw new Error('BatchLoader is closed');
    const plan = this.planEpoch(epoch);
    const nb = this.epochPlan(epoch);
    if (!Number.isInteger(startBatch) || startBatch < 0) throw new RangeError(`startBatch must be an integer >= 0, got ${startBatch}`);
    const ahead = new Map<number, Promise<Batch | null>>();
    let next = startBatch;
    const pump = (upTo: number): void => {
      for (; next < nb && next <= upTo; next++) {
        const p = this.runBatch(plan, next);
        p.catch(() => {}); // awaited below; this only keeps an abandoned one from being an unhandled rejection
        ahead.set(next, p);
      }
    };
    try {
      for (let b = startBatch; b < nb; b++) {
        pump(b + this.prefetch);
        const batch = await ahead.get(b)!;
        ahead.delete(b);
        pump(b + this.prefetch); // keep the window full while the consumer works on this one
        if (batch) yield batch;
      }
    } finally {
      ahead.clear();
    }
  }

  private async runBatch(plan: PlannedSample[], index: number): Promise<Batch | null> {
    const start = index * this.batchSize;
    const end = Math.min(start + this.batchSize, plan.length);
    const tasks: DecodeTask[] = [];
    const taskItems: number[] = [];
    for (let pos = start; pos < end; pos++) {
      const s = plan[pos];
      if (this.bad.has(s.item)) continue;
      const pixels = this.cache?.[s.item];
      tasks.push({ path: this.items[s.item].path, pixels, params: s.params, keepRaw: this.cache !== null && !pixels });
      taskItems.push(s.item);
    }
    if (tasks.length === 0) return null;
    const res = await this.exec({ type: 'batch', id: this.nextId++, size: this.inputSize, fit: this.fit, tasks });
    for (const f of res.failures) {
      const item = taskItems[f.index];
      if (!this.bad.has(item)) {
        this.bad.add(item);
        console.warn(`facegate: skipping unreadable image ${f.path}: ${f.message}`);
      }
    }
    if (this.cache) {
      res.raws.forEach((raw, i) => {
        if (raw && !this.cache![taskItems[i]]) {
          this.cache![taskItems[i]] = raw;
          this.cached++;
        }
      });
    }
    if (res.kept.length === 0) return null;
    const items = Int32Array.from(res.kept, (k) => taskItems[k]);
    const labels = Int32Array.from(items, (i) => this.items[i].label);
    return { images: res.images, labels, items, n: res.kept.length, index };
  }

  private exec(req: BatchRequest): Promise<BatchResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('BatchLoader is closed'));
    const p = this.nWorkers === 0 ? processBatch(req) : this.send(req);
    this.outstanding.add(p);
    const done = (): void => {
      this.outstanding.delete(p);
    };
    p.then(done, done);
    return p;
  }

  private send(req: BatchRequest): Promise<BatchResult> {
    if (this.slots.length === 0) this.slots = Array.from({ length: this.nWorkers }, () => this.startSlot());
    let slot = this.slots[0];
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    return new Promise<BatchResult>((resolve, reject) => {
      slot.pending.set(req.id, { resolve, reject });
      slot.worker.ref(); // busy: keep the process alive until the result is back
      slot.worker.postMessage(req);
    });
  }

  private startSlot(): WorkerSlot {
    const worker = startLoaderWorker();
    const slot: WorkerSlot = { worker, pending: new Map() };
    const settle = (id: number): { resolve: (r: BatchResult) => void; reject: (e: Error) => void } | undefined => {
      const h = slot.pending.get(id);
      slot.pending.delete(id);
      if (slot.pending.size === 0) worker.unref(); // idle workers must not keep a finished program running
      return h;
    };
    worker.on('message', (msg: WorkerReply) => {
      if (msg.type === 'result') settle(msg.id)?.resolve(msg);
      else settle(msg.id)?.reject(new Error(`loader worker: ${msg.message}`));
    });
    const fail = (err: Error): void => {
      this.failure ??= err;
      for (const id of [...slot.pending.keys()]) settle(id)?.reject(err);
    };
    worker.on('error', (err) => fail(err instanceof Error ? err : new Error(String(err))));
    worker.on('exit', (code) => {
      if (!this.closed || slot.pending.size > 0) fail(new Error(`loader worker exited (code ${code})`));
    });
    worker.unref();
    return slot;
  }

  /** Waits for batches still being prepared, then stops the workers. The cache is released. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.outstanding]);
    await Promise.all(
      this.slots.map(async ({ worker }) => {
        const exited = once(worker, 'exit');
        worker.postMessage({ type: 'close' });
        worker.ref();
        await exited;
      }),
    );
    this.slots = [];
    this.cache?.fill(undefined);
    this.cached = 0;
  }
}
