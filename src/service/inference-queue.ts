// Runs model work one job at a time. The WASM backend is single-threaded and one per process;
// letting requests interleave their awaits would only raise peak memory and tail latency, so jobs
// queue in arrival order. A bounded queue turns overload into an immediate "busy" instead of an
// ever-growing backlog (a camera loop faster than inference).
import { ServiceError } from './errors.js';

export class InferenceQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  constructor(readonly maxPending = 16) {}

  /** Jobs waiting or running. */
  get depth(): number {
    return this.#pending;
  }

  run<T>(job: () => Promise<T>): Promise<T> {
    if (this.#pending >= this.maxPending) {
      return Promise.reject(new ServiceError('busy', `the face model is busy (${this.#pending} requests queued); retry shortly`));
    }
    this.#pending++;
    const result = this.#tail.then(job);
    const done = () => {
      this.#pending--;
    };
    this.#tail = result.then(done, done);
    return result;
  }
}
