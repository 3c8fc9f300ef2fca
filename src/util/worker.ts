// Starts a worker thread running a TypeScript (or compiled JS) module.
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * The parent's node flags a worker thread may take: not the test runner's (the bootstrap registers
 * tsx itself), nor the process-wide V8 flags a worker refuses to start with (--single-threaded-gc,
 * which `npm start` sets: it applies to every thread of the process anyway).
 */
export function workerExecArgv(): string[] {
  return process.execArgv.filter((a) => !a.startsWith('--test') && a !== '--single-threaded-gc');
}

export function startWorker(entry: URL, opts: WorkerOptions = {}): Worker {
  const bootstrap = new URL('./ts-worker.mjs', import.meta.url);
  const workerData = { ...(opts.workerData as object | undefined), __entry: entry.href };
  return new Worker(bootstrap, { ...opts, workerData, execArgv: workerExecArgv() });
}
