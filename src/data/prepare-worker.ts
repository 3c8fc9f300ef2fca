// Worker thread of prepareDataset: its own tfjs backend and detector, one image at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { serveTasks } from '../util/worker-pool.js';
import { ImagePreparer, type PrepareConfig, type PrepareRecord, type PrepareTask } from './prepare-image.js';

export const PREPARE_WORKER_ROLE = 'facegate-prepare';

const data = workerData as { role?: string; config?: PrepareConfig } | undefined;
if (parentPort && data?.role === PREPARE_WORKER_ROLE && data.config) {
  const preparer = new ImagePreparer(data.config);
  serveTasks<PrepareTask, PrepareRecord>(parentPort, (task) => preparer.process(task), () => preparer.dispose());
}
