// Runs model work in arrival order, `concurrency` jobs at a time: one in-process (the WASM backend
// is single-threaded and one per process; letting requests interleave their awaits would only
// raise peak memory and tail latency), one per inference worker slot with a pool. A bounded queue
// turns overload into an immediate "busy" instead of an ever-growing backlog (a camera loop faster
// than inference). An exclusive job (a model swap) waits for the running ones and runs alone.
import { ServiceError } from './errors.js';

interface Entry {
  job: () => Promise<unknown>;
  exclusive: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class InferenceQueue {
  readonly #waiting: Entry[] = [];
  #running = 0;
  #exclusiveRunning = false;

  /**
   * @param maxPending jobs waiting or running beyond which run() refuses as busy
   * @param concurrency jobs running at once (1: one at a time, in order)
   */
  constructor(
    readonly maxPending = 16,
    readonly concurrency = 1,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`InferenceQueue concurrency must be an integer >= 1, got ${concurrency}`);
  }

  /** Jobs waiting or running. */
  get depth(): number {
    return this.#waiting.length + this.#running;
  }

  /** Runs `job` when a slot is free; refuses at once (busy) when maxPending jobs wait or run. */
  run<T>(job: () => Promise<T>): Promise<T> {
    return this.#enqueue(job, false);
  }

  /**
   * Runs `job` alone: after every job queued before it has finished, before any queued after it
   * starts. With concurrency 1 it is run(). Refuses as busy like run().
   */
  exclusive<T>(job: () => Promise<T>): Promise<T> {
    return this.#enqueue(job, true);
  }

  #enqueue<T>(job: () => Promise<T>, exclusive: boolean): Promise<T> {
    if (this.depth >= this.maxPending) {
      return Promise.reject(new ServiceError('busy', `the face model is busy (${this.depth} requests queued); retry shortly`));
    }
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ job, exclusive, resolve: resolve as (v: unknown) => void, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#waiting.length > 0 && !this.#exclusiveRunning && this.#running < this.concurrency) {
      const next = this.#waiting[0]!;
      if (next.exclusive && this.#running > 0) return;
      this.#waiting.shift();
      this.#running++;
      if (next.exclusive) this.#exclusiveRunning = true;
      // Started on a later microtask, as a promise chain would: run() never calls the job synchronously.
      void Promise.resolve()
        .then(next.job)
        .then(next.resolve, next.reject)
        .finally(() => {
          this.#running--;
          if (next.exclusive) this.#exclusiveRunning = false;
          this.#pump();
        });
    }
  }
}
