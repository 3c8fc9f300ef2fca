// Starts a worker thread running a TypeScript (or compiled JS) module.
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startWorker(entry: URL, opts: WorkerOptions = {}): Worker {
  const bootstrap = new URL('./ts-worker.mjs', import.meta.url);
  const workerData = { ...(opts.workerData as object | undefined), __entry: entry.href };
  // Drop test-runner flags the parent may carry; the bootstrap registers tsx itself.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--test'));
  return new Worker(bootstrap, { ...opts, workerData, execArgv });
}
