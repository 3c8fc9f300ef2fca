// A data-parallel replica: its own TF.js backend (its own WASM heap and core), the same model,
// and gradients for the micro-batches the main thread hands it.
import { parentPort } from 'node:worker_threads';
import { initBackend, type BackendName } from '../engine/backend.js';
import { FaceNet, TrainableFaceNet, type DistillOptions } from '../model/facenet.js';
import type { ModelConfig } from '../model/config.js';
import type { ArcFaceOptions } from '../model/arcface.js';
import { flatSize, writeFlat } from './flat.js';
import { accumulateGradients, emptySums, type MicroBatch } from './gradients.js';


export type WorkerRequest =
  | { type: 'init'; config: ModelConfig; numClasses: number; arcface: ArcFaceOptions; distill?: DistillOptions; backend: BackendName }
  | { type: 'step'; id: number; params: Float32Array; micro: MicroBatch[] };

let tm: TrainableFaceNet | undefined;

parentPort!.on('message', async (msg: WorkerRequest) => {
  try {
    if (msg.type === 'init') {
      await initBackend({ prefer: msg.backend, quiet: true });
      tm = new TrainableFaceNet(new FaceNet(msg.config), msg.numClasses, msg.arcface, 1000, msg.distill);
      parentPort!.postMessage({ type: 'ready' });
      return;
    }
    if (!tm) throw new Error('worker not initialised');
    const vars = tm.trainableVariables();
    writeFlat(vars, msg.params);
    const sums = emptySums(tm, flatSize(vars));
    for (const mb of msg.micro) accumulateGradients(tm, mb, sums);
    parentPort!.postMessage({ type: 'result', id: msg.id, sums }, [sums.grads.buffer as ArrayBuffer, sums.bnStats.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort!.postMessage({ type: 'error', id: (msg as { id?: number }).id, message: (err as Error).stack ?? String(err) });
  }
});
