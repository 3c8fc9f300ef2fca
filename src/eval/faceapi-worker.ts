// Worker thread for face-api: its own tfjs backend and nets, one task at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../engine/backend.js';
import { FaceApiPeer, type FaceApiOutcome, type FaceApiPeerOptions, type FaceApiTask } from './peer-faceapi.js';

export const FACEAPI_WORKER_ROLE = 'facegate-faceapi';

export type FaceApiRequest = { type: 'task'; id: number; task: FaceApiTask } | { type: 'stop' };
export type FaceApiReply =
  | { type: 'ready' }
  | { type: 'done'; id: number; outcomes: FaceApiOutcome[] }
  | { type: 'error'; id: number; message: string };

const data = workerData as { role?: string; peer?: FaceApiPeerOptions } | undefined;
if (parentPort && data?.role === FACEAPI_WORKER_ROLE) {
  const port = parentPort;
  await initBackend({ quiet: true });
  const peer = await FaceApiPeer.create(data.peer);
  port.on('message', async (msg: FaceApiRequest) => {
    if (msg.type === 'stop') {
      port.close();
      return;
    }
    try {
      const outcomes = await peer.run(msg.task);
      port.postMessage({ type: 'done', id: msg.id, outcomes } satisfies FaceApiReply);
    } catch (err) {
      port.postMessage({ type: 'error', id: msg.id, message: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies FaceApiReply);
    }
  });
  port.postMessage({ type: 'ready' } satisfies FaceApiReply);
}
