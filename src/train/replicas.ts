// Where gradients are computed: in this thread, or spread over worker-thread replicas.
// TF.js turns WASM threads off in Node, so one process trains on one core; replicas are how a
// 2-core kiosk trains on both. Each step's micro-batches are dealt out in contiguous runs, the
// n-weighted sums come back and are added, so the result does not depend on the worker count
// (up to float summation order).
import type { Worker } from 'node:worker_threads';
import os from 'node:os';
import type { TrainableFaceNet } from '../model/facenet.js';
import type { BackendName } from '../engine/backend.js';
import { flatSize, writeFlat } from './flat.js';
import { accumulateGradients, addSums, emptySums, type GradientSums, type MicroBatch } from './gradients.js';
import type { WorkerRequest } from './grad-worker.js';
import { startWorker } from '../util/worker.js';

export interface GradientEngine {
  readonly workers: number;
  compute(params: Float32Array, micro: MicroBatch[]): Promise<GradientSums>;
  close(): Promise<void>;
}

export class InProcessGradients implements GradientEngine {
  readonly workers = 0;
  constructor(private tm: TrainableFaceNet) {}
  async compute(params: Float32Array, micro: MicroBatch[]): Promise<GradientSums> {
    const vars = this.tm.trainableVariables();
    writeFlat(vars, params);
    const sums = emptySums(this.tm, flatSize(vars));
    for (const mb of micro) accumulateGradients(this.tm, mb, sums);
    return sums;
  }
  async close(): Promise<void> {}
}

type WorkerReply =
  | { type: 'ready' }
  | { type: 'result'; id: number; sums: GradientSums }
  | { type: 'error'; id?: number; message: string };

class Replica {
  private pending = new Map<number, { resolve: (s: GradientSums) => void; reject: (e: Error) => void }>();
  private ready: Promise<void>;
  private exited?: Error;
  constructor(readonly worker: Worker, init: WorkerRequest) {
    let rejectReady: (e: Error) => void = () => {};
    this.ready = new Promise((resolve, reject) => {
      rejectReady = reject;
      const onFirst = (m: WorkerReply) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'error') reject(new Error(`gradient worker failed to start: ${m.message}`));
      };
      worker.once('message', onFirst);
      worker.once('error', reject);
    });
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'result') {
        this.pending.get(m.id)?.resolve(m.sums);
        this.pending.delete(m.id);
      } else if (m.type === 'error' && m.id !== undefined) {
        this.pending.get(m.id)?.reject(new Error(`gradient worker: ${m.message}`));
        this.pending.delete(m.id);
      }
    });
    worker.on('error', (e) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    });
    // A worker can die without an 'error' event (an aborted WASM module, a terminate): without
    // this the step would wait for its share forever.
    worker.on('exit', (code) => {
      this.exited = new Error(`gradient worker exited with code ${code}` + (code ? ' (out of WASM memory? try a smaller microBatch)' : ''));
      for (const p of this.pending.values()) p.reject(this.exited);
      this.pending.clear();
    });
    worker.once('exit', () => rejectReady(this.exited!));
    worker.postMessage(init);
  }
  async compute(id: number, params: Float32Array, micro: MicroBatch[]): Promise<GradientSums> {
    await this.ready;
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(this.exited);
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'step', id, params, micro } satisfies WorkerRequest);
    });
  }
  started(): Promise<void> {
    return this.ready;
  }
}

export class WorkerGradients implements GradientEngine {
  private replicas: Replica[];
  private nextId = 0;
  constructor(
    private tm: TrainableFaceNet,
    readonly workers: number,
    backend: BackendName,
  ) {
    const url = new URL('./grad-worker.ts', import.meta.url);
    const init: WorkerRequest = { type: 'init', config: tm.net.config, numClasses: tm.head.numClasses, arcface: tm.arcface, distill: tm.distill, backend };
    this.replicas = Array.from({ length: workers }, () => new Replica(startWorker(url), init));
  }
  /** Resolves when every replica has its backend and model. */
  async started(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.started()));
  }
  async compute(params: Float32Array, micro: MicroBatch[]): Promise<GradientSums> {
    // Contiguous runs of micro-batches per replica, as even as possible.
    const shares: MicroBatch[][] = this.replicas.map(() => []);
    micro.forEach((mb, i) => shares[Math.floor((i * this.replicas.length) / micro.length)]!.push(mb));
    const id = this.nextId++;
    const results = await Promise.all(this.replicas.map((r, i) => (shares[i]!.length ? r.compute(id, params, shares[i]!) : null)));
    const total = emptySums(this.tm, params.length);
    for (const r of results) if (r) addSums(total, r);
    return total;
  }
  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.worker.terminate()));
  }
}

export function defaultWorkerCount(): number {
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

export async function createGradientEngine(tm: TrainableFaceNet, workers: number, backend: BackendName): Promise<GradientEngine> {
  if (workers <= 0) return new InProcessGradients(tm);
  const engine = new WorkerGradients(tm, workers, backend);
  await engine.started();
  return engine;
}
