// Runs face-api tasks on worker threads (one backend each; WASM is single-threaded per process
// in Node, so this is how both cores get used) or, with 0 workers, in this thread.
import path from 'node:path';
import { startWorker } from '../util/worker.js';
import { WorkerPool } from '../util/worker-pool.js';
import { FACEAPI_WORKER_ROLE } from './faceapi-worker.js';
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
  const peerOpts: FaceApiPeerOptions = { withDetector: opts.withDetector, minConfidence: opts.minConfidence };
  if (opts.workers <= 0) {
    const peer = await FaceApiPeer.create(peerOpts);
    return { workers: 0, run: (task) => peer.run(task), close: async () => {} };
  }
  const ext = path.extname(new URL(import.meta.url).pathname);
  const pool = new WorkerPool<FaceApiTask, FaceApiOutcome[]>({
    name: 'face-api',
    size: opts.workers,
    spawn: () => startWorker(new URL(`./faceapi-worker${ext}`, import.meta.url), { workerData: { role: FACEAPI_WORKER_ROLE, peer: peerOpts } }),
  });
  // Every worker loads its nets before the first task; one that cannot is fatal.
  try {
    await pool.ready;
  } catch (err) {
    await pool.terminate();
    throw err;
  }
  return { workers: opts.workers, run: (task) => pool.run(task), close: () => pool.close() };
}
