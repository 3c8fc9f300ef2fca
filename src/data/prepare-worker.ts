// Worker thread of prepareDataset: its own tfjs backend and detector, one image at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { ImagePreparer, type PrepareConfig, type PrepareRecord, type PrepareTask } from './prepare-image.js';

export const PREPARE_WORKER_ROLE = 'facegate-prepare';

export type PrepareRequest = { type: 'task'; id: number; task: PrepareTask } | { type: 'stop' };
export type PrepareReply =
  | { type: 'ready' }
  | { type: 'done'; id: number; record: PrepareRecord }
  | { type: 'error'; id: number; message: string };

const data = workerData as { role?: string; config?: PrepareConfig } | undefined;
if (parentPort && data?.role === PREPARE_WORKER_ROLE && data.config) {
  const port = parentPort;
  const preparer = new ImagePreparer(data.config);
  port.on('message', async (msg: PrepareRequest) => {
    if (msg.type === 'stop') {
      await preparer.dispose();
      port.close();
      return;
    }
    try {
      const record = await preparer.process(msg.task);
      port.postMessage({ type: 'done', id: msg.id, record } satisfies PrepareReply);
    } catch (err) {
      port.postMessage({ type: 'error', id: msg.id, message: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies PrepareReply);
    }
  });
  port.postMessage({ type: 'ready' } satisfies PrepareReply);
}
