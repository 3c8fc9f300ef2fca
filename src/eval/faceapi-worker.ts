// Worker thread for face-api: its own tfjs backend and nets, one task at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../engine/backend.js';
import { serveTasks } from '../util/worker-pool.js';
import { FaceApiPeer, type FaceApiOutcome, type FaceApiPeerOptions, type FaceApiTask } from './peer-faceapi.js';

export const FACEAPI_WORKER_ROLE = 'facegate-faceapi';

const data = workerData as { role?: string; peer?: FaceApiPeerOptions } | undefined;
if (parentPort && data?.role === FACEAPI_WORKER_ROLE) {
  await initBackend({ quiet: true });
  const peer = await FaceApiPeer.create(data.peer);
  serveTasks<FaceApiTask, FaceApiOutcome[]>(parentPort, (task) => peer.run(task));
}
