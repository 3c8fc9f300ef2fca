// Runs face-api tasks on worker threads (one backend each; WASM is single-threaded per process
// in Node, so this is how both cores get used) or, with 0 workers, in this thread.
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/worker.js';
import { FACEAPI_WORKER_ROLE, type FaceApiReply, type FaceApiRequest } from './faceapi-worker.js';
import { FaceApiPeer, type FaceApiOutcome, type FaceApiPeerOptions, type FaceApiTask } from './peer-faceapi.js';

export interface FaceApiRunner {
  readonly workers: number;
  run(task: FaceApiTask): Promise<FaceApiOutcome[]>;
  close(): Promise<void>;
}

export interface FaceApiRunnerOptions extends FaceApiPeerOptions {
  /** Worker threads; 0 runs face-api in this thread. */
  workers: number;
}

export async function openFaceApi(opts: FaceApiRunnerOptions): Promise<FaceApiRunner> {
  if (opts.workers <= 0) {
    const peer = await FaceApiPeer.create({ withDetector: opts.withDetector, minConfidence: opts.minConfidence });
    return { workers: 0, run: (task) => peer.run(task), close: async () => {} };
  }
  const pool = new WorkerPool(opts.workers, { withDetector: opts.withDetector, minConfidence: opts.minConfidence });
  await pool.ready;
  return pool;
}

class WorkerPool implements FaceApiRunner {
  private readonly idle: Worker[] = [];
  private readonly waiting: ((w: Worker) => void)[] = [];
  private readonly pending = new Map<number, { resolve: (r: FaceApiOutcome[]) => void; reject: (e: Error) => void; worker: Worker }>();
  private readonly all: Worker[] = [];
  private readonly dead = new Set<Worker>();
  private nextId = 0;
  /** Resolves when every worker has loaded its nets; rejects if one fails to start. */
  readonly ready: Promise<void>;

  constructor(readonly workers: number, peer: FaceApiPeerOptions) {
    const ext = path.extname(new URL(import.meta.url).pathname);
    const starts: Promise<void>[] = [];
    for (let i = 0; i < workers; i++) {
      const w = startWorker(new URL(`./faceapi-worker${ext}`, import.meta.url), { workerData: { role: FACEAPI_WORKER_ROLE, peer } });
      starts.push(
        new Promise((resolve, reject) => {
          const onExit = (code: number) => reject(new Error(`face-api worker exited with code ${code} before it was ready`));
          w.once('exit', onExit);
          w.once('error', reject);
          w.once('message', () => {
            w.off('exit', onExit);
            w.off('error', reject);
            resolve();
          });
        }),
      );
      w.on('message', (msg: FaceApiReply) => this.onMessage(w, msg));
      w.on('error', (err) => this.failWorker(w, err));
      w.on('exit', (code) => {
        this.dead.add(w);
        const i = this.idle.indexOf(w);
        if (i >= 0) this.idle.splice(i, 1);
        this.failWorker(w, new Error(`face-api worker exited with code ${code}`));
      });
      this.all.push(w);
    }
    this.ready = Promise.all(starts).then(
      () => undefined,
      async (err: unknown) => {
        await Promise.all(this.all.map((w) => w.terminate()));
        throw err;
      },
    );
  }

  private onMessage(w: Worker, msg: FaceApiReply): void {
    if (msg.type === 'ready') return this.release(w);
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    this.release(w);
    if (msg.type === 'done') p.resolve(msg.outcomes);
    else p.reject(new Error(msg.message));
  }

  private failWorker(w: Worker, err: Error): void {
    for (const [id, p] of this.pending) {
      if (p.worker === w) {
        this.pending.delete(id);
        p.reject(err);
      }
    }
  }

  private release(w: Worker): void {
    const next = this.waiting.shift();
    if (next) next(w);
    else this.idle.push(w);
  }

  private acquire(): Promise<Worker> {
    const w = this.idle.shift();
    return w ? Promise.resolve(w) : new Promise((resolve) => this.waiting.push(resolve));
  }

  async run(task: FaceApiTask): Promise<FaceApiOutcome[]> {
    if (this.dead.size === this.all.length) throw new Error('face-api: every worker has exited');
    const worker = await this.acquire();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      worker.postMessage({ type: 'task', id, task } satisfies FaceApiRequest);
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.all.filter((w) => !this.dead.has(w)).map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            w.postMessage({ type: 'stop' } satisfies FaceApiRequest);
            // A worker stuck in a task must not hold the process open.
            setTimeout(() => void w.terminate(), 10_000).unref();
          }),
      ),
    );
  }
}
