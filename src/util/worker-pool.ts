// A fixed set of worker threads, each running one task at a time: WorkerPool is the main-thread
// side, serveTasks the worker side of the same small protocol.
import type { MessagePort, Worker } from 'node:worker_threads';

export type PoolRequest<T> = { type: 'task'; id: number; task: T } | { type: 'stop' };
export type PoolReply<R> =
  | { type: 'ready' }
  | { type: 'done'; id: number; result: R }
  | { type: 'error'; id: number; message: string };

/**
 * Worker side: answers each task with `handle`'s result (or its error's stack); on 'stop', lets
 * the task in flight answer, runs `onStop` and closes the port. Call it once the worker is set
 * up: it announces 'ready'.
 */
export function serveTasks<T, R>(port: MessagePort, handle: (task: T) => Promise<R>, onStop?: () => Promise<void> | void): void {
  const answer = async (id: number, task: T): Promise<void> => {
    try {
      const result = await handle(task);
      port.postMessage({ type: 'done', id, result } satisfies PoolReply<R>);
    } catch (err) {
      port.postMessage({ type: 'error', id, message: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies PoolReply<R>);
    }
  };
  let inFlight: Promise<void> = Promise.resolve();
  port.on('message', async (msg: PoolRequest<T>) => {
    if (msg.type === 'task') {
      inFlight = answer(msg.id, msg.task);
      return;
    }
    // Messages are handled concurrently: without this wait the reply would be dropped and
    // onStop could dispose what the task is still using.
    await inFlight;
    if (onStop) await onStop();
    port.close();
  });
  port.postMessage({ type: 'ready' } satisfies PoolReply<R>);
}

export interface WorkerPoolOptions {
  /** Names the workers in error messages: "<name> worker exited with code 1". */
  name: string;
  /** Workers, all started at once; never replaced when they die. */
  size: number;
  /** Starts one worker whose module calls serveTasks. */
  spawn: () => Worker;
  /** How long close() lets a worker finish its task before terminating it. Default 10 s. */
  stopTimeoutMs?: number;
}

type Pending<R> = { resolve: (r: R) => void; reject: (e: Error) => void; worker: Worker };

export class WorkerPool<T, R> {
  readonly size: number;
  /**
   * Resolves when every worker is ready; rejects with the first that failed to start. Awaiting it
   * is optional: tasks queue until a worker is ready, and a worker that failed is just dead.
   */
  readonly ready: Promise<void>;
  private readonly name: string;
  private readonly stopTimeoutMs: number;
  private readonly all: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly dead = new Set<Worker>();
  private readonly waiting: { resolve: (w: Worker) => void; reject: (e: Error) => void }[] = [];
  private readonly pending = new Map<number, Pending<R>>();
  private nextId = 0;
  private closed: Promise<void> | undefined;

  constructor(opts: WorkerPoolOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new RangeError(`${opts.name}: worker pool size must be an integer >= 1, got ${opts.size}`);
    this.size = opts.size;
    this.name = opts.name;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
    const starts: Promise<void>[] = [];
    for (let i = 0; i < opts.size; i++) {
      const w = opts.spawn();
      starts.push(
        new Promise((resolve, reject) => {
          const onExit = (code: number) => reject(new Error(`${this.name} worker exited with code ${code} before it was ready`));
          w.once('exit', onExit);
          w.once('error', reject);
          w.once('message', () => {
            w.off('exit', onExit);
            w.off('error', reject);
            resolve();
          });
        }),
      );
      w.on('message', (msg: PoolReply<R>) => this.onMessage(w, msg));
      w.on('error', (err) => this.failTasks(w, err));
      w.on('exit', (code) => this.onExit(w, code));
      this.all.push(w);
    }
    this.ready = Promise.all(starts).then(() => undefined);
    // Callers that never await `ready` must not get an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** Runs a task on the next free worker; rejects with the worker's error, or if it dies meanwhile. */
  async run(task: T): Promise<R> {
    if (this.closed) throw this.closedError();
    if (this.dead.size === this.all.length) throw this.allDeadError();
    const worker = await this.acquire();
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      try {
        worker.postMessage({ type: 'task', id, task } satisfies PoolRequest<T>);
      } catch (err) {
        // An uncloneable task: the worker never saw it, so it is free again.
        this.pending.delete(id);
        this.release(worker);
        throw err;
      }
    });
  }

  /**
   * Stops every live worker once its current task has answered (terminating any still busy after
   * stopTimeoutMs) and rejects queued tasks. Later run() calls reject.
   */
  close(): Promise<void> {
    return (this.closed ??= this.shutdown(
      (w) =>
        new Promise<void>((resolve) => {
          // A worker stuck in a task must not hold the process open.
          const timer = setTimeout(() => void w.terminate(), this.stopTimeoutMs);
          w.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          w.postMessage({ type: 'stop' } satisfies PoolRequest<T>);
        }),
    ));
  }

  /** Like close(), but ends every worker at once (e.g. after `ready` rejected). */
  terminate(): Promise<void> {
    return (this.closed ??= this.shutdown(async (w) => void (await w.terminate())));
  }

  private async shutdown(stop: (w: Worker) => Promise<void>): Promise<void> {
    for (const waiter of this.waiting.splice(0)) waiter.reject(this.closedError());
    await Promise.all(this.all.filter((w) => !this.dead.has(w)).map(stop));
  }

  private onMessage(w: Worker, msg: PoolReply<R>): void {
    if (msg.type === 'ready') return this.release(w);
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    this.release(w);
    if (msg.type === 'done') p.resolve(msg.result);
    else p.reject(new Error(msg.message));
  }

  private onExit(w: Worker, code: number): void {
    this.dead.add(w);
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
    this.failTasks(w, new Error(`${this.name} worker exited with code ${code}`));
    // No worker is left to take the queued tasks.
    if (this.dead.size === this.all.length) for (const waiter of this.waiting.splice(0)) waiter.reject(this.allDeadError());
  }

  private failTasks(w: Worker, err: Error): void {
    for (const [id, p] of this.pending) {
      if (p.worker === w) {
        this.pending.delete(id);
        p.reject(err);
      }
    }
  }

  private release(w: Worker): void {
    const next = this.waiting.shift();
    if (next) next.resolve(w);
    else this.idle.push(w);
  }

  private acquire(): Promise<Worker> {
    const w = this.idle.shift();
    return w ? Promise.resolve(w) : new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private closedError(): Error {
    return new Error(`${this.name}: the worker pool is closed`);
  }

  private allDeadError(): Error {
    return new Error(`${this.name}: every worker has exited`);
  }
}
