// Worker-thread entry that can run a TypeScript module: on Node 20 a worker's own entry file is
// resolved before --import hooks apply, so tsx is registered here and the real module imported.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.__entry);
